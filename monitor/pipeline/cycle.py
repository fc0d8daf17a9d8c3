"""One polling cycle, as plain functions: claim -> poll -> process -> commit -> alert.

Prefect flows (``flows/``) call these same functions as tasks, one task per feed
batch or article batch; :func:`run_cycle` chains them without Prefect.

Nothing is lost on a crash: a feed's new validators (ETag, Last-Modified, body
hash) are written only after the articles of its new entries are stored, so an
interrupted cycle re-reads the same entries next time and the unique
constraints make the second pass add nothing twice. Hits and their outbox rows
are written in one transaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from monitor.alerts import send as alert
from monitor.config import Config
from monitor.errors import FetchError
from monitor.feeds.parse import Entry, body_hash
from monitor.fetch.http import PAGE_ACCEPT, Fetcher, FetchResult
from monitor.fetch.loop import FetchLoop
from monitor.pipeline.workers import (
    Analysis,
    FeedJob,
    FeedParse,
    PageJob,
    SummaryJob,
    SummaryVerdict,
    TopicScore,
    WorkerPool,
    analyse,
    classify_summary,
    make_classifier,
    parse_feed_job,
    release_memory,
)
from monitor.redact import redact
from monitor.store import Feed, NewArticle, Store, utcnow

if TYPE_CHECKING:
    from monitor.topics.match import Classifier

log = logging.getLogger("newsmon.pipeline")
NON_HTML = ("application/pdf", "image/", "video/", "audio/", "application/zip",
            "application/octet-stream", "application/msword", "application/vnd.")


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


@dataclass
class FeedPoll:
    """The outcome of polling one feed; ``feed`` carries the health to write back."""

    feed: Feed
    outcome: str  # ok / not_modified / unchanged / error / gone
    new_entries: int = 0
    error: str | None = None


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
    hits_new: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    alerts_dead: int = 0
    health_sent: int = 0  # "alerting is broken" / "recovered" messages (monitor.alerts.health)
    health_failed: int = 0
    texts_pruned: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: CycleSummary) -> None:
        for k, v in asdict(other).items():
            if isinstance(v, int):
                setattr(self, k, getattr(self, k) + v)
        self.errors.extend(other.errors)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --- 1. claim --------------------------------------------------------------------------


def claim_feeds(store: Store, config: Config, *, owner: str,
                only_urls: Sequence[str] | None = None, force: bool = False) -> list[Feed]:
    """Sync the feed table with the config, then lease the feeds that are due."""
    store.sync_feeds(config.feeds)
    return store.claim_due_feeds(owner, only_urls=only_urls, force=force or bool(only_urls),
                                 lease=lease_of(config),
                                 limit=config.settings.fetch.max_feeds_per_cycle)


def lease_of(config: Config) -> timedelta:
    return timedelta(minutes=config.settings.fetch.lease_minutes)


def batches(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


# --- 2. poll ---------------------------------------------------------------------------


def poll_feeds(store: Store, config: Config, feeds: Sequence[Feed],
               now: datetime | None = None, *, fetcher: FetchLoop | None = None,
               pool: Any = None) -> tuple[list[FeedPoll], list[Candidate]]:
    """Fetch and parse a batch of feeds; return their outcomes and the new articles.

    With ``fetcher`` (the cycle's fetch loop) requests share its connections and
    politeness state, and feeds it already fetched ahead (:func:`prefetch_feeds`) are
    not fetched again. With ``pool`` (a :class:`WorkerPool`), feeds larger than
    :data:`INLINE_PARSE_MAX_BYTES` are parsed in its workers under
    ``fetch.parse_timeout_s``; smaller ones here, while those run."""
    now = now or utcnow()
    if fetcher is None:
        results = asyncio.run(_fetch_feeds(config, feeds))
    else:
        futures = [fetcher.take(("feed", feed.id, id(feed)),
                                lambda feed=feed: _fetch_feed(fetcher.fetcher, feed))
                   for feed in feeds]
        results = [f.result() for f in futures]
    polls: list[FeedPoll] = []
    parses: list[tuple[FeedPoll, tuple[Any, Any], Callable[[], FeedParse]]] = []
    for feed, res in zip(feeds, results, strict=True):
        before = feed.consecutive_failures, feed.last_success_at
        poll = _apply_fetch(config, feed, res, now)
        polls.append(poll)
        if poll.outcome == "ok" and isinstance(res, FetchResult) and res.body is not None:
            job = FeedJob(feed.id, res.body, res.url, res.headers,
                          config.settings.fetch.max_entries_per_feed, now)
            parses.append((poll, before, _start_parse(job, pool)))
    candidates: dict[str, Candidate] = {}
    for poll, before, parsed_later in parses:
        feed = poll.feed
        outcome = parsed_later()
        if outcome.parsed is None:
            if outcome.unexpected:
                log.error("feed parser failed feed=%s url=%s: %s", feed.id, feed.url,
                          outcome.error)
            # Forget this body's validators: the next poll must read and parse it
            # again, or a broken feed would look healthy (304, unchanged) from then on.
            feed.etag = feed.last_modified = feed.body_hash = None
            feed.consecutive_failures, feed.last_success_at = before  # not a success
            _failed(config, poll, outcome.error or "feed parsing failed", now)
            continue
        parsed = outcome.parsed
        feed.title = parsed.title or feed.title
        if parsed.warning:
            feed.notice = f"feed is not well-formed, entries read anyway: {parsed.warning}"
        elif parsed.skipped:
            feed.notice = (f"{parsed.skipped} entries skipped: no usable http(s) link "
                           f"(javascript:, data:, missing or malformed)")
        elif feed.notice and (feed.notice.startswith("feed is not well-formed")
                              or " entries skipped: " in feed.notice):
            feed.notice = None
        new = _new_entries(store, feed, parsed.entries)
        poll.new_entries = len(new)
        feed.entries_total = len(new)
        for e in new:
            c = candidates.get(e.canonical_url)
            if c is None:
                c = candidates[e.canonical_url] = Candidate(
                    e.canonical_url, e.link, e.guid, e.title, e.summary, e.published)
            c.sources.append((feed.id or 0, e.key, e.link))
    return polls, list(candidates.values())


# Feeds up to this size are parsed on the calling thread: for them the pool's round
# trip costs more than the parse (real feeds: ~0.9 ms inline against ~2 ms through an
# idle pool), and even the worst structure found (nested XHTML, quadratic in
# feedparser) holds the thread ~40 ms at this size, ~200 ms at 64 KB.
# benchmarks/feed_parse_pool.py measures both; docs/performance.md has the figures.
INLINE_PARSE_MAX_BYTES = 16 * 1024


def _start_parse(job: FeedJob, pool: Any) -> Callable[[], FeedParse]:
    """Hand a large feed to the pool now; return how to get its parse (a small feed is
    parsed when asked, after every large one of the batch has been handed over)."""
    submit = getattr(pool, "submit_feed", None)  # a Dask pool parses here
    if submit is None or len(job.body) <= INLINE_PARSE_MAX_BYTES or pool.closed:
        return lambda: parse_feed_job(job)
    try:
        fut = submit(job)
    except RuntimeError:  # closed meanwhile
        return lambda: parse_feed_job(job)
    return lambda: pool.feed_outcome(job.key, fut)


async def _fetch_feeds(config: Config, feeds: Sequence[Feed]) -> list[FetchResult | FetchError]:
    async with Fetcher(config.settings.fetch) as f:
        return await asyncio.gather(*(_fetch_feed(f, feed) for feed in feeds))


async def _fetch_feed(f: Fetcher, feed: Feed) -> FetchResult | FetchError:
    try:
        return await f.fetch(feed.fetch_url or feed.url, etag=feed.etag,
                             last_modified=feed.last_modified)
    except FetchError as exc:
        return exc


def prefetch_feeds(fetcher: FetchLoop, feeds: Sequence[Feed]
                   ) -> list[concurrent.futures.Future[FetchResult | FetchError]]:
    """Start fetching feeds on the cycle's fetch loop, ahead of their poll step."""
    return [fetcher.start(("feed", feed.id, id(feed)),
                          lambda feed=feed: _fetch_feed(fetcher.fetcher, feed))
            for feed in feeds]


def spread_by_host(feeds: Sequence[Feed]) -> list[Feed]:
    """The feeds in turn by host (a, b, c, a, b, c, ...), so each batch asks many hosts
    and no batch waits out one host's politeness delay feed after feed."""
    by_host: dict[str, deque[Feed]] = {}
    for f in feeds:
        by_host.setdefault(urlsplit(f.fetch_url or f.url).netloc.lower(), deque()).append(f)
    out: list[Feed] = []
    queues = list(by_host.values())
    while queues:
        out.extend(q.popleft() for q in queues)
        queues = [q for q in queues if q]
    return out


def _interval(config: Config, feed: Feed) -> timedelta:
    return timedelta(minutes=feed.interval_minutes or config.settings.schedule.interval_minutes)


def _apply_fetch(config: Config, feed: Feed, res: FetchResult | FetchError,
                 now: datetime) -> FeedPoll:
    feed.last_polled_at = now
    feed.entries_total = 0
    if isinstance(res, FetchError):
        poll = FeedPoll(feed, "error", error=str(res))
        feed.last_status = res.status
        if res.status == 410:
            feed.gone = True
            poll.outcome = "gone"
        _failed(config, poll, str(res), now, retry_after=res.retry_after)
        return poll
    feed.last_status = res.status
    if res.moved_to:
        feed.fetch_url = res.moved_to
        feed.notice = (f"moved permanently to {res.moved_to}: newsmon follows it; "
                       f"update feeds.yaml")
    feed.gone = False
    if res.not_modified:
        _succeeded(config, feed, now)
        return FeedPoll(feed, "not_modified")
    assert res.body is not None
    digest = body_hash(res.body)
    # Validators are staged on the feed object and written after its articles are stored.
    feed.etag, feed.last_modified = res.etag, res.last_modified
    if digest == feed.body_hash:
        _succeeded(config, feed, now)
        return FeedPoll(feed, "unchanged")
    feed.body_hash = digest
    _succeeded(config, feed, now)
    return FeedPoll(feed, "ok")


def _succeeded(config: Config, feed: Feed, now: datetime) -> None:
    feed.last_success_at = now
    feed.consecutive_failures = 0
    feed.last_error = None
    feed.last_outcome = None
    feed.next_poll_at = now + _interval(config, feed)


def _failed(config: Config, poll: FeedPoll, error: str, now: datetime,
            retry_after: float | None = None) -> None:
    """Record a failure and back off exponentially, up to a cap; never drop the feed."""
    feed = poll.feed
    poll.outcome = "gone" if feed.gone else "error"
    poll.error = error
    feed.consecutive_failures = (feed.consecutive_failures or 0) + 1
    feed.last_error = redact(error)[:1000]  # an HTTP error quotes the URL, secrets and all
    s = config.settings.fetch
    base = max(_interval(config, feed), timedelta(minutes=s.backoff_base_minutes))
    cap = timedelta(hours=s.backoff_max_hours)
    delay = cap if feed.gone else min(base * (2 ** (feed.consecutive_failures - 1)), cap)
    if retry_after:
        delay = max(delay, timedelta(seconds=min(retry_after, cap.total_seconds())))
    feed.next_poll_at = now + delay
    # Do not advance validators on failure: the next poll must re-read the feed.
    log.warning("feed failed feed=%s url=%s failures=%d: %s", feed.id, feed.url,
                feed.consecutive_failures, error)


def _new_entries(store: Store, feed: Feed, entries: list[Entry]) -> list[Entry]:
    known = store.known_entry_keys(feed.id or 0, [e.key for e in entries])
    return [e for e in entries if e.key not in known]


# --- 3. process ------------------------------------------------------------------------


def process_articles(store: Store, config: Config, candidates: Sequence[Candidate], *,
                     pool: WorkerPool | None = None, classifier: Classifier | None = None,
                     stream: PageStream | None = None) -> CycleSummary:
    """Fetch, extract, classify and store a batch of new articles (and queue alerts).

    With ``stream`` (the cycle's :class:`PageStream`) pages it fetched and analysed
    ahead of this step are taken from it instead of being fetched here."""
    summary = CycleSummary()
    if not candidates:
        return summary
    # Articles already stored (seen in another feed, or earlier): only link the source.
    known = store.known_articles([c.canonical_url for c in candidates])
    links = [(known[c.canonical_url], f, k, link) for c in candidates
             if c.canonical_url in known for f, k, link in c.sources]
    if links:
        store.add_sources(links)
        summary.articles_merged += len({c.canonical_url for c in candidates
                                        if c.canonical_url in known})
    if stream is not None and known:
        stream.discard([c for c in candidates if c.canonical_url in known])
    todo = [c for c in candidates if c.canonical_url not in known]
    if not todo:
        return summary
    clf = classifier

    def inline_classifier() -> Classifier:
        # Built only for work done in this process: with a pool, spaCy and the language
        # model are never loaded here.
        nonlocal clf
        if clf is None:
            clf = make_classifier(config.topics)
        return clf

    analyses: dict[str, Analysis] = {}
    if stream is not None:
        outcomes = stream.take(todo)
        pages = [(o.body, o.url, o.error) for o in outcomes]
        analyses = {c.canonical_url: o.analysis for c, o in zip(todo, outcomes, strict=True)
                    if o.analysis is not None}
    else:
        pages = asyncio.run(_fetch_pages(config, todo))
    cap = config.settings.fetch.max_bytes
    jobs = [PageJob(c.canonical_url, body, url, cap)
            for c, (body, url, _) in zip(todo, pages, strict=True)
            if body is not None and c.canonical_url not in analyses]
    if pool is not None:
        analyses.update((a.key, a) for a in pool.analyse_many(jobs))
    else:
        analyses.update((j.key, analyse(j, inline_classifier())) for j in jobs)
    no_text = [c for c in todo if (a := analyses.get(c.canonical_url)) is None
               or a.extracted is None]
    verdicts = _summary_verdicts(no_text, pool, inline_classifier)
    items: list[NewArticle] = []
    for c, (_, _, fetch_error) in zip(todo, pages, strict=True):
        a = analyses.get(c.canonical_url)
        item = _article(c, a, fetch_error, verdicts.get(c.canonical_url))
        if item.extraction != "ok":
            summary.extraction_fallbacks += 1
        items.append(item)
    targets = alert.route_targets(config)
    stored = store.store_articles(items, deliveries_for=targets)
    summary.articles_new += stored.articles_new
    summary.articles_merged += stored.articles_merged
    summary.hits_new += stored.hits_new
    return summary


async def _fetch_pages(config: Config, todo: Sequence[Candidate]
                       ) -> list[tuple[bytes | None, str, str | None]]:
    async with Fetcher(config.settings.fetch) as f:
        return await asyncio.gather(*(_fetch_page(f, c) for c in todo))


async def _fetch_page(f: Fetcher, c: Candidate) -> tuple[bytes | None, str, str | None]:
    try:
        res = await f.fetch(c.link, accept=PAGE_ACCEPT)
    except FetchError as exc:
        return None, c.link, f"page fetch failed: {exc}"
    ctype = res.content_type
    if ctype.startswith(NON_HTML) and res.body and res.body[:2] != b"\x1f\x8b":
        return None, res.url, f"not an HTML page ({ctype})"
    return res.body, res.url, None


@dataclass
class PageOutcome:
    url: str  # final URL
    error: str | None = None  # the page could not be fetched
    body: bytes | None = None  # fetched, not analysed (a stream without a pool)
    analysis: Analysis | None = None


class PageStream:
    """Article pages fetched and analysed as a stream, ahead of the steps that store them.

    :meth:`prime` queues candidates. On the cycle's fetch loop they are taken host by
    host in turn (oldest batch first, each host at most ``per_host_concurrency`` at a
    time, so one slow host does not hold up the others), and each fetched page goes
    straight to the worker pool. At most ``max_pages`` pages are held between request
    and analysis, so memory stays flat however much is queued. :meth:`take` waits for
    the outcomes of some candidates. Without a pool, pages are only fetched and the
    caller analyses them.
    """

    def __init__(self, fetcher: FetchLoop, pool: WorkerPool | None, *,
                 max_pages: int | None = None) -> None:
        self.fetcher = fetcher
        self.pool = pool
        self.loop = fetcher.loop
        self.max_pages = max_pages or max(32, 16 * (pool.workers if pool else 1))
        self.per_host = fetcher.settings.per_host_concurrency
        self._lock = threading.Lock()
        self._futures: dict[str, concurrent.futures.Future[PageOutcome]] = {}
        # state of the fetch loop's thread only
        self._queued: deque[dict[str, deque[Candidate]]] = deque()  # per prime: host -> queue
        self._busy: dict[str, int] = {}  # host -> requests in flight
        self._open = 0  # pages between request and the end of their analysis
        self._tasks: set[asyncio.Task[None]] = set()
        self._jobs: set[concurrent.futures.Future[Analysis]] = set()
        self._closed = False

    def prime(self, candidates: Sequence[Candidate]) -> None:
        """Start fetching (and analysing) these pages in the background."""
        new = []
        with self._lock:
            for c in candidates:
                if c.canonical_url not in self._futures:
                    self._futures[c.canonical_url] = concurrent.futures.Future()
                    new.append(c)
        if new:
            self.loop.call_soon_threadsafe(self._enqueue, new)

    def take(self, candidates: Sequence[Candidate]) -> list[PageOutcome]:
        """The outcome of each candidate, in order (started now if it was not primed)."""
        self.prime(candidates)
        with self._lock:
            futures = [self._futures[c.canonical_url] for c in candidates]
        out = [f.result() for f in futures]
        self.discard(candidates)
        return out

    def discard(self, candidates: Sequence[Candidate]) -> None:
        """Forget candidates (already stored); work under way for them is dropped."""
        with self._lock:
            for c in candidates:
                self._futures.pop(c.canonical_url, None)

    def close(self) -> None:
        if not self.loop.is_closed():
            self.fetcher.call(self._close())

    async def _close(self) -> None:
        self._closed = True
        self._queued.clear()
        for t in list(self._tasks):
            t.cancel()
        for j in list(self._jobs):
            j.cancel()

    # --- on the fetch loop's thread ---------------------------------------------------

    def _enqueue(self, candidates: list[Candidate]) -> None:
        by_host: dict[str, deque[Candidate]] = {}
        for c in candidates:
            by_host.setdefault(urlsplit(c.link).netloc.lower(), deque()).append(c)
        self._queued.append(by_host)
        self._dispatch()

    def _dispatch(self) -> None:
        progressed = True
        while progressed and not self._closed:
            progressed = False
            for by_host in list(self._queued):  # oldest first
                for host in list(by_host):
                    if self._open >= self.max_pages:
                        return
                    if self._busy.get(host, 0) >= self.per_host:
                        continue
                    queue = by_host[host]
                    c = queue.popleft()
                    if not queue:
                        del by_host[host]
                    self._busy[host] = self._busy.get(host, 0) + 1
                    self._open += 1
                    task = self.loop.create_task(self._fetch(host, c))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    progressed = True
                if not by_host:
                    self._queued.remove(by_host)

    async def _fetch(self, host: str, c: Candidate) -> None:
        try:
            body, url, error = await _fetch_page(self.fetcher.fetcher, c)
        except Exception as exc:  # noqa: BLE001 - a page must never stop the cycle
            body, url, error = None, c.link, f"page fetch failed: {type(exc).__name__}: {exc}"
        finally:
            self._busy[host] -= 1
        if body is None or self.pool is None:
            self._finish(c, PageOutcome(url, error, body))
            return
        try:
            job = self.pool.submit(PageJob(c.canonical_url, body, url,
                                           self.fetcher.settings.max_bytes))
        except Exception as exc:  # noqa: BLE001 - a stopped pool: the summary is used
            self._finish(c, PageOutcome(url, analysis=Analysis(
                c.canonical_url, None, f"extraction failed: {type(exc).__name__}: {exc}")))
            return
        self._jobs.add(job)
        job.add_done_callback(lambda f: self._from_pool(c, url, f))
        self._dispatch()  # this host may take its next page while this one is analysed

    def _from_pool(self, c: Candidate, url: str,
                   job: concurrent.futures.Future[Analysis]) -> None:
        try:  # on a pool thread
            self.loop.call_soon_threadsafe(self._analysed, c, url, job)
        except RuntimeError:  # the cycle is over
            pass

    def _analysed(self, c: Candidate, url: str, job: concurrent.futures.Future[Analysis]
                  ) -> None:
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


def _summary_verdicts(candidates: Sequence[Candidate], pool: Any,
                      inline_classifier: Callable[[], Classifier]) -> dict[str, SummaryVerdict]:
    """Classify articles whose page gave no text by their feed summary: in the pool when
    it can (so this process never loads spaCy), here otherwise."""
    jobs = [SummaryJob(c.canonical_url, c.title, c.summary) for c in candidates]
    out: dict[str, SummaryVerdict] = {}
    submit = getattr(pool, "submit_summary", None)
    if submit is not None and jobs and not pool.closed:
        futures = []
        try:
            futures = [(j, submit(j)) for j in jobs]
        except RuntimeError:  # the pool was closed meanwhile
            pass
        wait_s = 4 * (getattr(pool, "timeout_s", None) or 30)  # a Dask task cannot be killed
        for j, fut in futures:
            try:
                out[j.key] = fut.result(timeout=wait_s)
            except Exception as exc:  # noqa: BLE001 - classified here instead
                log.warning("summary classification in the pool failed (%s: %s); "
                            "classifying here", type(exc).__name__, exc)
    for j in jobs:
        if j.key not in out:
            out[j.key] = classify_summary(j, inline_classifier())
    return out


def _article(c: Candidate, a: Analysis | None, fetch_error: str | None,
             verdict: SummaryVerdict | None) -> NewArticle:
    now = utcnow()
    if a is not None and a.extracted is not None:
        ex = a.extracted
        published, source = (c.published, "feed") if c.published else (
            (ex.published, "page") if ex.published else (now, "first_seen"))
        return NewArticle(
            canonical_url=c.canonical_url, url=c.link, guid=c.guid,
            title=c.title or ex.title, summary=c.summary, text=ex.text, author=ex.author,
            published_at=published, published_source=source, language=ex.language,
            fingerprint=ex.fingerprint, extraction="ok", extraction_error=None,
            sources=c.sources, hits=_hits(a.results))
    # Extraction failed or timed out: the feed's own summary is what we have.
    error = fetch_error or (a.error if a is not None else "no page")
    assert verdict is not None, "an article without text has its summary classified"
    language, results = verdict.language, verdict.results
    return NewArticle(
        canonical_url=c.canonical_url, url=c.link, guid=c.guid, title=c.title,
        summary=c.summary, text=c.summary, author=None,
        published_at=c.published or now, published_source="feed" if c.published else
        "first_seen", language=language,
        fingerprint=None, extraction="summary", extraction_error=error, sources=c.sources,
        hits=_hits(results))


def _hits(results: list[TopicScore]) -> list[tuple[str, float, str, dict[str, Any]]]:
    return [(r.topic, round(r.score, 4), r.version, r.evidence) for r in results if r.matched]


# --- 4. commit -------------------------------------------------------------------------


def commit_feeds(store: Store, polls: Sequence[FeedPoll]) -> CycleSummary:
    """Write feed health and validators back, release the leases; count the outcomes."""
    s = CycleSummary()
    for p in polls:
        p.feed.last_outcome = p.outcome
    store.save_feeds([p.feed for p in polls])
    for p in polls:
        s.feeds_polled += 1
        s.entries_new += p.new_entries
        if p.outcome == "ok":
            s.feeds_ok += 1
        elif p.outcome == "not_modified":
            s.feeds_not_modified += 1
        elif p.outcome == "unchanged":
            s.feeds_unchanged += 1
        elif p.outcome == "gone":
            s.feeds_gone += 1
            s.feeds_failed += 1
            s.errors.append(f"feed {redact(p.feed.url)}: {p.error}")
        else:
            s.feeds_failed += 1
            s.errors.append(f"feed {redact(p.feed.url)}: {p.error}")
    return s


# --- 5. alert and tidy -------------------------------------------------------------------


def send_alerts(store: Store, config: Config, mode: str = "instant") -> CycleSummary:
    rep = alert.deliver(store, config, mode=mode)
    return CycleSummary(alerts_sent=rep.sent, alerts_failed=rep.failed, alerts_dead=rep.dead,
                        health_sent=rep.health_sent, health_failed=rep.health_failed,
                        errors=rep.errors)


def prune(store: Store, config: Config) -> CycleSummary:
    days = config.settings.retention.prune_text_after_days
    return CycleSummary(texts_pruned=store.prune_text(days) if days else 0)


# --- the whole cycle ------------------------------------------------------------------

# Feeds of batches with nothing new committed together, at most this many at a time.
QUIET_COMMIT_FEEDS = 500

Runner = Callable[..., Any]


def direct(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a step as a plain call (the Prefect flow passes a runner that makes it a task)."""
    return step(*args, **kwargs)


def run_cycle(store: Store, config: Config, *, only_urls: Sequence[str] | None = None,
              force: bool = False, pool: WorkerPool | None = None,
              feed_batch: int = 50, run: Runner = direct) -> CycleSummary:
    """Poll due feeds, process new articles, send instant alerts; record and return the summary.

    ``run(step, *args)`` executes each step; :mod:`flows.cycle` passes one that runs
    it as a Prefect task, so the flow and this function are the same code.

    The steps run one after the other, but the work does not wait for them: one fetch
    loop serves the whole cycle, the feeds of the next batches are fetched while this
    one is processed, and a batch's new pages are fetched and analysed (with a pool)
    as soon as it is polled, while the previous batch is stored. A batch's feeds are
    still committed only after its articles are stored.
    """
    started = datetime.now(UTC)
    summary = CycleSummary()
    owner = worker_id()
    feeds = run(claim_feeds, store, config, owner=owner, only_urls=only_urls, force=force)
    summary.feeds_due = len(feeds)
    clf: Classifier | None = None  # built when first needed here (see below)
    size = config.settings.extract.batch_size
    done = 0
    feed_batches = list(batches(spread_by_host(feeds), feed_batch))

    def failed(fb: list[Feed], exc: Exception) -> None:
        log.exception("feed batch failed; its leases expire and it is retried")
        summary.errors.append(f"batch of {len(fb)} feeds failed: {exc!r}")
        store.release_feeds([f.id for f in fb if f.id is not None], owner)

    with FetchLoop(config.settings.fetch) as fetcher:
        stream = PageStream(fetcher, pool)

        # Batches that brought nothing new wait here and are committed together (a cycle
        # where nothing is new makes one or two commit steps, not one per batch): with no
        # articles to store first, when their feeds are written does not matter for
        # crash safety. Their leases are renewed with the others until then.
        quiet: list[tuple[list[Feed], list[FeedPoll]]] = []

        def commit_quiet() -> None:
            nonlocal done
            if not quiet:
                return
            fbs = [f for fb, _ in quiet for f in fb]
            polls = [p for _, ps in quiet for p in ps]
            quiet.clear()
            try:
                summary.add(run(commit_feeds, store, polls))
                done += len(fbs)
            except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the cycle
                failed(fbs, exc)

        def finish(fb: list[Feed], polls: list[FeedPoll], candidates: list[Candidate]) -> None:
            nonlocal done
            if not candidates:
                quiet.append((fb, polls))
                if sum(len(b) for b, _ in quiet) >= QUIET_COMMIT_FEEDS:
                    commit_quiet()
                return
            try:
                for cb in batches(candidates, size):
                    summary.add(run(process_articles, store, config, cb, pool=pool,
                                    classifier=clf, stream=stream))
                summary.add(run(commit_feeds, store, polls))
                done += len(fb)
                release_memory()  # the batch's pages and rows are gone: so is their memory
                log.info("progress: %d/%d feeds polled, %d new articles, %d hits so far",
                         done, len(feeds), summary.articles_new, summary.hits_new)
            except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the cycle
                failed(fb, exc)

        polled: deque[tuple[list[Feed], list[FeedPoll], list[Candidate]]] = deque()
        renewed = time.monotonic()  # the claim set the leases
        for n, fb in enumerate(feed_batches):
            # Renew the leases of every feed not yet committed, so a cycle longer than
            # the lease keeps its feeds; a feed whose lease ran out and that another
            # worker took is left to that worker. Until a third of the lease has gone
            # by, no lease can have run out: nothing to renew or check yet.
            if time.monotonic() - renewed >= lease_of(config).total_seconds() / 3:
                try:
                    renewed = time.monotonic()
                    held = store.renew_leases(
                        owner, [f.id for b in [*(q for q, _ in quiet),
                                               *feed_batches[max(n - 1, 0):]]
                                for f in b if f.id is not None], lease=lease_of(config))
                    lost = [f for f in fb if f.id not in held]
                    if lost:
                        log.warning("%d feeds' leases were taken over by another worker",
                                    len(lost))
                        fb = [f for f in fb if f.id in held]
                except Exception:  # noqa: BLE001 - the claim's lease still stands
                    log.exception("could not renew feed leases")
            if not fb:
                continue
            for ahead in feed_batches[n + 1:n + 3]:
                prefetch_feeds(fetcher, ahead)
            try:
                polls, candidates = run(poll_feeds, store, config, fb, fetcher=fetcher,
                                         pool=pool)
            except Exception as exc:  # noqa: BLE001
                failed(fb, exc)
                continue
            if candidates and clf is None and not hasattr(pool, "submit_summary"):
                # Work classified in this process (no pool, or a Dask pool: summaries
                # of pages without text): one classifier per cycle, not per step.
                clf = make_classifier(config.topics)
            if pool is not None:
                stream.prime(candidates)
            polled.append((fb, polls, candidates))
            if len(polled) > 1:  # the previous batch is stored while this one is analysed
                finish(*polled.popleft())
        while polled:
            finish(*polled.popleft())
        commit_quiet()
        stream.close()
    release_memory()
    summary.add(run(send_alerts, store, config))
    summary.add(run(prune, store, config))
    store.save_run("cycle", started, summary.as_dict())
    return summary
