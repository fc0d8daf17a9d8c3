"""The tables: feeds (+health), articles (+their sources), hits, alert deliveries,
route health, health alerts, runs. Times are stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint, text
from sqlalchemy import types as satypes
from sqlmodel import Field, SQLModel


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

    __table_args__ = (
        UniqueConstraint("feed_id", "entry_key"),
        Index("ix_articlesource_feed_article", "feed_id", "article_id"),
    )
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
    __table_args__ = (
        UniqueConstraint("article_id", "topic_id"),
        Index("ix_hit_recent", "created_at", "id"),
        Index("ix_hit_topic_recent", "topic_id", "created_at", "id"),
        Index("ix_hit_label_recent", "label", "created_at", "id"),
        Index("ix_hit_article_topic_recent", "article_id", "topic_id", "created_at", "id"),
        Index(
            "ix_hit_labelled",
            "topic_id",
            "label",
            "labeled_at",
            sqlite_where=text("label IS NOT NULL"),
            postgresql_where=text("label IS NOT NULL"),
        ),
    )
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


class Run(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: str = "cycle"
    started_at: datetime | None = _dt()
    finished_at: datetime | None = _dt()
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class PageRetry(SQLModel, table=True):
    """An article stored without its page (the page could not be fetched, or was a
    consent wall): its page is asked for again, with backoff, a bounded number of
    times. The row goes once the page was read or given up on."""

    __table_args__ = (Index("ix_pageretry_next_at", "next_at"),)
    article_id: int = Field(foreign_key="article.id", primary_key=True)
    url: str
    reason: str  # why the page is wanted again (the last failure)
    attempts: int = 0  # retries made so far
    created_at: datetime | None = _dt()
    next_at: datetime | None = _dt()  # due then; a claim moves it ahead (a lease)


class Story(SQLModel, table=True):
    """One event: the articles that report it (monitor.stories decides which). A story
    merged into another keeps its row with ``merged_into`` set, so links, alerts and
    labels that named it still find the event."""

    __table_args__ = (
        Index("ix_story_active", "merged_into", "last_seen"),
        Index("ix_story_first_seen", "first_seen"),
    )
    id: str = Field(primary_key=True)
    headline: str = ""
    first_seen: datetime | None = _dt()
    last_seen: datetime | None = _dt()
    n_articles: int = 0
    sources: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    merged_into: str | None = None
    # The grouper's view of the story (centroids, headline score, articles) and what the
    # alerts decided (the hit that alerted per topic, the routes that were escalated).
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime | None = _dt()
    updated_at: datetime | None = _dt()


class StoryArticle(SQLModel, table=True):
    """The story an article belongs to (one per article)."""

    article_id: int = Field(foreign_key="article.id", primary_key=True)
    story_id: str = Field(index=True)
    score: float = 0.0
    joined_at: datetime | None = _dt()


class StoryState(SQLModel, table=True):
    """The one row grouping is serialised on: its version changes with every grouping
    step (a run whose in-memory grouper is older reloads the active stories), and it
    keeps the word statistics the grouper weighs words by."""

    id: int = Field(default=1, primary_key=True)
    version: int = 0
    clock: datetime | None = _dt()
    n_docs: int = 0
    df: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    df_saved_at: datetime | None = _dt()


class StoryRule(SQLModel, table=True):
    """A correction by hand the grouper respects later: two articles kept apart."""

    __table_args__ = (UniqueConstraint("kind", "a", "b"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = "apart"
    a: int
    b: int
    created_at: datetime | None = _dt()


class TopicSpike(SQLModel, table=True):
    """A topic's spike of new stories: one row per spike (its start), so the message is
    sent once however long it lasts; ``ended_at`` is set when the hour is usual again."""

    __table_args__ = (UniqueConstraint("topic", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(index=True)
    started_at: datetime | None = _dt()
    ended_at: datetime | None = _dt()
    stories: int = 0  # new stories in the hour that started it
    usual: float = 0.0  # what that hour usually has
    status: str = "pending"  # pending / sent / failed
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = _dt()
