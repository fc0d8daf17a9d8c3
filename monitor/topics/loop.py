"""The learning loop after training, shared by ``newsmon topics`` and the desk: what a
model or definition would change on the stored history, the warnings that need a
confirmation before it is used, storing the new hits it finds (and alerting them once),
activating a candidate and rolling back to the previous model.

A warning is raised when the change would drop a hit an analyst labelled relevant, find
one an analyst labelled "not a hit" (stored with that label, never alerted), or drop hits
in a language the topic has fewer than :data:`FEW_LABELS` labels in: a model
trained on English labels must not silently lose the Russian or Persian hits the rules
found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.store import Store
from monitor.topics.language import TopicConfig
from monitor.topics.model import (
    ModelError,
    TopicModel,
    activate,
    load_model,
    model_lock,
    model_path,
)
from monitor.topics.review import Change, ChangeReport, ReviewError, compare_topic

FEW_LABELS = 5  # fewer labels than this in a language: the model has not learnt it

DeliveriesFor = Callable[[str, float, datetime | None], list[dict[str, Any]]]


@dataclass
class ChangeWarning:
    """A reason to confirm before a change is used: what it drops, and why that matters."""

    # "relevant": drops a hit labelled relevant; "irrelevant": finds one labelled not a
    # hit; "language": drops hits in a language with few labels
    kind: str
    message: str
    changes: list[Change] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "articles": [c.key for c in self.changes],
        }


def change_warnings(rep: ChangeReport, few: int = FEW_LABELS) -> list[ChangeWarning]:
    """What in ``rep`` needs a confirmation: lost hits labelled relevant, new hits on
    articles labelled "not a hit", and lost hits in each language with fewer than ``few``
    labels for the topic."""
    out = []
    relevant = [c for c in rep.lost_hits if c.label is True]
    if relevant:
        out.append(
            ChangeWarning(
                "relevant",
                f"drops {len(relevant)} hit(s) an analyst labelled relevant",
                relevant,
            )
        )
    contradicted = [c for c in rep.new_hits if c.label is False]
    if contradicted:
        out.append(
            ChangeWarning(
                "irrelevant",
                f"finds {len(contradicted)} new hit(s) an analyst labelled not a hit (stored "
                "with that label, never alerted)",
                contradicted,
            )
        )
    by_language: dict[str, list[Change]] = {}
    for c in rep.lost_hits:
        lang = c.language or ""
        if rep.labels_by_language.get(lang, 0) < few:
            by_language.setdefault(lang, []).append(c)
    for lang, lost in sorted(by_language.items()):
        n = rep.labels_by_language.get(lang, 0)
        out.append(
            ChangeWarning(
                "language",
                f"drops {len(lost)} hit(s) in {lang or 'an unknown language'}, where the topic "
                f"has {n} label(s) (fewer than {few}): what was learnt may not hold there",
                lost,
            )
        )
    return out


def model_of(topic_id: str, kind: str = "auto", directory: Path | None = None) -> TopicModel | None:
    """The topic's ``candidate``, ``active`` or ``previous`` model, None for ``none``;
    ``auto``: the candidate if there is one, else the active one, else none."""
    if kind == "auto":
        kind = next(
            (k for k in ("candidate", "active") if model_path(topic_id, k, directory).exists()),
            "none",
        )
    if kind == "none":
        return None
    if kind not in {"candidate", "active", "previous"}:
        raise ReviewError(f"model must be candidate, active, previous or none, not {kind!r}")
    return load_model(model_path(topic_id, kind, directory))


@dataclass
class StoredHits:
    hit_ids: list[int]
    deliveries: int  # outbox rows queued (0 unless asked to alert)


def store_new_hits(
    store: Store,
    rep: ChangeReport,
    topic: TopicConfig,
    deliveries_for: DeliveriesFor | None = None,
) -> StoredHits:
    """Store ``rep``'s new hits with their score, evidence and version; with
    ``deliveries_for`` (``monitor.alerts.route_targets``), queue their alerts in the
    same transaction. A hit stored before (by the pipeline or an earlier run) is left
    alone and not alerted again."""
    rows = [
        (int(c.key.split(":", 1)[1]), topic.id, round(c.score, 4), c.version, c.evidence)
        for c in rep.new_hits
        if c.key.startswith("article:")
    ]
    ids, queued = store.add_hits(rows, deliveries_for)
    return StoredHits(ids, queued)


def check_candidate(
    store: Store,
    topic: TopicConfig,
    *,
    config_dir: Path | None = None,
    directory: Path | None = None,
) -> tuple[ChangeReport, list[ChangeWarning]]:
    """What activating the topic's candidate model would change, and its warnings."""
    rep = compare_topic(
        store, topic, model_of(topic.id, "candidate", directory), config_dir=config_dir
    )
    return rep, change_warnings(rep)


def rollback(topic_id: str, directory: Path | None = None) -> TopicModel:
    """Put the previous model back in use; the one it replaces becomes the previous (so a
    second rollback undoes the first). Under :func:`~monitor.topics.model.model_lock`, as
    activations are: two rollbacks at once take turns (the second undoes the first)."""
    with model_lock(topic_id, directory):
        prev = model_path(topic_id, "previous", directory)
        if not prev.exists():
            raise ModelError(f"{topic_id}: no previous model to roll back to")
        model = load_model(prev)
        active = model_path(topic_id, "active", directory)
        swap = model_path(topic_id, "swap", directory)
        if active.exists():
            active.replace(swap)
        prev.replace(active)
        if swap.exists():
            swap.replace(prev)
        return model


__all__ = [
    "FEW_LABELS",
    "ChangeWarning",
    "StoredHits",
    "activate",
    "change_warnings",
    "check_candidate",
    "model_of",
    "rollback",
    "store_new_hits",
]
