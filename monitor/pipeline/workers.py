"""Worker processes for the CPU work: feed parsing, and extraction then classification.

trafilatura can hang or crash on hostile pages and is not thread-safe, so each
page is analysed in a worker process (pebble) with a time limit. A worker that
times out or dies is replaced; workers are recycled after N pages to bound
memory growth. Classification runs in the same worker, on the extracted text,
so only small results travel back.

Large feeds are parsed here too, under their own time limit: feedparser cannot be
interrupted and some structures cost it time quadratic in their size (a few MB of
nested XHTML take it minutes), and a parse on the cycle's main thread would also hold
the GIL that its fetch loop needs. Feed jobs jump the queue of pages: a poll step
waits for them, and pages are plentiful.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import json
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from pebble import ProcessExpired, ProcessPool

from monitor.config import Config
from monitor.pipeline.jobs import (
    Analysis,
    FeedJob,
    FeedParse,
    PageJob,
    SummaryJob,
    SummaryVerdict,
    analyse,
    classify_summary,
    make_classifier,
    parse_feed_job,
)
from monitor.pipeline.pool import analyse_in_order
from monitor.topics.language import TopicConfig

if TYPE_CHECKING:
    from monitor.store import Store
    from monitor.topics.match import Classifier

# The main process imports this module for the pool only; spaCy, trafilatura and the
# language model are imported by the workers (their forkserver preloads them, see
# monitor/pipeline/warmup.py). A worker's classifier, built once by _init:
_classifier: Classifier | None = None


# The languages whose spaCy pipeline costs a worker tens of MB the first time it meets
# one (tokenizer exceptions; benchmarks/memory.py languages, spaCy 3.8: id 48-77, fr
# 9-34, ms 20-32, nl 8-12; every other language 4 or less) and seconds of CPU to build
# (id 3.8, fr 2.5, ms 1.9, nl 0.7). A long-lived pool builds them once in its forkserver,
# where its workers share them; a one-shot run builds only those recent articles were
# in (languages_to_share), the rest when an article in that language arrives.
SHARED_LANGUAGES = ("en", "id", "fr", "ms", "nl")
# Read by monitor/pipeline/warmup.py in the forkserver: the languages to build there.
PRELOAD_ENV = "NEWSMON_PRELOAD_LANGUAGES"


def languages_to_share(store: Store, recent: int = 1000, at_least: int = 2) -> list[str]:
    """The costly languages (:data:`SHARED_LANGUAGES`) at least ``at_least`` of the last
    ``recent`` stored articles were in: the ones worth building before the workers fork."""
    seen = store.recent_languages(recent)
    return [lang for lang in SHARED_LANGUAGES if seen.get(lang, 0) >= at_least]


_malloc_trim: Any = None


def release_memory() -> bool:
    """Give the C allocator's free memory back to the system (glibc ``malloc_trim``).

    A process with many threads (the cycle's: fetch loop, Prefect, the pool's) keeps
    the high-water mark of every glibc arena: freed page bodies and parse trees stay
    in its RSS. False where the C library has no such call."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
        except (OSError, AttributeError, TypeError):
            _malloc_trim = False
    if _malloc_trim is False:
        return False
    _malloc_trim(0)
    return True


def _noop() -> None:
    """The job that starts the pool's workers."""


def _init(topics: list[dict[str, Any]]) -> None:
    global _classifier
    _classifier = make_classifier([TopicConfig.model_validate(t) for t in topics])


def _analyse(job: PageJob) -> Analysis:
    """In a worker: extract and classify one page with the worker's classifier."""
    assert _classifier is not None, "worker not initialised"
    return analyse(job, _classifier)


def _classify_summary(job: SummaryJob) -> SummaryVerdict:
    """In a worker: classify an article by its feed summary."""
    assert _classifier is not None, "worker not initialised"
    return classify_summary(job, _classifier)


def _model_stamps(config: Config) -> list[Any]:
    """When the topics' trained models last changed (workers load them at start)."""
    from monitor.topics.model_files import model_path  # not .model: numpy and spaCy

    out: list[Any] = []
    for t in config.topics:
        try:
            out.append(model_path(t.id, "active").stat().st_mtime_ns)
        except (OSError, TypeError, ValueError):
            out.append(None)
    return out


@dataclass
class _Waiting:
    fn: Callable[[Any], Any]
    arg: Any
    timeout: float
    out: Future[Any]


def _start_forkserver(languages: tuple[str, ...] | None) -> None:
    """Start the process's forkserver (if it is not running) with ``languages`` in its
    environment only: the variable must not leak into other processes started later."""
    from multiprocessing import forkserver

    before = os.environ.get(PRELOAD_ENV)
    if languages is None:
        os.environ.pop(PRELOAD_ENV, None)
    else:
        os.environ[PRELOAD_ENV] = ",".join(languages)
    try:
        forkserver.ensure_running()  # spawns it and returns: the preloading runs there
    finally:
        if before is None:
            os.environ.pop(PRELOAD_ENV, None)
        else:
            os.environ[PRELOAD_ENV] = before


