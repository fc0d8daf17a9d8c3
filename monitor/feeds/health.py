"""A feed's health after a poll: what a fetch result means for the feed (new content,
not modified, unchanged, an error, gone), when it is polled next, and the backoff
after failures. Decided here on the feed's row; written by the store
(:meth:`monitor.store.Store.save_feeds`) once the poll's articles are stored."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config import Config
from monitor.errors import FetchError
from monitor.feeds.parse import body_hash
from monitor.fetch.http import FetchResult
from monitor.redact import redact
from monitor.store import Feed

log = logging.getLogger("newsmon.pipeline")


@dataclass
class FeedPoll:
    """The outcome of polling one feed; ``feed`` carries the health to write back."""

    feed: Feed
    outcome: str  # ok / not_modified / unchanged / error / gone
    new_entries: int = 0
    error: str | None = None


def poll_interval(config: Config, feed: Feed) -> timedelta:
    return timedelta(minutes=feed.interval_minutes or config.settings.schedule.interval_minutes)


def apply_fetch(
    config: Config, feed: Feed, res: FetchResult | FetchError, now: datetime
) -> FeedPoll:
    feed.last_polled_at = now
    feed.entries_total = 0
    if isinstance(res, FetchError):
        poll = FeedPoll(feed, "error", error=str(res))
        feed.last_status = res.status
        if res.status == 410:
            feed.gone = True
            poll.outcome = "gone"
        failed(config, poll, str(res), now, retry_after=res.retry_after)
        return poll
    feed.last_status = res.status
    if res.moved_to:
        feed.fetch_url = res.moved_to
        feed.notice = f"moved permanently to {res.moved_to}: newsmon follows it; update feeds.yaml"
    feed.gone = False
    if res.not_modified:
        succeeded(config, feed, now)
        return FeedPoll(feed, "not_modified")
    assert res.body is not None
    digest = body_hash(res.body)
    # Validators are staged on the feed object and written after its articles are stored.
    feed.etag, feed.last_modified = res.etag, res.last_modified
    if digest == feed.body_hash:
        succeeded(config, feed, now)
        return FeedPoll(feed, "unchanged")
    feed.body_hash = digest
    succeeded(config, feed, now)
    return FeedPoll(feed, "ok")


def succeeded(config: Config, feed: Feed, now: datetime) -> None:
    feed.last_success_at = now
    feed.consecutive_failures = 0
    feed.last_error = None
    feed.last_outcome = None
    feed.next_poll_at = now + poll_interval(config, feed)


def failed(
    config: Config, poll: FeedPoll, error: str, now: datetime, retry_after: float | None = None
) -> None:
    """Record a failure and back off exponentially, up to a cap; never drop the feed."""
    feed = poll.feed
    poll.outcome = "gone" if feed.gone else "error"
    poll.error = error
    feed.consecutive_failures = (feed.consecutive_failures or 0) + 1
    feed.last_error = redact(error)[:1000]  # an HTTP error quotes the URL, secrets and all
    s = config.settings.fetch
    base = max(poll_interval(config, feed), timedelta(minutes=s.backoff_base_minutes))
    cap = timedelta(hours=s.backoff_max_hours)
    delay = cap if feed.gone else min(base * (2 ** (feed.consecutive_failures - 1)), cap)
    if retry_after:
        delay = max(delay, timedelta(seconds=min(retry_after, cap.total_seconds())))
    feed.next_poll_at = now + delay
    # Do not advance validators on failure: the next poll must re-read the feed.
    log.warning(
        "feed failed feed=%s url=%s failures=%d: %s",
        feed.id,
        feed.url,
        feed.consecutive_failures,
        error,
    )
