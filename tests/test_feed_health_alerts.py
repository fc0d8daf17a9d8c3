"""A feed that keeps failing, or goes silent for far longer than it usually does, is
announced once to the operator route, and once more when it is back: real cycles against
a loopback feed server, the messages read from a real webhook receiver."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from monitor.alerts.send import deliver
from monitor.config import load_config
from monitor.demo.servers import Fault, FixtureServer, WebhookReceiver
from monitor.demo.world import write_config
from monitor.pipeline.cycle import run_cycle
from monitor.store import Store, utcnow

ROOT = Path(__file__).resolve().parent.parent


def rss(n: int) -> str:
    items = "".join(
        f"<item><title>Weather note {i}</title><link>{{BASE}}/p{i}.html</link>"
        f"<description>Mild, some rain.</description></item>"
        for i in range(n)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wx</title>{items}</channel></rss>'
    )


def setup(tmp_path: Path, server: FixtureServer, hook: WebhookReceiver) -> tuple[Any, Store]:
    server.add("wx.xml", rss(3), "application/rss+xml")
    for i in range(6):
        server.add(f"p{i}.html", f"<html><body><p>Mild weather {i}.</p></body></html>")
    d = write_config(
        tmp_path / "config",
        topics_from=ROOT / "config" / "topics.yaml",
        feed_urls=[server.url("wx.xml")],
        routes=[{"name": "ops", "urls": [hook.apprise_url()]}],
    )
    alerts = yaml.safe_load((d / "alerts.yaml").read_text())
    alerts["feed_health"] = {"after_failures": 3, "silent_min_entries": 3, "notify": ["ops"]}
    (d / "alerts.yaml").write_text(yaml.safe_dump(alerts))
    return load_config(d), Store(f"sqlite:///{tmp_path / 'n.db'}")


def titles(hook: WebhookReceiver, word: str) -> list[str]:
    return [m["title"] for m in hook.received if word in m.get("title", "")]


def test_failing_feed_is_announced_once_then_recovered(tmp_path: Path) -> None:
    with FixtureServer() as server, WebhookReceiver() as hook:
        config, store = setup(tmp_path, server, hook)
        assert run_cycle(store, config).feeds_ok == 1
        server.faults["/wx.xml"] = Fault(status=500)
        for _ in range(2):
            run_cycle(store, config, force=True)
        assert titles(hook, "feed failing") == []  # two failures: not yet news
        for _ in range(3):
            run_cycle(store, config, force=True)
        (failing,) = titles(hook, "feed failing")  # once, however long it fails
        assert "wx" in failing
        (msg,) = [m for m in hook.received if "feed failing" in m["title"]]
        assert "polls in a row failed" in msg["message"] and "HTTP 500" in msg["message"]
        del server.faults["/wx.xml"]
        run_cycle(store, config, force=True)
        run_cycle(store, config, force=True)
        assert len(titles(hook, "feed recovered")) == 1
        assert len(titles(hook, "feed failing")) == 1
        store.close()


def test_silent_feed_is_announced_once_then_recovered(tmp_path: Path) -> None:
    with FixtureServer() as server, WebhookReceiver() as hook:
        config, store = setup(tmp_path, server, hook)
        run_cycle(store, config)
        assert deliver(store, config, now=utcnow() + timedelta(hours=20)).health_sent == 0
        assert deliver(store, config, now=utcnow() + timedelta(days=3)).health_sent == 1
        assert deliver(store, config, now=utcnow() + timedelta(days=4)).health_sent == 0
        (msg,) = [m for m in hook.received if "feed silent" in m["title"]]
        assert "No new entry for 3 days" in msg["message"]
        server.add("wx.xml", rss(5), "application/rss+xml")  # it publishes again
        run_cycle(store, config, force=True)
        assert len(titles(hook, "feed recovered")) == 1
        assert len(titles(hook, "feed silent")) == 1
        store.close()
