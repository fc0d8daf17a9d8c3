"""Alerts by story: which routes a hit goes to, given the story it belongs to.

The first hit of a story on a topic alerts every route that wants it; a later hit of
the same story alerts only routes with ``stories: every``, or a route whose
``escalate`` rule the grown story now meets (K sources within T hours of its first
article, or an article from one of the named sources) - once per route and story.
See docs/alerts.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.alerts.render import Item
from monitor.alerts.routes import Route, mask_url, outbox_row, target_key
from monitor.config import Config
from monitor.store import Hit, Story, utcnow


@dataclass
class StoryFacts:
    """What an alert decision knows of the story a hit belongs to."""

    sources: list[str]
    first_seen: datetime | None
    when: datetime | None  # the hit's article's time
    host: str  # the hit's article's source host
    escalated: set[str] = field(default_factory=set)  # routes already escalated


def escalates(route: Route, facts: StoryFacts) -> bool:
    """True when the grown story meets the route's escalation rule (not yet sent)."""
    rule = route.escalate
    if rule is None or route.name in facts.escalated:
        return False
    host = facts.host.lower()
    if host and any(host == h or host.endswith("." + h) for h in rule.hosts):
        return True
    if rule.sources is None or len(facts.sources) < rule.sources:
        return False
    if facts.first_seen is None or facts.when is None:
        return True
    return facts.when - facts.first_seen <= timedelta(hours=rule.within_hours)


StoryTargets = Callable[
    [str, float, datetime | None, bool, StoryFacts], tuple[list[dict[str, Any]], list[str]]
]


def story_targets(config: Config) -> StoryTargets:
    """A function (topic, score, published, first hit of the story?, facts) ->
    (outbox rows to create, routes escalated by them)."""
    max_age = config.settings.alerts.max_article_age_hours
    targets = [(r, target_key(u), mask_url(u)) for r in config.routes for u in r.urls]

    def rows(
        topic: str, score: float, published: datetime | None, first: bool, facts: StoryFacts
    ) -> tuple[list[dict[str, Any]], list[str]]:
        now = utcnow()
        if (
            max_age is not None
            and published is not None
            and published < now - timedelta(hours=max_age)
        ):
            return [], []  # old news: stored and reviewable, not pushed
        out, escalated = [], []
        for r, key, display in targets:
            if not r.wants(topic, score):
                continue
            if not first and r.stories != "every":
                if not escalates(r, facts):
                    continue
                if r.name not in escalated:
                    escalated.append(r.name)
            out.append(
                outbox_row(now, route=r.name, target=key, target_display=display, mode=r.mode)
            )
        return out, escalated

    return rows


def with_story(item: Item, hit: Hit, stories: dict[int, Story]) -> Item:
    """The alert item with its story's sources and times (as they are when it is sent:
    reports that joined since the first hit are counted)."""
    st = stories.get(hit.article_id)
    if st is None:
        return item
    item.story_sources = max(len(st.sources or []), 1)
    item.story_first_seen, item.story_last_seen = st.first_seen, st.last_seen
    alerted = (st.state or {}).get("alerted") or {}
    item.story_update = hit.topic_id in alerted and alerted[hit.topic_id] != hit.id
    return item
