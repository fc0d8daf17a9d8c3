"""Storing the new hits a topic's test finds in the stored history (``newsmon topics
test --store [--alert]``, the desk's "Store these new hits"), alerting them as the
pipeline would.

Without stories, each new hit's alerts are queued in the transaction that stores it
(:func:`monitor.topics.loop.store_new_hits`). With stories on, alerts are decided by
story, so the hits are stored first and then put through the pipeline's stories step
(:mod:`monitor.pipeline.stories_step`): an article not grouped yet joins or starts a
story, and only the first hit of a story on a topic alerts (unless a route says
``stories: every``); later hits update the story. A hit stored before is left alone and
never reaches the step, so nothing is alerted twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.alerts.send import route_targets
from monitor.config import Config
from monitor.pipeline.stories_step import group_stories
from monitor.store import Store
from monitor.topics.language import TopicConfig
from monitor.topics.loop import store_new_hits
from monitor.topics.review import ChangeReport


@dataclass
class FoundHits:
    hit_ids: list[int]  # the hits stored now (one stored before is left alone)
    deliveries: int  # outbox rows queued (0 unless asked to alert)
    folded: int = 0  # with stories: hits that only updated their story's alert


def store_found_hits(
    store: Store, rep: ChangeReport, topic: TopicConfig, config: Config | None, alert: bool
) -> FoundHits:
    """Store ``rep``'s new hits; with ``alert`` (and a config), queue their alerts - by
    story when stories are on (:attr:`FoundHits.folded`: hits that only updated their
    story), else each hit once, in the same transaction as the hits."""
    if not alert or config is None:
        done = store_new_hits(store, rep, topic)
        return FoundHits(done.hit_ids, done.deliveries)
    if not config.settings.stories.enabled:
        done = store_new_hits(store, rep, topic, route_targets(config))
        return FoundHits(done.hit_ids, done.deliveries)
    done = store_new_hits(store, rep, topic)
    if not done.hit_ids:
        return FoundHits([], 0)
    # after the hits' commit: if grouping fails, the hits stay stored without alerts
    out = group_stories(store, config, [], done.hit_ids)
    return FoundHits(done.hit_ids, out.alerts_queued, folded=out.alerts_folded)


__all__ = ["FoundHits", "store_found_hits"]
