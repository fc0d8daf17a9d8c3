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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.servers import FixtureServer, SmtpReceiver, WebhookReceiver
from monitor.perms import private_dir, write_private_text

DEMO_DATA = Path(__file__).parent / "data"
DEMO_FEEDS = ("feeds/world.xml", "feeds/regional.xml", "feeds/f1metrics.xml")
# Two more outlets reporting the Baku visit (one in Russian), each on a server of its own
# (a source is a host): with them the demo shows one story, three sources, one alert.
OUTLET_FEEDS = ("feeds/mideast.xml", "feeds/kavkaz.xml")


@dataclass
class World:
    server: FixtureServer
    webhook: WebhookReceiver
    smtp: SmtpReceiver
    config_dir: Path
    outlets: list[FixtureServer] = field(default_factory=list)

    @property
    def feed_urls(self) -> list[str]:
        return [self.server.url(p) for p in DEMO_FEEDS] + [
            o.url(p) for o, p in zip(self.outlets, OUTLET_FEEDS, strict=False)
        ]


def write_config(
    directory: Path,
    *,
    topics_from: Path,
    feed_urls: list[str],
    routes: list[dict[str, Any]],
    settings: dict[str, Any] | None = None,
) -> Path:
    """Write a config directory: the given feeds and routes, the topics of ``topics_from``.

    The files are created owner-only (alerts.yaml holds apprise URLs, which carry
    passwords and tokens in real use), and only loopback (127.0.0.0/8: the demo and the
    benchmark worlds listen there) is opened to fetching (``fetch.allow_hosts``), not
    private networks or link-local addresses.
    """
    private_dir(directory)
    write_private_text(directory / "topics.yaml", topics_from.read_text(encoding="utf-8"))
    feeds = {"feeds": [{"url": u, "name": Path(u).stem} for u in feed_urls]}
    write_private_text(directory / "feeds.yaml", yaml.safe_dump(feeds, sort_keys=False))
    write_private_text(
        directory / "alerts.yaml", yaml.safe_dump({"routes": routes}, sort_keys=False)
    )
    # The demo pages are real articles from past years: alert on them even so.
    base: dict[str, Any] = {
        "schedule": {"interval_minutes": 1},
        "alerts": {"max_article_age_hours": None},
        "fetch": {"allow_hosts": ["127.0.0.0/8"]},
    }
    for k, v in (settings or {}).items():
        merged = dict(base.get(k) or {}) if isinstance(v, dict) else None
        base[k] = {**merged, **v} if merged is not None and isinstance(v, dict) else v
    write_private_text(directory / "settings.yaml", yaml.safe_dump(base, sort_keys=False))
    return directory


@contextmanager
def world(
    topics_from: Path,
    directory: Path | None = None,
    settings: dict[str, Any] | None = None,
    *,
    outlets: bool = False,
) -> Iterator[World]:
    """Start the loopback world and write a config for it; stop everything on exit.
    ``outlets``: also the two other outlets of the Baku visit (``OUTLET_FEEDS``)."""
    tmp = None
    if directory is None:
        tmp = tempfile.mkdtemp(prefix="newsmon-demo-")
        directory = Path(tmp)
    server = FixtureServer(DEMO_DATA).start()
    webhook = WebhookReceiver().start()
    smtp = SmtpReceiver().start()
    extra = [FixtureServer(DEMO_DATA).start() for _ in OUTLET_FEEDS] if outlets else []
    try:
        routes: list[dict[str, Any]] = [
            {"name": "analysts-email", "topics": ["*"], "urls": [smtp.apprise_url()]},
            {
                "name": "caucasus-chat",
                "topics": ["caucasus-realignment"],
                "urls": [webhook.apprise_url()],
            },
        ]
        cfg = write_config(
            directory / "config",
            topics_from=topics_from,
            feed_urls=[server.url(p) for p in DEMO_FEEDS]
            + [o.url(p) for o, p in zip(extra, OUTLET_FEEDS, strict=False)],
            routes=routes,
            settings=settings,
        )
        yield World(server, webhook, smtp, cfg, extra)
    finally:
        for o in extra:
            o.stop()
        smtp.stop()
        webhook.stop()
        server.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
