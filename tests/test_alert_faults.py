"""Alert channels that fail: SMTP down, refusing or slow; a webhook answering 429 or
hanging; apprise itself raising. Real loopback receivers, the real outbox.

Expected: each delivery stays in the outbox with its error, is retried on later
runs with backoff, goes out once the channel is back and never twice - except that
a message the channel took in while the sender timed out (or was killed) may go
out once more; that is counted here, not hidden. After ``dead_after_hours`` it is
dead and reported. ``tests/test_alert.py`` covers webhook 500s and the backoff
arithmetic; this file covers the other channels and faults.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import apprise
import pytest
from typer.testing import CliRunner

from monitor.alerts.routes import Route
from monitor.alerts.send import deliver
from monitor.cli import app
from monitor.config import AlertSettings, Config, FeedConfig, Settings, load_config
from monitor.demo.servers import SmtpReceiver, WebhookReceiver, free_port
from monitor.store import Delivery, Store, utcnow
from tests.support.alerting import add_hits, table

ROOT = Path(__file__).resolve().parent.parent
TOPICS = load_config(ROOT / "config").topics
runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'newsmon.db'}")
    s.sync_feeds([FeedConfig(url="https://feeds.example/world.xml", name="World Desk")])
    yield s
    s.close()


def config_for(*routes: Route, dead_after_hours: float = 48) -> Config:
    return Config(
        topics=TOPICS,
        routes=list(routes),
        settings=Settings(alerts=AlertSettings(dead_after_hours=dead_after_hours)),
    )


def rows(store: Store) -> list[Delivery]:
    return table(store, Delivery)


def later(store: Store, minutes: float = 1) -> Any:
    """A time just after every failed row is due again."""
    due = max(d.next_attempt_at for d in rows(store))
    return due + timedelta(minutes=minutes)


def smtp_url(port: int, cto: float = 2) -> str:
    return (
        f"mailto://127.0.0.1:{port}?from=newsmon@example.org&to=desk@example.org"
        f"&mode=insecure&login=newsmon&pass=x&cto={cto}"
    )


def timed_deliver(store: Store, config: Config, **kw: Any) -> tuple[Any, float]:
    t0 = time.monotonic()
    rep = deliver(store, config, **kw)
    return rep, time.monotonic() - t0


def test_smtp_down_refusing_slow_then_back_delivers_each_once(store: Store) -> None:
    port = free_port()
    config = config_for(Route(name="mail", urls=[smtp_url(port)]))
    add_hits(store, config, 2)
    log: list[tuple[str, str, int]] = []

    # 1. nothing listens on the port
    rep, secs = timed_deliver(store, config)
    assert (rep.sent, rep.failed) == (0, 2) and secs < 10
    assert {d.status for d in rows(store)} == {"failed"}
    assert all(d.last_error for d in rows(store))
    log.append(("down", rows(store)[0].last_error or "", 0))

    smtp = SmtpReceiver(port=port).start()
    try:
        # 2. the server is up but refuses every message
        smtp.reply = "554 5.7.1 Message rejected: newsmon test"
        rep, secs = timed_deliver(store, config, now=later(store))
        assert (rep.sent, rep.failed) == (0, 2) and secs < 10
        assert smtp.messages == []
        assert all(d.attempts == 2 and d.status == "failed" for d in rows(store))
        log.append(("refusing", rows(store)[0].last_error or "", len(smtp.messages)))

        # 3. slow, but within the client's limit: delivered
        smtp.reply, smtp.delay_s = None, 1.0
        rep, secs = timed_deliver(store, config, now=later(store))
        assert rep.sent == 2 and len(smtp.messages) == 2 and secs < 10
        assert all(d.status == "sent" and d.attempts == 3 for d in rows(store))

        # 4. nothing more, ever
        for days in (1, 7, 30):
            assert deliver(store, config, now=utcnow() + timedelta(days=days)).messages == 0
        assert len(smtp.messages) == 2
        subjects = sorted(str(m["Subject"]) for m in smtp.messages)
        assert subjects == ["[Caucasus realignment] Story 0", "[Caucasus realignment] Story 1"]
    finally:
        smtp.stop()
    for stage, error, _ in log:
        print(f"\nsmtp {stage}: {error[:150]}")


def test_smtp_that_never_answers_is_cut_off_by_the_clients_limit(store: Store) -> None:
    with SmtpReceiver() as smtp:
        smtp.delay_s = 30
        config = config_for(Route(name="mail", urls=[smtp_url(smtp.port, cto=2)]))
        add_hits(store, config, 1)
        rep, secs = timed_deliver(store, config)
        assert rep.failed == 1 and secs < 15, secs
        (d,) = rows(store)
        assert d.status == "failed" and d.last_error


def test_webhook_429_then_back(store: Store) -> None:
    with WebhookReceiver() as hook:
        hook.fail_with = 429
        hook.fail_headers = {"Retry-After": "120"}
        config = config_for(Route(name="chat", urls=[hook.apprise_url()]))
        add_hits(store, config, 3)
        rep = deliver(store, config)
        assert rep.failed == 3 and rep.sent == 0
        assert all("429" in (d.last_error or "") for d in rows(store))
        hook.fail_with = None
        rep = deliver(store, config, now=later(store))
        assert rep.sent == 3
        assert deliver(store, config, now=later(store, 600)).messages == 0
        assert len(hook.received) == 3
        assert {d.status for d in rows(store)} == {"sent"}


def test_webhook_that_hangs_is_cut_off_and_resent_at_most_once_more(store: Store) -> None:
    """The receiver reads the message, then does not answer: the sender cannot know it
    arrived. It is failed, retried, and so received twice - once more at most."""
    with WebhookReceiver() as hook:
        hook.delay_s = 5
        config = config_for(Route(name="chat", urls=[hook.apprise_url() + "?rto=1"]))
        add_hits(store, config, 1)
        rep, secs = timed_deliver(store, config)
        assert rep.failed == 1 and secs < 5, secs
        (d,) = rows(store)
        assert d.status == "failed" and d.last_error
        hook.delay_s = 0
        assert deliver(store, config, now=later(store)).sent == 1
        for days in (1, 30):
            assert deliver(store, config, now=utcnow() + timedelta(days=days)).messages == 0
        time.sleep(5)  # the first, hanging answer finishes in the server
        assert len(hook.received) == 2  # the one in flight when the sender gave up, and one
        (d,) = rows(store)
        assert d.status == "sent" and d.attempts == 2


def test_apprise_raising_is_recorded_not_fatal(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with WebhookReceiver() as hook:
        config = config_for(
            Route(name="chat", urls=[hook.apprise_url()]),
            Route(name="chat2", urls=[hook.apprise_url("other")]),
        )
        add_hits(store, config, 1)
        real = apprise.Apprise.notify

        def exploding(self: apprise.Apprise, *a: Any, **kw: Any) -> Any:
            raise RuntimeError("plugin bug: boom")

        monkeypatch.setattr(apprise.Apprise, "notify", exploding)
        rep = deliver(store, config)
        assert rep.failed == 2 and rep.sent == 0
        assert all(
            "apprise raised RuntimeError: plugin bug: boom" in (d.last_error or "")
            for d in rows(store)
        )
        monkeypatch.setattr(apprise.Apprise, "notify", real)
        assert deliver(store, config, now=later(store)).sent == 2
        assert len(hook.received) == 2


def test_custom_apprise_plugin_that_raises_is_recorded(store: Store) -> None:
    from apprise.decorators import notify

    @notify(on="newsmonboom")
    def boom(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("custom plugin exploded")

    config = config_for(Route(name="boom", urls=["newsmonboom://"]))
    add_hits(store, config, 1)
    rep = deliver(store, config)
    assert rep.failed == 1
    (d,) = rows(store)
    assert d.status == "failed" and d.last_error


def test_channel_that_keeps_failing_goes_dead_is_reported_and_shown(
    store: Store, tmp_path: Path
) -> None:
    port = free_port()  # nothing will ever listen
    config = config_for(Route(name="mail", urls=[smtp_url(port, cto=1)]), dead_after_hours=6)
    add_hits(store, config, 2)
    t0 = utcnow()
    now, reports = t0, []
    while now < t0 + timedelta(hours=24):
        rep = deliver(store, config, now=now)
        reports.append(rep)
        due = [d.next_attempt_at for d in rows(store) if d.status == "failed"]
        if not due:
            break
        now = max(due) + timedelta(seconds=1)
    statuses = {d.status for d in rows(store)}
    assert statuses == {"dead"}, statuses
    assert sum(r.dead for r in reports) == 2 and reports[-1].errors
    attempts = rows(store)[0].attempts
    assert 3 <= attempts <= 8  # retried with growing waits, not hammered
    # dead rows are never sent again and are what `newsmon alerts` shows
    assert deliver(store, config, now=now + timedelta(days=30)).messages == 0
    out = runner.invoke(app, ["--db", store.url, "alerts", "--status", "dead"])
    assert out.exit_code == 0, out.output
    assert out.output.count("dead") >= 2 and "mail" in out.output
    assert "pass=x" not in out.output and "newsmon:x" not in out.output  # masked
    # the route itself: failing since the first attempt, both alerts dead, none waiting
    routes = runner.invoke(
        app, ["--db", store.url, "--config", str(tmp_path / "none"), "alerts", "--routes", "--json"]
    )
    assert routes.exit_code == 0, routes.output
    (mail,) = json.loads(routes.stdout)["routes"]  # the config note went to stderr
    assert (mail["route"], mail["state"], mail["dead"], mail["waiting"]) == (
        "mail",
        "not in config",
        2,
        0,
    )
    # two messages (one per hit) each round
    assert mail["consecutive_failures"] == 2 * attempts and mail["failing_since"]
