"""Article pages: fetched, then analysed (extraction and classification) by the pool, as
a stream that runs ahead of the steps that store them (:class:`PageStream`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from monitor.config.settings import FetchSettings
from monitor.errors import FetchError
from monitor.fetch.http import PAGE_ACCEPT, Fetcher, describe_error
from monitor.fetch.loop import FetchLoop
from monitor.pipeline.jobs import Analysis, PageJob
from monitor.pipeline.pool import AnalysisPool


@dataclass
class Candidate:
    """A new article to fetch, with every feed entry that pointed at it."""

    canonical_url: str
    link: str
    guid: str | None
    title: str
    summary: str
    published: datetime | None
    sources: list[tuple[int, str, str]] = field(default_factory=list)


NON_HTML = (
    "application/pdf",
    "image/",
    "video/",
    "audio/",
    "application/zip",
    "application/octet-stream",
    "application/msword",
    "application/vnd.",
)


# A page that could not be read now but may be later (a 429 or 503, a timeout, a broken
# connection, a consent wall) is asked for again: first after Retry-After or this long,
# then twice as long each time, at most MAX_PAGE_RETRIES times (about 10 hours in all).
PAGE_RETRY_FIRST_S = 600.0
PAGE_RETRY_MAX_S = 24 * 3600.0
MAX_PAGE_RETRIES = 6


def page_retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds until a page is asked for again after ``attempts`` retries failed."""
    delay = PAGE_RETRY_FIRST_S * float(2**attempts)
    return min(max(delay, retry_after or 0.0), PAGE_RETRY_MAX_S)


@dataclass(frozen=True)
class PageFailure:
    """Why an article has no page text; ``retry_in_s``: ask for the page again after
    this long (``None``: it will not get better - a 404, a PDF, a refused address)."""

    message: str
    retry_in_s: float | None = None

    def __str__(self) -> str:
        return self.message


def fetch_failure(exc: FetchError) -> PageFailure:
    return PageFailure(
        f"page fetch failed: {exc}",
        page_retry_delay(0, exc.retry_after) if exc.transient else None,
    )


async def fetch_pages(
    settings: FetchSettings, todo: Sequence[Candidate]
) -> list[tuple[bytes | None, str, PageFailure | None]]:
    """Fetch the pages of ``todo`` (without a page stream): (body, final URL, error)."""
    async with Fetcher(settings) as f:
        return await asyncio.gather(*(fetch_page(f, c) for c in todo))


async def fetch_page(f: Fetcher, c: Candidate) -> tuple[bytes | None, str, PageFailure | None]:
    try:
        res = await f.fetch(c.link, accept=PAGE_ACCEPT)
    except FetchError as exc:
        return None, c.link, fetch_failure(exc)
    except Exception as exc:  # noqa: BLE001 - one article's link must never fail its batch
        return None, c.link, PageFailure(f"page fetch failed: {describe_error(exc)}")
    ctype = res.content_type
    if ctype.startswith(NON_HTML) and res.body and res.body[:2] != b"\x1f\x8b":
        return None, res.url, PageFailure(f"not an HTML page ({ctype})")
    return res.body, res.url, None


@dataclass
class PageOutcome:
    url: str  # final URL
    error: PageFailure | None = None  # the page could not be fetched
    body: bytes | None = None  # fetched, not analysed (a stream without a pool)
    analysis: Analysis | None = None


