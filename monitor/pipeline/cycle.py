"""One polling cycle, as plain functions: claim -> poll -> process -> commit -> alert.

:func:`run_cycle` chains the steps; a feed's health after a poll is decided in
:mod:`monitor.feeds.health`, pages are fetched and analysed as a stream in
:mod:`monitor.pipeline.pages`, by an :class:`~monitor.pipeline.pool.AnalysisPool`.

Polling a batch of feeds is :mod:`monitor.pipeline.poll`. Prefect flows (``flows/``)
call these same functions as tasks, one task per feed
batch or article batch; :func:`run_cycle` chains them without Prefect.

Nothing is lost on a crash: a feed's new validators (ETag, Last-Modified, body
hash) are written only after the articles of its new entries are stored, so an
interrupted cycle re-reads the same entries next time and the unique
constraints make the second pass add nothing twice. Hits are written with their
article; their outbox rows with the story decision (:mod:`monitor.pipeline.stories_step`),
and a recovery pass each cycle groups what a stopped run left ungrouped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.alerts import send as alert
from monitor.alerts.spikes import check_spikes
from monitor.config import Config
from monitor.feeds.health import FeedPoll
from monitor.fetch.loop import FetchLoop
from monitor.pipeline import retry
from monitor.pipeline.articles import new_article, summary_verdicts
from monitor.pipeline.jobs import (
    Analysis,
    PageJob,
    analyse,
    make_classifier,
)
from monitor.pipeline.pages import (
    Candidate,
    PageStream,
    fetch_pages,
)
from monitor.pipeline.poll import (
    PolledBatch,
    feed_credentials,
    poll_batches,
    prefetch_feeds,
    spread_by_host,
)
from monitor.pipeline.pool import AnalysisPool
from monitor.pipeline.stories_step import group_stories, recover_stories
from monitor.pipeline.summary import CycleSummary
from monitor.pipeline.workers import release_memory
from monitor.redact import redact
from monitor.store import Feed, NewArticle, Store

if TYPE_CHECKING:
    from monitor.topics.match import Classifier

log = logging.getLogger("newsmon.pipeline")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --- 1. claim --------------------------------------------------------------------------


def claim_feeds(
    store: Store,
    config: Config,
    *,
    owner: str,
    only_urls: Sequence[str] | None = None,
    force: bool = False,
) -> list[Feed]:
    """Sync the feed table with the config, then lease the feeds that are due (or
    ``only_urls``, which must be configured feeds: :meth:`Config.configured_urls`)."""
    only_urls = config.configured_urls(only_urls) if only_urls else None
    store.sync_feeds(config.feeds)
    return store.claim_due_feeds(
        owner,
        only_urls=only_urls,
        force=force or bool(only_urls),
        lease=lease_of(config),
        limit=config.settings.fetch.max_feeds_per_cycle,
    )


def lease_of(config: Config) -> timedelta:
    return timedelta(minutes=config.settings.fetch.lease_minutes)


def batches(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


# --- 2. poll: monitor.pipeline.poll ------------------------------------------------------


# --- 3. process ------------------------------------------------------------------------


def process_articles(
    store: Store,
    config: Config,
    candidates: Sequence[Candidate],
    *,
    pool: AnalysisPool | None = None,
    classifier: Classifier | None = None,
    stream: PageStream | None = None,
) -> CycleSummary:
    """Fetch, extract, classify and store a batch of new articles (and queue alerts).

    With ``stream`` (the cycle's :class:`PageStream`) pages it fetched and analysed
    ahead of this step are taken from it instead of being fetched here."""
    summary = CycleSummary()
    if not candidates:
        return summary
    # Articles already stored (seen in another feed, or earlier): only link the source.
    known = store.known_articles([c.canonical_url for c in candidates])
    links = [
        (known[c.canonical_url], f, k, link)
        for c in candidates
        if c.canonical_url in known
        for f, k, link in c.sources
    ]
    if links:
        store.add_sources(links)
        summary.articles_merged += len(
            {c.canonical_url for c in candidates if c.canonical_url in known}
        )
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
        analyses = {
            c.canonical_url: o.analysis
            for c, o in zip(todo, outcomes, strict=True)
            if o.analysis is not None
        }
    else:
        pages = asyncio.run(fetch_pages(config.settings.fetch, todo))
    cap = config.settings.fetch.max_bytes
    jobs = [
        PageJob(c.canonical_url, body, url, cap)
        for c, (body, url, _) in zip(todo, pages, strict=True)
        if body is not None and c.canonical_url not in analyses
    ]
    if pool is not None:
        analyses.update((a.key, a) for a in pool.analyse_many(jobs))
    else:
        analyses.update((j.key, analyse(j, inline_classifier())) for j in jobs)
    no_text = [
        c for c in todo if (a := analyses.get(c.canonical_url)) is None or a.extracted is None
    ]
    verdicts = summary_verdicts(no_text, pool, inline_classifier)
    items: list[NewArticle] = []
    for c, (_, _, fetch_error) in zip(todo, pages, strict=True):
        a = analyses.get(c.canonical_url)
        item = new_article(c, a, fetch_error, verdicts.get(c.canonical_url))
        if item.extraction != "ok":
            summary.extraction_fallbacks += 1
        if fetch_error:
            summary.pages_failed += 1
        items.append(item)
    if config.settings.stories.enabled:
        # Alerts are decided by story (the first hit of a story alerts): in the stories
        # step, which queues them in the same transaction as the grouping.
        stored = store.store_articles(items)
        summary.add(_stories(store, config, stored.article_ids or [], stored.hit_ids or []))
    else:
        stored = store.store_articles(items, deliveries_for=alert.route_targets(config))
    summary.articles_new += stored.articles_new
    summary.articles_merged += stored.articles_merged
    summary.hits_new += stored.hits_new
    return summary


def _spikes(store: Store, config: Config) -> CycleSummary:
    """Topics' spikes of new stories (monitor.alerts.spikes): started, ended, announced."""
    try:
        rep = check_spikes(store, config)
    except Exception as exc:  # a spike check must not stop the cycle's alerts
        log.exception("spike check failed")
        return CycleSummary(errors=[f"spikes: {exc!r}"])
    return CycleSummary(spikes_started=len(rep.started), errors=rep.errors)


def _stories(
    store: Store, config: Config, article_ids: list[int], hit_ids: list[int], recover: bool = False
) -> CycleSummary:
    """The stories step (monitor.pipeline.stories_step). Articles it could not group
    stay stored; the next cycle's recovery pass groups them and queues their alerts."""
    try:
        out = (
            recover_stories(store, config)
            if recover
            else group_stories(store, config, article_ids, hit_ids)
        )
    except Exception as exc:  # grouping must not lose the stored batch
        log.exception("grouping stories failed; the next cycle retries")
        return CycleSummary(errors=[f"stories: {exc!r}"])
    return CycleSummary(
        stories_new=out.stories_new,
        stories_joined=out.articles_grouped - out.stories_new,
        alerts_folded=out.alerts_folded,
    )


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


# --- 4b. pages asked for again ------------------------------------------------------------


def retry_pages(
    store: Store,
    config: Config,
    *,
    fetcher: FetchLoop | None = None,
    pool: AnalysisPool | None = None,
) -> CycleSummary:
    """Ask again for the pages of articles stored from their feed summary
    (:mod:`monitor.pipeline.retry`)."""
    try:
        rep = retry.retry_pages(store, config, fetcher=fetcher, pool=pool)
    except Exception as exc:
        log.exception("page retries failed")
        return CycleSummary(errors=[f"page retries failed: {exc!r}"])
    return CycleSummary(
        pages_retried=rep.retried,
        pages_recovered=rep.recovered,
        hits_new=rep.hits_new,
        errors=rep.errors,
    )


# --- 5. alert and tidy -------------------------------------------------------------------


def send_alerts(store: Store, config: Config, mode: str = "instant") -> CycleSummary:
    rep = alert.deliver(store, config, mode=mode)
    return CycleSummary(
        alerts_sent=rep.sent,
        alerts_failed=rep.failed,
        alerts_dead=rep.dead,
        health_sent=rep.health_sent,
        health_failed=rep.health_failed,
        errors=rep.errors,
    )


# store URL -> (the cutoff of this process's last prune, when it last read every article)
_PRUNED: dict[str, tuple[datetime, float]] = {}
FULL_PRUNE_EVERY_S = 86_400.0


def prune(store: Store, config: Config) -> CycleSummary:
    """Drop old texts. After a first full pass a process reads only the articles that
    aged past the cutoff since its last prune (the cost of a cycle must not grow with
    the history stored); a full pass again once a day catches anything else (a text
    recovered late, a hit removed)."""
    days = config.settings.retention.prune_text_after_days
    if not days:
        return CycleSummary()
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    last = _PRUNED.get(store.url)
    if last is None or time.monotonic() - last[1] >= FULL_PRUNE_EVERY_S:
        n = store.prune_text(days, now=now)
        # near misses nobody labelled go with their texts (once a day: not indexed by age)
        store.prune_near_misses(days, now=now)
        _PRUNED[store.url] = (cutoff, time.monotonic())
    else:  # everything before the last cutoff is pruned already (or kept for its hits)
        n = store.prune_text(days, now=now, since=last[0])
        _PRUNED[store.url] = (max(cutoff, last[0]), last[1])
    return CycleSummary(texts_pruned=n)


# --- the whole cycle ------------------------------------------------------------------

# Feeds of batches with nothing new committed together, at most this many at a time.
QUIET_COMMIT_FEEDS = 500

Runner = Callable[..., Any]


def direct(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a step as a plain call (the Prefect flow passes a runner that makes it a task)."""
    return step(*args, **kwargs)


def run_cycle(
    store: Store,
    config: Config,
    *,
    only_urls: Sequence[str] | None = None,
    force: bool = False,
    pool: AnalysisPool | None = None,
    feed_batch: int = 50,
    run: Runner = direct,
) -> CycleSummary:
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
    with FetchLoop(config.settings.fetch) as fetcher:
        batches_run = _Batches(
            store,
            config,
            pool,
            run,
            owner,
            summary,
            fetcher,
            list(batches(spread_by_host(feeds), feed_batch)),
        )
        batches_run.run()
        summary.add(run(retry_pages, store, config, fetcher=fetcher, pool=pool))
    release_memory()
    if config.settings.stories.enabled:  # plain calls: milliseconds, no task needed
        summary.add(_stories(store, config, [], [], recover=True))
        summary.add(_spikes(store, config))
    summary.add(run(send_alerts, store, config))
    summary.add(run(prune, store, config))
    store.save_run("cycle", started, summary.as_dict())
    return summary


class _Batches:
    """The feed batches of one cycle, polled one after the other on the cycle's fetch
    loop: each batch is stored while the next one is analysed, and committed after."""

    def __init__(
        self,
        store: Store,
        config: Config,
        pool: AnalysisPool | None,
        run: Runner,
        owner: str,
        summary: CycleSummary,
        fetcher: FetchLoop,
        feed_batches: list[list[Feed]],
    ) -> None:
        self.store, self.config, self.pool, self.run_step = store, config, pool, run
        self.owner, self.summary, self.fetcher = owner, summary, fetcher
        self.feed_batches = feed_batches
        self.total = sum(len(b) for b in feed_batches)
        self.done = 0
        self.size = config.settings.extract.batch_size
        # Work classified in this process (no pool: pages and summaries of pages without
        # text): one classifier per cycle, not per step; built when first needed.
        self.clf: Classifier | None = None
        self.stream = PageStream(fetcher, pool)
        self.creds = feed_credentials(config)  # once a cycle, not once a batch
        # Batches that brought nothing new wait here and are committed together (a cycle
        # where nothing is new makes one or two commit steps, not one per batch): with no
        # articles to store first, when their feeds are written does not matter for
        # crash safety. Their leases are renewed with the others until then.
        self.quiet: list[tuple[list[Feed], list[FeedPoll]]] = []
        self.renewed = time.monotonic()  # the claim set the leases
        self.next = 0  # the next batch to poll
        self.taken: list[list[Feed]] = []  # batches the running poll step has taken
        self.polled: deque[PolledBatch] = deque()  # polled, waiting to be stored

    def run(self) -> None:
        polled = self.polled
        ahead = self._ahead()
        while self.next < len(self.feed_batches):
            # One poll step takes batches until one brings new articles (or enough feeds
            # brought none): a quiet cycle makes a few steps, not one per batch.
            start = self.next
            try:
                out: list[PolledBatch] = self.run_step(
                    poll_batches,
                    self.store,
                    self.config,
                    ahead,
                    fetcher=self.fetcher,
                    pool=self.pool,
                    creds=self.creds,
                    max_quiet_feeds=QUIET_COMMIT_FEEDS,
                    # with a pool, a feed's pages are fetched and analysed from the
                    # moment the feed is read
                    found=self.stream.prime if self.pool is not None else None,
                )
            except Exception as exc:  # noqa: BLE001 - the batches it took are retried
                if not self.taken and self.next == start:
                    # It failed before taking a batch (the task engine, say): the next
                    # batch fails in its place, so the cycle moves on, never loops.
                    self.taken.append(self.feed_batches[self.next])
                    self.next += 1
                out = [PolledBatch(fb, error=exc) for fb in self.taken]
                ahead = self._ahead()  # a generator that raised is finished: a new one
            self.taken.clear()
            if not out and self.next == start:  # took nothing and said nothing: stop
                for fb in self.feed_batches[self.next :]:
                    self._failed(fb, RuntimeError("the poll step took no batch"))
                self.next = len(self.feed_batches)
            for b in out:
                if b.error is not None:
                    self._failed(b.feeds, b.error)
                    continue
                if b.candidates and self.clf is None and self.pool is None:
                    self.clf = make_classifier(self.config.topics)
                if self.pool is not None:
                    self.stream.prime(b.candidates)
                polled.append(b)
                if len(polled) > 1:  # the previous batch is stored while this one is analysed
                    self._finish(polled.popleft())
        while polled:
            self._finish(polled.popleft())
        self._commit_quiet()
        self.stream.close()

    def _ahead(self) -> Iterator[list[Feed]]:
        """The batches to poll, in turn; as each is taken, the leases are renewed and the
        next two batches start fetching."""
        while self.next < len(self.feed_batches):
            n = self.next
            self.next += 1
            fb = self._renew_leases(n, self.feed_batches[n])
            if not fb:
                continue
            self.taken.append(fb)  # from here on, a failure fails (releases) this batch
            for later in self.feed_batches[n + 1 : n + 3]:
                prefetch_feeds(self.fetcher, later, self.creds)
            yield fb

    def _renew_leases(self, n: int, fb: list[Feed]) -> list[Feed]:
        """Renew the leases of every feed not yet committed, so a cycle longer than the
        lease keeps its feeds; a feed whose lease ran out and that another worker took
        is left to that worker (dropped from ``fb``). Until a third of the lease has gone
        by, no lease can have run out: nothing to renew or check yet."""
        lease = lease_of(self.config)
        if time.monotonic() - self.renewed < lease.total_seconds() / 3:
            return fb
        try:
            self.renewed = time.monotonic()
            held = self.store.renew_leases(
                self.owner,
                [
                    f.id
                    for b in [
                        *(q for q, _ in self.quiet),  # polled, nothing new, not committed
                        *(p.feeds for p in self.polled),  # polled, not yet stored
                        *self.taken,  # polled earlier in this poll step
                        *self.feed_batches[n:],  # this batch and those to come
                    ]
                    for f in b
                    if f.id is not None
                ],
                lease=lease,
            )
            lost = [f for f in fb if f.id not in held]
            if lost:
                log.warning("%d feeds' leases were taken over by another worker", len(lost))
                fb = [f for f in fb if f.id in held]
        except Exception:
            log.exception("could not renew feed leases")
        return fb

    def _finish(self, b: PolledBatch) -> None:
        """Store a polled batch's new articles, then commit its feeds."""
        fb, polls, candidates = b.feeds, b.polls, b.candidates
        if not candidates:
            self.quiet.append((fb, polls))
            if sum(len(b) for b, _ in self.quiet) >= QUIET_COMMIT_FEEDS:
                self._commit_quiet()
            return
        # With a pool the batch's pages are under way in the stream: they are stored in
        # the order they are done, a chunk as soon as a quarter of a step's worth is
        # ready, so storing overlaps the analysis of the rest.
        chunks = (
            self.stream.as_done(candidates, self.size, max(1, self.size // 4))
            if self.pool is not None
            else batches(candidates, self.size)
        )
        try:
            for cb in chunks:
                self.summary.add(
                    self.run_step(
                        process_articles,
                        self.store,
                        self.config,
                        cb,
                        pool=self.pool,
                        classifier=self.clf,
                        stream=self.stream,
                    )
                )
            self.summary.add(self.run_step(commit_feeds, self.store, polls))
            self.done += len(fb)
            release_memory()  # the batch's pages and rows are gone: so is their memory
            log.info(
                "progress: %d/%d feeds polled, %d new articles, %d hits so far",
                self.done,
                self.total,
                self.summary.articles_new,
                self.summary.hits_new,
            )
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the cycle
            self._failed(fb, exc)

    def _commit_quiet(self) -> None:
        if not self.quiet:
            return
        fbs = [f for fb, _ in self.quiet for f in fb]
        polls = [p for _, ps in self.quiet for p in ps]
        self.quiet.clear()
        try:
            self.summary.add(self.run_step(commit_feeds, self.store, polls))
            self.done += len(fbs)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the cycle
            self._failed(fbs, exc)

    def _failed(self, fb: list[Feed], exc: Exception) -> None:
        log.error("feed batch failed; its leases expire and it is retried", exc_info=exc)
        self.summary.errors.append(f"batch of {len(fb)} feeds failed: {exc!r}")
        self.store.release_feeds([f.id for f in fb if f.id is not None], self.owner)
