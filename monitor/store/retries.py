"""Page retries: articles stored from their feed summary because their page could not be
read (a 429, a timeout, a consent wall), whose page is asked for again later."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col, select

from monitor.store.engine import StoreBase, utcnow
from monitor.store.models import Article, Delivery, Hit, PageRetry
from monitor.store.nearmiss import FoundNearMiss, near_misses_become_hits, replace_near_misses


@dataclass
class PendingPage:
    """A page to ask for again, with what its article already has."""

    article_id: int
    url: str
    canonical_url: str
    title: str
    summary: str
    published_at: datetime | None
    attempts: int
    reason: str


@dataclass
class RecoveredPage:
    """What a page read on retry gave: its text and what classification found."""

    title: str
    text: str
    author: str | None
    language: str | None
    fingerprint: str | None
    hits: list[tuple[str, float, str, dict[str, Any]]]  # (topic_id, score, version, evidence)
    # what the page's text is a near miss of; None: the summary's near misses are kept
    near_misses: list[FoundNearMiss] | None = None


def add_page_retries(s: Session, dialect_name: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert retry rows in the caller's transaction (one that exists is kept): the
    articles' batch adds them with the articles."""
    if not rows:
        return
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    stmt = (
        dialect.insert(PageRetry.__table__)  # type: ignore[attr-defined]
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["article_id"])
    )
    s.execute(stmt)


class PageRetryStore(StoreBase):
    """The page-retry records: added with their article, claimed when due, then done."""

    def claim_page_retries(
        self, *, limit: int, lease: timedelta, now: datetime | None = None
    ) -> list[PendingPage]:
        """The due retries (oldest first, at most ``limit``), each claimed for ``lease``:
        its due time moves ahead, so a concurrent run does not take it too, and a run
        that dies with it leaves it due again when the lease runs out."""
        now = now or utcnow()
        out: list[PendingPage] = []
        with self.session(write=True) as s:
            q = (
                select(PageRetry, Article)
                .join(Article, col(Article.id) == col(PageRetry.article_id))
                .where(col(PageRetry.next_at) <= now)
                .order_by(col(PageRetry.next_at))
                .limit(limit)
            )
            for r, a in s.exec(q).all():
                claimed = cast(
                    "CursorResult[Any]",
                    s.execute(
                        update(PageRetry)
                        .where(col(PageRetry.article_id) == r.article_id)
                        .where(col(PageRetry.next_at) == r.next_at)
                        .values(next_at=now + lease)
                    ),
                ).rowcount
                if claimed:
                    out.append(
                        PendingPage(
                            r.article_id,
                            r.url,
                            a.canonical_url,
                            a.title,
                            a.summary,
                            a.published_at,
                            r.attempts,
                            r.reason,
                        )
                    )
        return out

    def page_recovered(
        self,
        article_id: int,
        page: RecoveredPage,
        deliveries_for: Callable[[str, float, datetime | None], list[dict[str, Any]]] | None = None,
    ) -> int:
        """Store the text a retried page gave, its hits (a topic the summary already hit
        keeps its one hit: never a second alert; a near miss becomes the hit, its label
        with it, and one labelled "not a hit" is not alerted) and their outbox rows, and
        drop the retry, in one transaction; the page's near misses replace the summary's
        (a rescan at the same moment waits for this, or is told, see
        :meth:`~monitor.store.NearMissStore.refresh_near_misses`). Returns the number of
        new hits."""
        now = utcnow()
        with self.session(write=True) as s:
            # the article locked first, as a rescan, a label or a batch lock it
            a = s.exec(
                select(Article).where(Article.id == article_id).with_for_update(key_share=True)
            ).first()
            if a is None:
                s.execute(delete(PageRetry).where(col(PageRetry.article_id) == article_id))
                return 0
            a.title = a.title or page.title
            a.text, a.author, a.language = page.text, page.author, page.language
            a.fingerprint = page.fingerprint
            a.extraction, a.extraction_error = "ok", None
            s.add(a)
            rows = [
                dict(
                    article_id=article_id,
                    topic_id=topic,
                    score=score,
                    topic_version=version,
                    evidence=evidence,
                    created_at=now,
                )
                for topic, score, version, evidence in page.hits
            ]
            new = {
                topic: hid
                for hid, _, topic in self._insert_ignore(
                    s, Hit, rows, ["article_id", "topic_id"], Hit.article_id, Hit.topic_id
                )
            }
            muted = near_misses_become_hits(s, {(article_id, t): hid for t, hid in new.items()})
            if page.near_misses is not None:
                replace_near_misses(s, self.dialect, article_id, page.near_misses)
            deliveries: list[dict[str, Any]] = []
            for topic, score, _, _ in page.hits:
                if topic in new and deliveries_for is not None and (article_id, topic) not in muted:
                    deliveries += [
                        dict(r, hit_id=new[topic])
                        for r in deliveries_for(topic, score, a.published_at)
                    ]
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for d in deliveries:
                by_keys.setdefault(tuple(sorted(d)), []).append(d)
            for group in by_keys.values():
                self._insert_ignore(s, Delivery, group, ["hit_id", "route", "target"])
            s.execute(delete(PageRetry).where(col(PageRetry.article_id) == article_id))
            return len(new)

    def page_retry_failed(self, article_id: int, reason: str, next_at: datetime | None) -> None:
        """Record a failed retry: due again at ``next_at``, or given up (``None``): the
        row goes and the article keeps its summary, saying so."""
        with self.session(write=True) as s:
            r = s.get(PageRetry, article_id)
            if r is None:
                return
            if next_at is None:
                s.delete(r)
                a = s.get(Article, article_id)
                if a is not None:
                    a.extraction_error = (
                        f"{reason[:400]} (page asked for again {r.attempts + 1} times; given up)"
                    )
                    s.add(a)
                return
            r.attempts += 1
            r.reason = reason[:500]
            r.next_at = next_at
            s.add(r)

    def page_retries(self) -> list[PageRetry]:
        """Every pending page retry, soonest first."""
        with self.session() as s:
            return list(s.exec(select(PageRetry).order_by(col(PageRetry.next_at))).all())
