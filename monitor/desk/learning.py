"""The learning loop from the desk: training and testing a topic's model, and rescanning
its near misses, run in a
worker process, watched by a background thread (a request only starts them and a page
shows their state; the desk's own process keeps answering at full speed), one job at a
time per topic; the last test's report is what activation is checked against.

The work itself is the library's (:mod:`monitor.topics.review`,
:mod:`monitor.topics.loop`): the desk shows the same numbers and warnings as
``newsmon topics train|test|activate``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from monitor.store import Store, utcnow
from monitor.topics.language import TopicConfig

log = logging.getLogger(__name__)


class Busy(RuntimeError):
    """A job of this topic is still running."""


@dataclass
class Job:
    """One training, test or rescan run of a topic, and what came of it."""

    kind: str  # "train", "test" or "rescan"
    topic: str
    by: str
    started: datetime
    finished: datetime | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None  # the latest a job with progress reported

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def seconds(self) -> float:
        return ((self.finished or utcnow()) - self.started).total_seconds()


JOB_TIMEOUT = 15 * 60.0  # seconds a training or test job may run before it is stopped


class LoopJobs:
    """The desk's running and last jobs, per topic (in memory: a restart forgets them,
    the models they wrote stay).

    Each job runs in its own spawned process (``isolate``), watched by a thread: stopped
    after ``timeout`` seconds, stopped by :meth:`shutdown` (the desk's shutdown), and
    gone by itself when the desk's process dies (it watches its parent)."""

    def __init__(self, isolate: bool = True, timeout: float = JOB_TIMEOUT) -> None:
        # isolate: each job in a spawned process (about 3 s to start; the desk stays
        # fast and a failing job cannot take it down); False runs it in the thread.
        self.isolate = isolate
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: dict[str, Job] = {}
        self._last: dict[tuple[str, str], Job] = {}
        self._procs: dict[str, BaseProcess] = {}
        self._closed = False

    def running(self, topic_id: str) -> Job | None:
        with self._lock:
            return self._running.get(topic_id)

    def last(self, topic_id: str, kind: str) -> Job | None:
        with self._lock:
            return self._last.get((topic_id, kind))

    def pid(self, topic_id: str) -> int | None:
        """The process id of the topic's running job (None in the thread, or none)."""
        with self._lock:
            proc = self._procs.get(topic_id)
            return proc.pid if proc is not None else None

    def start(
        self,
        topic_id: str,
        kind: str,
        by: str,
        fn: Callable[..., dict[str, Any]],
        *args: Any,
        progress: bool = False,
    ) -> Job:
        """Run ``fn(*args)`` as this topic's job (in a worker process watched by a thread,
        or in the thread); :class:`Busy` if one runs. With ``progress``, ``fn`` is also
        given ``progress=report``: each ``report(dict)`` becomes :attr:`Job.progress`."""
        with self._lock:
            if self._closed:
                raise Busy("the desk is shutting down")
            if topic_id in self._running:
                raise Busy(f"{topic_id}: a {self._running[topic_id].kind} job is running")
            job = Job(kind, topic_id, by, utcnow())
            self._running[topic_id] = job

        def run() -> None:
            try:
                if self.isolate:
                    job.result = self._in_process(job, fn, args, progress)
                elif progress:
                    job.result = fn(*args, progress=lambda d: setattr(job, "progress", d))
                else:
                    job.result = fn(*args)
            except Exception as exc:
                log.exception("topic %s: %s failed", topic_id, kind)
                job.error = str(exc) or type(exc).__name__
            job.finished = utcnow()
            with self._lock:
                self._running.pop(topic_id, None)
                self._last[(topic_id, kind)] = job
                if kind == "train":  # a new candidate: the last test no longer holds
                    self._last.pop((topic_id, "test"), None)

        # the thread starts the process and outlives it: the child's parent-death signal
        # is tied to the thread that started it
        threading.Thread(target=run, name=f"desk-{kind}-{topic_id}", daemon=True).start()
        return job

    def _in_process(
        self, job: Job, fn: Callable[..., dict[str, Any]], args: tuple[Any, ...], progress: bool
    ) -> dict[str, Any]:
        """``fn(*args)`` in a fresh spawned process (no state shared with the desk, and
        training's CPU time does not slow the desk's requests down), its progress and
        result over a pipe; stopped after :attr:`timeout` seconds."""
        topic_id = job.topic
        ctx = multiprocessing.get_context("spawn")
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_child,
            args=(send, os.getpid(), fn, args, progress),
            name=f"newsmon-desk-job-{topic_id}",
            daemon=True,  # and multiprocessing's exit hook stops it, never waits for it
        )
        with self._lock:
            if self._closed:
                raise RuntimeError("the desk is shutting down")
            proc.start()
            self._procs[topic_id] = proc
        send.close()  # the child's end: EOF here when the child is gone
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                if not recv.poll(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(
                        f"stopped after {self.timeout:g} s (the job timeout): nothing was saved"
                    )
                try:
                    status, value = recv.recv()
                except EOFError:
                    proc.join(5)
                    if self._closed:
                        raise RuntimeError("stopped: the desk shut down") from None
                    raise RuntimeError(
                        f"the job's process ended without a result (exit code {proc.exitcode})"
                    ) from None
                if status != "progress":
                    break
                job.progress = value
            if status == "error":
                raise RuntimeError(value)
            result: dict[str, Any] = value
            return result
        finally:
            recv.close()
            _stop(proc)
            with self._lock:
                self._procs.pop(topic_id, None)

    def shutdown(self) -> None:
        """Stop every running job's process (the desk is stopping: nothing waits for them)."""
        with self._lock:
            self._closed = True
            procs = list(self._procs.values())
        for proc in procs:
            _stop(proc)

    def forget_test(self, topic_id: str) -> None:
        with self._lock:
            self._last.pop((topic_id, "test"), None)


def _stop(proc: BaseProcess) -> None:
    """Terminate a job's process (SIGTERM, then SIGKILL after 5 s) and reap it."""
    if proc.is_alive():
        proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    proc.join(5)


def _exit_with_parent(parent: int) -> None:
    """End this process when the desk's does, even by SIGKILL: the kernel's parent-death
    signal on Linux, else a thread that polls the parent's id."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    else:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the desk died before the signal was asked for
        os._exit(1)


def _child(
    conn: Connection,
    parent: int,
    fn: Callable[..., dict[str, Any]],
    args: tuple[Any, ...],
    progress: bool = False,
) -> None:
    """A job's process: run ``fn(*args)`` (with ``progress``: each report sent as
    ``("progress", dict)``), send ``("ok", result)`` or ``("error", why)``."""
    _exit_with_parent(parent)
    try:
        if progress:
            result = fn(*args, progress=lambda d: conn.send(("progress", d)))
        else:
            result = fn(*args)
        out: tuple[str, Any] = ("ok", result)
    except Exception as exc:
        log.exception("desk job failed")
        out = ("error", str(exc) or type(exc).__name__)
    try:
        conn.send(out)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an unpicklable result
        conn.send(("error", f"cannot send the job's result: {exc}"))
    conn.close()


def train_work(
    db_url: str, topic: TopicConfig, config_dir: Path | None, models: Path
) -> dict[str, Any]:
    """Train a candidate as ``newsmon topics train`` does; a summary for the page."""
    from monitor.topics.model import save_candidate
    from monitor.topics.review import load_pool, train_topic

    store = Store(db_url)
    try:
        pool = load_pool(store, topic, config_dir=config_dir)
    finally:
        store.close()
    rep = train_topic(topic, pool)
    # the active model again (the labels chose as before): no candidate, nothing to activate
    same = save_candidate(rep.model, models) is None
    chk = rep.check
    return {
        "model": rep.model.model_id,
        "same_as_active": same,
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


def rescan_work(
    db_url: str,
    topic: TopicConfig,
    limit: int,
    models: Path,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Re-score the newest ``limit`` stored articles for the topic's near misses, as
    ``newsmon topics near-misses T --rescan`` does, reporting how far it got."""
    from monitor.topics.match import Classifier
    from monitor.topics.model import active_models
    from monitor.topics.review import rescan_near_misses

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress({"done": done, "total": total})

    store = Store(db_url)
    try:
        clf = Classifier([topic], models=active_models([topic], models))
        scan = rescan_near_misses(store, topic, limit=limit, classifier=clf, progress=report)
    finally:
        store.close()
    return {
        "articles": scan.articles,
        "near_misses": scan.near_misses,
        "added": scan.added,
        "updated": scan.updated,
        "removed": scan.removed,
        "model": bool(clf.models),
    }


__all__ = [
    "JOB_TIMEOUT",
    "Busy",
    "Job",
    "LoopJobs",
    "history_work",
    "rescan_work",
    "train_work",
]
