"""Storage: feeds (+health), articles (+their sources), hits, alert deliveries, runs.

SQLModel tables on SQLite (WAL, one writer at a time via ``BEGIN IMMEDIATE``) or
PostgreSQL. Every insert that a re-run could repeat is guarded by a unique
constraint and done as ``INSERT ... ON CONFLICT DO NOTHING``, so running the
same cycle twice adds nothing. Times are stored as UTC.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    UniqueConstraint,
    case,
    column,
    distinct,
    event,
    exists,
    func,
    literal_column,
    or_,
    table,
    text,
    update,
)
from sqlalchemy import types as satypes
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import aliased, defer
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from monitor.errors import NotFound, StoreError
from monitor.perms import create_private_file, private_dir

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _due(model: Any, now: datetime, stale_after: timedelta) -> Any:
    """Outbox rows to send now: pending, failed and past their retry time, or left
    'sending' by a crashed run for longer than ``stale_after`` (the crash may have
    fallen inside the send, so it may go out once more, but it is never lost)."""
    return or_(
        model.status == "pending",
        (model.status == "failed") & (model.next_attempt_at <= now),
        (model.status == "sending") & (model.next_attempt_at <= now - stale_after),
    )


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
    __table_args__ = (Index("ix_article_language", "language"),)
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

    __table_args__ = (UniqueConstraint("feed_id", "entry_key"),
                      Index("ix_articlesource_feed_article", "feed_id", "article_id"))
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    entry_key: str
    link: str
    seen_at: datetime | None = _dt()


class Hit(SQLModel, table=True):
    # The review desk lists hits newest first, filtered by topic or label, and pages
    # by (created_at, id); search results are sorted from (article_id, topic_id,
    # created_at) with no table reads; review counts read only the labelled rows. These indexes keep
    # every page fast at 100,000s of hits.
    __table_args__ = (UniqueConstraint("article_id", "topic_id"),
                      Index("ix_hit_recent", "created_at", "id"),
                      Index("ix_hit_topic_recent", "topic_id", "created_at", "id"),
                      Index("ix_hit_label_recent", "label", "created_at", "id"),
                      Index("ix_hit_article_topic_recent", "article_id", "topic_id",
                            "created_at", "id"),
                      Index("ix_hit_labelled", "topic_id", "label", "labeled_at",
                            sqlite_where=text("label IS NOT NULL"),
                            postgresql_where=text("label IS NOT NULL")))
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
        # route health counts per target and status from this index alone
        Index("ix_delivery_route_target_status", "route", "target", "status"),
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


class RouteHealth(SQLModel, table=True):
    """One alert target's channel health, updated by every send to it.

    The outbox says what waits and what is dead; only this row knows when the channel
    last worked, since when it fails and how many tries in a row failed. ``episode``
    counts failure episodes (ok -> failing): "alerting is broken" is sent once per
    episode, keyed on it.
    """

    __table_args__ = (UniqueConstraint("route", "target"),)
    id: int | None = Field(default=None, primary_key=True)
    route: str
    target: str  # a hash of the URL, as in delivery
    target_display: str
    last_attempt_at: datetime | None = _dt()
    last_success_at: datetime | None = _dt()
    last_failure_at: datetime | None = _dt()
    failing_since: datetime | None = _dt()  # None while the last attempt worked
    consecutive_failures: int = 0
    last_error: str | None = None  # masked: never the secret URL
    episode: int = 0


class HealthAlert(SQLModel, table=True):
    """The outbox of "alerting is broken" / "recovered" messages: one row per (target
    that fails, its failure episode, kind, target told), so each is sent once, whatever
    the restarts and concurrent runs; retried, and dead, as a delivery is."""

    __table_args__ = (
        UniqueConstraint("about_route", "about_target", "episode", "kind", "route", "target"),
        Index("ix_healthalert_status_next", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    about_route: str
    about_target: str
    about_display: str
    episode: int
    kind: str  # broken / recovered
    route: str  # the route told
    target: str
    target_display: str
    title: str
    body: str
    status: str = "pending"  # pending / sending / sent / failed / dead
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime | None = _dt()
    next_attempt_at: datetime | None = _dt()
    sent_at: datetime | None = _dt()


_b = aliased(HealthAlert, name="b")
_r = aliased(HealthAlert, name="r")
# Built once: SQLAlchemy then caches its compiled form (it runs every cycle).
_UNRECOVERED = select(_b).where(_b.kind == "broken").where(~select(_r.id).where(
    _r.kind == "recovered").where(_r.about_route == _b.about_route).where(
    _r.about_target == _b.about_target).where(_r.episode == _b.episode).where(
    _r.route == _b.route).where(_r.target == _b.target).exists()).order_by(_b.id)


class Run(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: str = "cycle"
    started_at: datetime | None = _dt()
    finished_at: datetime | None = _dt()
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


# --- full-text search ----------------------------------------------------------------
#
# Both kept up to date by the database itself, so every insert (store_articles), update
# (prune_text) and delete reaches the index without the writers doing anything; both
# tokenise language-neutrally (feeds come in many languages) and case-insensitively.
#
# SQLite: an FTS5 table over article's title and text ("external content": the text is
# not stored twice), kept in step by triggers.
# PostgreSQL: a stored generated tsvector column with a GIN index. Stored, not an
# expression index: a phrase query must re-check word positions in every candidate
# row, and recomputing to_tsvector for 25,000 candidates took 10 s at 100,000 articles.
# The column is not in the model: the pipeline never reads or writes it.

FTS_TABLE = "article_fts"
_FTS_STATEMENTS = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(title, text, "
    "content='article', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON article BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON article BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF title, text ON article BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); "
    f"INSERT INTO {FTS_TABLE}(rowid, title, text) VALUES (new.id, new.title, new.text); END",
)


def _create_fts(conn: Any) -> bool:
    """Create the SQLite search index and its triggers if missing; True if it was new."""
    found = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (FTS_TABLE,)).first()
    for stmt in _FTS_STATEMENTS:
        conn.exec_driver_sql(stmt)
    if found is None:  # a database older than the index: index what is there
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    return found is None


PG_SEARCH_COLUMN = "search_document"
_PG_SEARCH_STATEMENTS = (
    f"ALTER TABLE article ADD COLUMN IF NOT EXISTS {PG_SEARCH_COLUMN} tsvector GENERATED "
    "ALWAYS AS (to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || "
    "coalesce(\"text\", ''))) STORED",
    f"CREATE INDEX IF NOT EXISTS ix_article_search ON article USING gin ({PG_SEARCH_COLUMN})",
)


def _create_pg_search(conn: Any) -> None:
    """Add the PostgreSQL search column and its index if missing (fills it on the way)."""
    for stmt in _PG_SEARCH_STATEMENTS:
        conn.exec_driver_sql(stmt)


@event.listens_for(Article.__table__, "after_create")  # type: ignore[attr-defined]
def _article_created(target: Any, connection: Any, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        _create_fts(connection)
    elif connection.dialect.name == "postgresql":
        _create_pg_search(connection)


def parse_search(query: str) -> list[list[str]]:
    """Words and "quoted phrases" as lists of words; every one must match.

    Only letters and digits survive, so nothing the user types can become search
    syntax (FTS5 or tsquery operators). ``North-South`` is the phrase North South.
    Case is left to the database, which folds the query as it folded the text.
    """
    phrases = []
    for quoted, bare in re.findall(r'"([^"]*)"?|(\S+)', query or ""):
        words = re.findall(r"[^\W_]+", quoted or bare)
        if words:
            phrases.append(words[:8])
    return phrases[:12]


def _fts5_query(phrases: list[list[str]]) -> str:
    # Each phrase matches as a prefix ("iran" finds "iranian"), all phrases are required.
    return " AND ".join('"' + " ".join(p) + '"*' for p in phrases)


def _tsquery(phrases: list[list[str]]) -> str:
    return " & ".join("(" + " <-> ".join(p[:-1] + [p[-1] + ":*"]) + ")" for p in phrases)


def _pg_search_document() -> Any:
    return literal_column(f"article.{PG_SEARCH_COLUMN}")


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


# --- the store -----------------------------------------------------------------------


class Store:
    """All database access. Safe to share between threads; one per process."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        try:
            self.engine = _make_engine(url)
            if create:  # a new database at the newest schema; an old one must be upgraded
                from monitor.store.migrate import prepare
                prepare(self.engine)
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
                       conflict: Sequence[str], *also: Any) -> list[Any]:
        """Insert rows, skip those that already exist; return the ids that were new
        (with ``also``: tuples of the id and those columns of each new row)."""
        if not rows:
            return []
        dialect = sqlite if self.dialect == "sqlite" else postgresql
        table = model.__table__  # type: ignore[attr-defined]
        cols = [table.c.id, *(table.c[getattr(c, "key", c)] for c in also)]
        stmt = dialect.insert(table).values(rows).on_conflict_do_nothing(
            index_elements=list(conflict)).returning(*cols)
        return [tuple(r) if also else r[0] for r in s.execute(stmt)]

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
            # Plain columns, and UPDATEs only for rows that differ: a served cycle syncs
            # every time, and loading 1,000 ORM rows to rewrite them cost ~0.6 s.
            changed = []
            current = s.execute(select(Feed.id, Feed.url, Feed.name, Feed.tags,  # type: ignore[call-overload]
                                       Feed.enabled, Feed.interval_minutes))
            for fid, url, name, tags, enabled, interval in current:
                cfg = by_url.get(url)
                if cfg is None:
                    want = dict(enabled=False, name=name, tags=tags, interval_minutes=interval)
                else:
                    want = dict(enabled=True, name=cfg.name, tags=list(cfg.tags),
                                interval_minutes=cfg.interval_minutes)
                if (want["enabled"], want["name"], want["tags"], want["interval_minutes"]) != \
                        (bool(enabled), name, list(tags or []), interval):
                    changed.append(dict(want, fid=fid))
            for row in changed:
                s.execute(update(Feed).where(col(Feed.id) == row.pop("fid")).values(**row))

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

    def renew_leases(self, owner: str, feed_ids: Sequence[int], *,
                     lease: timedelta = timedelta(minutes=10),
                     now: datetime | None = None) -> set[int]:
        """Extend ``owner``'s leases on these feeds; return the ids it still holds.

        A lease that ran out but was not taken is renewed; one another worker took
        is not (that worker polls the feed now)."""
        if not feed_ids:
            return set()
        now = now or utcnow()
        with self.session(write=True) as s:
            stmt = (update(Feed).where(col(Feed.id).in_(list(feed_ids)))
                    .where(col(Feed.lease_owner) == owner)
                    .values(lease_until=now + lease).returning(col(Feed.id)))
            return {r[0] for r in s.execute(stmt)}

    def save_feed(self, feed: Feed) -> None:
        """Write back a feed's health after a poll and release its lease."""
        self.save_feeds([feed])

    def save_feeds(self, feeds: Sequence[Feed]) -> None:
        """Write back the health of polled feeds and release their leases, in one transaction.

        A feed whose lease ran out and was taken by another worker meanwhile is left
        alone: that worker polls it now and writes its own validators and health
        (ours would overwrite them and release a lease that is not ours)."""
        if not feeds:
            return
        with self.session(write=True) as s:
            rows = {r.id: r for r in s.exec(select(Feed).where(
                Feed.id.in_([f.id for f in feeds])))}  # type: ignore[union-attr]
            for feed in feeds:
                row = rows.get(feed.id)
                if row is None:
                    continue
                if row.lease_owner and feed.lease_owner and row.lease_owner != feed.lease_owner:
                    log.warning("feed %s: lease lost to %s while polling; not saving this poll",
                                row.url, row.lease_owner)
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
        if not items:
            return out
        now = utcnow()
        with self.session(write=True) as s:
            # A handful of statements per batch, not per article; the same decisions as
            # one article after the other (a later article of the batch that is the same
            # story as an earlier one - same URL or fingerprint - is merged into it).
            urls = list({it.canonical_url for it in items})
            stored: dict[str, int] = {}
            for chunk in _chunks(urls, 500):
                stored.update(s.exec(select(Article.canonical_url, Article.id).where(
                    Article.canonical_url.in_(chunk))).all())  # type: ignore[attr-defined]
            fps = list({it.fingerprint for it in items if it.fingerprint
                        and it.extraction == "ok" and it.canonical_url not in stored})
            by_fp: dict[str, int] = {}
            for chunk in _chunks(fps, 500):
                for fp, aid in s.exec(select(Article.fingerprint, Article.id).where(
                        Article.fingerprint.in_(chunk)).order_by(Article.id)).all():  # type: ignore[union-attr]
                    by_fp.setdefault(fp, aid)
            # each item's article: an id, or the index of the item whose new row it joins
            target: list[int | tuple[int]] = []
            first_url: dict[str, int] = {}
            first_fp: dict[str, int] = {}
            new_items: list[int] = []
            for i, it in enumerate(items):
                aid = stored.get(it.canonical_url)
                if aid is None and it.fingerprint and it.extraction == "ok":
                    aid = by_fp.get(it.fingerprint)
                j = None
                if aid is None:
                    j = first_url.get(it.canonical_url)
                    if j is None and it.fingerprint and it.extraction == "ok":
                        j = first_fp.get(it.fingerprint)
                if aid is not None or j is not None:
                    out.articles_merged += 1
                    target.append(aid if aid is not None else (j,))  # type: ignore[arg-type]
                    continue
                first_url[it.canonical_url] = i
                if it.fingerprint:
                    first_fp.setdefault(it.fingerprint, i)
                new_items.append(i)
                target.append((i,))
            rows = [dict(canonical_url=it.canonical_url, url=it.url, guid=it.guid,
                         title=it.title, summary=it.summary, text=it.text, author=it.author,
                         published_at=it.published_at, published_source=it.published_source,
                         language=it.language, fingerprint=it.fingerprint,
                         extraction=it.extraction, extraction_error=it.extraction_error,
                         first_seen_at=now) for it in (items[i] for i in new_items)]
            inserted: dict[str, int] = {}
            for chunk in _chunks(rows, 200):
                inserted.update((u, aid) for aid, u in self._insert_ignore(
                    s, Article, chunk, ["canonical_url"], Article.canonical_url))
            ids: dict[int, int] = {}
            for i in new_items:
                url = items[i].canonical_url
                if url in inserted:
                    ids[i] = inserted[url]
                    out.articles_new += 1
                else:  # a concurrent run stored it first
                    ids[i] = s.exec(select(Article.id).where(
                        Article.canonical_url == url)).one()
                    out.articles_merged += 1
            article_of = [t if isinstance(t, int) else ids[t[0]] for t in target]
            sources = [dict(article_id=aid, feed_id=f, entry_key=k, link=link, seen_at=now)
                       for it, aid in zip(items, article_of, strict=True)
                       for f, k, link in it.sources]
            for chunk in _chunks(sources, 500):
                self._insert_ignore(s, ArticleSource, chunk, ["feed_id", "entry_key"])
            hits = [dict(article_id=aid, topic_id=topic, score=score, topic_version=version,
                         evidence=evidence, created_at=now)
                    for it, aid in zip(items, article_of, strict=True)
                    for topic, score, version, evidence in it.hits]
            new_hits: dict[tuple[int, str], int] = {}
            for chunk in _chunks(hits, 200):
                for hid, aid, topic in self._insert_ignore(
                        s, Hit, chunk, ["article_id", "topic_id"], Hit.article_id, Hit.topic_id):
                    new_hits[(aid, topic)] = hid
            deliveries: list[dict[str, Any]] = []
            for it, aid in zip(items, article_of, strict=True):
                for topic, score, _, _ in it.hits:
                    hid = new_hits.pop((aid, topic), None)
                    if hid is None:
                        continue
                    out.hits_new += 1
                    out.hit_ids.append(hid)  # type: ignore[union-attr]
                    if deliveries_for is not None:
                        deliveries += [dict(r, hit_id=hid)
                                       for r in deliveries_for(topic, score, it.published_at)]
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for r in deliveries:
                by_keys.setdefault(tuple(sorted(r)), []).append(r)
            for group in by_keys.values():
                for chunk in _chunks(group, 500):
                    self._insert_ignore(s, Delivery, chunk, ["hit_id", "route", "target"])
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
            due = _due(Delivery, now, stale_after)
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
        self._finish(Delivery, ids, ok=ok, error=error, retry_at=retry_at, dead=dead)

    def _finish(self, model: Any, ids: Sequence[int], *, ok: bool, error: str | None,
                retry_at: datetime | None, dead: bool, now: datetime | None = None) -> None:
        """Record the outcome of sends (deliveries and health alerts share the outbox rules)."""
        now = now or utcnow()
        with self.session(write=True) as s:
            for row in s.exec(select(model).where(col(model.id).in_(list(ids)))).all():
                row.attempts += 1
                if ok:
                    row.status, row.sent_at, row.last_error = "sent", now, None
                else:
                    row.status = "dead" if dead else "failed"
                    row.last_error, row.next_attempt_at = error, retry_at
                s.add(row)

    def deliveries(self, status: str | None = None, limit: int = 100) -> list[Delivery]:
        with self.session() as s:
            q = select(Delivery)
            if status:
                q = q.where(Delivery.status == status)
            return list(s.exec(q.order_by(Delivery.id.desc()).limit(limit)).all())  # type: ignore[union-attr]

    def deliveries_for_hit(self, hit_id: int) -> list[Delivery]:
        with self.session() as s:
            return list(s.exec(select(Delivery).where(Delivery.hit_id == hit_id)).all())

    # --- route health and health alerts ------------------------------------------------

    def record_send(self, route: str, target: str, display: str, *, ok: bool,
                    error: str | None = None, now: datetime | None = None) -> None:
        """Record one send attempt to a target on its health row (one row per target).

        One UPDATE whose values are computed by the database from the row itself, so
        concurrent runs count every attempt and open a failure episode only once.
        """
        now = now or utcnow()
        t = RouteHealth.__table__  # type: ignore[attr-defined]
        with self.session(write=True) as s:
            self._insert_ignore(s, RouteHealth, [dict(
                route=route, target=target, target_display=display,
                consecutive_failures=0, episode=0)], ["route", "target"])
            stmt = update(t).where(t.c.route == route).where(t.c.target == target)
            if ok:
                stmt = stmt.values(target_display=display, last_attempt_at=now,
                                   last_success_at=now, failing_since=None,
                                   consecutive_failures=0)
            else:
                stmt = stmt.values(
                    target_display=display, last_attempt_at=now, last_failure_at=now,
                    last_error=error,
                    episode=case((t.c.failing_since.is_(None), t.c.episode + 1),
                                 else_=t.c.episode),
                    failing_since=func.coalesce(t.c.failing_since, now),
                    consecutive_failures=t.c.consecutive_failures + 1)
            s.execute(stmt)

    def route_health(self) -> list[RouteHealth]:
        with self.session() as s:
            return list(s.exec(select(RouteHealth).order_by(RouteHealth.id)).all())

    def outbox_counts(self, route: str | None = None, target: str | None = None
                      ) -> dict[tuple[str, str], dict[str, int]]:
        """Per (route, target): how many outbox rows (deliveries and health alerts
        addressed to it) are in each status; for one target if given."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        with self.session() as s:
            for model in (Delivery, HealthAlert):
                m: Any = model
                q = select(m.route, m.target, m.status, func.count())
                if route is not None and target is not None:
                    q = q.where(m.route == route).where(m.target == target)
                for r, t, status, n in s.exec(q.group_by(m.route, m.target, m.status)).all():
                    by = out.setdefault((r, t), {})
                    by[status] = by.get(status, 0) + int(n)
        return out

    def target_display(self, route: str, target: str) -> str | None:
        """The masked URL the outbox keeps for a target (for one no longer configured)."""
        with self.session() as s:
            for m in (Delivery, HealthAlert):
                found = s.exec(select(m.target_display).where(m.route == route).where(  # type: ignore[attr-defined]
                    m.target == target).limit(1)).first()  # type: ignore[attr-defined]
                if found:
                    return str(found)
        return None

    def health_alert_recipients(self, about_route: str, about_target: str, episode: int,
                                kind: str) -> set[tuple[str, str]]:
        """The (route, target) pairs already holding this health alert."""
        with self.session() as s:
            q = select(HealthAlert.route, HealthAlert.target).where(
                HealthAlert.about_route == about_route).where(
                HealthAlert.about_target == about_target).where(
                HealthAlert.episode == episode).where(HealthAlert.kind == kind)
            return {(r, t) for r, t in s.exec(q).all()}

    def add_health_alerts(self, rows: Sequence[dict[str, Any]]) -> int:
        """Queue health alerts; one that exists (same episode, kind, target) is left alone."""
        if not rows:
            return 0
        with self.session(write=True) as s:
            return len(self._insert_ignore(
                s, HealthAlert, list(rows),
                ["about_route", "about_target", "episode", "kind", "route", "target"]))

    def unrecovered_health_alerts(self) -> list[HealthAlert]:
        """"Broken" alerts whose episode has no "recovered" alert to the same target yet."""
        with self.session() as s:
            return list(s.exec(_UNRECOVERED).all())

    def claim_health_alerts(self, *, now: datetime | None = None,
                            stale_after: timedelta = timedelta(minutes=15)
                            ) -> list[HealthAlert]:
        """Mark due health alerts 'sending' and return them (as claim_deliveries)."""
        now = now or utcnow()
        with self.session(write=True) as s:
            q = select(HealthAlert).where(_due(HealthAlert, now, stale_after))
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(s.exec(q.order_by(HealthAlert.id)).all())
            for a in rows:
                a.status, a.next_attempt_at = "sending", now
                s.add(a)
            return rows

    def finish_health_alerts(self, ids: Sequence[int], *, ok: bool, error: str | None = None,
                             retry_at: datetime | None = None, dead: bool = False,
                             now: datetime | None = None) -> None:
        self._finish(HealthAlert, ids, ok=ok, error=error, retry_at=retry_at, dead=dead, now=now)

    def health_alerts(self, status: str | None = None, *, limit: int = 100
                      ) -> list[HealthAlert]:
        """Health alerts newest first."""
        with self.session() as s:
            q = select(HealthAlert)
            if status:
                q = q.where(HealthAlert.status == status)
            return list(s.exec(q.order_by(col(HealthAlert.id).desc()).limit(limit)).all())

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

    # --- the review desk (monitor.desk) ------------------------------------------------

    def ensure_indexes(self) -> None:
        """Create the search index and the review indexes on a database made before they
        existed (a new database gets them with its tables). Idempotent; the first call on
        an old SQLite database indexes every article it holds."""
        with self.engine.execution_options(immediate=True).begin() as conn:
            if self.dialect == "sqlite":
                _create_fts(conn)
            elif self.dialect == "postgresql":
                _create_pg_search(conn)
            for model in (Article, ArticleSource, Hit):
                for idx in model.__table__.indexes:  # type: ignore[attr-defined,union-attr]
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
            c.append(exists().where(col(ArticleSource.article_id) == col(Hit.article_id))
                     .where(col(ArticleSource.feed_id) == f.feed_id))
        phrases = parse_search(f.search or "")
        if phrases:
            if self.dialect == "sqlite":
                fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
                matching = select(fts.c.rowid).where(
                    fts.c[FTS_TABLE].op("MATCH")(_fts5_query(phrases)))
            else:
                matching = select(Article.id).where(_pg_search_document().op("@@")(
                    func.to_tsquery(literal_column("'simple'::regconfig"), _tsquery(phrases))))
            c.append(col(Hit.article_id).in_(matching))
        if f.language:  # by the language index alone, never reading article rows
            c.append(col(Hit.article_id).in_(
                select(Article.id).where(Article.language == f.language)))
        return c

    def find_hits(self, f: HitFilter | None = None, *, limit: int = 50,
                  before: int | None = None, after: int | None = None,
                  with_text: bool = False) -> HitPage:
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
            rq = select(Hit, Article).join(Article, col(Article.id) == col(Hit.article_id)
                                           ).where(hid.in_(ids))
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
            return int(s.exec(select(func.count()).select_from(
                inner.limit(at_most).subquery())).one())

    def hit_neighbours(self, f: HitFilter | None, hit_id: int) -> tuple[int | None, int | None]:
        """The ids of the next newer and next older hit in the filtered list (or None)."""
        newer = self.find_hits(f, limit=1, after=hit_id).rows
        older = self.find_hits(f, limit=1, before=hit_id).rows
        return (newer[0][0].id if newer else None), (older[0][0].id if older else None)

    def feeds_of_articles(self, article_ids: Sequence[int]) -> dict[int, list[Feed]]:
        """The feeds each article came from."""
        out: dict[int, list[Feed]] = {}
        if not article_ids:
            return out
        with self.session() as s:
            q = select(ArticleSource.article_id, Feed).join(
                Feed, col(Feed.id) == col(ArticleSource.feed_id)).where(
                col(ArticleSource.article_id).in_(list(article_ids)))
            for aid, feed in s.exec(q.order_by(col(ArticleSource.id))).all():
                out.setdefault(aid, []).append(feed)
        return out

    def hit_topics(self) -> list[str]:
        """Every topic id that has hits."""
        with self.session() as s:
            return sorted(s.exec(select(Hit.topic_id).distinct()).all())

    def article_languages(self) -> list[str]:
        with self.session() as s:
            return sorted(x for x in s.exec(select(Article.language).distinct().where(
                col(Article.language).is_not(None))).all() if x)

    def hits_per_day(self, since: datetime, *, topic: str | None = None
                     ) -> dict[str, dict[date, int]]:
        """Hits found per UTC day since ``since``, per topic."""
        day = func.date(Hit.created_at)
        with self.session() as s:
            q = select(Hit.topic_id, day, func.count()).where(
                col(Hit.created_at) >= since)
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
                t: {"hits": int(n), "relevant": 0, "irrelevant": 0, "unreviewed": int(n),
                    "last_labeled_at": None} for t, n in totals.all()}
            labelled = select(Hit.topic_id, Hit.label, func.count(), func.max(Hit.labeled_at)
                              ).where(col(Hit.label).is_not(None)).group_by(
                col(Hit.topic_id), col(Hit.label))
            for t, label, n, last in s.exec(labelled).all():
                row = out[t]
                if label in ("relevant", "irrelevant"):
                    row[label] += int(n)
                    row["unreviewed"] -= int(n)
                # max() keeps the column's type: an aware datetime
                if last is not None and (row["last_labeled_at"] is None
                                         or last > row["last_labeled_at"]):
                    row["last_labeled_at"] = last
            return out

    def labels_since(self, since: datetime | None = None, *, topic: str | None = None
                     ) -> dict[str, int]:
        """Labels given per topic after ``since`` (all labels when None)."""
        with self.session() as s:
            q = select(Hit.topic_id, func.count()).where(col(Hit.label).is_not(None))
            if topic is not None:
                q = q.where(Hit.topic_id == topic)
            if since is not None:
                q = q.where(col(Hit.labeled_at) > since)
            return {t: int(n) for t, n in s.exec(q.group_by(col(Hit.topic_id))).all()}

    def feed_counts(self) -> dict[int, tuple[int, int]]:
        """Per feed id: (articles, hits) that came from it."""
        with self.session() as s:
            feed_id = col(ArticleSource.feed_id)
            arts = dict(s.exec(select(feed_id, func.count(
                distinct(col(ArticleSource.article_id)))).group_by(feed_id)).all())
            hits = dict(s.exec(select(feed_id, func.count(distinct(col(Hit.id)))).join(
                Hit, col(Hit.article_id) == col(ArticleSource.article_id)).group_by(
                feed_id)).all())
        return {fid: (int(n), int(hits.get(fid, 0))) for fid, n in arts.items()}

    def delivery_counts(self) -> dict[str, int]:
        with self.session() as s:
            return {st: int(n) for st, n in s.exec(select(Delivery.status, func.count())
                                                   .group_by(Delivery.status)).all()}

    def outbox(self, status: str | None = None, *, limit: int = 100,
               before: int | None = None) -> list[tuple[Delivery, Hit, Article]]:
        """Deliveries newest first, with their hit and article (text not loaded)."""
        with self.session() as s:
            q = select(Delivery, Hit, Article).join(
                Hit, col(Hit.id) == col(Delivery.hit_id)).join(
                Article, col(Article.id) == col(Hit.article_id)).options(
                defer(Article.text))  # type: ignore[arg-type]
            if status:
                q = q.where(Delivery.status == status)
            if before is not None:
                q = q.where(col(Delivery.id) < before)
            q = q.order_by(col(Delivery.id).desc()).limit(limit)
            return [(d, h, a) for d, h, a in s.exec(q).all()]


def _chunks(items: Sequence[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield list(items[i:i + n])


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        # Owner-only: the database holds the outbox and the review labels. A directory
        # made here is 0700, a new database file 0600 before SQLite opens it, and
        # SQLite gives its -wal and -shm files the database file's mode.
        from monitor.config import data_dir

        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        # newsmon's own data directory is made owner-only even if something else created
        # it first; a directory the user chose (--db) is left as it is.
        private_dir(path.parent, own=path.parent.absolute() == data_dir().absolute())
        create_private_file(path)
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


__all__ = ["Article", "ArticleSource", "Delivery", "Feed", "HealthAlert", "Hit", "NewArticle",
           "RouteHealth", "Run", "Store", "StoredBatch", "mask_db_url", "utcnow"]
