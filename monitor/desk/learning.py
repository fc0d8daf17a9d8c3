"""The learning loop from the desk: training and testing a topic's model run in a
worker process, watched by a background thread (a request only starts them and a page
shows their state; the desk's own process keeps answering at full speed), one job at a
time per topic; the last test's report is what activation is checked against.

The work itself is the library's (:mod:`monitor.topics.review`,
:mod:`monitor.topics.loop`): the desk shows the same numbers and warnings as
``newsmon topics train|test|activate``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.store import Store, utcnow
from monitor.topics.language import TopicConfig

log = logging.getLogger(__name__)


class Busy(RuntimeError):
    """A job of this topic is still running."""


@dataclass
class Job:
    """One training or test run of a topic, and what came of it."""

    kind: str  # "train" or "test"
    topic: str
    by: str
    started: datetime
    finished: datetime | None = None
    error: str | None = None
    result: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def seconds(self) -> float:
        return ((self.finished or utcnow()) - self.started).total_seconds()


class LoopJobs:
    """The desk's running and last jobs, per topic (in memory: a restart forgets them,
    the models they wrote stay)."""

    def __init__(self, isolate: bool = True) -> None:
        # isolate: each job in a spawned process (about 3 s to start; the desk stays
        # fast and a failing job cannot take it down); False runs it in the thread.
        self.isolate = isolate
        self._lock = threading.Lock()
        self._running: dict[str, Job] = {}
        self._last: dict[tuple[str, str], Job] = {}

    def running(self, topic_id: str) -> Job | None:
        with self._lock:
            return self._running.get(topic_id)

    def last(self, topic_id: str, kind: str) -> Job | None:
        with self._lock:
            return self._last.get((topic_id, kind))

    def start(
        self,
        topic_id: str,
        kind: str,
        by: str,
        fn: Callable[..., dict[str, Any]],
        *args: Any,
    ) -> Job:
        """Run ``fn(*args)`` as this topic's job (in a worker process watched by a thread,
        or in the thread); :class:`Busy` if one runs."""
        with self._lock:
            if topic_id in self._running:
                raise Busy(f"{topic_id}: a {self._running[topic_id].kind} job is running")
            job = Job(kind, topic_id, by, utcnow())
            self._running[topic_id] = job

        def run() -> None:
            try:
                job.result = in_process(fn, *args) if self.isolate else fn(*args)
            except Exception as exc:
                log.exception("topic %s: %s failed", topic_id, kind)
                job.error = str(exc) or type(exc).__name__
            job.finished = utcnow()
            with self._lock:
                self._running.pop(topic_id, None)
                self._last[(topic_id, kind)] = job
                if kind == "train":  # a new candidate: the last test no longer holds
                    self._last.pop((topic_id, "test"), None)

        threading.Thread(target=run, name=f"desk-{kind}-{topic_id}", daemon=True).start()
        return job

    def forget_test(self, topic_id: str) -> None:
        with self._lock:
            self._last.pop((topic_id, "test"), None)


def in_process(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``fn(*args)`` in a fresh worker process (spawned: no state shared with the desk,
    and training's CPU time does not slow the desk's requests down)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def train_work(
    db_url: str, topic: TopicConfig, config_dir: Path | None, models: Path
) -> dict[str, Any]:
    """Train a candidate as ``newsmon topics train`` does; a summary for the page."""
    from monitor.topics.model import save_model
    from monitor.topics.review import load_pool, train_topic

    store = Store(db_url)
    try:
        pool = load_pool(store, topic, config_dir=config_dir)
    finally:
        store.close()
    rep = train_topic(topic, pool)
    save_model(rep.model, "candidate", models)
    chk = rep.check
    return {
        "model": rep.model.model_id,
        "pool": rep.pool,
        "relevant": rep.labels_relevant,
        "irrelevant": rep.labels_irrelevant,
        "rule_hits": rep.rule_hits,
        "model_hits": rep.model_hits,
        "threshold": rep.model.threshold,
        "labels": chk.n,
        "rules_correct": chk.rules_correct,
        "model_correct": chk.model_correct,
        "folds": chk.folds,
        "top_positive": rep.top_positive[:10],
        "top_negative": rep.top_negative[:8],
    }


def _change(c: Any) -> dict[str, Any]:
    ev = c.evidence or {}
    groups = sorted(
        ((g, info) for g, info in (ev.get("groups") or {}).items() if info.get("count")),
        key=lambda gi: -gi[1].get("contribution", 0),
    )
    model = ev.get("model") or {}
    return {
        "article_id": int(c.key.split(":", 1)[1]),
        "title": c.title,
        "url": c.url,
        "label": c.label,
        "language": c.language,
        "score": c.score,
        "old_score": c.old_score,
        "rule_passed": ev.get("rule_passed"),
        "groups": [
            (g, round(info.get("contribution", 0), 3), list(info.get("terms", {}))[:5])
            for g, info in groups[:4]
        ],
        "features": [(f["feature"], f["contribution"]) for f in (model.get("features") or [])[:5]],
    }


def history_work(
    db_url: str, topic: TopicConfig, config_dir: Path | None, kind: str, models: Path
) -> dict[str, Any]:
    """Re-score the stored history with the topic's ``kind`` model (as ``newsmon topics
    test``): new and dropped hits with their evidence, and the warnings."""
    from monitor.topics.loop import change_warnings, model_of
    from monitor.topics.model import model_path
    from monitor.topics.review import compare_topic

    if kind == "auto":
        kind = next(
            (k for k in ("candidate", "active") if model_path(topic.id, k, models).exists()),
            "none",
        )
    model = model_of(topic.id, kind, models)
    store = Store(db_url)
    try:
        rep = compare_topic(store, topic, model, config_dir=config_dir)
    finally:
        store.close()
    return {
        "kind": kind if model is not None else "none",
        "model": rep.model,
        "stale": model is not None and model.topic_version != topic.version,
        "version": rep.version,
        "articles": rep.articles,
        "stored_hits": rep.stored_hits,
        "hits_now": rep.hits_now,
        "kept": rep.kept,
        "new_hits": [_change(c) for c in rep.new_hits],
        "lost_hits": [_change(c) for c in rep.lost_hits],
        "labels_by_language": rep.labels_by_language,
        "warnings": [w.message for w in change_warnings(rep)],
        "report": rep,  # for storing its new hits (not shown)
    }


__all__ = ["Busy", "Job", "LoopJobs", "history_work", "in_process", "train_work"]
