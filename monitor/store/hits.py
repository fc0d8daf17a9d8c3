"""Hits and their review labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import col, select

from monitor.errors import NotFound
from monitor.store.engine import StoreBase, chunks, utcnow
from monitor.store.models import Article, Delivery, Hit
from monitor.store.nearmiss import near_misses_become_hits


class HitStore(StoreBase):
    """Hits: listed, shown, labelled."""

    def hits(
        self,
        *,
        topic: str | None = None,
        since: datetime | None = None,
        min_score: float | None = None,
        label: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[tuple[Hit, Article]]:
        with self.session() as s:
            q = select(Hit, Article).join(Article, col(Article.id) == col(Hit.article_id))
            if topic:
                q = q.where(Hit.topic_id == topic)
            if since:
                q = q.where(col(Hit.created_at) >= since)
            if min_score is not None:
                q = q.where(Hit.score >= min_score)
            if label == "unreviewed":
                q = q.where(Hit.label == None)  # noqa: E711
            elif label:
                q = q.where(Hit.label == label)
            if search:
                like = f"%{search.lower()}%"
                q = q.where(
                    or_(func.lower(Article.title).like(like), func.lower(Article.text).like(like))
                )
            q = q.order_by(Hit.created_at.desc(), Hit.id.desc()).offset(offset).limit(limit)  # type: ignore[union-attr]
            return [(h, a) for h, a in s.exec(q).all()]

    def hit(self, hit_id: int) -> tuple[Hit, Article]:
        with self.session() as s:
            h = s.get(Hit, hit_id)
            if h is None:
                raise NotFound(f"no hit with id {hit_id}")
            a = s.get(Article, h.article_id)
            assert a is not None
            return h, a

    def add_hits(
        self,
        rows: Sequence[tuple[int, str, float, str, dict[str, Any]]],
        deliveries_for: Callable[[str, float, datetime | None], list[dict[str, Any]]] | None = None,
    ) -> tuple[list[int], int]:
        """Store hits found later on stored articles - (article, topic, score, version,
        evidence) - and, with ``deliveries_for``, their outbox rows, in one transaction.
        A hit that exists is left alone and queues nothing: stored twice or asked twice,
        each hit is alerted at most once; an article an analyst labelled "not a hit" for
        the topic is stored as a hit carrying that label and never alerted. Returns the
        new hits' ids and the rows queued."""
        if not rows:
            return [], 0
        now = utcnow()
        with self.session(write=True) as s:
            # The articles locked first, in one order, as the pipeline's batch locks them:
            # a rescan writing their near misses at this moment (refresh_near_misses)
            # is waited for, or waits and then sees these hits.
            for ids in chunks(sorted({r[0] for r in rows}), 500):
                s.exec(
                    select(Article.id)
                    .where(col(Article.id).in_(ids))
                    .order_by(col(Article.id))  # locked in id order (plans may scan in any)
                    .with_for_update(key_share=True)
                ).all()
            new: dict[tuple[int, str], int] = {}
            for chunk in chunks(list(rows), 200):
                new.update(
                    ((aid, topic), hid)
                    for hid, aid, topic in self._insert_ignore(
                        s,
                        Hit,
                        [
                            dict(
                                article_id=aid,
                                topic_id=topic,
                                score=score,
                                topic_version=version,
                                evidence=evidence,
                                created_at=now,
                            )
                            for aid, topic, score, version, evidence in chunk
                        ],
                        ["article_id", "topic_id"],
                        Hit.article_id,
                        Hit.topic_id,
                    )
                )
            # a near miss that is now a hit leaves the inbox, its label the hit's
            muted = near_misses_become_hits(s, new)
            queued: list[dict[str, Any]] = []
            if deliveries_for is not None and new:
                published: dict[int, datetime | None] = {}
                for ids in chunks(sorted({aid for aid, _ in new}), 500):
                    published.update(
                        (aid, when)
                        for aid, when in s.exec(
                            select(Article.id, Article.published_at).where(col(Article.id).in_(ids))
                        ).all()
                        if aid is not None
                    )
                for aid, topic, score, _, _ in rows:
                    if (hid := new.get((aid, topic))) is not None and (aid, topic) not in muted:
                        queued += [
                            dict(r, hit_id=hid)
                            for r in deliveries_for(topic, score, published.get(aid))
                        ]
            for chunk in chunks(queued, 500):
                self._insert_ignore(s, Delivery, chunk, ["hit_id", "route", "target"])
            return sorted(new.values()), len(queued)

    def mark_hit(self, hit_id: int, label: str | None, note: str | None = None) -> Hit:
        with self.session(write=True) as s:
            h = s.get(Hit, hit_id)
            if h is None:
                raise NotFound(f"no hit with id {hit_id}")
            h.label, h.label_note = label, note
            h.labeled_at = utcnow() if label else None
            s.add(h)
            return h
