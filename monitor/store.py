"""Storage: feeds (+health), articles (+their sources), hits, alert deliveries, runs.

SQLModel tables on SQLite (WAL, one writer at a time via ``BEGIN IMMEDIATE``) or
PostgreSQL. Every insert that a re-run could repeat is guarded by a unique
constraint and done as ``INSERT ... ON CONFLICT DO NOTHING``, so running the
same cycle twice adds nothing. Times are stored as UTC.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint, event, func, or_, text, update
from sqlalchemy import types as satypes
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, create_engine, select

from monitor.errors import NotFound, StoreError


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(satypes.TypeDecorator[datetime]):
    """Stored naive in UTC (SQLite has no time zones), returned aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _dt(**kw: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, **kw)


class Feed(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True, index=True)
    name: str | None = None
    title: str | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    enabled: bool = True
    interval_minutes: float | None = None
    # conditional GET and "same body as last time"
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    # health
    added_at: datetime | None = _dt()
    last_polled_at: datetime | None = _dt()
    last_success_at: datetime | None = _dt()
    last_status: int | None = None
    last_outcome: str | None = None  # ok / not_modified / unchanged / error / gone
    last_error: str | None = None
    consecutive_failures: int = 0
    next_poll_at: datetime | None = _dt(index=True)
    gone: bool = False
    fetch_url: str | None = None  # where a permanent redirect sent us; url stays the config's
    notice: str | None = None  # e.g. "moved permanently to ..."
    entries_total: int = 0
    # work sharing between concurrent runs
    lease_owner: str | None = None
    lease_until: datetime | None = _dt()


