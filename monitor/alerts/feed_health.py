"""Feed health as news for the operator: a feed that keeps failing, or has published
nothing for far longer than it usually does, is announced once on the operator routes
("feed failing" / "feed silent"), and once more when it is back ("feed recovered").

The messages are health alerts (:class:`monitor.store.HealthAlert`, ``about_route``
``"feed"``, ``about_target`` the feed's id): the same outbox, retries and idempotency as
"alerting is broken". An episode opens with the first announcement and closes with its
"recovered"; the outbox's unique key makes each message exist once, however many runs
check at once. Thresholds: ``feed_health`` in alerts.yaml (:class:`FeedHealth`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta

from monitor.alerts.health import _duration, _recipients, health_row
from monitor.alerts.render import defuse, when_text
from monitor.alerts.routes import FeedHealth
from monitor.config import Config
from monitor.redact import redact, strip_credentials
from monitor.store import Feed, HealthAlert, Store, utcnow

log = logging.getLogger("newsmon.alert")
ABOUT = "feed"
FAILING, SILENT, RECOVERED = "feed-failing", "feed-silent", "feed-recovered"


def feed_problem(
    feed: Feed,
    activity: tuple[int, datetime | None, datetime | None] | None,
    fh: FeedHealth,
    now: datetime,
) -> tuple[str, str] | None:
    """(kind, what is wrong in words) if ``feed`` is failing or silent, else None."""
    if feed.consecutive_failures >= fh.after_failures:
        since = when_text(feed.last_success_at) if feed.last_success_at else "never"
        return FAILING, (
            f"{feed.consecutive_failures} polls in a row failed; last success: {since}.\n"
            f"Last error: {defuse(redact(feed.last_error or 'unknown'))}"
        )
    if activity is None:
        return None
    count, first, last = activity
    if count < fh.silent_min_entries or first is None or last is None:
        return None  # too little history to know the feed's rhythm
    usual = (last - first) / (count - 1)
    quiet_for = now - last
    limit = max(usual * fh.silent_factor, timedelta(hours=fh.silent_min_hours))
    if quiet_for < limit:
        return None
    return SILENT, (
        f"No new entry for {_duration(quiet_for)} (last: {when_text(last)}); it usually "
        f"brings one every {_duration(usual)} ({count} entries since {when_text(first)}).\n"
        "The feed still answers, so it may have moved, changed its format or stopped "
        "publishing."
    )


def check_feed_health(store: Store, config: Config, *, now: datetime | None = None) -> int:
    """Queue "feed failing/silent" for feeds newly in trouble and "feed recovered" for
    announced ones that are fine again; returns how many messages were queued."""
    fh = config.feed_health
    if fh.notify == []:
        return 0
    now = now or utcnow()
    feeds = [f for f in store.feeds() if f.enabled and f.id is not None]
    if not feeds:
        return 0
    activity = _activity(store)
    # the episodes so far: per feed, the latest episode and whether it is still open
    episodes: dict[str, dict[int, list[HealthAlert]]] = defaultdict(lambda: defaultdict(list))
    for a in store.health_alerts_about(ABOUT):
        episodes[a.about_target][a.episode].append(a)
    queued = 0
    for feed in feeds:
        fid = str(feed.id)
        past = episodes.get(fid, {})
        latest = max(past) if past else 0
        open_rows = past.get(latest, [])
        is_open = bool(open_rows) and not any(a.kind == RECOVERED for a in open_rows)
        problem = feed_problem(feed, activity.get(feed.id or 0), fh, now)
        if problem is not None and not is_open:
            kind, detail = problem
            episode = latest + 1
            title, body = _problem_message(feed, kind, detail)
            recipients = _recipients(config, "", skip=set(), notify=fh.notify)
            rows = [
                health_row(_about(feed), episode, kind, r, title, body, now) for r in recipients
            ]
            new = store.add_health_alerts(rows)
            if new:
                queued += new
                log.warning("feed %s: %s (feed=%s)", kind.split("-")[1], _name(feed), fid)
        elif problem is None and is_open:
            title, body = _recovered_message(feed, open_rows[0], now)
            told = {(a.route, a.target, a.target_display) for a in open_rows}
            rows = [
                health_row(_about(feed), latest, RECOVERED, r, title, body, now)
                for r in sorted(told)
            ]
            new = store.add_health_alerts(rows)
            if new:
                queued += new
                log.info("feed recovered: %s (feed=%s)", _name(feed), fid)
    return queued


# store URL -> (when every entry was last read, the last entry id read, the activity)
_ACTIVITY: dict[
    str, tuple[float, int, dict[int, tuple[int, datetime | None, datetime | None]]]
] = {}
FULL_READ_EVERY_S = 86_400.0


def _activity(store: Store) -> dict[int, tuple[int, datetime | None, datetime | None]]:
    """Every feed's activity (:meth:`Store.feed_activity`), read in full once a day per
    process and otherwise brought up to date from the entries stored since the last
    read: a cycle's health check must not read the whole history stored every time. An
    entry committed late out of id order (concurrent runs on PostgreSQL) or a deleted
    article is counted right again at the next full read."""
    cached = _ACTIVITY.get(store.url)
    if cached is None or time.monotonic() - cached[0] >= FULL_READ_EVERY_S:
        activity, last = store.feed_activity_after(0)
        _ACTIVITY[store.url] = (time.monotonic(), last, activity)
        return dict(activity)
    full_at, last, activity = cached
    new, last = store.feed_activity_after(last)
    for fid, (n, first, latest) in new.items():
        had = activity.get(fid)
        if had is None:
            activity[fid] = (n, first, latest)
            continue
        firsts = [t for t in (had[1], first) if t is not None]
        lasts = [t for t in (had[2], latest) if t is not None]
        activity[fid] = (
            had[0] + n,
            min(firsts) if firsts else None,
            max(lasts) if lasts else None,
        )
    _ACTIVITY[store.url] = (full_at, last, activity)
    return dict(activity)


def _name(feed: Feed) -> str:
    # feed.title is the feed's own words: it must not mention anyone
    return feed.name or defuse(feed.title or "") or strip_credentials(feed.url)


def _problem_message(feed: Feed, kind: str, detail: str) -> tuple[str, str]:
    word = "failing" if kind == FAILING else "silent"
    title = f"newsmon: feed {word} - {_name(feed)}"
    body = "\n".join(
        [
            f"Feed {_name(feed)} ({strip_credentials(feed.url)}) is {word}.",
            detail,
            "",
            "Articles it would bring are not being seen. See `newsmon feeds --failing`. "
            "You will get one message when it recovers.",
        ]
    )
    return title, body


def _recovered_message(feed: Feed, first: HealthAlert, now: datetime) -> tuple[str, str]:
    title = f"newsmon: feed recovered - {_name(feed)}"
    since = first.created_at or now
    return title, (
        f"Feed {_name(feed)} ({strip_credentials(feed.url)}) works again: "
        f"{'it publishes again' if first.kind == SILENT else 'its polls succeed again'}.\n"
        f"It was announced {first.kind.split('-')[1]} at {when_text(since)} "
        f"({_duration(now - since)} ago)."
    )


def _about(feed: Feed) -> tuple[str, str, str]:
    """What a feed's health message is about: (route, target, display)."""
    return ABOUT, str(feed.id), _name(feed)[:200]
