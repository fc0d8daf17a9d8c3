"""The offline demo world: real feeds and pages on loopback, a real SMTP server and a
real chat webhook, and a config directory that points newsmon at them.

``newsmon demo`` and the integration tests use the same pieces, so the demo is
the end-to-end test a newcomer can watch.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from monitor.localserve import FixtureServer, SmtpReceiver, WebhookReceiver

DEMO_DATA = Path(__file__).parent / "demo_data"
DEMO_FEEDS = ("feeds/world.xml", "feeds/regional.xml", "feeds/f1metrics.xml")


@dataclass
class World:
    server: FixtureServer
    webhook: WebhookReceiver
    smtp: SmtpReceiver
    config_dir: Path

    @property
    def feed_urls(self) -> list[str]:
        return [self.server.url(p) for p in DEMO_FEEDS]


def write_config(directory: Path, *, topics_from: Path, feed_urls: list[str],
                 routes: list[dict[str, object]], settings: dict[str, object] | None = None
                 ) -> Path:
    """Write a config directory: the given feeds and routes, the topics of ``topics_from``."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(topics_from, directory / "topics.yaml")
    feeds = {"feeds": [{"url": u, "name": Path(u).stem} for u in feed_urls]}
    (directory / "feeds.yaml").write_text(yaml.safe_dump(feeds, sort_keys=False))
    (directory / "alerts.yaml").write_text(yaml.safe_dump({"routes": routes}, sort_keys=False))
    # The demo pages are real articles from past years: alert on them even so.
    base: dict[str, object] = {"schedule": {"interval_minutes": 1},
                               "alerts": {"max_article_age_hours": None}}
    for k, v in (settings or {}).items():
        base[k] = v
    (directory / "settings.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    return directory


@contextmanager
def world(topics_from: Path, directory: Path | None = None,
          settings: dict[str, object] | None = None) -> Iterator[World]:
    """Start the loopback world and write a config for it; stop everything on exit."""
    tmp = None
    if directory is None:
        tmp = tempfile.mkdtemp(prefix="newsmon-demo-")
        directory = Path(tmp)
    server = FixtureServer(DEMO_DATA).start()
    webhook = WebhookReceiver().start()
    smtp = SmtpReceiver().start()
    try:
        routes = [
            {"name": "analysts-email", "topics": ["*"], "urls": [smtp.apprise_url()]},
            {"name": "caucasus-chat", "topics": ["caucasus-realignment"],
             "urls": [webhook.apprise_url()]},
        ]
        cfg = write_config(directory / "config", topics_from=topics_from,
                           feed_urls=[server.url(p) for p in DEMO_FEEDS], routes=routes,
                           settings=settings)
        yield World(server, webhook, smtp, cfg)
    finally:
        smtp.stop()
        webhook.stop()
        server.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
