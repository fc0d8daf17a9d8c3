"""Hits and their review labels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import col, select

from monitor.errors import NotFound
from monitor.store.engine import StoreBase, utcnow
from monitor.store.models import Article, Hit


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

    def mark_hit(self, hit_id: int, label: str | None, note: str | None = None) -> Hit:
        with self.session(write=True) as s:
            h = s.get(Hit, hit_id)
            if h is None:
                raise NotFound(f"no hit with id {hit_id}")
            h.label, h.label_note = label, note
            h.labeled_at = utcnow() if label else None
            s.add(h)
            return h
