"""The offline demo world: real feeds and pages on loopback, a real SMTP server and a
real chat webhook, and a config directory that points newsmon at them.

``newsmon demo`` and the integration tests use the same pieces, so the demo is
the end-to-end test a newcomer can watch.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.servers import FixtureServer, SmtpReceiver, WebhookReceiver
from monitor.perms import private_dir, write_private_text

DEMO_DATA = Path(__file__).parent / "data"
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
    write_private_text(directory / "alerts.yaml",
                       yaml.safe_dump({"routes": routes}, sort_keys=False))
    # The demo pages are real articles from past years: alert on them even so.
    base: dict[str, object] = {"schedule": {"interval_minutes": 1},
                               "alerts": {"max_article_age_hours": None},
                               "fetch": {"allow_hosts": ["127.0.0.0/8"]}}
    for k, v in (settings or {}).items():
        merged = dict(base.get(k) or {}) if isinstance(v, dict) else None  # type: ignore[call-overload]
        base[k] = {**merged, **v} if merged is not None else v
    write_private_text(directory / "settings.yaml", yaml.safe_dump(base, sort_keys=False))
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


def run_demo(topics_from: Path, out: Path, *, use_prefect: bool = True,
             echo: Callable[[str], None] = print) -> dict[str, object]:
    """Two cycles over the demo world into ``out/newsmon-demo.db``; print what happened."""
    import os

    from monitor.config import load_config
    from monitor.store import Store

    private_dir(out)
    db_path = (out / "newsmon-demo.db").resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    db_url = f"sqlite:///{db_path}"
    os.environ["NEWSMON_DB"] = db_url
    result: dict[str, object] = {}
    with world(topics_from, directory=out) as w:
        config = load_config(w.config_dir)
        echo(f"demo world on {w.server.base}: {len(w.feed_urls)} feeds, "
             f"SMTP server on 127.0.0.1:{w.smtp.port}, chat webhook on {w.webhook.base}")
        summaries = []
        for label in ("first cycle", "second cycle (same feeds again)"):
            echo(f"\n== {label}")
            s = _cycle(config, use_prefect)
            summaries.append(s)
            echo(f"feeds: {s['feeds_polled']} polled, {s['feeds_ok']} with new content, "
                 f"{s['feeds_not_modified']} answered 304 Not Modified, "
                 f"{s['feeds_failed']} failed")
            echo(f"articles: {s['articles_new']} new, {s['articles_merged']} seen again; "
                 f"hits: {s['hits_new']} new; alerts sent: {s['alerts_sent']}")
        store = Store(db_url)
        hits = store.hits(limit=100)
        echo("\n== hits")
        for h, a in hits:
            echo(f"#{h.id} [{h.topic_id}] score {h.score:.2f}: {a.title}")
            for sent in (h.evidence or {}).get("sentences", [])[:2]:
                echo(f"    > {sent['text'][:220]}")
        misses = [a for a in store.article_ids() if a not in {x.id for _, x in hits}]
        echo(f"({len(misses)} other articles stored, not hits)")
        echo("\n== what the alert channels received")
        for m in w.smtp.messages:
            echo(f"email to {m['To']}: {m['Subject']}")
        for p in w.webhook.received:
            echo(f"chat webhook: {p.get('title')}")
        result = {"summaries": summaries, "hits": len(hits), "emails": len(w.smtp.messages),
                  "webhooks": len(w.webhook.received)}
    rel = os.path.relpath(db_path)
    cmd = _command_name()
    echo("\n== next")
    echo(f"{cmd} --db sqlite:///{rel} hits")
    echo(f"{cmd} --db sqlite:///{rel} hits show 1")
    echo(f"{cmd} --db sqlite:///{rel} hits mark 1 relevant")
    echo(f"{cmd} --db sqlite:///{rel} -c {os.path.relpath(out / 'config')} web"
         "   # review desk: http://127.0.0.1:8080/")
    return result


def _cycle(config: Any, use_prefect: bool) -> dict[str, Any]:
    if use_prefect:
        from flows.cycle import cycle

        return dict(cycle(config_dir=str(config.directory), force=True))
    from monitor.pipeline.cycle import run_cycle
    from monitor.pipeline.workers import WorkerPool
    from monitor.store import Store

    with WorkerPool.for_config(config) as pool:
        return run_cycle(Store(config.database_url), config, force=True, pool=pool).as_dict()




def _command_name() -> str:
    """``newsmon`` if that is on PATH, else the path of the venv's script."""
    import os
    import sys

    script = Path(sys.executable).parent / "newsmon"
    if shutil.which("newsmon") == str(script):
        return "newsmon"
    return os.path.relpath(script) if script.exists() else "newsmon"
