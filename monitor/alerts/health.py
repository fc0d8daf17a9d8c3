"""Route health: every send updates its target's health row; a target that keeps
failing is announced on the other routes ("alerting is broken"), once per failure
episode, and once more when it works again ("recovered"). Those messages have their
own outbox rows (:class:`monitor.store.HealthAlert`) with the retries a delivery gets.
See docs/alerts.md.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.alerts.channel import (
    SendReport,
    idempotency_key,
    next_attempt,
    send,
    with_idempotency_key,
)
from monitor.alerts.render import defuse, plain_for, when_text
from monitor.alerts.routes import mask_url, outbox_row, target_key
from monitor.config import Config
from monitor.store import HealthAlert, RouteHealth, Store, utcnow

log = logging.getLogger("newsmon.alert")


WAITING = ("pending", "failed", "sending")  # outbox rows not yet delivered, not given up


@dataclass
class RouteStatus:
    """One alert target's health, as ``newsmon alerts`` and ``newsmon status`` show it."""

    route: str
    target: str  # the URL masked; "" for a route with no URL set
    mode: str
    state: str  # ok / failing / never used / off (no URL) / not in config
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    waiting: int = 0  # outbox rows (hits and health alerts) not delivered yet
    dead: int = 0  # outbox rows given up after dead_after_hours
    sent: int = 0
    last_error: str | None = None  # while failing; masked
    last_failure_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def route_health(store: Store, config: Config) -> list[RouteStatus]:
    """Health of every configured alert target, then of targets no longer configured
    that still hold undelivered or dead rows (so nothing waits unseen)."""
    health = {(h.route, h.target): h for h in store.route_health()}
    counts = store.outbox_counts()
    out: list[RouteStatus] = []
    seen: set[tuple[str, str]] = set()
    for r in config.routes:
        if not r.urls:
            out.append(RouteStatus(route=r.name, target="", mode=r.mode, state="off"))
        for u in r.urls:
            key = (r.name, target_key(u))
            seen.add(key)
            out.append(_status(r.name, mask_url(u), r.mode, health.get(key), counts.get(key, {})))
    for key in sorted((set(health) | set(counts)) - seen):
        c = counts.get(key, {})
        if not any(c.get(s) for s in (*WAITING, "dead")):
            continue
        h = health.get(key)
        display = h.target_display if h else (store.target_display(*key) or "?")
        st = _status(key[0], display, "-", h, c)
        st.state = "not in config"
        out.append(st)
    return out


def _status(
    route: str, display: str, mode: str, h: RouteHealth | None, c: dict[str, int]
) -> RouteStatus:
    if h is None or h.last_attempt_at is None:
        state = "never used"
    else:
        state = "failing" if h.failing_since is not None else "ok"
    st = RouteStatus(
        route=route,
        target=display,
        mode=mode,
        state=state,
        waiting=sum(int(c.get(s, 0)) for s in WAITING),
        dead=int(c.get("dead", 0)),
        sent=int(c.get("sent", 0)),
    )
    if h is not None:
        st.last_success_at, st.last_attempt_at = h.last_success_at, h.last_attempt_at
        st.failing_since, st.consecutive_failures = h.failing_since, h.consecutive_failures
        st.last_failure_at = h.last_failure_at
        st.last_error = h.last_error if h.failing_since is not None else None
    return st


def _recipients(
    config: Config,
    failing_route: str,
    *,
    skip: set[tuple[str, str]],
    notify: str | list[str] | None = None,
) -> list[tuple[str, str, str]]:
    """(route, target key, masked URL) of every target to tell about ``failing_route``:
    the notify routes (``health.notify`` unless given), never the failing route itself,
    none in ``skip``."""
    notify = config.alert_health.notify if notify is None else notify
    names = {r.name for r in config.routes} if notify == "all" else set(notify)
    return [
        (r.name, target_key(u), mask_url(u))
        for r in config.routes
        if r.name in names and r.name != failing_route
        for u in r.urls
        if (r.name, target_key(u)) not in skip
    ]


def check_health(
    store: Store, config: Config, *, now: datetime | None = None, rep: SendReport | None = None
) -> int:
    """Queue "alerting is broken" for targets failing past the thresholds and
    "recovered" for announced ones that work again; returns how many were queued.

    Idempotent: the outbox's unique key (target, failure episode, kind, target told)
    lets each message exist once, however often and from however many runs this is
    called; sending is :func:`send_health_alerts`'s job.
    """
    now = now or utcnow()
    hs = config.alert_health
    configured = {(r.name, target_key(u)) for r in config.routes for u in r.urls}
    health = {(h.route, h.target): h for h in store.route_health()}
    queued = 0
    for key, h in sorted(health.items()):
        if key not in configured or h.failing_since is None:
            continue
        if h.consecutive_failures < hs.after_failures or now - h.failing_since < timedelta(
            minutes=hs.after_minutes
        ):
            continue
        told = store.health_alert_recipients(h.route, h.target, h.episode, "broken")
        recipients = _recipients(config, h.route, skip=told)
        if not recipients:
            continue  # nobody to tell, or all told already: the usual case, and cheap
        title, body = _broken_message(h, store.outbox_counts(*key).get(key, {}), now)
        new = store.add_health_alerts(
            [_health_row(h, "broken", r, title, body, now) for r in recipients]
        )
        if new:
            queued += new
            log.warning(
                "alerting is broken: route=%s target=%s failing since %s, %d failures; telling %s",
                h.route,
                h.target_display,
                h.failing_since,
                h.consecutive_failures,
                ", ".join(sorted({r[0] for r in recipients})),
            )
            if rep is not None:
                rep.errors.append(
                    f"alerting is broken: {h.route} {h.target_display} failing "
                    f"since {when_text(h.failing_since)}: {h.last_error}"
                )
    episodes: dict[tuple[str, str, int], list[HealthAlert]] = defaultdict(list)
    for a in store.unrecovered_health_alerts():
        episodes[(a.about_route, a.about_target, a.episode)].append(a)
    for (route, target, episode), announced in episodes.items():
        back = health.get((route, target))
        if (
            back is None
            or back.last_success_at is None
            or (back.episode == episode and back.failing_since is not None)
        ):
            continue  # still failing (or never worked): no news yet
        counts = store.outbox_counts(route, target).get((route, target), {})
        title, body = _recovered_message(back, announced[0], counts)
        new = store.add_health_alerts(
            [
                _health_row(
                    back,
                    "recovered",
                    (a.route, a.target, a.target_display),
                    title,
                    body,
                    now,
                    episode=episode,
                )
                for a in announced
            ]
        )
        if new:
            queued += new
            log.info("alerting recovered: route=%s target=%s", route, back.target_display)
    return queued