class PageStream:
    """Article pages fetched and analysed as a stream, ahead of the steps that store them.

    :meth:`prime` queues candidates. On the cycle's fetch loop they are taken host by
    host in turn (each host at most ``per_host_concurrency`` at a time, so one slow host
    does not hold up the others; hosts with fewer requests in flight first, then those
    with the most pages left, so that no host is left at the end with a queue its
    politeness delay lets through only a few pages a second), and each fetched page goes
    straight to the worker pool. The hosts' queues are the same whichever call primed a
    page: the poll step primes feed by feed, and a feed read late must not wait for the
    feeds read before it (a host's own pages keep the order they came in). At most
    ``max_pages`` pages are held between request and analysis, so memory stays flat
    however much is queued.
    :meth:`take` waits for the outcomes of some candidates, :meth:`as_done` hands them
    over in the order they are done.
    Without a pool, pages are only fetched and the caller analyses them.
    """

    def __init__(
        self, fetcher: FetchLoop, pool: AnalysisPool | None, *, max_pages: int | None = None
    ) -> None:
        self.fetcher = fetcher
        self.pool = pool
        self.loop = fetcher.loop
        self.max_pages = max_pages or max(32, 16 * (pool.workers if pool else 1))
        self.per_host = fetcher.settings.per_host_concurrency
        self._lock = threading.Lock()
        self._futures: dict[str, concurrent.futures.Future[PageOutcome]] = {}
        # state of the fetch loop's thread only
        self._queued: dict[str, deque[Candidate]] = {}  # host -> its pages, in turn
        self._seq: dict[str, int] = {}  # host -> when it was queued (ties go in turn)
        self._order = itertools.count()
        self._heap: list[tuple[int, int, int, str]] = []  # (busy, -left, seq, host)
        self._busy: dict[str, int] = {}  # host -> requests in flight
        self._open = 0  # pages between request and the end of their analysis
        self._tasks: set[asyncio.Task[None]] = set()
        self._jobs: set[concurrent.futures.Future[Analysis]] = set()
        self._closed = False
        fetcher.when_stopped(self._loop_stopped)

    def prime(self, candidates: Sequence[Candidate]) -> None:
        """Start fetching (and analysing) these pages in the background."""
        new = []
        with self._lock:
            for c in candidates:
                if c.canonical_url not in self._futures:
                    self._futures[c.canonical_url] = concurrent.futures.Future()
                    new.append(c)
        if new and self.fetcher.stopped is None:
            self.loop.call_soon_threadsafe(self._enqueue, new)
        elif new:  # the loop died: these fail now, as the ones before them did
            self._loop_stopped(self.fetcher.stopped)

    def _loop_stopped(self, error: RuntimeError | None) -> None:
        """The fetch loop's thread ended: every page not done fails with why, so no
        caller waits for ever (the cycle records the pages as failed, to retry)."""
        with self._lock:
            futures = list(self._futures.values())
        for fut in futures:
            try:
                if not fut.done():
                    fut.set_exception(error or RuntimeError("the fetch loop stopped"))
            except concurrent.futures.InvalidStateError:  # done meanwhile
                pass

    def take(self, candidates: Sequence[Candidate]) -> list[PageOutcome]:
        """The outcome of each candidate, in order (started now if it was not primed)."""
        self.prime(candidates)
        with self._lock:
            futures = [self._futures[c.canonical_url] for c in candidates]
        out = [f.result() for f in futures]
        self.discard(candidates)
        return out

    def as_done(
        self, candidates: Sequence[Candidate], size: int, least: int
    ) -> Iterator[list[Candidate]]:
        """``candidates`` in chunks of at most ``size``, in the order their outcomes come
        in: a chunk once ``least`` of them are done (or all that are left), with every
        other one done by then, so the caller stores pages while later ones are still
        fetched and analysed, and the slowest host holds up only the last chunk. Within a
        chunk, the candidates' own order: articles are numbered as they are stored, and
        the same feeds give the same numbers (and story ids) whatever the timing, as far
        as the chunks allow."""
        self.prime(candidates)
        position = {id(c): i for i, c in enumerate(candidates)}
        with self._lock:
            pending = {self._futures[c.canonical_url]: c for c in candidates}
        ready: list[Candidate] = []
        while pending or ready:
            want = min(least, len(ready) + len(pending))
            while len(ready) < want:
                done, _ = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED
                )
                ready.extend(pending.pop(f) for f in done)
            ready.extend(pending.pop(f) for f in [f for f in pending if f.done()])
            chunk, ready = ready[:size], ready[size:]
            yield sorted(chunk, key=lambda c: position[id(c)])

    def discard(self, candidates: Sequence[Candidate]) -> None:
        """Forget candidates (already stored); work under way for them is dropped."""
        with self._lock:
            for c in candidates:
                self._futures.pop(c.canonical_url, None)

    def close(self) -> None:
        if not self.loop.is_closed() and self.fetcher.stopped is None:
            self.fetcher.call(self._close())

    async def _close(self) -> None:
        self._closed = True
        self._queued.clear()
        self._heap.clear()
        for t in list(self._tasks):
            t.cancel()
        for j in list(self._jobs):
            j.cancel()

    # --- on the fetch loop's thread ---------------------------------------------------

    def _enqueue(self, candidates: list[Candidate]) -> None:
        for c in candidates:
            host = urlsplit(c.link).netloc.lower()
            if host not in self._queued:
                self._queued[host] = deque()
                self._seq[host] = next(self._order)
            self._queued[host].append(c)
        for host in {urlsplit(c.link).netloc.lower() for c in candidates}:
            self._ready(host)
        self._dispatch()

    def _ready(self, host: str) -> None:
        """Record a host's state after it changed: the heap holds an entry for each
        host's current state (older entries are skipped when they come up)."""
        queue = self._queued.get(host)
        if queue:
            heapq.heappush(
                self._heap, (self._busy.get(host, 0), -len(queue), self._seq[host], host)
            )
        if len(self._heap) > 4 * len(self._queued) + 64:
            # Older entries behind the top one are only popped as they come up: while
            # pages wait, rebuild from the hosts' states so the heap stays as small as
            # the hosts (in place: _dispatch holds it)
            self._heap[:] = [
                (self._busy.get(h, 0), -len(q), self._seq[h], h) for h, q in self._queued.items()
            ]
            heapq.heapify(self._heap)

    def _dispatch(self) -> None:
        # The host with fewest requests in flight (a request that can go out now before
        # one that would wait out its host's spacing), among them the one with most pages
        # left; equal ones in the order they were first queued.
        heap, queued = self._heap, self._queued
        while heap and not self._closed and self._open < self.max_pages:
            busy, left, _, host = heap[0]
            queue = queued.get(host)
            if not queue or busy != self._busy.get(host, 0) or -left != len(queue):
                heapq.heappop(heap)  # an older state of this host
                continue
            if busy >= self.per_host:
                return  # every host with pages left has all its slots taken
            heapq.heappop(heap)
            c = queue.popleft()
            if not queue:
                del queued[host]
                del self._seq[host]
            self._busy[host] = busy + 1
            self._open += 1
            self._ready(host)
            task = self.loop.create_task(self._fetch(host, c))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fetch(self, host: str, c: Candidate) -> None:
        try:
            body, url, error = await fetch_page(self.fetcher.fetcher, c)
        except Exception as exc:  # noqa: BLE001 - a page must never stop the cycle
            body, url, error = (
                None,
                c.link,
                PageFailure(f"page fetch failed: {describe_error(exc)}"),
            )
        finally:
            self._busy[host] -= 1
            self._ready(host)
        if body is None or self.pool is None:
            self._finish(c, PageOutcome(url, error, body))
            return
        try:
            job = self.pool.submit(
                PageJob(c.canonical_url, body, url, self.fetcher.settings.max_bytes)
            )
        except Exception as exc:  # noqa: BLE001 - a stopped pool: the summary is used
            self._finish(
                c,
                PageOutcome(
                    url,
                    analysis=Analysis(
                        c.canonical_url, None, f"extraction failed: {type(exc).__name__}: {exc}"
                    ),
                ),
            )
            return
        self._jobs.add(job)
        job.add_done_callback(lambda f: self._from_pool(c, url, f))
        self._dispatch()  # this host may take its next page while this one is analysed

    def _from_pool(self, c: Candidate, url: str, job: concurrent.futures.Future[Analysis]) -> None:
        try:  # on a pool thread
            self.loop.call_soon_threadsafe(self._analysed, c, url, job)
        except RuntimeError:  # the cycle is over
            pass

    def _analysed(self, c: Candidate, url: str, job: concurrent.futures.Future[Analysis]) -> None:
        self._jobs.discard(job)
        assert self.pool is not None
        self._finish(c, PageOutcome(url, analysis=self.pool.outcome(c.canonical_url, job)))

    def _finish(self, c: Candidate, outcome: PageOutcome) -> None:
        self._open -= 1
        with self._lock:
            fut = self._futures.get(c.canonical_url)
        if fut is not None and not fut.done():
            fut.set_result(outcome)
        self._dispatch()
