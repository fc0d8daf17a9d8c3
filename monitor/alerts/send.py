"""Where an alert is sent: routes -> outbox rows -> apprise messages, each (hit, route,
URL) once.

A new hit gets one outbox row (:class:`monitor.store.Delivery`) per URL of every
route that wants it, written in the same transaction as the hit (:func:`route_targets`).
:func:`deliver` claims due rows ('sending'), sends, and records 'sent' or 'failed'
with the error and the time of the next attempt (exponential backoff); after
``dead_after_hours`` a failing row is 'dead' and shown, never dropped silently. Secret
URLs are never stored or printed: rows keep a hash and a masked form.

Every send also updates its target's health row; after the sends,
:mod:`monitor.alerts.health` announces targets that keep failing. See docs/alerts.md.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor.alerts.channel import (
    SendReport,
    idempotency_key,
    next_attempt,
    send,
    with_idempotency_key,
)
from monitor.alerts.feed_health import check_feed_health
from monitor.alerts.health import check_health, send_health_alerts
from monitor.alerts.render import Item, message_format, render, url_scheme
from monitor.alerts.routes import mask_url, outbox_row, target_key
from monitor.alerts.stories import with_story
from monitor.config import AlertSettings, Config
from monitor.redact import redact
from monitor.store import Article, Delivery, Hit, Store, utcnow

log = logging.getLogger("newsmon.alert")
BATCH_AFTER = 5  # more instant hits than this for one target in one run: one message


def route_targets(config: Config) -> Callable[[str, float, datetime | None], list[dict[str, Any]]]:
    """A function (topic, score, published) -> outbox rows to create for a new hit."""
    max_age = config.settings.alerts.max_article_age_hours
    targets = [(r, u, target_key(u), mask_url(u)) for r in config.routes for u in r.urls]

    def rows(topic: str, score: float, published: datetime | None) -> list[dict[str, Any]]:
        now = utcnow()
        if (
            max_age is not None
            and published is not None
            and published < now - timedelta(hours=max_age)
        ):
            return []  # old news: stored and reviewable, not pushed
        return [
            outbox_row(now, route=r.name, target=key, target_display=display, mode=r.mode)
            for r, _, key, display in targets
            if r.wants(topic, score)
        ]

    return rows


# --- rendering ------------------------------------------------------------------------


# --- the outbox ------------------------------------------------------------------------


def deliver(
    store: Store,
    config: Config,
    *,
    mode: str = "instant",
    routes: Sequence[str] | None = None,
    now: datetime | None = None,
) -> SendReport:
    """Send what the outbox holds for ``mode`` (instant or digest) and record the outcome."""
    now = now or utcnow()
    rep = SendReport()
    by_name = {r.name: r for r in config.routes}
    urls = {(r.name, target_key(u)): u for r in config.routes for u in r.urls}
    settings = config.settings.alerts
    lease = timedelta(minutes=settings.sending_lease_minutes)
    claimed = store.claim_deliveries(mode=mode, now=now, routes=routes, stale_after=lease)
    renew = _Lease(store, [d.id for d, _, _ in claimed if d.id is not None], now, lease)
    groups: dict[tuple[str, str], list[tuple[Delivery, Hit, Article]]] = defaultdict(list)
    for row in claimed:
        groups[(row[0].route, row[0].target)].append(row)
    sources = _sources(store, [h.article_id for _, h, _ in claimed])
    stories = store.stories_of_articles([h.article_id for _, h, _ in claimed]) if claimed else {}
    for (route_name, target), rows in groups.items():
        route, url = by_name.get(route_name), urls.get((route_name, target))
        ids = [d.id for d, _, _ in rows if d.id is not None]
        if route is None or url is None:
            # The route or URL left the config: keep the rows, say why, try later.
            _fail(store, rows, "route or URL no longer in alerts.yaml", settings, now, rep)
            continue
        items = [
            with_story(_item(config, h, a, sources, settings.evidence_sentences), h, stories)
            for _, h, a in rows
        ]
        fmt = message_format(route, url)
        chunks = (
            [items] if (mode == "digest" or len(items) > BATCH_AFTER) else [[it] for it in items]
        )
        row_chunks = (
            [rows]
            if len(chunks) == 1 and len(items) > 1 or mode == "digest"
            else [[r] for r in rows]
        )
        for chunk, chunk_rows in zip(chunks, row_chunks, strict=True):
            title, body = render(chunk, fmt, digest=mode == "digest", scheme=url_scheme(url))
            chunk_ids = [d.id for d, _, _ in chunk_rows if d.id is not None]
            renew.before_send()
            # The same key on every attempt at this message: see docs/alerts.md.
            key = idempotency_key(route.name, target, *sorted(chunk_ids))
            error = send(with_idempotency_key(url, key), route.name, title, body, fmt)
            renew.done(chunk_ids)
            rep.messages += 1
            store.record_send(
                route.name,
                target,
                chunk_rows[0][0].target_display,
                ok=error is None,
                error=error,
                now=now,
            )
            if error is None:
                store.finish_deliveries(chunk_ids, ok=True)
                rep.sent += len(chunk_ids)
                log.info(
                    "alert sent route=%s target=%s hits=%d",
                    route.name,
                    chunk_rows[0][0].target_display,
                    len(chunk_ids),
                )
            else:
                _fail(store, chunk_rows, error, settings, now, rep)
        del ids
    try:
        # After the sends, which decide each target's health; never in their way.
        rep.health_queued = check_health(store, config, now=now, rep=rep)
        rep.health_queued += check_feed_health(store, config, now=now)
        send_health_alerts(store, config, now=now, rep=rep)
    except Exception as exc:
        log.exception("route health check failed")
        rep.errors.append(f"route health check failed: {exc}")
    return rep


class _Lease:
    """Keeps this run's claim on the rows it has not sent yet: a claimed row is
    'sending' for ``lease`` only (so a killed run's rows go out again soon), and a run
    with many slow targets renews the claim on the rest before each send."""

    def __init__(self, store: Store, ids: list[int], now: datetime, lease: timedelta) -> None:
        self.store, self.left, self.now, self.lease = store, set(ids), now, lease
        self.t0 = self.renewed = time.monotonic()

    def before_send(self) -> None:
        if self.left and time.monotonic() - self.renewed >= self.lease.total_seconds() / 3:
            self.renewed = time.monotonic()
            at = self.now + timedelta(seconds=self.renewed - self.t0)
            self.store.renew_deliveries(sorted(self.left), at)

    def done(self, ids: list[int]) -> None:
        self.left.difference_update(ids)


def _fail(
    store: Store,
    rows: list[tuple[Delivery, Hit, Article]],
    error: str,
    settings: AlertSettings,
    now: datetime,
    rep: SendReport,
) -> None:
    error = redact(error)  # apprise's and plugins' texts may quote the URL's secrets
    for d, _, _ in rows:
        retry_at, dead = next_attempt(d.created_at, d.attempts, settings, now)
        store.finish_deliveries(
            [d.id] if d.id else [], ok=False, error=error, retry_at=retry_at, dead=dead
        )
        if dead:
            rep.dead += 1
        else:
            rep.failed += 1
        log.warning(
            "alert failed route=%s target=%s hit=%s: %s", d.route, d.target_display, d.hit_id, error
        )
    rep.errors.append(f"{rows[0][0].route} {rows[0][0].target_display}: {error}")


def _sources(store: Store, article_ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for aid in set(article_ids):
        names = [f.name or f.title or f.url for _, f in store.article_sources(aid)]
        out[aid] = ", ".join(dict.fromkeys(names)) or "unknown source"
    return out


def _item(
    config: Config, hit: Hit, article: Article, sources: dict[int, str], n_sentences: int
) -> Item:
    try:
        name = config.topic(hit.topic_id).name
    except KeyError:
        name = hit.topic_id
    sentences = [s["text"] for s in (hit.evidence or {}).get("sentences", [])][:n_sentences]
    return Item(
        topic_name=name,
        title=article.title or article.url,
        link=article.url,
        source=sources.get(article.id or 0, ""),
        published=article.published_at,
        score=hit.score,
        sentences=sentences,
    )


# --- route health and "alerting is broken" ---------------------------------------------