class Article(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    canonical_url: str = Field(unique=True, index=True)
    url: str
    guid: str | None = None
    title: str = ""
    summary: str = ""
    text: str | None = None
    author: str | None = None
    published_at: datetime | None = _dt(index=True)
    published_source: str = "feed"  # feed / page / first_seen
    language: str | None = None
    fingerprint: str | None = Field(default=None, index=True)
    extraction: str = "ok"  # ok / summary (fallback) / failed
    extraction_error: str | None = None
    first_seen_at: datetime | None = _dt(index=True)
    text_pruned_at: datetime | None = _dt()


class ArticleSource(SQLModel, table=True):
    """Which feed entry led to an article (an article may come from several)."""

    __table_args__ = (UniqueConstraint("feed_id", "entry_key"),)
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    entry_key: str
    link: str
    seen_at: datetime | None = _dt()


class Hit(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("article_id", "topic_id"),)
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    topic_id: str = Field(index=True)
    score: float
    topic_version: str
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime | None = _dt(index=True)
    label: str | None = None  # relevant / irrelevant
    label_note: str | None = None
    labeled_at: datetime | None = _dt()


class Delivery(SQLModel, table=True):
    """The outbox: one row per (hit, route, target URL), sent exactly once."""

    __table_args__ = (
        UniqueConstraint("hit_id", "route", "target"),
        Index("ix_delivery_status_next", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    hit_id: int = Field(foreign_key="hit.id", index=True)
    route: str
    target: str  # a hash of the URL: the secret URL itself is never stored
    target_display: str  # the URL with its credentials masked
    mode: str = "instant"
    status: str = "pending"  # pending / sending / sent / failed / dead
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime | None = _dt()
    next_attempt_at: datetime | None = _dt()
    sent_at: datetime | None = _dt()


class Run(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: str = "cycle"
    started_at: datetime | None = _dt()
    finished_at: datetime | None = _dt()
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


# --- values passed in and out ------------------------------------------------------


@dataclass
class NewArticle:
    """An article ready to store, with what classification found."""

    canonical_url: str
    url: str
    guid: str | None
    title: str
    summary: str
    text: str | None
    author: str | None
    published_at: datetime | None
    published_source: str
    language: str | None
    fingerprint: str | None
    extraction: str
    extraction_error: str | None
    sources: list[tuple[int, str, str]]  # (feed_id, entry_key, link)
    hits: list[tuple[str, float, str, dict[str, Any]]]  # (topic_id, score, version, evidence)


@dataclass
class StoredBatch:
    articles_new: int = 0
    articles_merged: int = 0  # same story seen again (other feed, other URL)
    hits_new: int = 0
    hit_ids: list[int] | None = None


def target_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


# --- the store -----------------------------------------------------------------------


class Store:
    """All database access. Safe to share between threads; one per process."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        try:
            self.engine = _make_engine(url)
            if create:
                SQLModel.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open database {mask_db_url(url)}: {_short(exc)}") from None
        self.dialect = self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A session in one transaction; ``write`` takes SQLite's write lock up front."""
        bind = self.engine.execution_options(immediate=True) if write else self.engine
        with Session(bind, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except OperationalError as exc:
                s.rollback()
                raise StoreError(f"database error: {_short(exc)}") from None
            except BaseException:
                s.rollback()
                raise

    def _insert_ignore(self, s: Session, model: type[SQLModel], rows: list[dict[str, Any]],
                       conflict: Sequence[str]) -> list[int]:
        """Insert rows, skip those that already exist; return the ids that were new."""
        if not rows:
            return []
        dialect = sqlite if self.dialect == "sqlite" else postgresql
        table = model.__table__  # type: ignore[attr-defined]
        stmt = dialect.insert(table).values(rows).on_conflict_do_nothing(
            index_elements=list(conflict)).returning(table.c.id)
        return [r[0] for r in s.execute(stmt)]

    # --- feeds -------------------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[Any]) -> None:
        """Make the feed table follow the config: add new, update names, disable removed."""
        now = utcnow()
        feeds = list(feeds)
        with self.session(write=True) as s:
            rows = [dict(url=f.url, name=f.name, tags=list(f.tags), enabled=True,
                         interval_minutes=f.interval_minutes, added_at=now,
                         consecutive_failures=0, gone=False, entries_total=0)
                    for f in feeds]
            self._insert_ignore(s, Feed, rows, ["url"])
            by_url = {f.url: f for f in feeds}
            for feed in s.exec(select(Feed)).all():
                cfg = by_url.get(feed.url)
                if cfg is None:
                    feed.enabled = False
                    continue
                feed.enabled = True
                feed.name, feed.tags = cfg.name, list(cfg.tags)
                feed.interval_minutes = cfg.interval_minutes
                s.add(feed)

    def feeds(self) -> list[Feed]:
        with self.session() as s:
            return list(s.exec(select(Feed).order_by(Feed.id)).all())

    def feed(self, feed_id: int) -> Feed:
        with self.session() as s:
            f = s.get(Feed, feed_id)
            if f is None:
                raise NotFound(f"no feed with id {feed_id}")
            return f

    def claim_due_feeds(self, owner: str, *, now: datetime | None = None,
                        lease: timedelta = timedelta(minutes=10),
                        only_urls: Sequence[str] | None = None, force: bool = False,
                        limit: int | None = None) -> list[Feed]:
        """Lease the feeds that are due so no concurrent run polls them too."""
        now = now or utcnow()
        with self.session(write=True) as s:
            q = select(Feed.id).where(Feed.enabled == True)  # noqa: E712
            q = q.where(or_(Feed.lease_until == None, Feed.lease_until < now))  # noqa: E711
            if only_urls:
                q = q.where(Feed.url.in_(list(only_urls)))  # type: ignore[attr-defined]
            if not force:
                q = q.where(or_(Feed.next_poll_at == None, Feed.next_poll_at <= now))  # noqa: E711
            q = q.order_by(Feed.next_poll_at, Feed.id)
            if limit:
                q = q.limit(limit)
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            ids = list(s.exec(q).all())
            if not ids:
                return []
            feeds = list(s.exec(select(Feed).where(Feed.id.in_(ids))).all())  # type: ignore[union-attr]
            for f in feeds:
                f.lease_owner, f.lease_until = owner, now + lease
                s.add(f)
            return feeds

    def save_feed(self, feed: Feed) -> None:
        """Write back a feed's health after a poll and release its lease."""
        self.save_feeds([feed])

    def save_feeds(self, feeds: Sequence[Feed]) -> None:
        """Write back the health of polled feeds and release their leases, in one transaction."""
        if not feeds:
            return
        with self.session(write=True) as s:
            rows = {r.id: r for r in s.exec(select(Feed).where(
                Feed.id.in_([f.id for f in feeds])))}  # type: ignore[union-attr]
            for feed in feeds:
                row = rows.get(feed.id)
                if row is None:
                    continue
                for k in ("fetch_url", "title", "etag", "last_modified", "body_hash",
                          "last_polled_at", "last_success_at", "last_status", "last_outcome",
                          "last_error", "consecutive_failures", "next_poll_at", "gone", "notice"):
                    setattr(row, k, getattr(feed, k))
                row.entries_total = (row.entries_total or 0) + (feed.entries_total or 0)
                row.lease_owner, row.lease_until = None, None
                s.add(row)

    def release_feeds(self, feed_ids: Sequence[int], owner: str) -> None:
        """Give back leases without recording a poll (the batch failed before it finished)."""
        if not feed_ids:
            return
        with self.session(write=True) as s:
            for row in s.exec(select(Feed).where(Feed.id.in_(list(feed_ids)))  # type: ignore[union-attr]
                              .where(Feed.lease_owner == owner)):
                row.lease_owner, row.lease_until = None, None
                s.add(row)

    def known_entry_keys(self, feed_id: int, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        with self.session() as s:
            q = select(ArticleSource.entry_key).where(ArticleSource.feed_id == feed_id).where(
                ArticleSource.entry_key.in_(list(keys)))  # type: ignore[attr-defined]
            return set(s.exec(q).all())

    def known_articles(self, canonical_urls: Sequence[str]) -> dict[str, int]:
        if not canonical_urls:
            return {}
        with self.session() as s:
            q = select(Article.canonical_url, Article.id).where(
                Article.canonical_url.in_(list(canonical_urls)))  # type: ignore[attr-defined]
            return {u: i for u, i in s.exec(q).all()}

    def add_sources(self, rows: Sequence[tuple[int, int, str, str]]) -> int:
        """Link already-stored articles to more feed entries: (article, feed, key, link)."""
        now = utcnow()
        with self.session(write=True) as s:
            return len(self._insert_ignore(s, ArticleSource, [
                dict(article_id=a, feed_id=f, entry_key=k, link=link, seen_at=now)
                for a, f, k, link in rows], ["feed_id", "entry_key"]))

    # --- articles and hits ---------------------------------------------------------------

    def store_articles(self, items: Sequence[NewArticle], deliveries_for: Callable[
            [str, float, datetime | None], list[dict[str, Any]]] | None = None) -> StoredBatch:
        """Store articles, their sources, hits and the hits' outbox rows in one transaction.

        Idempotent: an article, source, hit or delivery that exists is left alone.
        """
        out = StoredBatch(hit_ids=[])
        now = utcnow()
        with self.session(write=True) as s:
            for it in items:
                article_id = self._find_same_story(s, it)
                if article_id is None:
                    ids = self._insert_ignore(s, Article, [dict(
                        canonical_url=it.canonical_url, url=it.url, guid=it.guid,
                        title=it.title, summary=it.summary, text=it.text, author=it.author,
                        published_at=it.published_at, published_source=it.published_source,
                        language=it.language, fingerprint=it.fingerprint,
                        extraction=it.extraction, extraction_error=it.extraction_error,
                        first_seen_at=now)], ["canonical_url"])
                    if ids:
                        article_id = ids[0]
                        out.articles_new += 1
                    else:  # a concurrent run stored it first
                        article_id = s.exec(select(Article.id).where(
                            Article.canonical_url == it.canonical_url)).one()
                        out.articles_merged += 1
                else:
                    out.articles_merged += 1
                self._insert_ignore(s, ArticleSource, [
                    dict(article_id=article_id, feed_id=f, entry_key=k, link=link, seen_at=now)
                    for f, k, link in it.sources], ["feed_id", "entry_key"])
                for topic, score, version, evidence in it.hits:
                    new = self._insert_ignore(s, Hit, [dict(
                        article_id=article_id, topic_id=topic, score=score,
                        topic_version=version, evidence=evidence, created_at=now)],
                        ["article_id", "topic_id"])
                    if not new:
                        continue
                    out.hits_new += 1
                    out.hit_ids.append(new[0])  # type: ignore[union-attr]
                    if deliveries_for is not None:
                        rows = [dict(r, hit_id=new[0])
                                for r in deliveries_for(topic, score, it.published_at)]
                        self._insert_ignore(s, Delivery, rows, ["hit_id", "route", "target"])
        return out

    def _find_same_story(self, s: Session, it: NewArticle) -> int | None:
        found = s.exec(select(Article.id).where(
            Article.canonical_url == it.canonical_url)).first()
        if found is None and it.fingerprint and it.extraction == "ok":
            found = s.exec(select(Article.id).where(
                Article.fingerprint == it.fingerprint).limit(1)).first()
        return found

    def article(self, article_id: int) -> Article:
        with self.session() as s:
            a = s.get(Article, article_id)
            if a is None:
                raise NotFound(f"no article with id {article_id}")
            return a

    def article_sources(self, article_id: int) -> list[tuple[ArticleSource, Feed]]:
        with self.session() as s:
            q = select(ArticleSource, Feed).join(Feed, Feed.id == ArticleSource.feed_id).where(
                ArticleSource.article_id == article_id)
            return [(a, f) for a, f in s.exec(q).all()]

    def hits(self, *, topic: str | None = None, since: datetime | None = None,
             min_score: float | None = None, label: str | None = None,
             search: str | None = None, limit: int = 50, offset: int = 0
             ) -> list[tuple[Hit, Article]]:
        with self.session() as s:
            q = select(Hit, Article).join(Article, Article.id == Hit.article_id)
            if topic:
                q = q.where(Hit.topic_id == topic)
            if since:
                q = q.where(Hit.created_at >= since)
            if min_score is not None:
                q = q.where(Hit.score >= min_score)
            if label == "unreviewed":
                q = q.where(Hit.label == None)  # noqa: E711
            elif label:
                q = q.where(Hit.label == label)
            if search:
                like = f"%{search.lower()}%"
                q = q.where(or_(func.lower(Article.title).like(like),
                                func.lower(Article.text).like(like)))
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

    def prune_text(self, older_than_days: int, *, now: datetime | None = None) -> int:
        """Drop the text of articles that hit nothing and are older than N days."""
        cutoff = (now or utcnow()) - timedelta(days=older_than_days)
        with self.session(write=True) as s:
            has_hit = select(Hit.id).where(Hit.article_id == Article.id).exists()
            stmt = (update(Article).where(Article.first_seen_at < cutoff)  # type: ignore[arg-type]
                    .where(Article.text != None).where(~has_hit)  # noqa: E711
                    .values(text=None, text_pruned_at=utcnow()))
            return int(s.execute(stmt).rowcount or 0)

    # --- deliveries (outbox) ----------------------------------------------------------------

    def enqueue_deliveries(self, rows: Sequence[dict[str, Any]]) -> int:
        with self.session(write=True) as s:
            return len(self._insert_ignore(s, Delivery, list(rows), ["hit_id", "route", "target"]))

    def claim_deliveries(self, *, mode: str, now: datetime | None = None,
                         routes: Sequence[str] | None = None, stale_after: timedelta =
                         timedelta(minutes=15)) -> list[tuple[Delivery, Hit, Article]]:
        """Mark due deliveries 'sending' and return them (with their hit and article).

        A delivery left 'sending' by a crashed run for longer than ``stale_after`` is
        due again: the crash may have fallen inside the send, so it may go out once
        more, but it is never silently lost.
        """
        now = now or utcnow()
        with self.session(write=True) as s:
            due = or_(
                Delivery.status == "pending",
                (Delivery.status == "failed") & (Delivery.next_attempt_at <= now),
                (Delivery.status == "sending") & (Delivery.next_attempt_at <= now - stale_after),
            )
            q = select(Delivery, Hit, Article).join(Hit, Hit.id == Delivery.hit_id).join(
                Article, Article.id == Hit.article_id).where(Delivery.mode == mode).where(due)
            if routes is not None:
                q = q.where(Delivery.route.in_(list(routes)))  # type: ignore[attr-defined]
            if self.dialect == "postgresql":
                q = q.with_for_update(of=Delivery, skip_locked=True)  # type: ignore[arg-type]
            rows = list(s.exec(q.order_by(Delivery.id)).all())
            for d, _, _ in rows:
                d.status, d.next_attempt_at = "sending", now
                s.add(d)
            return [(d, h, a) for d, h, a in rows]

    def finish_deliveries(self, ids: Sequence[int], *, ok: bool, error: str | None = None,
                          retry_at: datetime | None = None, dead: bool = False) -> None:
        now = utcnow()
        with self.session(write=True) as s:
            for d in s.exec(select(Delivery).where(Delivery.id.in_(list(ids)))).all():  # type: ignore[union-attr]
                d.attempts += 1
                if ok:
                    d.status, d.sent_at, d.last_error = "sent", now, None
                else:
                    d.status = "dead" if dead else "failed"
                    d.last_error, d.next_attempt_at = error, retry_at
                s.add(d)

    def deliveries(self, status: str | None = None, limit: int = 100) -> list[Delivery]:
        with self.session() as s:
            q = select(Delivery)
            if status:
                q = q.where(Delivery.status == status)
            return list(s.exec(q.order_by(Delivery.id.desc()).limit(limit)).all())  # type: ignore[union-attr]

    def deliveries_for_hit(self, hit_id: int) -> list[Delivery]:
        with self.session() as s:
            return list(s.exec(select(Delivery).where(Delivery.hit_id == hit_id)).all())

    # --- runs and counts ----------------------------------------------------------------

    def save_run(self, kind: str, started: datetime, summary: dict[str, Any]) -> int:
        with self.session(write=True) as s:
            run = Run(kind=kind, started_at=started, finished_at=utcnow(),
                      summary=json.loads(json.dumps(summary, default=str)))
            s.add(run)
            s.flush()
            assert run.id is not None
            return run.id

    def last_runs(self, n: int = 10) -> list[Run]:
        with self.session() as s:
            return list(s.exec(select(Run).order_by(Run.id.desc()).limit(n)).all())  # type: ignore[union-attr]

    def counts(self) -> dict[str, int]:
        with self.session() as s:
            out = {}
            for name, model in (("feeds", Feed), ("articles", Article), ("hits", Hit),
                                ("deliveries", Delivery)):
                out[name] = s.exec(select(func.count()).select_from(model)).one()
            return out


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A deferred transaction that reads then writes fails at once with
            # "database is locked" if another writer committed in between.
            immediate = conn.get_execution_options().get("immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def mask_db_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


def _short(exc: BaseException) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else exc.__class__.__name__


def ping(url: str) -> None:
    eng = _make_engine(url)
    try:
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
    finally:
        eng.dispose()


__all__ = ["Article", "ArticleSource", "Delivery", "Feed", "Hit", "NewArticle", "Run", "Store",
           "StoredBatch", "mask_db_url", "target_key", "utcnow"]
