"""Worker processes for the CPU work: extraction then classification, per page.

trafilatura can hang or crash on hostile pages and is not thread-safe, so each
page is analysed in a worker process (pebble) with a time limit. A worker that
times out or dies is replaced; workers are recycled after N pages to bound
memory growth. Classification runs in the same worker, on the extracted text,
so only small results travel back.
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pebble import ProcessExpired, ProcessPool

from monitor.classify import Classifier, TopicResult
from monitor.config import Config, TopicConfig
from monitor.errors import ExtractError
from monitor.extract import Extracted, extract_html

_classifier: Classifier | None = None


@dataclass
class PageJob:
    key: str
    html: bytes
    url: str


@dataclass
class Analysis:
    key: str
    extracted: Extracted | None
    error: str | None = None
    results: list[TopicResult] = field(default_factory=list)


def _init(topics: list[dict[str, Any]]) -> None:
    global _classifier
    _classifier = Classifier([TopicConfig.model_validate(t) for t in topics])


def analyse(job: PageJob, classifier: Classifier | None = None) -> Analysis:
    """Extract then classify one page (in a worker, or inline)."""
    clf = classifier or _classifier
    assert clf is not None, "worker not initialised"
    try:
        ex = extract_html(job.html, job.url)
    except ExtractError as exc:
        return Analysis(job.key, None, str(exc))
    return Analysis(job.key, ex, None, clf.classify(ex.title, ex.text, language=ex.language))


def _model_stamps(config: Config) -> list[Any]:
    """When the topics' trained models last changed (workers load them at start)."""
    try:
        from monitor.learn import model_path
    except ImportError:
        return []
    out: list[Any] = []
    for t in config.topics:
        try:
            out.append(model_path(t.id, "active").stat().st_mtime_ns)
        except (OSError, TypeError, ValueError):
            out.append(None)
    return out


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def analyse_in_order(pool: Any, jobs: Iterable[PageJob]) -> Iterator[Analysis]:
    """Submit every job to ``pool`` (WorkerPool or DaskPool), then yield the outcomes in
    job order: the one loop both pools share."""
    futures = [(job, pool.submit(job)) for job in jobs]
    for job, fut in futures:
        yield pool.outcome(job.key, fut)


class WorkerPool:
    """Analyses pages in worker processes, each page under a time limit."""

    def __init__(self, topics: Sequence[TopicConfig], *, workers: int = 0,
                 timeout_s: float = 30, max_tasks: int = 500) -> None:
        self.timeout_s = timeout_s
        self.workers = workers or default_workers()
        self._closed = False
        ctx = multiprocessing.get_context("forkserver")
        # Workers fork from a server that already imported the heavy modules.
        ctx.set_forkserver_preload(["monitor.workers", "monitor.worker_warmup"])
        self._pool = ProcessPool(max_workers=self.workers, max_tasks=max_tasks,
                                 initializer=_init,
                                 initargs=([t.model_dump(mode="json") for t in topics],),
                                 context=ctx)

    @classmethod
    def for_config(cls, config: Config) -> WorkerPool:
        e = config.settings.extract
        return cls(config.topics, workers=e.workers, timeout_s=e.timeout_s,
                   max_tasks=e.max_tasks_per_worker)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.stop()
        self._pool.join(timeout=10)

    def submit(self, job: PageJob) -> Future[Analysis]:
        """Queue one page; :meth:`outcome` turns the future into an Analysis."""
        return self._pool.schedule(analyse, args=(job,), timeout=self.timeout_s)

    def outcome(self, key: str, fut: Future[Analysis]) -> Analysis:
        """The result of a finished (or awaited) job; a timeout or crash becomes an error."""
        try:
            return fut.result()
        except FutureTimeout:
            return Analysis(key, None,
                            f"extraction timed out after {self.timeout_s:.0f}s (worker replaced)")
        except ProcessExpired as exc:
            return Analysis(key, None,
                            f"extraction worker crashed (exit code {exc.exitcode}); replaced")
        except Exception as exc:  # noqa: BLE001 - a page must never stop the run
            return Analysis(key, None, f"extraction failed: {type(exc).__name__}: {exc}")

    def analyse_many(self, jobs: Iterable[PageJob]) -> Iterator[Analysis]:
        """Results in job order; a timeout or crash becomes an Analysis with an error."""
        return analyse_in_order(self, jobs)

    # --- one pool for the life of a process ------------------------------------------------

    _shared: ClassVar[dict[str, WorkerPool]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def shared(cls, config: Config) -> WorkerPool:
        """A pool kept for the life of the process (a long-lived ``serve``), so each flow
        run does not pay for starting workers again. A change of topics or extraction
        settings replaces it."""
        e = config.settings.extract
        key = json.dumps([[t.model_dump(mode="json") for t in config.topics], e.workers,
                          e.timeout_s, e.max_tasks_per_worker, _model_stamps(config)],
                         sort_keys=True, default=str)
        with cls._shared_lock:
            pool = cls._shared.get(key)
            if pool is not None and not pool.closed:
                return pool
            for old in cls._shared.values():
                old.close()
            cls._shared.clear()
            if not cls._shared:
                atexit.register(cls.close_shared)
            pool = cls._shared[key] = cls.for_config(config)
            return pool

    @classmethod
    def close_shared(cls) -> None:
        with cls._shared_lock:
            for pool in cls._shared.values():
                pool.close()
            cls._shared.clear()
