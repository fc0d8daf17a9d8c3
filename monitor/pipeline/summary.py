"""What a cycle did, counted: one :class:`CycleSummary` per step, added up."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CycleSummary:
    feeds_due: int = 0
    feeds_polled: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_unchanged: int = 0
    feeds_failed: int = 0
    feeds_gone: int = 0
    entries_new: int = 0
    articles_new: int = 0
    articles_merged: int = 0
    extraction_fallbacks: int = 0
    pages_failed: int = 0  # article pages that could not be fetched (stored from the summary)
    pages_retried: int = 0  # pages of earlier articles asked for again (monitor.pipeline.retry)
    pages_recovered: int = 0  # ... that gave their text this time
    hits_new: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    alerts_dead: int = 0
    health_sent: int = 0  # "alerting is broken" / "recovered" messages (monitor.alerts.health)
    health_failed: int = 0
    texts_pruned: int = 0
    stories_new: int = 0
    stories_joined: int = 0  # articles that joined a story already there
    alerts_folded: int = 0  # later hits of a story: the story updated, no alert
    spikes_started: int = 0  # topics whose new stories per hour spiked (monitor.alerts.spikes)
    errors: list[str] = field(default_factory=list)

    def add(self, other: CycleSummary) -> None:
        for k, v in asdict(other).items():
            if isinstance(v, int):
                setattr(self, k, getattr(self, k) + v)
        self.errors.extend(other.errors)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
