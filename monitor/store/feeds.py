"""Feeds as stored: the feed table follows the config; due feeds are leased to one
worker at a time; a poll's health is written back (decided in :mod:`monitor.feeds.health`)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, String, Table, bindparam, func, or_, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from monitor.errors import NotFound
from monitor.store.engine import StoreBase, utcnow
from monitor.store.models import ArticleSource, Feed

log = logging.getLogger("monitor.store")

# What a poll decides about a feed (monitor.feeds.health), written back by save_feeds.
_POLL_STATE = (
    "fetch_url",
    "title",
    "etag",
    "last_modified",
    "body_hash",
    "last_polled_at",
    "last_success_at",
    "last_status",
    "last_outcome",
    "last_error",
    "consecutive_failures",
    "next_poll_at",
    "gone",
    "notice",
)


@lru_cache(maxsize=64)
def _save_poll_statement(columns: tuple[str, ...]) -> Any:
    """save_feeds's UPDATE for feeds whose poll changed ``columns`` (of
    :data:`_POLL_STATE`) to the same values: written only while each feed's lease is the
    poll's own (``lease_owner IS NOT DISTINCT FROM`` the one it was claimed with); the ids
    it wrote are returned."""
    table = cast("Table", Feed.__table__)  # type: ignore[attr-defined]
    c = table.c
    return (
        update(table)
        .where(c.id.in_(bindparam("p_ids", expanding=True)))
        .where(c.lease_owner.is_not_distinct_from(bindparam("p_owner", type_=String)))
        .values(
            {
                **{k: bindparam(f"p_{k}", type_=c[k].type) for k in columns},
                "entries_total": c.entries_total + bindparam("p_added", type_=Integer),
                "lease_owner": None,
                "lease_until": None,
            }
        )
        .returning(c.id)
    )


def _poll_write(feed: Feed) -> tuple[int, dict[str, Any]]:
    """What saving a feed writes: the entries its poll found, added to the stored total,
    and the poll state it changed. A feed read from the store holds the stored total in
    ``entries_total`` until a poll sets it to what it found
    (:func:`monitor.feeds.health.apply_fetch` counts from 0), and each attribute of
    :data:`_POLL_STATE` set since the feed was read or last saved (SQLAlchemy keeps the
    value it had then) to a different value is a change. A feed made in memory, never
    read, writes all of it."""
    state = sa_inspect(feed)
    read = getattr(state, "committed_state", None)
    if state.key is None or read is None:
        return feed.entries_total or 0, {k: getattr(feed, k) for k in _POLL_STATE}
    added = (feed.entries_total or 0) if "entries_total" in read else 0
    changed = {}
    for k in _POLL_STATE:
        if k in read:
            value = getattr(feed, k)
            if read[k] != value:  # NO_VALUE (not read) differs from anything
                changed[k] = value
    return added, changed


_SAVE_CHUNK = 500  # feeds per UPDATE: well under any database's limit of bound values


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    when: datetime = (
        datetime.fromisoformat(value) if isinstance(value, str) else value
    )  # an aggregate SQLite may return as text
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class FeedStore(StoreBase):
    """Feeds and their leases."""

    def sync_feeds(self, feeds: Iterable[Any]) -> None:
        """Make the feed table follow the config: add new, update names, disable removed."""
        now = utcnow()
        feeds = list(feeds)
        with self.session(write=True) as s:
            # Only the feeds not stored yet (conflicts still ignored: another run may add
            # them meanwhile), not every configured feed's row every cycle.
            stored = set(s.exec(select(Feed.url)).all())
            rows = [
                dict(
                    url=f.url,
                    name=f.name,
                    tags=list(f.tags),
                    enabled=not getattr(f, "paused", False),
                    interval_minutes=f.interval_minutes,
                    added_at=now,
                    consecutive_failures=0,
                    gone=False,
                    entries_total=0,
                )
                for f in feeds
                if f.url not in stored
            ]
            self._insert_ignore(s, Feed, rows, ["url"])
            by_url = {f.url: f for f in feeds}
            # Plain columns, and UPDATEs only for rows that differ: a served cycle syncs
            # every time, and loading 1,000 ORM rows to rewrite them cost ~0.6 s.
            changed = []
            current = s.execute(
                select(
                    Feed.id,
                    Feed.url,
                    Feed.name,
                    Feed.tags,  # type: ignore[call-overload]
                    Feed.enabled,
                    Feed.interval_minutes,
                )
            )
            for fid, url, name, tags, enabled, interval in current:
                cfg = by_url.get(url)
                if cfg is None:
                    want = dict(enabled=False, name=name, tags=tags, interval_minutes=interval)
                else:
                    want = dict(
                        enabled=not getattr(cfg, "paused", False),
                        name=cfg.name,
                        tags=list(cfg.tags),
                        interval_minutes=cfg.interval_minutes,
                    )
                if (want["enabled"], want["name"], want["tags"], want["interval_minutes"]) != (
                    bool(enabled),
                    name,
                    list(tags or []),
                    interval,
                ):
                    changed.append(dict(want, fid=fid))
            for row in changed:
                s.execute(update(Feed).where(col(Feed.id) == row.pop("fid")).values(**row))

    def feed_activity(self) -> dict[int, tuple[int, datetime | None, datetime | None]]:
        """Per feed: how many entries newsmon has seen from it, the first and the last
        time it saw a new one (the feed's publishing rhythm, as far as we know it)."""
        return self.feed_activity_after(0)[0]

    def feed_activity_after(
        self, after_id: int
    ) -> tuple[dict[int, tuple[int, datetime | None, datetime | None]], int]:
        """:meth:`feed_activity` over the entries stored after ``after_id`` only (a range
        of the primary key: what was added since an earlier read), and the last id read
        (``after_id`` if none)."""
        with self.session() as s:
            q = (
                sa_select(  # five columns: past sqlmodel's typed overloads
                    col(ArticleSource.feed_id),
                    func.count(),
                    func.min(ArticleSource.seen_at),
                    func.max(ArticleSource.seen_at),
                    func.max(ArticleSource.id),
                )
                .where(col(ArticleSource.id) > after_id)
                .group_by(col(ArticleSource.feed_id))
            )
            out, last = {}, after_id
            for f, n, a, b, top in s.execute(q).all():
                out[int(f)] = (int(n), _aware(a), _aware(b))
                last = max(last, int(top))
            return out, last

    def feeds(self) -> list[Feed]:
        with self.session() as s:
            return list(s.exec(select(Feed).order_by(col(Feed.id))).all())

    def feed(self, feed_id: int) -> Feed:
        with self.session() as s:
            f = s.get(Feed, feed_id)
            if f is None:
                raise NotFound(f"no feed with id {feed_id}")
            return f

    def claim_due_feeds(
        self,
        owner: str,
        *,
        now: datetime | None = None,
        lease: timedelta = timedelta(minutes=10),
        only_urls: Sequence[str] | None = None,
        force: bool = False,
        limit: int | None = None,
    ) -> list[Feed]:
        """Lease the feeds that are due so no concurrent run polls them too."""
        now = now or utcnow()
        with self.session(write=True) as s:
            q = select(Feed.id).where(Feed.enabled == True)  # noqa: E712
            q = q.where(or_(col(Feed.lease_until).is_(None), col(Feed.lease_until) < now))
            if only_urls:
                q = q.where(Feed.url.in_(list(only_urls)))  # type: ignore[attr-defined]
            if not force:
                q = q.where(or_(col(Feed.next_poll_at).is_(None), col(Feed.next_poll_at) <= now))
            q = q.order_by(col(Feed.next_poll_at), col(Feed.id))
            if limit:
                q = q.limit(limit)
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            ids = list(s.exec(q).all())
            if not ids:
                return []
            # One UPDATE for the leases, not one per feed row flushed by the ORM.
            s.execute(
                update(Feed)
                .where(col(Feed.id).in_(ids))
                .values(lease_owner=owner, lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            return list(s.exec(select(Feed).where(col(Feed.id).in_(ids))).all())

    def renew_leases(
        self,
        owner: str,
        feed_ids: Sequence[int],
        *,
        lease: timedelta = timedelta(minutes=10),
        now: datetime | None = None,
    ) -> set[int]:
        """Extend ``owner``'s leases on these feeds; return the ids it still holds.

        A lease that ran out but was not taken is renewed; one another worker took
        is not (that worker polls the feed now)."""
        if not feed_ids:
            return set()
        now = now or utcnow()
        with self.session(write=True) as s:
            stmt = (
                update(Feed)
                .where(col(Feed.id).in_(list(feed_ids)))
                .where(col(Feed.lease_owner) == owner)
                .values(lease_until=now + lease)
                .returning(col(Feed.id))
            )
            return {r[0] for r in s.execute(stmt)}

    def save_feed(self, feed: Feed) -> None:
        """Write back a feed's health after a poll and release its lease."""
        self.save_feeds([feed])

    def save_feeds(self, feeds: Sequence[Feed]) -> None:
        """Write back the health of polled feeds and release their leases, in one transaction.

        Each write is conditional on the lease: it happens only while the feed is still
        leased to the run that polled it (``feed.lease_owner``, as claimed; a feed saved
        without a lease only while nobody holds it). A run whose lease ran out and whose
        feed another run took over - and perhaps polled and saved already - writes
        nothing: the other run's validators, health and next poll stand. The lease is
        checked by the UPDATE itself (... WHERE id IN (...) AND lease_owner = ours
        RETURNING id), so no read-then-write race on SQLite or PostgreSQL; a feed whose
        id does not come back was not written, and a warning names it."""
        if not feeds:
            return
        # Feeds whose poll changed the same columns to the same values (most of an idle
        # cycle: checked now, next poll in an interval) are written by one UPDATE ... WHERE
        # id IN (...) RETURNING id; an UPDATE per feed cost ~60 us each, 1,000 feeds a
        # cycle. Columns the poll did not change are not written at all.
        groups: dict[tuple[str | None, int, tuple[tuple[str, Any], ...]], list[Feed]]
        groups = defaultdict(list)
        for feed in feeds:
            if feed.id is not None:
                found, changed = _poll_write(feed)
                key = (feed.lease_owner or None, found, tuple(sorted(changed.items())))
                groups[key].append(feed)
        saved: list[Feed] = []
        with self.session(write=True) as s:
            for (owner, added, changes), members in groups.items():
                stmt = _save_poll_statement(tuple(k for k, _ in changes))
                values = {f"p_{k}": v for k, v in changes}
                for at in range(0, len(members), _SAVE_CHUNK):
                    chunk = members[at : at + _SAVE_CHUNK]
                    params = {"p_ids": [f.id for f in chunk], "p_owner": owner, "p_added": added}
                    written = {r[0] for r in s.execute(stmt, {**params, **values})}
                    for f in chunk:
                        if f.id in written:
                            saved.append(f)
                        else:
                            log.warning(
                                "feed %s: lease lost to another run while polling; "
                                "not saving this poll",
                                f.url,
                            )
        # Committed: what was saved is now what the store holds, so that the same object
        # saved again writes what changed since (a value set back to the one first read
        # would otherwise count as unchanged and not be written) and adds no entries twice.
        for f in saved:
            read = sa_inspect(f).committed_state
            for k in (*_POLL_STATE, "entries_total"):
                read.pop(k, None)

    def release_feeds(self, feed_ids: Sequence[int], owner: str) -> None:
        """Give back leases without recording a poll (the batch failed before it finished)."""
        if not feed_ids:
            return
        with self.session(write=True) as s:
            for row in s.exec(
                select(Feed)
                .where(Feed.id.in_(list(feed_ids)))  # type: ignore[union-attr]
                .where(Feed.lease_owner == owner)
            ):
                row.lease_owner, row.lease_until = None, None
                s.add(row)
