"""With stories on, the hits ``topics test --store --alert`` finds in the stored history
are alerted as the pipeline alerts: by story (the first hit of a story alerts, a later
one only updates it), not one alert per hit. Real database, the real stories step, a
real loopback webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.alerts.send import deliver
from monitor.config import load_config
from monitor.demo.servers import WebhookReceiver
from monitor.store import NewArticle, Store
from tests import test_topics_learn as learn
from tests import test_topics_loop as loop
from tests.test_topics_learn import TOPIC, ok

stored_items = learn.stored_items
world = learn.world


def _same_event_twice(w: dict[str, Any]) -> list[str]:
    """Two reports of one event (the text of a stored hit) from two sites, stored
    before the topic took them: not hits yet."""
    store = Store(w["db"])
    _, art = next(iter(store.hits(topic=TOPIC, limit=1)))
    urls = [f"https://news-{n}.example.net/report" for n in ("a", "b")]
    store.store_articles(
        [
            NewArticle(
                canonical_url=url,
                url=url,
                guid=None,
                title=art.title,
                summary="",
                text=art.text,
                author=None,
                published_at=datetime.now(UTC),
                published_source="feed",
                language=art.language,
                fingerprint=None,
                extraction="ok",
                extraction_error=None,
                sources=[],
                hits=[],
            )
            for url in urls
        ]
    )
    store.close()
    return urls


def _store_alert(w: dict[str, Any]) -> dict[str, Any]:
    args = ("topics", "test", TOPIC, "--model", "none", "--store", "--alert", "--yes", "--json")
    out: dict[str, Any] = json.loads(ok(w, *args))
    return out


def test_found_hits_of_one_story_alert_once(
    world: dict[str, Any], webhook: WebhookReceiver
) -> None:
    loop._route_to(world, webhook)
    urls = _same_event_twice(world)
    out = _store_alert(world)
    assert sorted(h["url"] for h in out["new_hits"]) == urls
    assert len(out["stored"]["hit_ids"]) == 2
    # one story, one alert: the second hit updated the story instead of alerting again
    assert out["stored"]["deliveries"] == 1 and out["stored"]["folded"] == 1
    store = Store(world["db"])
    config = load_config(world["cfg"])
    assert deliver(store, config).sent == 1 and len(webhook.received) == 1
    # asked again: nothing new, nothing queued
    again = _store_alert(world)
    assert again["stored"] == {"hit_ids": [], "deliveries": 0, "folded": 0}
    assert deliver(store, config).sent == 0
    store.close()


def test_without_stories_each_found_hit_alerts(
    world: dict[str, Any], webhook: WebhookReceiver
) -> None:
    (world["cfg"] / "settings.yaml").write_text("stories:\n  enabled: false\n")
    loop._route_to(world, webhook)
    _same_event_twice(world)
    out = _store_alert(world)
    assert out["stored"]["deliveries"] == 2 and out["stored"]["folded"] == 0
