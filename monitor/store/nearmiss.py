"""Every stored article reviewable: the near misses the pipeline keeps per topic
(:mod:`monitor.topics.nearmiss` decides which), labels on articles that are no hit
("teach as hit" / "not a hit"), and the list and search of all stored articles.

A ``nearmiss`` row is one (article, topic) that is not a hit: kept by the pipeline
with its score, threshold and evidence when it was worth a look, or made by a label
given to any article for a topic it did not hit. Its label is stored as a hit's is
(who, when, note) and training reads both (:meth:`ReviewStore.topic_labels`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Column,
    Index,
    UniqueConstraint,
    column,
    delete,
    func,
    literal_column,
    table,
    tuple_,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import defer
from sqlmodel import Field, Session, SQLModel, col, select

from monitor.errors import NotFound, StoreError
from monitor.store.engine import chunks, utcnow
from monitor.store.labels import LabelChange, LabelStore
from monitor.store.models import Article, Hit, UTCDateTime
from monitor.store.people import ArticleLabelEvent, LabelEvent
from monitor.store.search import FTS_TABLE, fts5_query, parse_search, pg_search_document, tsquery

LABELS = ("relevant", "irrelevant")
LABELLED = "labelled"  # the reason of a row made by a label alone
# what classification found, as a near-miss row keeps it (the rest is its label)
FOUND = ("reason", "score", "threshold", "priority", "topic_version", "evidence")


def _dt(**kw: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, **kw)


class NearMiss(SQLModel, table=True):
    """A topic's non-hit worth a look, or labelled (see the module)."""

    __table_args__ = (
        UniqueConstraint("article_id", "topic_id"),
        # a topic's inbox: most worth a look first
        Index("ix_nearmiss_inbox", "topic_id", "priority", "id"),
        Index(
            "ix_nearmiss_labelled",
            "topic_id",
            "label",
            "labeled_at",
            sqlite_where=sql_text("label IS NOT NULL"),
            postgresql_where=sql_text("label IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    topic_id: str
    reason: str  # disagree / rule passed / close / labelled
    score: float | None = None
    threshold: float | None = None
    priority: float = 0.0
    topic_version: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime | None = _dt()
    label: str | None = None  # relevant ("teach as hit") / irrelevant ("not a hit")
    label_note: str | None = None
    labeled_at: datetime | None = _dt()
    labeled_by: str | None = None  # a desk user's name; "" for the token or the CLI


@dataclass
class FoundNearMiss:
    """A near miss found when an article was classified (stored with it)."""

    topic: str
    score: float
    threshold: float
    reason: str
    priority: float
    version: str
    evidence: dict[str, Any]


@dataclass
class ArticleMark:
    """What a label on an article for a topic changed: its hit's label, or its row's."""

    article_id: int
    topic: str
    label: str | None
    note: str | None
    hit_id: int | None  # the article is a hit for the topic: the hit was labelled
    previous_label: str | None


def near_misses_become_hits(s: Session, new: Mapping[tuple[int, str], int]) -> set[tuple[int, str]]:
    """In the caller's transaction, once the hits ``new`` ((article, topic) -> hit id)
    are stored: each one's near-miss row leaves the inbox, and a label it had ("teach as
    hit", "not a hit") becomes the hit's - note, time and author kept, the move written
    to the label audit as its author's. Every path that makes hits calls this (the
    pipeline's batch, a page read on retry, ``topics test --store``).

    Returns the (article, topic) pairs an analyst labelled "not a hit": such a hit is
    stored, carrying that label, but never alerted. The rows are locked before they go,
    so a label given at the same moment is waited for, not lost."""
    muted: set[tuple[int, str]] = set()
    now = utcnow()
    for chunk in chunks(sorted(new), 200):
        rows = s.exec(
            select(NearMiss)
            .where(tuple_(col(NearMiss.article_id), col(NearMiss.topic_id)).in_(chunk))
            .order_by(col(NearMiss.article_id), col(NearMiss.topic_id))  # one lock order
            .with_for_update()
        ).all()
        for nm in rows:
            key = (nm.article_id, nm.topic_id)
            if nm.label is not None:
                h = s.get(Hit, new[key])
                if h is not None:
                    h.label, h.label_note = nm.label, nm.label_note
                    h.labeled_at = nm.labeled_at or utcnow()
                    s.add(h)
                    s.add(
                        LabelEvent(
                            hit_id=new[key],
                            user_name=nm.labeled_by or "",
                            label=nm.label,
                            note=nm.label_note,
                            at=now,
                            origin="non-hit",
                        )
                    )
                if nm.label == "irrelevant":
                    muted.add(key)
            s.delete(nm)
    return muted


def _upsert_found(s: Session, dialect_name: str, rows: list[dict[str, Any]]) -> None:
    """Insert near-miss rows; a row there already (a label given meanwhile) keeps its
    label and takes what classification found."""
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    table_ = NearMiss.__table__  # type: ignore[attr-defined]
    for chunk in chunks(rows, 200):
        stmt = dialect.insert(table_).values(chunk)
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=["article_id", "topic_id"],
                set_={k: stmt.excluded[k] for k in FOUND},
            )
        )


def found_row(n: FoundNearMiss) -> dict[str, Any]:
    """A near miss's columns as classification found them (not its article, topic or
    label): one place for every writer of near-miss rows."""
    return dict(
        reason=n.reason,
        score=n.score,
        threshold=n.threshold,
        priority=n.priority,
        topic_version=n.version,
        evidence=n.evidence,
    )


def replace_near_misses(
    s: Session, dialect_name: str, article_id: int, found: Sequence[FoundNearMiss]
) -> None:
    """In the caller's transaction (the article locked), once an article got new text (its
    page read on retry): its near misses are ``found``, what the new text gave, not what
    its feed summary gave. A topic it is a hit for keeps no row; a row of another topic
    goes, or, labelled, stays for its label (reason "labelled")."""
    hit_topics = set(s.exec(select(Hit.topic_id).where(Hit.article_id == article_id)).all())
    by_topic = {n.topic: n for n in found if n.topic not in hit_topics}
    rows = s.exec(
        select(NearMiss)
        .where(NearMiss.article_id == article_id)
        .order_by(col(NearMiss.topic_id))  # the lock order of near_misses_become_hits
        .with_for_update()
    ).all()
    for row in rows:
        if row.topic_id in by_topic:
            continue  # brought up to date below
        if row.label is None:
            s.delete(row)
        elif row.reason != LABELLED:
            row.reason = LABELLED
            s.add(row)
    s.flush()
    now = utcnow()
    _upsert_found(
        s,
        dialect_name,
        [
            dict(found_row(n), article_id=article_id, topic_id=t, created_at=now)
            for t, n in sorted(by_topic.items())
        ],
    )


def _matching_articles(dialect: str, search: str) -> Any | None:
    """A select of the ids of articles whose title or text match ``search`` (full-text
    index), or None when the search has no words."""
    phrases = parse_search(search)
    if not phrases:
        return None
    if dialect == "sqlite":
        fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
        return select(fts.c.rowid).where(fts.c[FTS_TABLE].op("MATCH")(fts5_query(phrases)))
    return select(Article.id).where(
        pg_search_document().op("@@")(
            func.to_tsquery(literal_column("'simple'::regconfig"), tsquery(phrases))
        )
    )


class NearMissStore(LabelStore):
    """Near misses, labels on non-hits, and all stored articles."""

    def near_misses(
        self,
        topic: str,
        *,
        label: str | None = "unreviewed",
        limit: int = 50,
        offset: int = 0,
    ) -> list[tuple[NearMiss, Article]]:
        """A topic's near misses, most worth a look first (see monitor.topics.nearmiss);
        ``label``: unreviewed (the inbox), relevant, irrelevant, or None for all. An
        article that became a hit for the topic since is left out."""
        with self.session() as s:
            is_hit = (
                select(Hit.id)
                .where(col(Hit.article_id) == col(NearMiss.article_id))
                .where(col(Hit.topic_id) == topic)
                .exists()
            )
            q = (
                select(NearMiss, Article)
                .join(Article, col(Article.id) == col(NearMiss.article_id))
                .where(NearMiss.topic_id == topic)
                .where(~is_hit)
                .options(defer(Article.text))  # type: ignore[arg-type]
            )
            if label == "unreviewed":
                q = q.where(col(NearMiss.label).is_(None))
            elif label:
                q = q.where(NearMiss.label == label)
            q = q.order_by(col(NearMiss.priority).desc(), col(NearMiss.id).desc())
            return [(n, a) for n, a in s.exec(q.offset(offset).limit(limit)).all()]

    def near_miss_counts(self) -> dict[str, dict[str, int]]:
        """Per topic: near misses unreviewed, and non-hits labelled relevant / irrelevant
        (an article that became a hit for the topic since is left out, as in the inbox)."""
        out: dict[str, dict[str, int]] = {}
        with self.session() as s:
            is_hit = (
                select(Hit.id)
                .where(col(Hit.article_id) == col(NearMiss.article_id))
                .where(col(Hit.topic_id) == col(NearMiss.topic_id))
                .exists()
            )
            q = (
                select(NearMiss.topic_id, NearMiss.label, func.count())
                .where(~is_hit)
                .group_by(col(NearMiss.topic_id), col(NearMiss.label))
            )
            for t, lab, n in s.exec(q).all():
                row = out.setdefault(t, {"unreviewed": 0, "relevant": 0, "irrelevant": 0})
                row[lab or "unreviewed"] = row.get(lab or "unreviewed", 0) + int(n)
        return out

    def mark_article(
        self,
        article_id: int,
        topic: str,
        label: str | None,
        note: str | None = None,
        *,
        by: str = "",
    ) -> ArticleMark:
        """Label ``article_id`` for ``topic``: relevant (teach as hit), irrelevant (not a
        hit) or None (clear). A hit for the topic gets the label as any hit label; any
        other article gets it on its near-miss row (made if it has none), with who and
        when. NotFound names a missing article."""
        if label is not None and label not in LABELS:
            raise StoreError(f"label must be one of {', '.join(LABELS)} (or none to clear)")
        with self.session(write=True) as s:
            # The article row locked: a hit made for it at the same moment (its foreign
            # key waits for this lock) is either seen here, so the hit is labelled, or
            # made after this label, so it takes the label over (near_misses_become_hits).
            found = s.exec(
                select(Article.id).where(Article.id == article_id).with_for_update()
            ).first()
            if found is None:
                raise NotFound(f"no article with id {article_id}")
            hid = s.exec(
                select(Hit.id).where(Hit.article_id == article_id, Hit.topic_id == topic)
            ).first()
            if hid is not None:
                r = self._label_hits(s, [LabelChange(hid, label, note)], by)[0]
                return ArticleMark(article_id, topic, r.label, r.note, hid, r.previous_label)
            row = s.exec(
                select(NearMiss)
                .where(NearMiss.article_id == article_id, NearMiss.topic_id == topic)
                .with_for_update()
            ).first()
            before = row.label if row is not None else None
            now = utcnow()
            if label is None:
                if row is None or row.label is None:
                    return ArticleMark(article_id, topic, None, None, None, None)
                s.add(self._label_event(article_id, topic, None, None, row, by, now))
                if row.reason == LABELLED:
                    s.delete(row)  # made by the label alone: nothing left to keep
                else:
                    row.label = row.label_note = row.labeled_at = row.labeled_by = None
                    s.add(row)
                return ArticleMark(article_id, topic, None, None, None, before)
            s.add(self._label_event(article_id, topic, label, note, row, by, now))
            # An upsert: a row stored meanwhile (a near miss of the same article kept by
            # a concurrent batch) gets the label instead of failing on its key.
            given = dict(label=label, label_note=note, labeled_at=now, labeled_by=by)
            dialect = sqlite if self.dialect == "sqlite" else postgresql
            s.execute(
                dialect.insert(NearMiss.__table__)  # type: ignore[attr-defined]
                .values(
                    article_id=article_id,
                    topic_id=topic,
                    reason=LABELLED,
                    priority=0.0,
                    topic_version="",
                    evidence={},
                    created_at=now,
                    **given,
                )
                .on_conflict_do_update(index_elements=["article_id", "topic_id"], set_=given)
            )
            return ArticleMark(article_id, topic, label, note, None, before)

    @staticmethod
    def _label_event(
        article_id: int,
        topic: str,
        label: str | None,
        note: str | None,
        row: NearMiss | None,
        by: str,
        now: datetime,
    ) -> ArticleLabelEvent:
        """The audit of a label on a non-hit: who, when, from what to what."""
        return ArticleLabelEvent(
            article_id=article_id,
            topic_id=topic,
            user_name=by,
            label=label,
            note=note,
            previous_label=row.label if row is not None else None,
            previous_note=row.label_note if row is not None else None,
            at=now,
        )

    def prune_near_misses(self, older_than_days: int, *, now: datetime | None = None) -> int:
        """Delete the unlabelled near misses found more than N days ago: by then the
        article's text is pruned too (``retention.prune_text_after_days``), so there is
        nothing left to read or teach. A labelled row stays (training reads it)."""
        cutoff = (now or utcnow()) - timedelta(days=older_than_days)
        with self.session(write=True) as s:
            stmt = (
                delete(NearMiss)
                .where(col(NearMiss.label).is_(None))
                .where(col(NearMiss.created_at) < cutoff)
            )
            return int(cast("CursorResult[Any]", s.execute(stmt)).rowcount or 0)

    def refresh_near_misses(
        self,
        topic: str,
        scanned: Sequence[int],
        found: Sequence[tuple[int, FoundNearMiss]],
        *,
        unsettled: Collection[int] = (),
    ) -> tuple[int, int, int]:
        """After re-scoring the ``scanned`` articles for ``topic`` (a rescan: the topic or
        its model changed, or the articles were stored before near misses were kept):
        ``found`` (article id, near miss) are added or brought up to date, and the
        scanned articles' other rows go - but a labelled row stays, its label kept.

        A rescan scores a snapshot, for minutes; what changed since is rechecked here,
        in the transaction that writes, with the articles locked: an article that has
        become a hit for the topic keeps no row, and one of ``unsettled`` (its page
        still to be read when scored) whose page has been read since is left as the
        page retry stored it (:func:`replace_near_misses`) - its text is no longer
        the summary that was scored. Returns (added, updated, removed)."""
        added = updated = removed = 0
        by_article = {aid: n for aid, n in found}
        pending = set(unsettled)
        now = utcnow()
        fresh: list[dict[str, Any]] = []
        with self.session(write=True) as s:
            for chunk in chunks(sorted(set(scanned)), 500):
                # the articles first, as a hit or a label does (mark_article): waiting
                # for a label there, never while holding the rows it waits for; and a
                # hit or a page read on one of them waits for this transaction, or
                # is seen by the recheck below
                s.exec(
                    select(Article.id)
                    .where(col(Article.id).in_(chunk))
                    .order_by(col(Article.id))  # locked in id order (plans may scan in any)
                    .with_for_update(key_share=True)
                ).all()
                now_hits = set(
                    s.exec(
                        select(Hit.article_id).where(
                            Hit.topic_id == topic, col(Hit.article_id).in_(chunk)
                        )
                    ).all()
                )
                settling = sorted(pending.intersection(chunk))
                read_since: set[int | None] = set()
                if settling:
                    read_since = set(
                        s.exec(
                            select(Article.id).where(
                                col(Article.id).in_(settling), Article.extraction == "ok"
                            )
                        ).all()
                    )
                rows = s.exec(  # locked: a label given meanwhile is not deleted
                    select(NearMiss)
                    .where(NearMiss.topic_id == topic, col(NearMiss.article_id).in_(chunk))
                    .order_by(col(NearMiss.article_id))  # the same lock order as hits'
                    .with_for_update()
                ).all()
                existing = {r.article_id: r for r in rows}
                for aid in chunk:
                    row, n = existing.get(aid), by_article.get(aid)
                    if aid in now_hits:
                        if row is not None and row.label is None:
                            s.delete(row)  # a hit keeps no unlabelled row
                            removed += 1
                        continue
                    if aid in read_since:
                        continue
                    if n is None:
                        if row is None or row.reason == LABELLED:
                            continue
                        if row.label is None:
                            s.delete(row)
                            removed += 1
                        else:  # no longer a near miss, but its label still teaches
                            row.reason = LABELLED
                            s.add(row)
                            updated += 1
                        continue
                    if row is None:
                        fresh.append(
                            dict(found_row(n), article_id=aid, topic_id=topic, created_at=now)
                        )
                        added += 1
                        continue
                    for k, v in found_row(n).items():
                        setattr(row, k, v)
                    s.add(row)
                    updated += 1
            # An upsert: a row a label made meanwhile keeps its label and takes these.
            _upsert_found(s, self.dialect, fresh)
        return added, updated, removed

    def nonhit_labels(self, topic: str) -> dict[int, str]:
        """Article id -> the label given to it for ``topic`` although it is no hit."""
        with self.session() as s:
            q = select(NearMiss.article_id, NearMiss.label).where(
                NearMiss.topic_id == topic, col(NearMiss.label).is_not(None)
            )
            return {aid: lab for aid, lab in s.exec(q).all() if lab is not None}

    def browse_articles(
        self,
        *,
        search: str | None = None,
        since: datetime | None = None,
        language: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[Article]:
        """Stored articles, hits or not, newest first (by id; ``before=ID`` pages on),
        filtered by full-text ``search``, first seen ``since``, ``language``. Their text
        is not loaded."""
        with self.session() as s:
            q = select(Article).options(defer(Article.text))  # type: ignore[arg-type]
            matching = _matching_articles(self.dialect, search or "")
            if matching is not None:
                q = q.where(col(Article.id).in_(matching))
            if since is not None:
                q = q.where(col(Article.first_seen_at) >= since)
            if language:
                q = q.where(Article.language == language)
            if before is not None:
                q = q.where(col(Article.id) < before)
            return list(s.exec(q.order_by(col(Article.id).desc()).limit(limit)).all())

    def article_reviews(
        self, article_ids: Sequence[int]
    ) -> tuple[dict[int, list[Hit]], dict[int, list[NearMiss]]]:
        """For each article: its hits, and its near-miss rows (kept or labelled)."""
        hits: dict[int, list[Hit]] = {}
        marks: dict[int, list[NearMiss]] = {}
        ids = list(article_ids)
        if not ids:
            return hits, marks
        with self.session() as s:
            for chunk in chunks(ids, 500):
                for h in s.exec(select(Hit).where(col(Hit.article_id).in_(chunk))).all():
                    hits.setdefault(h.article_id, []).append(h)
                for n in s.exec(select(NearMiss).where(col(NearMiss.article_id).in_(chunk))).all():
                    marks.setdefault(n.article_id, []).append(n)
        for aid, ns in list(marks.items()):  # a hit's own label is on the hit
            topics = {h.topic_id for h in hits.get(aid, [])}
            marks[aid] = [n for n in ns if n.topic_id not in topics]
        return hits, marks
