"""Step 2 of the cycle: poll a batch of feeds - fetch (on the cycle's fetch loop, ahead
of time where it can), decide each feed's health, parse (large feeds in the pool), and
return the entries not seen before as candidates."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from monitor.config import Config
from monitor.errors import FetchError
from monitor.feeds import health
from monitor.feeds.health import FeedPoll
from monitor.feeds.parse import Entry
from monitor.fetch.http import Fetcher, FetchResult, describe_error
from monitor.fetch.loop import FetchLoop
from monitor.pipeline.jobs import FeedJob, FeedParse, parse_feed_job
from monitor.pipeline.pages import Candidate
from monitor.pipeline.pool import AnalysisPool
from monitor.redact import Credentials, same_origin, strip_credentials, with_credentials
from monitor.store import Feed, Store, utcnow

log = logging.getLogger("newsmon.pipeline")


def poll_feeds(
    store: Store,
    config: Config,
    feeds: Sequence[Feed],
    now: datetime | None = None,
    *,
    fetcher: FetchLoop | None = None,
    pool: AnalysisPool | None = None,
    creds: Mapping[str, Credentials] | None = None,
    found: Callable[[list[Candidate]], None] | None = None,
) -> tuple[list[FeedPoll], list[Candidate]]:
    """Fetch and parse a batch of feeds; return their outcomes and the new articles.

    With ``fetcher`` (the cycle's fetch loop) requests share its connections and
    politeness state, feeds it already fetched ahead (:func:`prefetch_feeds`) are
    not fetched again, and each feed is parsed as soon as its answer is in. With
    ``pool``, feeds larger than :data:`INLINE_PARSE_MAX_BYTES` are parsed in its
    workers under ``fetch.parse_timeout_s``; smaller ones here, while those run.
    ``creds``: the feeds' credentials (:func:`feed_credentials`), if the caller has
    them already. ``found`` is called with each feed's new articles as soon as that
    feed is read (the cycle starts fetching their pages then, not after the batch)."""
    now = now or utcnow()
    creds = feed_credentials(config) if creds is None else creds
    answers: Iterable[tuple[int, FetchResult | FetchError]]
    if fetcher is None:
        answers = enumerate(asyncio.run(_fetch_feeds(config, feeds, creds)))
    else:
        taken = fetcher.take_many(
            [
                (("feed", feed.id, id(feed)), partial(_fetch_feed, fetcher.fetcher, feed, creds))
                for feed in feeds
            ]
        )
        futures = {f: i for i, f in enumerate(taken)}
        answers = ((futures[f], f.result()) for f in concurrent.futures.as_completed(futures))
    polls: list[FeedPoll | None] = [None] * len(feeds)
    later: list[tuple[int, FeedPoll, tuple[Any, Any], Callable[[], FeedParse]]] = []
    candidates: dict[str, Candidate] = {}
    order: dict[str, tuple[int, int]] = {}  # where each candidate is first listed
    for i, res in answers:  # in the order the answers come in
        feed = feeds[i]
        before = feed.consecutive_failures, feed.last_success_at
        poll = polls[i] = health.apply_fetch(config, feed, res, now)
        if poll.outcome == "ok" and isinstance(res, FetchResult) and res.body is not None:
            job = FeedJob(
                feed.id,
                res.body,
                res.url,
                res.headers,
                config.settings.fetch.max_entries_per_feed,
                now,
            )
            if _parse_here(job, pool):
                outcome = parse_feed_job(job)
                _read(store, config, poll, before, outcome, now, candidates, found, (order, i))
            else:
                later.append((i, poll, before, _start_parse(job, pool)))
    for i, poll, before, parsed_later in later:  # large feeds, parsed in the pool meanwhile
        _read(store, config, poll, before, parsed_later(), now, candidates, found, (order, i))
    return [p for p in polls if p is not None], in_feed_order(feeds, candidates, order)


def in_feed_order(
    feeds: Sequence[Feed], candidates: dict[str, Candidate], order: Mapping[str, tuple[int, int]]
) -> list[Candidate]:
    """The candidates as the feeds list them (feed by feed, each in its entries' order:
    ``order`` holds where each was first listed), and each one's sources likewise,
    whatever order the answers came in: articles are numbered as they are stored, and
    the same feeds must give the same numbers, first sources and story ids however fast
    each server answered."""
    by_id = {f.id: i for i, f in enumerate(feeds) if f.id is not None}
    for c in candidates.values():
        c.sources.sort(key=lambda src: by_id.get(src[0], len(feeds)))
    return sorted(candidates.values(), key=lambda c: order[c.canonical_url])


def _read(
    store: Store,
    config: Config,
    poll: FeedPoll,
    before: tuple[Any, Any],
    outcome: FeedParse,
    now: datetime,
    candidates: dict[str, Candidate],
    found: Callable[[list[Candidate]], None] | None,
    listed: tuple[dict[str, tuple[int, int]], int],
) -> None:
    """A feed's parse: its title and notice, and its entries not seen before added to
    ``candidates`` (one article per canonical URL, with every feed entry pointing at it;
    ``listed``: where each is first listed, (the feed's place, the entry's), is kept in
    its dict)."""
    feed = poll.feed
    if outcome.parsed is None:
        if outcome.unexpected:
            log.error("feed parser failed feed=%s url=%s: %s", feed.id, feed.url, outcome.error)
        # Forget this body's validators: the next poll must read and parse it
        # again, or a broken feed would look healthy (304, unchanged) from then on.
        feed.etag = feed.last_modified = feed.body_hash = None
        feed.consecutive_failures, feed.last_success_at = before  # not a success
        health.failed(config, poll, outcome.error or "feed parsing failed", now)
        return
    parsed = outcome.parsed
    feed.title = parsed.title or feed.title
    if parsed.warning:
        feed.notice = f"feed is not well-formed, entries read anyway: {parsed.warning}"
    elif parsed.skipped:
        feed.notice = (
            f"{parsed.skipped} entries skipped: no usable http(s) link "
            f"(javascript:, data:, missing or malformed)"
        )
    elif feed.notice and (
        feed.notice.startswith("feed is not well-formed") or " entries skipped: " in feed.notice
    ):
        feed.notice = None
    new = _new_entries(store, feed, parsed.entries)
    poll.new_entries = len(new)
    feed.entries_total = len(new)
    fresh: list[Candidate] = []
    order, place = listed
    for k, e in enumerate(map(_without_credentials, new)):
        at = order.get(e.canonical_url)
        if at is None or (place, k) < at:
            order[e.canonical_url] = (place, k)
        c = candidates.get(e.canonical_url)
        if c is None:
            c = candidates[e.canonical_url] = Candidate(
                e.canonical_url, e.link, e.guid, e.title, e.summary, e.published
            )
            fresh.append(c)
        c.sources.append((feed.id or 0, e.key, e.link))
    if found is not None and fresh:
        found(fresh)


@dataclass
class PolledBatch:
    """One feed batch after its poll: the outcomes and new articles, or what failed it."""

    feeds: list[Feed]
    polls: list[FeedPoll] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    error: Exception | None = None


def poll_batches(
    store: Store,
    config: Config,
    feed_batches: Iterable[list[Feed]],
    *,
    fetcher: FetchLoop | None = None,
    pool: AnalysisPool | None = None,
    creds: Mapping[str, Credentials] | None = None,
    max_quiet_feeds: int = 500,
    found: Callable[[list[Candidate]], None] | None = None,
) -> list[PolledBatch]:
    """Poll batches taken from ``feed_batches`` one after the other (:func:`poll_feeds`),
    as one step, until a batch brings new articles or ``max_quiet_feeds`` feeds brought
    none: the cycle's Prefect tasks follow the work, a few for a cycle where nothing is
    new (1,000 quiet feeds: two), one per batch where each brings articles, which are
    then fetched and analysed while the next batches are polled.

    ``feed_batches`` is consumed lazily: the cycle's iterator renews leases and starts
    fetching the batches ahead as each one is taken. A batch that fails is returned
    with its error, and the others are still polled. ``found``: as in
    :func:`poll_feeds`."""
    out: list[PolledBatch] = []
    quiet = 0
    for fb in feed_batches:
        try:
            polls, candidates = poll_feeds(
                store, config, fb, fetcher=fetcher, pool=pool, creds=creds, found=found
            )
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the cycle
            out.append(PolledBatch(fb, error=exc))
        else:
            out.append(PolledBatch(fb, polls, candidates))
        quiet += len(fb)
        if out[-1].candidates or quiet >= max_quiet_feeds:
            break
    return out


# Feeds up to this size are parsed on the calling thread: for them the pool's round
# trip costs more than the parse (real feeds: ~0.9 ms inline against ~2 ms through an
# idle pool), and even the worst structure found (nested XHTML, quadratic in
# feedparser) holds the thread ~40 ms at this size, ~200 ms at 64 KB.
# benchmarks/feed_parse_pool.py measures both; docs/performance.md has the figures.
INLINE_PARSE_MAX_BYTES = 16 * 1024


def _parse_here(job: FeedJob, pool: AnalysisPool | None) -> bool:
    return pool is None or len(job.body) <= INLINE_PARSE_MAX_BYTES or pool.closed


def _start_parse(job: FeedJob, pool: AnalysisPool | None) -> Callable[[], FeedParse]:
    """Hand a large feed to the pool now; return how to get its parse."""
    if pool is None or _parse_here(job, pool):
        return lambda: parse_feed_job(job)
    try:
        fut = pool.submit_feed(job)
    except RuntimeError:  # closed meanwhile
        return lambda: parse_feed_job(job)
    return lambda: pool.feed_outcome(job.key, fut)


async def _fetch_feeds(
    config: Config, feeds: Sequence[Feed], creds: Mapping[str, Credentials]
) -> list[FetchResult | FetchError]:
    async with Fetcher(config.settings.fetch) as f:
        return await asyncio.gather(*(_fetch_feed(f, feed, creds) for feed in feeds))


def feed_credentials(config: Config) -> dict[str, Credentials]:
    """The credentials of the feeds whose configured URL carries ``user:password@``,
    by the URL stored (without them)."""
    return {f.url: f.credentials for f in config.feeds if f.credentials}


async def _fetch_feed(
    f: Fetcher, feed: Feed, creds: Mapping[str, Credentials]
) -> FetchResult | FetchError:
    url = feed.fetch_url or feed.url
    auth = creds.get(feed.url)
    # The credentials go to the feed's own origin only: not to a URL it moved to on
    # another origin (a relative redirect keeps them; an absolute one drops them).
    secret = with_credentials(url, auth) if auth and same_origin(url, feed.url) else url
    try:
        res = await f.fetch(secret, etag=feed.etag, last_modified=feed.last_modified)
    except FetchError as exc:
        if secret == url:
            return exc
        return FetchError(_scrub(str(exc)), status=exc.status, retry_after=exc.retry_after)
    except Exception as exc:  # noqa: BLE001 - one feed's URL must never fail its batch
        return FetchError(_scrub(describe_error(exc)))
    # What is stored, parsed against and shown never carries them.
    res.url = strip_credentials(res.url)
    res.moved_to = strip_credentials(res.moved_to) if res.moved_to else None
    return res


_USERINFO = re.compile(r"(?<=//)[^/@\s]*@")


def _scrub(text: str) -> str:
    return _USERINFO.sub("", text)


def _without_credentials(e: Entry) -> Entry:
    """An entry whose link or guid carries ``user:password@`` (a feed that writes its
    own credentials into its links) without them: they are not the article's."""
    if "@" not in e.link and "@" not in (e.guid or ""):
        return e
    guid = strip_credentials(e.guid) if e.guid and "://" in e.guid else e.guid
    key = strip_credentials(e.key) if "://" in e.key else e.key
    return replace(e, link=strip_credentials(e.link), guid=guid, key=key)


def prefetch_feeds(
    fetcher: FetchLoop, feeds: Sequence[Feed], creds: Mapping[str, Credentials] | None = None
) -> list[concurrent.futures.Future[FetchResult | FetchError]]:
    """Start fetching feeds on the cycle's fetch loop, ahead of their poll step."""
    return fetcher.start_many(
        [
            (("feed", feed.id, id(feed)), partial(_fetch_feed, fetcher.fetcher, feed, creds or {}))
            for feed in feeds
        ]
    )


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


def _new_entries(store: Store, feed: Feed, entries: list[Entry]) -> list[Entry]:
    known = store.known_entry_keys(feed.id or 0, [e.key for e in entries])
    return [e for e in entries if e.key not in known]
