"""The work the pools do, one job at a time: its input, its output, and the function
that does it - in a worker process (:mod:`monitor.pipeline.workers`), on Dask
(:mod:`monitor.pipeline.dask_pool`) or inline.

The main process imports this module for the job types only; spaCy, trafilatura and
the language model (about 150 MB) are imported where jobs run, and results come back
as the plain types below, so unpickling them does not import those modules either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.config import MAX_PAGE_BYTES
from monitor.errors import ExtractError, FeedParseError
from monitor.extract.walls import wall_kind
from monitor.feeds.parse import ParsedFeed, parse_feed
from monitor.topics.language import TopicConfig

if TYPE_CHECKING:
    from monitor.extract.article import Extracted
    from monitor.topics.match import Classifier, TopicResult


@dataclass
class PageJob:
    key: str
    html: bytes
    url: str
    max_bytes: int = MAX_PAGE_BYTES  # a gzip file is inflated up to this (fetch.max_bytes)


@dataclass
class Page:
    """What extraction found on a page (the fields of ``monitor.extract.article.Extracted``)."""

    title: str
    text: str
    author: str | None
    published: datetime | None
    language: str | None
    fingerprint: str | None


@dataclass
class TopicScore:
    """One topic's verdict on an article (the fields of ``TopicResult`` that are stored)."""

    topic: str
    matched: bool
    score: float
    version: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Analysis:
    key: str
    extracted: Page | None
    error: str | None = None
    results: list[TopicScore] = field(default_factory=list)
    wall: str | None = None  # the page is a consent/JavaScript/login/paywall page (its kind)


@dataclass
class SummaryJob:
    """An article whose page gave no text: its feed title and summary, to classify."""

    key: str
    title: str
    summary: str


@dataclass
class SummaryVerdict:
    key: str
    language: str | None
    results: list[TopicScore]


@dataclass
class FeedJob:
    """A fetched feed body to parse (in a worker, or inline when it is small)."""

    key: Any
    body: bytes
    url: str
    headers: dict[str, str]
    max_entries: int
    now: datetime


@dataclass
class FeedParse:
    """A feed's parse: entries, or a readable error. ``unexpected`` marks an error that
    was not the parser saying "not a feed" (a bug or a crash worth a traceback)."""

    key: Any
    parsed: ParsedFeed | None
    error: str | None = None
    unexpected: bool = False


def parse_feed_job(job: FeedJob) -> FeedParse:
    """Parse one feed; every failure becomes a FeedParse with an error, never a raise."""
    try:
        return FeedParse(
            job.key,
            parse_feed(
                job.body, url=job.url, headers=job.headers, max_entries=job.max_entries, now=job.now
            ),
        )
    except FeedParseError as exc:
        return FeedParse(job.key, None, str(exc))
    except Exception as exc:  # noqa: BLE001 - one feed's bytes must not fail its batch
        return FeedParse(
            job.key, None, f"feed parser failed: {type(exc).__name__}: {exc}"[:500], True
        )


def make_classifier(topics: Sequence[TopicConfig]) -> Classifier:
    from monitor.topics.match import Classifier

    return Classifier(list(topics))


def extract_html(html: bytes, url: str, max_bytes: int = MAX_PAGE_BYTES) -> Extracted:
    from monitor.extract.article import extract_html as extract

    return extract(html, url, max_bytes)


def scores(results: Sequence[TopicResult]) -> list[TopicScore]:
    return [TopicScore(r.topic, r.matched, r.score, r.version, r.evidence) for r in results]


def analyse(job: PageJob, clf: Classifier) -> Analysis:
    """Extract then classify one page (in a worker, on Dask, or inline)."""
    try:
        ex = extract_html(job.html, job.url, job.max_bytes)
    except ExtractError as exc:
        return Analysis(job.key, None, str(exc))
    wall = wall_kind(ex.title, ex.text)
    if wall is not None:  # its text is the wall's, not the article's
        return Analysis(
            job.key, None, f"the page is {wall.description}, not the article", wall=wall.kind
        )
    page = Page(ex.title, ex.text, ex.author, ex.published, ex.language, ex.fingerprint)
    return Analysis(
        job.key, page, None, scores(clf.classify(ex.title, ex.text, language=ex.language))
    )


def classify_summary(job: SummaryJob, clf: Classifier) -> SummaryVerdict:
    """Classify an article by its feed title and summary, in the summary's language."""
    from monitor.extract.article import detect_language

    language = detect_language(job.summary) if job.summary else None
    return SummaryVerdict(
        job.key, language, scores(clf.classify(job.title, job.summary, language=language))
    )
