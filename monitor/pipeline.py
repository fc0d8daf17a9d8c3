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
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor import alert
from monitor.classify import Classifier, TopicResult
from monitor.config import Config
from monitor.errors import FeedParseError, FetchError
from monitor.feeds import Entry, body_hash, parse_feed
from monitor.fetch import PAGE_ACCEPT, Fetcher, FetchResult
from monitor.store import Feed, NewArticle, Store, utcnow
from monitor.workers import Analysis, PageJob, WorkerPool, analyse

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
    return store.claim_due_feeds(owner, only_urls=only_urls, force=force or bool(only_urls))


def batches(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


# --- 2. poll ---------------------------------------------------------------------------


def poll_feeds(store: Store, config: Config, feeds: Sequence[Feed],
               now: datetime | None = None) -> tuple[list[FeedPoll], list[Candidate]]:
    """Fetch and parse a batch of feeds; return their outcomes and the new articles."""
    now = now or utcnow()
    results = asyncio.run(_fetch_feeds(config, feeds))
    polls: list[FeedPoll] = []
    candidates: dict[str, Candidate] = {}
    for feed, res in zip(feeds, results, strict=True):
        poll = _apply_fetch(config, feed, res, now)
        if poll.outcome == "ok" and isinstance(res, FetchResult) and res.body is not None:
            try:
                parsed = parse_feed(res.body, url=res.url, headers=res.headers,
                                    max_entries=config.settings.fetch.max_entries_per_feed,
                                    now=now)
            except FeedParseError as exc:
                _failed(config, poll, str(exc), now)
            else:
                feed.title = parsed.title or feed.title
                if parsed.warning:
                    feed.notice = f"feed is not well-formed, entries read anyway: {parsed.warning}"
                elif feed.notice and feed.notice.startswith("feed is not well-formed"):
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
        polls.append(poll)
    return polls, list(candidates.values())


async def _fetch_feeds(config: Config, feeds: Sequence[Feed]) -> list[FetchResult | FetchError]:
    async with Fetcher(config.settings.fetch) as f:
        async def one(feed: Feed) -> FetchResult | FetchError:
            try:
                return await f.fetch(feed.fetch_url or feed.url, etag=feed.etag,
                                     last_modified=feed.last_modified)
            except FetchError as exc:
                return exc
        return await asyncio.gather(*(one(feed) for feed in feeds))


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
    feed.last_error = error[:1000]
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
                     pool: WorkerPool | None = None, classifier: Classifier | None = None
                     ) -> CycleSummary:
    """Fetch, extract, classify and store a batch of new articles (and queue alerts)."""
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
    todo = [c for c in candidates if c.canonical_url not in known]
    if not todo:
        return summary
    pages = asyncio.run(_fetch_pages(config, todo))
    jobs = [PageJob(c.canonical_url, body, url) for c, (body, url, _) in zip(todo, pages,
                                                                           strict=True)
            if body is not None]
    clf = classifier or Classifier(config.topics)
    if pool is not None:
        analyses = {a.key: a for a in pool.analyse_many(jobs)}
    else:
        analyses = {j.key: analyse(j, clf) for j in jobs}
    items: list[NewArticle] = []
    for c, (_, _, fetch_error) in zip(todo, pages, strict=True):
        a = analyses.get(c.canonical_url)
        item = _article(c, a, fetch_error, clf)
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
        async def one(c: Candidate) -> tuple[bytes | None, str, str | None]:
            try:
                res = await f.fetch(c.link, accept=PAGE_ACCEPT)
            except FetchError as exc:
                return None, c.link, f"page fetch failed: {exc}"
            ctype = res.content_type
            if ctype.startswith(NON_HTML) and res.body and res.body[:2] != b"\x1f\x8b":
                return None, res.url, f"not an HTML page ({ctype})"
            return res.body, res.url, None
        return await asyncio.gather(*(one(c) for c in todo))


def _article(c: Candidate, a: Analysis | None, fetch_error: str | None,
             clf: Classifier) -> NewArticle:
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
    from monitor.extract import detect_language
    results = clf.classify(c.title, c.summary)
    return NewArticle(
        canonical_url=c.canonical_url, url=c.link, guid=c.guid, title=c.title,
        summary=c.summary, text=c.summary, author=None,
        published_at=c.published or now, published_source="feed" if c.published else
        "first_seen", language=detect_language(c.summary) if c.summary else None,
        fingerprint=None, extraction="summary", extraction_error=error, sources=c.sources,
        hits=_hits(results))


def _hits(results: list[TopicResult]) -> list[tuple[str, float, str, dict[str, Any]]]:
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
            s.errors.append(f"feed {p.feed.url}: {p.error}")
        else:
            s.feeds_failed += 1
            s.errors.append(f"feed {p.feed.url}: {p.error}")
    return s


# --- 5. alert and tidy -------------------------------------------------------------------


def send_alerts(store: Store, config: Config, mode: str = "instant") -> CycleSummary:
    rep = alert.deliver(store, config, mode=mode)
    return CycleSummary(alerts_sent=rep.sent, alerts_failed=rep.failed, alerts_dead=rep.dead,
                        errors=rep.errors)


def prune(store: Store, config: Config) -> CycleSummary:
    days = config.settings.retention.prune_text_after_days
    return CycleSummary(texts_pruned=store.prune_text(days) if days else 0)


# --- the whole cycle ------------------------------------------------------------------

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
    """
    started = datetime.now(UTC)
    summary = CycleSummary()
    owner = worker_id()
    feeds = run(claim_feeds, store, config, owner=owner, only_urls=only_urls, force=force)
    summary.feeds_due = len(feeds)
    clf = Classifier(config.topics)
    size = config.settings.extract.batch_size
    done = 0
    for fb in batches(feeds, feed_batch):
        try:
            polls, candidates = run(poll_feeds, store, config, fb)
            for cb in batches(candidates, size):
                summary.add(run(process_articles, store, config, cb, pool=pool,
                                classifier=clf))
            summary.add(run(commit_feeds, store, polls))
            done += len(fb)
            log.info("progress: %d/%d feeds polled, %d new articles, %d hits so far", done,
                     len(feeds), summary.articles_new, summary.hits_new)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the cycle
            log.exception("feed batch failed; its leases expire and it is retried")
            summary.errors.append(f"batch of {len(fb)} feeds failed: {exc!r}")
            store.release_feeds([f.id for f in fb if f.id is not None], owner)
    summary.add(run(send_alerts, store, config))
    summary.add(run(prune, store, config))
    store.save_run("cycle", started, summary.as_dict())
    return summary