def default_workers() -> int:
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )


class WorkerPool:
    """Parses feeds and analyses pages in worker processes, each job under a time limit.

    Jobs wait here, not in pebble's queue: at most two per worker are handed to pebble
    at a time (one running, one ready, so a worker never waits for the next), and a
    waiting feed goes before every waiting page."""

    def __init__(
        self,
        topics: Sequence[TopicConfig],
        *,
        workers: int = 0,
        timeout_s: float = 30,
        max_tasks: int = 500,
        parse_timeout_s: float = 20,
        languages: Sequence[str] | None = None,
    ) -> None:
        """``languages``: the spaCy pipelines built in the forkserver, shared by the
        workers (None: :data:`SHARED_LANGUAGES`; English always). It takes effect if this
        pool is the first of the process: a process has one forkserver."""
        self.languages = None if languages is None else tuple(languages)
        self.timeout_s = timeout_s
        self.parse_timeout_s = parse_timeout_s
        self.workers = workers or default_workers()
        self._closed = False
        self._lock = threading.Lock()
        self._waiting: tuple[deque[_Waiting], deque[_Waiting]] = (deque(), deque())
        self._handed = 0  # jobs handed to pebble and not finished
        self._max_handed = 2 * self.workers
        self._max_tasks = max_tasks
        self._topics = [t.model_dump(mode="json") for t in topics]
        # Started with the first job: a cycle with nothing new (every feed 304 or
        # unchanged) never starts the workers and their forkserver (seconds of CPU to
        # load spaCy, trafilatura and the language model), which matters when each
        # scheduled run is a process of its own.
        self._pool: ProcessPool | None = None
        self._start_lock = threading.Lock()
        # Starting the workers blocks until the forkserver has loaded and built what they
        # share (seconds: monitor/pipeline/warmup.py). The first job can come from the
        # cycle's fetch loop, which must not stall that long (its requests would time
        # out), so the start runs on a thread of its own and jobs wait here meanwhile.
        self._starter: threading.Thread | None = None
        self._ready = False
        self._start_error: BaseException | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def start(self) -> None:
        """Start the workers now, in the background, rather than with the first job: a
        one-shot run starts them while it waits for something else (its Prefect server).
        Jobs queued meanwhile wait for them; a second call does nothing."""
        self._start_in_background()

    def _start_in_background(self) -> None:
        with self._start_lock:  # jobs come from the cycle's thread and its fetch loop
            if self._starter is not None or self._closed:
                return
            ctx = multiprocessing.get_context("forkserver")
            # Workers fork from a server that already imported the heavy modules.
            ctx.set_forkserver_preload(["monitor.pipeline.workers", "monitor.pipeline.warmup"])
            _start_forkserver(self.languages)
            self._pool = ProcessPool(
                max_workers=self.workers,
                max_tasks=self._max_tasks,
                initializer=_init,
                initargs=(self._topics,),
                context=ctx,
            )
            self._starter = threading.Thread(
                target=self._start, name="newsmon-pool-start", daemon=True
            )
            self._starter.start()

    def _start(self) -> None:
        assert self._pool is not None
        try:
            self._pool.schedule(_noop)  # pebble starts its workers with the first job
        except BaseException as exc:  # noqa: BLE001 - every waiting job is told below
            self._start_error = exc
        self._ready = True
        self._pump()

    @classmethod
    def for_config(cls, config: Config, languages: Sequence[str] | None = None) -> WorkerPool:
        e = config.settings.extract
        return cls(
            config.topics,
            workers=e.workers,
            timeout_s=e.timeout_s,
            max_tasks=e.max_tasks_per_worker,
            parse_timeout_s=config.settings.fetch.parse_timeout_s,
            languages=languages,
        )

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
        with self._lock:
            waiting = [w for q in self._waiting for w in q]
            for q in self._waiting:
                q.clear()
        for w in waiting:
            if w.out.set_running_or_notify_cancel():
                w.out.set_exception(RuntimeError("the worker pool was closed"))
        if self._starter is not None:
            self._starter.join(timeout=120)  # stopping pebble while it starts workers
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=10)

    def submit(self, job: PageJob) -> Future[Analysis]:
        """Queue one page; :meth:`outcome` turns the future into an Analysis."""
        return self._queue(_analyse, job, self.timeout_s, urgent=False)

    def submit_feed(self, job: FeedJob) -> Future[FeedParse]:
        """Queue one feed ahead of every waiting page; see :meth:`feed_outcome`."""
        return self._queue(parse_feed_job, job, self.parse_timeout_s, urgent=True)

    def submit_summary(self, job: SummaryJob) -> Future[SummaryVerdict]:
        """Queue the classification of an article that has only its feed summary."""
        return self._queue(_classify_summary, job, self.timeout_s, urgent=True)

    def feed_outcome(self, key: Any, fut: Future[FeedParse]) -> FeedParse:
        """The parse of a feed; a timeout or a crash becomes a FeedParse with an error."""
        try:
            return fut.result()
        except FutureTimeout:
            return FeedParse(
                key,
                None,
                f"feed parsing timed out after {self.parse_timeout_s:.0f}s (worker replaced)",
            )
        except ProcessExpired as exc:
            return FeedParse(
                key, None, f"feed parser crashed (exit code {exc.exitcode}); worker replaced", True
            )
        except Exception as exc:  # noqa: BLE001 - a feed must never stop the run
            return FeedParse(key, None, f"feed parsing failed: {type(exc).__name__}: {exc}", True)

    def _queue(
        self, fn: Callable[[Any], Any], arg: Any, timeout: float, *, urgent: bool
    ) -> Future[Any]:
        if self._closed:
            raise RuntimeError("the worker pool was closed")
        out: Future[Any] = Future()
        with self._lock:
            self._waiting[0 if urgent else 1].append(_Waiting(fn, arg, timeout, out))
        self._pump()
        return out

    def _pump(self) -> None:
        """Hand waiting jobs to pebble while fewer than two per worker are there."""
        if not self._ready:
            self._start_in_background()  # it pumps once the workers are up
            return
        while True:
            with self._lock:
                if self._handed >= self._max_handed:
                    return
                queue = self._waiting[0] or self._waiting[1]
                if not queue:
                    return
                w = queue.popleft()
                if not w.out.set_running_or_notify_cancel():
                    continue  # cancelled while it waited
                self._handed += 1
            try:
                if self._start_error is not None:
                    raise RuntimeError(
                        f"the worker pool could not start: "
                        f"{type(self._start_error).__name__}: "
                        f"{self._start_error}"
                    )
                assert self._pool is not None
                inner = self._pool.schedule(w.fn, args=(w.arg,), timeout=w.timeout)
            except Exception as exc:  # noqa: BLE001 - a stopped pool: the caller is told
                with self._lock:
                    self._handed -= 1
                w.out.set_exception(exc)
                continue
            inner.add_done_callback(partial(self._finished, w.out))

    def _finished(self, out: Future[Any], inner: Future[Any]) -> None:
        with self._lock:  # on pebble's thread
            self._handed -= 1
        try:
            out.set_result(inner.result())
        except BaseException as exc:  # noqa: BLE001 - passed on to whoever waits
            out.set_exception(exc)
        if not self._closed:
            self._pump()

    def outcome(self, key: str, fut: Future[Analysis]) -> Analysis:
        """The result of a finished (or awaited) job; a timeout or crash becomes an error."""
        try:
            return fut.result()
        except FutureTimeout:
            return Analysis(
                key, None, f"extraction timed out after {self.timeout_s:.0f}s (worker replaced)"
            )
        except ProcessExpired as exc:
            return Analysis(
                key, None, f"extraction worker crashed (exit code {exc.exitcode}); replaced"
            )
        except Exception as exc:  # noqa: BLE001 - a page must never stop the run
            return Analysis(key, None, f"extraction failed: {type(exc).__name__}: {exc}")

    def analyse_many(self, jobs: Iterable[PageJob]) -> Iterator[Analysis]:
        """Results in job order; a timeout or crash becomes an Analysis with an error."""
        return analyse_in_order(self, jobs)

    # --- one pool for the life of a process ------------------------------------------------

    _shared: ClassVar[dict[str, WorkerPool]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def shared(cls, config: Config, languages: Sequence[str] | None = None) -> WorkerPool:
        """A pool kept for the life of the process (a long-lived ``serve``), so each flow
        run does not pay for starting workers again. A change of topics or extraction
        settings replaces it. ``languages`` is for a new pool only (see ``__init__``)."""
        e = config.settings.extract
        key = json.dumps(
            [
                [t.model_dump(mode="json") for t in config.topics],
                e.workers,
                e.timeout_s,
                e.max_tasks_per_worker,
                config.settings.fetch.parse_timeout_s,
                _model_stamps(config),
            ],
            sort_keys=True,
            default=str,
        )
        with cls._shared_lock:
            pool = cls._shared.get(key)
            if pool is not None and not pool.closed:
                return pool
            for old in cls._shared.values():
                old.close()
            cls._shared.clear()
            if not cls._shared:
                atexit.register(cls.close_shared)
            pool = cls._shared[key] = cls.for_config(config, languages)
            return pool

    @classmethod
    def close_shared(cls) -> None:
        with cls._shared_lock:
            for pool in cls._shared.values():
                pool.close()
            cls._shared.clear()
