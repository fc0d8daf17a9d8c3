"""How an analysed candidate becomes an article to store: its page's text and hits, or
(no page, a wall, a timeout) its feed summary classified instead, marked so in the
evidence and with the page asked for again later."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from monitor.pipeline.jobs import (
    Analysis,
    SummaryJob,
    SummaryVerdict,
    TopicScore,
    classify_summary,
)
from monitor.pipeline.pages import Candidate, PageFailure, page_retry_delay
from monitor.pipeline.pool import AnalysisPool
from monitor.store import FoundNearMiss, NewArticle, utcnow
from monitor.topics.nearmiss import near_miss

if TYPE_CHECKING:
    from monitor.topics.match import Classifier

log = logging.getLogger("newsmon.pipeline")


def summary_verdicts(
    candidates: Sequence[Candidate],
    pool: AnalysisPool | None,
    inline_classifier: Callable[[], Classifier],
) -> dict[str, SummaryVerdict]:
    """Classify articles whose page gave no text by their feed summary: in the pool when
    it can (so this process never loads spaCy), here otherwise."""
    jobs = [SummaryJob(c.canonical_url, c.title, c.summary) for c in candidates]
    out: dict[str, SummaryVerdict] = {}
    if pool is not None and jobs and not pool.closed:
        futures = []
        try:
            futures = [(j, pool.submit_summary(j)) for j in jobs]
        except RuntimeError:  # the pool was closed meanwhile
            pass
        wait_s = 4 * (pool.timeout_s or 30)  # a Dask task cannot be killed
        for j, fut in futures:
            try:
                out[j.key] = fut.result(timeout=wait_s)
            except Exception as exc:  # noqa: BLE001 - classified here instead
                log.warning(
                    "summary classification in the pool failed (%s: %s); classifying here",
                    type(exc).__name__,
                    exc,
                )
    for j in jobs:
        if j.key not in out:
            out[j.key] = classify_summary(j, inline_classifier())
    return out


def new_article(
    c: Candidate,
    a: Analysis | None,
    fetch_error: PageFailure | None,
    verdict: SummaryVerdict | None,
) -> NewArticle:
    now = utcnow()
    if a is not None and a.extracted is not None:
        ex = a.extracted
        published, source = (
            (c.published, "feed")
            if c.published
            else ((ex.published, "page") if ex.published else (now, "first_seen"))
        )
        return NewArticle(
            canonical_url=c.canonical_url,
            url=c.link,
            guid=c.guid,
            title=c.title or ex.title,
            summary=c.summary,
            text=ex.text,
            author=ex.author,
            published_at=published,
            published_source=source,
            language=ex.language,
            fingerprint=ex.fingerprint,
            extraction="ok",
            extraction_error=None,
            sources=c.sources,
            hits=_hits(a.results),
            near_misses=found_near_misses(a.results),
        )
    # Extraction failed or timed out: the feed's own summary is what we have.
    error = str(fetch_error) if fetch_error else (a.error if a is not None else None)
    retry_in_s = fetch_error.retry_in_s if fetch_error else None
    if a is not None and a.wall is not None:  # a consent wall or paywall today: ask again
        retry_in_s = page_retry_delay(0)
    assert verdict is not None, "an article without text has its summary classified"
    # Hits found on the summary say so: the page was not read (or was not the article).
    marked = [
        TopicScore(
            r.topic,
            r.matched,
            r.score,
            r.version,
            dict(r.evidence, text_from="feed summary", page=error or "no page"),
        )
        for r in verdict.results
    ]
    return NewArticle(
        canonical_url=c.canonical_url,
        url=c.link,
        guid=c.guid,
        title=c.title,
        summary=c.summary,
        text=c.summary,
        author=None,
        published_at=c.published or now,
        published_source="feed" if c.published else "first_seen",
        language=verdict.language,
        fingerprint=None,
        extraction="summary",
        extraction_error=error or "no page",
        sources=c.sources,
        hits=_hits(marked),
        near_misses=found_near_misses(marked),
        page_retry_in_s=retry_in_s,
    )


def _hits(results: list[TopicScore]) -> list[tuple[str, float, str, dict[str, Any]]]:
    return [(r.topic, round(r.score, 4), r.version, r.evidence) for r in results if r.matched]


def found_near_misses(results: list[TopicScore]) -> list[FoundNearMiss]:
    """The topics the article is no hit for but worth a look (kept with it for review)."""
    out = []
    for r in results:
        v = near_miss(r.matched, r.score, r.evidence)
        if v is not None:
            out.append(
                FoundNearMiss(
                    r.topic,
                    round(r.score, 4),
                    v.threshold,
                    v.reason,
                    v.priority,
                    r.version,
                    r.evidence,
                )
            )
    return out
