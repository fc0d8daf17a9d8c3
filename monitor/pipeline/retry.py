"""Pages asked for again: an article stored from its feed summary because its page
could not be read then (a 429 or 503, a timeout, a consent wall) gets its page when the
page can be had, is classified on its text, and alerted once if it hits.

The retries are rows of their own (:mod:`monitor.store.retries`), added with the
article, claimed when due under a lease, and dropped once the page was read or given
up on after :data:`~monitor.pipeline.pages.MAX_PAGE_RETRIES` attempts with backoff. A
topic the summary already hit keeps its one hit: no second alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from monitor.alerts import send as alert
from monitor.config import Config
from monitor.fetch.http import Fetcher
from monitor.fetch.loop import FetchLoop
from monitor.pipeline.articles import found_near_misses
from monitor.pipeline.jobs import Analysis, PageJob, analyse, make_classifier
from monitor.pipeline.pages import (
    MAX_PAGE_RETRIES,
    Candidate,
    PageFailure,
    fetch_page,
    fetch_pages,
    page_retry_delay,
)
from monitor.pipeline.pool import AnalysisPool
from monitor.store import PendingPage, RecoveredPage, Store, utcnow

log = logging.getLogger("newsmon.pipeline")

# At most this many pages asked for again per cycle (the oldest due first).
PAGE_RETRIES_PER_CYCLE = 200


@dataclass
class RetryReport:
    retried: int = 0  # pages asked for again
    recovered: int = 0  # ... that gave their text
    gave_up: int = 0  # ... asked for the last time
    hits_new: int = 0
    errors: list[str] = field(default_factory=list)


def retry_pages(
    store: Store,
    config: Config,
    *,
    fetcher: FetchLoop | None = None,
    pool: AnalysisPool | None = None,
    limit: int = PAGE_RETRIES_PER_CYCLE,
) -> RetryReport:
    """Ask again for the pages whose retry is due; store what they give."""
    report = RetryReport()
    lease = timedelta(minutes=config.settings.fetch.lease_minutes)
    due = store.claim_page_retries(limit=limit, lease=lease)
    if not due:
        return report
    report.retried = len(due)
    cands = [
        Candidate(p.canonical_url, p.url, None, p.title, p.summary, p.published_at) for p in due
    ]
    if fetcher is None:
        pages = asyncio.run(fetch_pages(config.settings.fetch, cands))
    else:
        pages = fetcher.call(_fetch_all(fetcher.fetcher, cands))
    cap = config.settings.fetch.max_bytes
    jobs = [
        PageJob(c.canonical_url, body, url, cap)
        for c, (body, url, _) in zip(cands, pages, strict=True)
        if body is not None
    ]
    analyses: dict[str, Analysis] = {}
    if pool is not None:
        analyses.update((a.key, a) for a in pool.analyse_many(jobs))
    elif jobs:
        clf = make_classifier(config.topics)
        analyses.update((j.key, analyse(j, clf)) for j in jobs)
    targets = alert.route_targets(config)
    for p, (_, _, failure) in zip(due, pages, strict=True):
        a = analyses.get(p.canonical_url)
        if a is not None and a.extracted is not None:
            ex = a.extracted
            page = RecoveredPage(
                ex.title,
                ex.text,
                ex.author,
                ex.language,
                ex.fingerprint,
                [
                    (r.topic, round(r.score, 4), r.version, r.evidence)
                    for r in a.results
                    if r.matched
                ],
                found_near_misses(a.results),  # the page's, in place of the summary's
            )
            report.hits_new += store.page_recovered(p.article_id, page, deliveries_for=targets)
            report.recovered += 1
            continue
        _failed(store, p, failure, a, report)
    log.info(
        "page retries: %d asked for again, %d read, %d given up, %d new hits",
        report.retried,
        report.recovered,
        report.gave_up,
        report.hits_new,
    )
    return report


async def _fetch_all(
    f: Fetcher, cands: Sequence[Candidate]
) -> list[tuple[bytes | None, str, PageFailure | None]]:
    return await asyncio.gather(*(fetch_page(f, c) for c in cands))


def _failed(
    store: Store,
    p: PendingPage,
    failure: PageFailure | None,
    a: Analysis | None,
    report: RetryReport,
) -> None:
    """A retry that gave no text: due again later with a longer wait, or given up (a
    page that now says 404, or the last attempt)."""
    reason = str(failure) if failure else (a.error if a is not None else None) or "no page"
    wait = failure.retry_in_s if failure else (0.0 if a is not None and a.wall else None)
    if wait is None or p.attempts + 1 >= MAX_PAGE_RETRIES:
        store.page_retry_failed(p.article_id, reason, None)
        report.gave_up += 1
        report.errors.append(f"page {p.url[:200]}: {reason[:200]} (given up)")
        return
    delay = max(page_retry_delay(p.attempts + 1), wait)
    store.page_retry_failed(p.article_id, reason, utcnow() + timedelta(seconds=delay))
