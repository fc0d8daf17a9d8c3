"""The queries of review: the desk's filtered, searched, paged hit lists and its
figures, and the stored articles and labels that training and testing a topic read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import column, distinct, exists, func, literal_column, or_, table
from sqlalchemy.orm import defer
from sqlmodel import col, select

from monitor.errors import NotFound
from monitor.store.engine import StoreBase
from monitor.store.models import Article, ArticleSource, Feed, Hit
from monitor.store.nearmiss import NearMiss
from monitor.store.search import (
    FTS_TABLE,
    create_fts,
    create_pg_search,
    fts5_query,
    parse_search,
    pg_search_document,
    tsquery,
)


@dataclass
class HitFilter:
    """What the review desk filters hits by; None means "any"."""

    topic: str | None = None
    since: datetime | None = None  # found at or after
    until: datetime | None = None  # found before
    min_score: float | None = None
    max_score: float | None = None
    label: str | None = None  # relevant / irrelevant / unreviewed
    feed_id: int | None = None
    language: str | None = None
    search: str | None = None  # words and "phrases" in title or text (full-text index)


@dataclass
class HitPage:
    """One page of hits, newest first, with whether there are more either side."""

    rows: list[tuple[Hit, Article]]
    has_newer: bool
    has_older: bool


class ReviewStore(StoreBase):
    """What the review desk and the review commands read."""

    def ensure_indexes(self) -> None:
        """Create the search index and the review indexes on a database made before they
        existed (a new database gets them with its tables). Idempotent; the first call on
        an old SQLite database indexes every article it holds."""
        with self.engine.execution_options(immediate=True).begin() as conn:
            if self.dialect == "sqlite":
                create_fts(conn)
            elif self.dialect == "postgresql":
                create_pg_search(conn)
            for model in (Article, ArticleSource, Hit):
                for idx in model.__table__.indexes:  # type: ignore[union-attr]
                    idx.create(conn, checkfirst=True)

    def _hit_conditions(self, f: HitFilter) -> list[Any]:
        """WHERE clauses on hit for a filter: indexes only, no article rows read."""
        c: list[Any] = []
        if f.topic:
            c.append(Hit.topic_id == f.topic)
        if f.since is not None:
            c.append(col(Hit.created_at) >= f.since)
        if f.until is not None:
            c.append(col(Hit.created_at) < f.until)
        if f.min_score is not None:
            c.append(Hit.score >= f.min_score)
        if f.max_score is not None:
            c.append(Hit.score <= f.max_score)
        if f.label == "unreviewed":
            c.append(Hit.label == None)  # noqa: E711
        elif f.label:
            c.append(Hit.label == f.label)
        if f.feed_id is not None:
            c.append(
                exists()
                .where(col(ArticleSource.article_id) == col(Hit.article_id))
                .where(col(ArticleSource.feed_id) == f.feed_id)
            )
        phrases = parse_search(f.search or "")
        if phrases:
            if self.dialect == "sqlite":
                fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
                matching = select(fts.c.rowid).where(
                    fts.c[FTS_TABLE].op("MATCH")(fts5_query(phrases))
                )
            else:
                matching = select(Article.id).where(
                    pg_search_document().op("@@")(
                        func.to_tsquery(literal_column("'simple'::regconfig"), tsquery(phrases))
                    )
                )
            c.append(col(Hit.article_id).in_(matching))
        if f.language:  # by the language index alone, never reading article rows
            c.append(
                col(Hit.article_id).in_(select(Article.id).where(Article.language == f.language))
            )
        return c

    def find_hits(
        self,
        f: HitFilter | None = None,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        with_text: bool = False,
    ) -> HitPage:
        """A page of hits matching ``f``, newest first (by found time, then id).

        Keyset paging: ``before=ID`` gives the page after hit ID in that order (older),
        ``after=ID`` the page before it (newer), so a deep page costs what the first
        does. The article's text is not loaded unless ``with_text``.
        """
        f = f or HitFilter()
        conds = self._hit_conditions(f)
        created, hid = col(Hit.created_at), col(Hit.id)
        with self.session() as s:
            # First the page's ids, from indexes alone; then only those rows. Sorting
            # 40,000 search matches is cheap; sorting them with their evidence is not.
            q = select(hid)
            for cond in conds:
                q = q.where(cond)
            cursor = before if before is not None else after
            if cursor is not None:
                at = s.exec(select(Hit.created_at).where(Hit.id == cursor)).first()
                if at is None:
                    raise NotFound(f"no hit with id {cursor}")
                # The first condition bounds the index range; the second breaks ties.
                if before is not None:
                    q = q.where(created <= at).where(or_(created < at, hid < cursor))
                else:
                    q = q.where(created >= at).where(or_(created > at, hid > cursor))
            if after is not None:
                q = q.order_by(created.asc(), hid.asc())
            else:
                q = q.order_by(created.desc(), hid.desc())
            ids = list(s.exec(q.limit(limit + 1)).all())
            more = len(ids) > limit
            ids = ids[:limit]
            rq = (
                select(Hit, Article)
                .join(Article, col(Article.id) == col(Hit.article_id))
                .where(hid.in_(ids))
            )
            if not with_text:
                rq = rq.options(defer(Article.text))  # type: ignore[arg-type]
            by_id = {h.id: (h, a) for h, a in s.exec(rq).all()}
            rows = [by_id[i] for i in ids if i in by_id]
        if after is not None:
            return HitPage(rows=rows[::-1], has_newer=more, has_older=True)
        return HitPage(rows=rows, has_newer=before is not None, has_older=more)

    def count_hits(self, f: HitFilter | None = None, *, at_most: int | None = None) -> int:
        """How many hits match ``f``; with ``at_most``, counting stops there (a broad
        search matching 90,000 articles costs what 10,000 do, and "10,000+" says enough)."""
        conds = self._hit_conditions(f or HitFilter())
        with self.session() as s:
            if at_most is None:
                q = select(func.count()).select_from(Hit)
                for cond in conds:
                    q = q.where(cond)
                return int(s.exec(q).one())
            inner = select(col(Hit.id))
            for cond in conds:
                inner = inner.where(cond)
            return int(
                s.exec(select(func.count()).select_from(inner.limit(at_most).subquery())).one()
            )

    def hit_neighbours(
        self,
        f: HitFilter | None,
        hit_id: int,
        *,
        find: Callable[..., HitPage] | None = None,
    ) -> tuple[int | None, int | None]:
        """The ids of the hits before and after ``hit_id`` in the filtered list (or
        None): newer and older by default, or in the order of ``find`` (one of the
        keyset-paged ``find_hits*`` queries, e.g. by score)."""
        find = find or self.find_hits
        newer = find(f, limit=1, after=hit_id).rows
        older = find(f, limit=1, before=hit_id).rows
        return (newer[0][0].id if newer else None), (older[0][0].id if older else None)

    def feeds_of_articles(self, article_ids: Sequence[int]) -> dict[int, list[Feed]]:
        """The feeds each article came from."""
        out: dict[int, list[Feed]] = {}
        if not article_ids:
            return out
        with self.session() as s:
            q = (
                select(ArticleSource.article_id, Feed)
                .join(Feed, col(Feed.id) == col(ArticleSource.feed_id))
                .where(col(ArticleSource.article_id).in_(list(article_ids)))
            )
            for aid, feed in s.exec(q.order_by(col(ArticleSource.id))).all():
                out.setdefault(aid, []).append(feed)
        return out

    def hit_topics(self) -> list[str]:
        """Every topic id that has hits."""
        with self.session() as s:
            return sorted(s.exec(select(Hit.topic_id).distinct()).all())

    def article_languages(self) -> list[str]:
        with self.session() as s:
            return sorted(
                x
                for x in s.exec(
                    select(Article.language).distinct().where(col(Article.language).is_not(None))
                ).all()
                if x
            )

    def hits_per_day(
        self, since: datetime, *, topic: str | None = None
    ) -> dict[str, dict[date, int]]:
        """Hits found per UTC day since ``since``, per topic."""
        day = func.date(Hit.created_at)
        with self.session() as s:
            q = select(Hit.topic_id, day, func.count()).where(col(Hit.created_at) >= since)
            if topic:
                q = q.where(Hit.topic_id == topic)
            out: dict[str, dict[date, int]] = {}
            for t, d, n in s.exec(q.group_by(Hit.topic_id, day)).all():
                out.setdefault(t, {})[date.fromisoformat(str(d)[:10])] = int(n)
            return out

    def label_counts(self) -> dict[str, dict[str, Any]]:
        """Per topic: hits, relevant, irrelevant, unreviewed, and the last label's time."""
        with self.session() as s:
            totals = s.exec(select(Hit.topic_id, func.count()).group_by(col(Hit.topic_id)))
            out: dict[str, dict[str, Any]] = {
                t: {
                    "hits": int(n),
                    "relevant": 0,
                    "irrelevant": 0,
                    "unreviewed": int(n),
                    "last_labeled_at": None,
                }
                for t, n in totals.all()
            }
            labelled = (
                select(Hit.topic_id, Hit.label, func.count(), func.max(Hit.labeled_at))
                .where(col(Hit.label).is_not(None))
                .group_by(col(Hit.topic_id), col(Hit.label))
            )
            for t, label, n, last in s.exec(labelled).all():
                row = out[t]
                if label in ("relevant", "irrelevant"):
                    row[label] += int(n)
                    row["unreviewed"] -= int(n)
                # max() keeps the column's type: an aware datetime
                if last is not None and (
                    row["last_labeled_at"] is None or last > row["last_labeled_at"]
                ):
                    row["last_labeled_at"] = last
            return out

    def labels_since(
        self, since: datetime | None = None, *, topic: str | None = None
    ) -> dict[str, int]:
        """Labels given per topic after ``since`` (all labels when None)."""
        with self.session() as s:
            q = select(Hit.topic_id, func.count()).where(col(Hit.label).is_not(None))
            if topic is not None:
                q = q.where(Hit.topic_id == topic)
            if since is not None:
                q = q.where(col(Hit.labeled_at) > since)
            out = {t: int(n) for t, n in s.exec(q.group_by(col(Hit.topic_id))).all()}
            # labels on articles the topic did not hit teach the same
            nq = select(NearMiss.topic_id, func.count()).where(col(NearMiss.label).is_not(None))
            if topic is not None:
                nq = nq.where(NearMiss.topic_id == topic)
            if since is not None:
                nq = nq.where(col(NearMiss.labeled_at) > since)
            for t, n in s.exec(nq.group_by(col(NearMiss.topic_id))).all():
                out[t] = out.get(t, 0) + int(n)
            return out

    def feed_counts(self) -> dict[int, tuple[int, int]]:
        """Per feed id: (articles, hits) that came from it."""
        with self.session() as s:
            feed_id = col(ArticleSource.feed_id)
            arts = dict(
                s.exec(
                    select(feed_id, func.count(distinct(col(ArticleSource.article_id)))).group_by(
                        feed_id
                    )
                ).all()
            )
            hits = dict(
                s.exec(
                    select(feed_id, func.count(distinct(col(Hit.id))))
                    .join(Hit, col(Hit.article_id) == col(ArticleSource.article_id))
                    .group_by(feed_id)
                ).all()
            )
        return {fid: (int(n), int(hits.get(fid, 0))) for fid, n in arts.items()}

    # --- training and testing a topic (monitor.topics.review) ---------------------------

    def topic_labels(self, topic_id: str) -> dict[int, str]:
        """Article id -> the label an analyst gave it for ``topic_id``: on its hit, or
        on an article the topic did not hit ("teach as hit" is a rule miss to learn)."""
        with self.session() as s:
            nonhits = s.exec(
                select(NearMiss.article_id, NearMiss.label).where(
                    NearMiss.topic_id == topic_id, col(NearMiss.label).is_not(None)
                )
            )
            out = {aid: lab for aid, lab in nonhits if lab is not None}
            return out | {
                aid: lab
                for aid, lab in s.exec(
                    select(Hit.article_id, Hit.label).where(
                        Hit.topic_id == topic_id, col(Hit.label).is_not(None)
                    )
                )
                if lab is not None
            }

    def topic_hit_scores(self, topic_id: str) -> dict[int, float]:
        """Article id -> the score of its stored hit for ``topic_id``."""
        with self.session() as s:
            return {
                aid: score
                for aid, score in s.exec(
                    select(Hit.article_id, Hit.score).where(Hit.topic_id == topic_id)
                )
            }

    def articles_by_id(self, article_ids: Sequence[int]) -> list[Article]:
        """These stored articles (those that exist), in no particular order."""
        out: list[Article] = []
        with self.session() as s:
            for i in range(0, len(article_ids), 500):
                chunk = list(article_ids[i : i + 500])
                out += s.exec(select(Article).where(col(Article.id).in_(chunk))).all()
        return out

    def recent_articles(self, limit: int) -> list[Article]:
        """The newest ``limit`` stored articles, newest first."""
        with self.session() as s:
            return list(s.exec(select(Article).order_by(col(Article.id).desc()).limit(limit)))