def _health_row(
    h: RouteHealth,
    kind: str,
    recipient: tuple[str, str, str],
    title: str,
    body: str,
    now: datetime,
    episode: int | None = None,
) -> dict[str, Any]:
    about = (h.route, h.target, h.target_display)
    return health_row(
        about, h.episode if episode is None else episode, kind, recipient, title, body, now
    )


def health_row(
    about: tuple[str, str, str],
    episode: int,
    kind: str,
    recipient: tuple[str, str, str],
    title: str,
    body: str,
    now: datetime,
) -> dict[str, Any]:
    """One health message (about a route target or a feed) to one recipient, due now."""
    route, target, display = recipient
    return outbox_row(
        now,
        about_route=about[0],
        about_target=about[1],
        about_display=about[2],
        episode=episode,
        kind=kind,
        route=route,
        target=target,
        target_display=display,
        title=title[:250],
        body=body,
    )


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // (24 * 60)} days"


def _broken_message(h: RouteHealth, c: dict[str, int], now: datetime) -> tuple[str, str]:
    waiting, dead = sum(int(c.get(s, 0)) for s in WAITING), int(c.get("dead", 0))
    since = h.failing_since or now
    title = f"newsmon: alerting is broken - route {h.route} is failing"
    body = "\n".join(
        [
            f"newsmon cannot deliver alerts to route {h.route} ({h.target_display}).",
            f"Failing since: {when_text(since)} ({_duration(now - since)}), "
            f"{h.consecutive_failures} attempts in a row failed.",
            f"Last success: {when_text(h.last_success_at) if h.last_success_at else 'never'}.",
            f"Last error: {defuse(h.last_error or 'unknown')}",  # a server's words
            f"Alerts waiting for this route: {waiting}; given up (dead): {dead}.",
            "",
            "Waiting alerts are retried with backoff and go out once the channel works "
            "again; dead ones never will: see `newsmon alerts` and "
            "`newsmon alerts --status dead`. You will get one message when the route "
            "recovers.",
        ]
    )
    return title, body


def _recovered_message(h: RouteHealth, broken: HealthAlert, c: dict[str, int]) -> tuple[str, str]:
    waiting, dead = sum(int(c.get(s, 0)) for s in WAITING), int(c.get("dead", 0))
    back = h.last_success_at or utcnow()
    title = f"newsmon: alerting recovered - route {h.route} delivers again"
    lines = [
        f"Alerts to route {h.route} ({h.target_display}) go out again since {when_text(back)}."
    ]
    if broken.created_at is not None:
        lines.append(f"It was announced broken at {when_text(broken.created_at)}.")
    lines.append(
        f"Alerts still waiting for this route: {waiting} (they go out with the next "
        f"runs); given up (dead), never delivered: {dead}"
        + (" - see `newsmon alerts --status dead`." if dead else ".")
    )
    return title, "\n".join(lines)


def send_health_alerts(
    store: Store, config: Config, *, now: datetime | None = None, rep: SendReport | None = None
) -> SendReport:
    """Send the due health alerts (plain text), with the retries a delivery gets."""
    now = now or utcnow()
    rep = rep if rep is not None else SendReport()
    urls = {(r.name, target_key(u)): (r, u) for r in config.routes for u in r.urls}
    settings = config.settings.alerts
    lease = timedelta(minutes=settings.sending_lease_minutes)
    for a in store.claim_health_alerts(now=now, stale_after=lease):
        found = urls.get((a.route, a.target))
        if found is None:
            error: str | None = "route or URL no longer in alerts.yaml"
        else:
            route, url = found
            keyed = with_idempotency_key(url, idempotency_key("health", a.id))
            error = send(keyed, route.name, a.title, plain_for(url, a.body), "text")
            store.record_send(
                route.name, a.target, a.target_display, ok=error is None, error=error, now=now
            )
        assert a.id is not None
        if error is None:
            store.finish_health_alerts([a.id], ok=True, now=now)
            rep.health_sent += 1
            log.info(
                "health alert sent kind=%s about=%s to route=%s target=%s",
                a.kind,
                a.about_route,
                a.route,
                a.target_display,
            )
            continue
        retry_at, dead = next_attempt(a.created_at, a.attempts, settings, now)
        store.finish_health_alerts(
            [a.id], ok=False, error=error, retry_at=retry_at, dead=dead, now=now
        )
        rep.health_failed += 1
        log.warning(
            "health alert failed kind=%s about=%s to route=%s target=%s: %s",
            a.kind,
            a.about_route,
            a.route,
            a.target_display,
            error,
        )
        rep.errors.append(
            f"health alert ({a.kind}: {a.about_route}) to {a.route} {a.target_display}: {error}"
        )
    return rep
