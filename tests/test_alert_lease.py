"""The outbox's 'sending' claim is short and kept alive, and every attempt at one
message carries the same Idempotency-Key: a send killed mid-way goes out again in
minutes, not a quarter of an hour; a webhook that took a message whose answer never
came sees the retry under the key it already has; a run with many slow targets does
not lose its claim to another run halfway. Real webhook receiver, real outbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.alerts.routes import Route
from monitor.alerts.send import deliver
from monitor.config import AlertSettings, Config, FeedConfig, Settings, load_config
from monitor.demo.servers import WebhookReceiver
from monitor.store import Delivery, Store, utcnow
from tests.support.alerting import add_hits, table

ROOT = Path(__file__).resolve().parent.parent
TOPICS = load_config(ROOT / "config").topics


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'newsmon.db'}")
    s.sync_feeds([FeedConfig(url="https://feeds.example/world.xml", name="World Desk")])
    yield s
    s.close()


def config_for(*routes: Route, lease_minutes: float = 2) -> Config:
    return Config(
        topics=TOPICS,
        routes=list(routes),
        settings=Settings(alerts=AlertSettings(sending_lease_minutes=lease_minutes)),
    )


def keys(hook: WebhookReceiver) -> list[str | None]:
    return [
        {k.lower(): v for k, v in r.headers.items()}.get("idempotency-key") for r in hook.requests
    ]


def test_a_send_killed_midway_goes_out_after_the_short_lease(
    store: Store, webhook: WebhookReceiver
) -> None:
    config = config_for(Route(name="chat", urls=[webhook.apprise_url()]))
    add_hits(store, config, 1)
    t0 = utcnow()
    (claimed,) = store.claim_deliveries(mode="instant", now=t0)  # ... and the run dies here
    assert deliver(store, config, now=t0 + timedelta(minutes=1)).messages == 0  # still held
    rep = deliver(store, config, now=t0 + timedelta(minutes=3))  # not 15 minutes
    assert rep.sent == 1 and len(webhook.received) == 1
    (d,) = table(store, Delivery)
    assert d.id == claimed[0].id and d.status == "sent"


def test_a_retry_after_a_hanging_answer_carries_the_same_idempotency_key(store: Store) -> None:
    with WebhookReceiver() as hook:
        hook.delay_s = 4  # reads and records the message, then answers too late
        config = config_for(Route(name="chat", urls=[hook.apprise_url() + "?rto=1"]))
        add_hits(store, config, 2)  # two messages: two keys
        assert deliver(store, config).failed == 2
        hook.delay_s = 0
        due = max(d.next_attempt_at for d in table(store, Delivery) if d.next_attempt_at)
        assert deliver(store, config, now=due + timedelta(minutes=1)).sent == 2
        time.sleep(4.5)  # the hanging answers finish in the server
        got = keys(hook)
        assert len(got) == 4 and all(k and k.startswith("newsmon-") for k in got), got
        first, second = got[:2], got[2:]
        assert sorted(first) == sorted(second)  # the retries: the keys already seen
        assert len(set(got)) == 2  # one key per message


def test_a_long_run_keeps_its_claim_on_the_rows_it_has_not_sent(store: Store) -> None:
    """Four slow targets (2.5 s each) under a 6 s lease: without renewal, the last
    rows would be free for another run to claim (and send twice) after 6 s."""
    with WebhookReceiver() as hook:
        hook.delay_s = 2.5
        routes = [
            Route(name=f"r{i}", urls=[hook.apprise_url(f"h{i}") + "?rto=10"]) for i in range(4)
        ]
        config = config_for(*routes, lease_minutes=0.1)
        add_hits(store, config, 1)
        done: list[int] = []
        t = threading.Thread(target=lambda: done.append(deliver(store, config).sent))
        t.start()
        time.sleep(7.0)  # past the first claim's lease, two renewals in
        stolen = store.claim_deliveries(
            mode="instant", now=utcnow(), stale_after=timedelta(minutes=0.1)
        )
        t.join(timeout=30)
        assert stolen == [] and done == [4]
        assert len(hook.received) == 4
