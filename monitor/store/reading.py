"""What each reader of the desk has read, the views they saved, and the hit list in
score order and in story-size order (the desk's own state, beside the pipeline's tables).

``reader`` is the desk user's name ("" for a desk without user accounts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, UniqueConstraint, and_, exists, func, or_
from sqlalchemy.orm import defer
from sqlmodel import Field, SQLModel, col, select

from monitor.errors import NotFound
from monitor.store.engine import utcnow
from monitor.store.models import (
    Article,
    ArticleSource,
    Feed,
    Hit,
    Story,
    StoryArticle,
    UTCDateTime,
)
from monitor.store.review import HitFilter, HitPage, ReviewStore

# The score order and each hit's rank in its topic, from the index alone.
Index("ix_hit_topic_score", Hit.topic_id, Hit.score, Hit.id)  # type: ignore[arg-type]
Index("ix_hit_score", Hit.score, Hit.id)  # type: ignore[arg-type]
# The story-size order walks the stories of two articles or more from the largest down.
Index("ix_story_size", Story.n_articles, Story.id)  # type: ignore[arg-type]


class HitRead(SQLModel, table=True):
    """One reader has read one hit (opened it, labelled it, or marked it read)."""

    __table_args__ = (UniqueConstraint("hit_id", "reader"),)
    id: int | None = Field(default=None, primary_key=True)
    hit_id: int = Field(foreign_key="hit.id")
    reader: str = ""
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SavedView(SQLModel, table=True):
    """A named list a reader comes back to: the list's query string (topic, filters,
    sort), as it is in the URL."""

    __table_args__ = (UniqueConstraint("owner", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = ""
    name: str
    query: str = ""
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


@dataclass
class DeskFilter(HitFilter):
    """A :class:`HitFilter` with the reader's own state: only what ``unread_by`` has
    not read (None: read or not)."""

    unread_by: str | None = None


class ReadingStore(ReviewStore):
    """Read state, saved views, and the list by score."""

    def _hit_conditions(self, f: HitFilter) -> list[Any]:
        c = super()._hit_conditions(f)
        reader = getattr(f, "unread_by", None)
        if reader is not None:
            c.append(
                ~exists()
                .where(col(HitRead.hit_id) == col(Hit.id))
                .where(col(HitRead.reader) == reader)
            )
        return c

    # --- read state -------------------------------------------------------------------

    def mark_read(self, hit_ids: Sequence[int], reader: str = "") -> int:
        """Mark these hits read by ``reader``; how many were unread."""
        if not hit_ids:
            return 0
        now = utcnow()
        with self.session(write=True) as s:
            new = self._insert_ignore(
                s,
                HitRead,
                [{"hit_id": i, "reader": reader, "read_at": now} for i in dict.fromkeys(hit_ids)],
                ["hit_id", "reader"],
            )
        return len(new)

    def mark_all_read(self, f: HitFilter, reader: str = "") -> int:
        """Mark every hit matching ``f`` read by ``reader`` (one statement); how many."""
        f = DeskFilter(**{**f.__dict__, "unread_by": reader})
        q = select(col(Hit.id)).where(*self._hit_conditions(f))
        now = utcnow()
        with self.session(write=True) as s:
            ids = list(s.exec(q).all())
            for at in range(0, len(ids), 2000):
                rows = [
                    {"hit_id": i, "reader": reader, "read_at": now} for i in ids[at : at + 2000]
                ]
                self._insert_ignore(s, HitRead, rows, ["hit_id", "reader"])
        return len(ids)

    def read_ids(self, hit_ids: Sequence[int], reader: str = "") -> set[int]:
        """Which of these hits ``reader`` has read."""
        if not hit_ids:
            return set()
        with self.session() as s:
            q = select(HitRead.hit_id).where(
                col(HitRead.hit_id).in_(list(hit_ids)), HitRead.reader == reader
            )
            return set(s.exec(q).all())

    # --- scores that rank -------------------------------------------------------------

    def score_buckets(
        self, topics: Sequence[str], resolution: int = 10_000
    ) -> dict[str, list[tuple[int, int]]]:
        """Per topic: how many hits have each score, in buckets of 1/``resolution``,
        highest first; one pass over the index ``(topic_id, score, id)``."""
        out: dict[str, list[tuple[int, int]]] = {t: [] for t in topics}
        if not topics:
            return out
        bucket = func.cast(col(Hit.score) * resolution, Integer)
        with self.session() as s:
            q = (
                select(Hit.topic_id, bucket, func.count())
                .where(col(Hit.topic_id).in_(list(topics)))
                .group_by(col(Hit.topic_id), bucket)
            )
            for t, b, n in s.exec(q).all():
                out[t].append((int(b), int(n)))
        for rows in out.values():
            rows.sort(reverse=True)
        return out

    def find_hits_by_score(
        self,
        f: HitFilter | None = None,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
    ) -> HitPage:
        """As :meth:`find_hits`, highest score first (then newest id); keyset paging by
        (score, id) the same way."""
        f = f or HitFilter()
        score, hid = col(Hit.score), col(Hit.id)
        with self.session() as s:
            q = select(hid).where(*self._hit_conditions(f))
            cursor = before if before is not None else after
            if cursor is not None:
                at = s.exec(select(Hit.score).where(Hit.id == cursor)).first()
                if at is None:
                    raise NotFound(f"no hit with id {cursor}")
                if before is not None:
                    q = q.where(score <= at).where(or_(score < at, hid < cursor))
                else:
                    q = q.where(score >= at).where(or_(score > at, hid > cursor))
            order = (score.asc(), hid.asc()) if after is not None else (score.desc(), hid.desc())
            ids = list(s.exec(q.order_by(*order).limit(limit + 1)).all())
            more = len(ids) > limit
            ids = ids[:limit]
            rows = _rows_in_order(s, ids)
        if after is not None:
            return HitPage(rows=rows[::-1], has_newer=more, has_older=True)
        return HitPage(rows=rows, has_newer=before is not None, has_older=more)

    # --- the list by story size ---------------------------------------------------------

    def find_hits_by_story(
        self,
        f: HitFilter | None = None,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
    ) -> HitPage:
        """As :meth:`find_hits`, the hits of the largest stories first (by the story's
        articles; a hit whose article has no story counts as a story of one), ties newest
        first; keyset paging by (size, found time, id).

        Two segments, each read from indexes in its own order: the hits of stories of two
        articles or more, driven from ``ix_story_size``; then the rest, by found time
        (the bulk of the hits, so never sorted as a whole)."""
        f = f or HitFilter()
        conds = self._hit_conditions(f)
        n, created, hid = col(Story.n_articles), col(Hit.created_at), col(Hit.id)
        big = (
            select(hid)
            .select_from(Story)
            .join(StoryArticle, col(StoryArticle.story_id) == col(Story.id))
            .join(Hit, col(Hit.article_id) == col(StoryArticle.article_id))
            .where(n >= 2, *conds)
        )
        in_big = (
            exists()
            .where(col(StoryArticle.article_id) == col(Hit.article_id))
            .where(col(Story.id) == col(StoryArticle.story_id))
            .where(n >= 2)
        )
        single = select(hid).where(~in_big, *conds)
        up = after is not None  # towards the largest: the segments in reverse
        with self.session() as s:
            cursor = before if before is not None else after
            at: tuple[int, Any] | None = None
            if cursor is not None:
                row = s.exec(
                    select(Hit.created_at, n)
                    .select_from(Hit)
                    .outerjoin(StoryArticle, col(StoryArticle.article_id) == col(Hit.article_id))
                    .outerjoin(Story, col(Story.id) == col(StoryArticle.story_id))
                    .where(hid == cursor)
                ).first()
                if row is None:
                    raise NotFound(f"no hit with id {cursor}")
                at = (max(int(row[1] or 1), 1), row[0])
            if at is not None and at[0] >= 2:
                size, c = at
                if up:  # the first condition bounds the index range; the rest break ties
                    big = big.where(
                        n >= size, or_(n > size, created > c, and_(created == c, hid > cursor))
                    )
                else:
                    big = big.where(
                        n <= size, or_(n < size, created < c, and_(created == c, hid < cursor))
                    )
            if at is not None and at[0] == 1:
                c = at[1]
                if up:
                    single = single.where(created >= c, or_(created > c, hid > cursor))
                else:
                    single = single.where(created <= c, or_(created < c, hid < cursor))
            order = (
                (n.asc(), created.asc(), hid.asc())
                if up
                else (n.desc(), created.desc(), hid.desc())
            )
            t_order = (created.asc(), hid.asc()) if up else (created.desc(), hid.desc())
            big_q, single_q = big.order_by(*order), single.order_by(*t_order)
            segments: list[Any]
            if up:
                segments = [big_q] if at is not None and at[0] >= 2 else [single_q, big_q]
            else:
                segments = [single_q] if at is not None and at[0] == 1 else [big_q, single_q]
            ids: list[int] = []
            for q in segments:
                want = limit + 1 - len(ids)
                if want <= 0:
                    break
                ids += [int(i) for i in s.exec(q.limit(want)).all()]
            more = len(ids) > limit
            ids = ids[:limit]
            rows = _rows_in_order(s, ids)
        if up:
            return HitPage(rows=rows[::-1], has_newer=more, has_older=True)
        return HitPage(rows=rows, has_newer=before is not None, has_older=more)

    def story_sizes(self, article_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """Per article that has a story: (the story's articles, its sources)."""
        out: dict[int, tuple[int, int]] = {}
        if not article_ids:
            return out
        with self.session() as s:
            q = (
                select(StoryArticle.article_id, Story.n_articles, Story.sources)
                .join(Story, col(Story.id) == col(StoryArticle.story_id))
                .where(col(StoryArticle.article_id).in_(list(article_ids)))
            )
            for aid, n, sources in s.exec(q).all():
                out[aid] = (max(int(n or 1), 1), len(sources or []))
        return out

    def has_stories(self) -> bool:
        with self.session() as s:
            return s.exec(select(StoryArticle.article_id).limit(1)).first() is not None

    # --- feeds, as the desk shows and acts on them --------------------------------------

    def feeds_last_new(self) -> dict[int, datetime]:
        """Per feed id: when it last brought an article newsmon had not seen."""
        with self.session() as s:
            q = select(ArticleSource.feed_id, func.max(ArticleSource.seen_at)).group_by(
                col(ArticleSource.feed_id)
            )
            return {fid: at for fid, at in s.exec(q).all() if at is not None}

    def poll_soon(self, feed_id: int) -> None:
        """Make the feed due now: the next run (or the running service) polls it."""
        with self.session(write=True) as s:
            f = s.get(Feed, feed_id)
            if f is None:
                raise NotFound(f"no feed with id {feed_id}")
            f.next_poll_at = utcnow()
            s.add(f)

    # --- saved views ------------------------------------------------------------------

    def save_view(self, name: str, query: str, owner: str = "") -> SavedView:
        """Save (or replace) ``owner``'s view called ``name``."""
        with self.session(write=True) as s:
            v = s.exec(
                select(SavedView).where(SavedView.owner == owner, SavedView.name == name)
            ).first()
            if v is None:
                v = SavedView(owner=owner, name=name, created_at=utcnow())
            v.query = query
            s.add(v)
            s.flush()
            return v

    def views(self, owner: str = "") -> list[SavedView]:
        with self.session() as s:
            return list(
                s.exec(
                    select(SavedView).where(SavedView.owner == owner).order_by(col(SavedView.name))
                ).all()
            )

    def delete_view(self, view_id: int, owner: str = "") -> None:
        with self.session(write=True) as s:
            v = s.get(SavedView, view_id)
            if v is None or v.owner != owner:
                raise NotFound(f"no saved view {view_id}")
            s.delete(v)


def _rows_in_order(s: Any, ids: Sequence[int | None]) -> list[tuple[Hit, Article]]:
    """The (hit, article) rows of these hit ids, in the ids' order, without the text."""
    rq = (
        select(Hit, Article)
        .join(Article, col(Article.id) == col(Hit.article_id))
        .where(col(Hit.id).in_(ids))
        .options(defer(Article.text))  # type: ignore[arg-type]
    )
    by_id = {h.id: (h, a) for h, a in s.exec(rq).all()}
    return [by_id[i] for i in ids if i in by_id]
