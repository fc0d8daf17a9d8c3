"""Alerts: routes -> outbox rows -> apprise messages, each (hit, route, URL) once.

A new hit gets one outbox row (:class:`monitor.store.Delivery`) per URL of every
route that wants it, written in the same transaction as the hit. Sending claims
due rows ('sending'), sends, and records 'sent' or 'failed' with the error and
the time of the next attempt (exponential backoff); after ``dead_after_hours`` a
failing row is 'dead' and shown, never dropped silently. Secret URLs are never
stored or printed: rows keep a hash and a masked form.

Every send also updates its target's health row (:class:`monitor.store.RouteHealth`):
last success, failing since, failures in a row, last error. A target that keeps
failing is announced on the other routes ("alerting is broken"), once per failure
episode, and again once when it works again ("recovered"); those messages have their
own outbox rows (:class:`monitor.store.HealthAlert`) with the same retries. See
docs/alerts.md.
"""

from __future__ import annotations

import html
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import apprise

from monitor.config import AlertSettings, Config, Route
from monitor.redact import redact
from monitor.store import (
    Article,
    Delivery,
    HealthAlert,
    Hit,
    RouteHealth,
    Store,
    target_key,
    utcnow,
)

log = logging.getLogger("newsmon.alert")
BATCH_AFTER = 5  # more instant hits than this for one target in one run: one message


def mask_url(url: str) -> str:
    """The URL with passwords, tokens and keys masked (apprise's privacy mode)."""
    try:
        obj = apprise.Apprise.instantiate(url)
    except Exception:  # noqa: BLE001
        obj = None
    if obj:
        try:
            # apprise's own defaults (retry=, overflow=, ...) only add noise to a display.
            return str(obj.url(privacy=True)).split("?", 1)[0]
        except Exception:  # noqa: BLE001
            pass
    scheme = url.split("://", 1)[0] if "://" in url else "?"
    return f"{scheme}://****"


def check_url(url: str) -> str | None:
    """None if apprise understands the URL, else the problem."""
    try:
        return None if apprise.Apprise.instantiate(url) else "apprise does not recognise this URL"
    except Exception as exc:  # noqa: BLE001
        return f"invalid apprise URL: {exc}"


def route_targets(config: Config) -> Callable[[str, float, datetime | None],
                                                 list[dict[str, Any]]]:
    """A function (topic, score, published) -> outbox rows to create for a new hit."""
    max_age = config.settings.alerts.max_article_age_hours
    targets = [(r, u, target_key(u), mask_url(u)) for r in config.routes for u in r.urls]

    def rows(topic: str, score: float, published: datetime | None) -> list[dict[str, Any]]:
        now = utcnow()
        if max_age is not None and published is not None and \
                published < now - timedelta(hours=max_age):
            return []  # old news: stored and reviewable, not pushed
        return [dict(route=r.name, target=key, target_display=display, mode=r.mode,
                     status="pending", attempts=0, created_at=now, next_attempt_at=now)
                for r, _, key, display in targets if r.wants(topic, score)]

    return rows


# --- rendering ------------------------------------------------------------------------


@dataclass
class Item:
    topic_name: str
    title: str
    link: str
    source: str
    published: datetime | None
    score: float
    sentences: list[str] = field(default_factory=list)


def _md(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", text)


def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "date unknown"


def render(items: Sequence[Item], fmt: str, *, digest: bool = False) -> tuple[str, str]:
    """(title, body) in ``markdown``, ``html`` or ``text``."""
    if len(items) == 1 and not digest:
        it = items[0]
        title = f"[{it.topic_name}] {it.title}"[:250]
    else:
        topics = sorted({it.topic_name for it in items})
        kind = "digest" if digest else "new"
        title = (f"newsmon {kind}: {len(items)} hit{'s' * (len(items) != 1)} "
                 f"({', '.join(topics)})")[:250]
    if fmt == "html":
        parts = []
        for it in items:
            quotes = "".join(f"<blockquote>{html.escape(s)}</blockquote>" for s in it.sentences)
            parts.append(
                f"<h3><a href=\"{html.escape(it.link, quote=True)}\">{html.escape(it.title)}</a></h3>"
                f"<p><b>{html.escape(it.topic_name)}</b> · score {it.score:.2f} · "
                f"{html.escape(it.source)} · {_when(it.published)}</p>{quotes}")
        return title, "<hr>".join(parts)
    if fmt == "markdown":
        parts = []
        for it in items:
            quotes = "\n".join(f"> {_md(s)}" for s in it.sentences)
            parts.append(f"**{_md(it.title)}**\n{_md(it.topic_name)} · score {it.score:.2f} · "
                         f"{_md(it.source)} · {_when(it.published)}\n{it.link}\n{quotes}".strip())
        return title, "\n\n---\n\n".join(parts)
    parts = []
    for it in items:
        quotes = "\n".join(f"  \u201c{s}\u201d" for s in it.sentences)
        parts.append(f"{it.title}\n{it.topic_name} · score {it.score:.2f} · {it.source} · "
                     f"{_when(it.published)}\n{it.link}\n{quotes}".strip())
    return title, "\n\n".join(parts)


def _format(route: Route, url: str) -> str:
    if route.format != "auto":
        return route.format
    return "html" if url.split(":", 1)[0].lower() in {"mailto", "mailtos"} else "markdown"


_BODY_FORMAT = {"html": apprise.NotifyFormat.HTML, "markdown": apprise.NotifyFormat.MARKDOWN,
                "text": apprise.NotifyFormat.TEXT}


def scrub(text: str, url: str) -> str:
    """``text`` (an error about ``url``) with the URL's secrets masked.

    apprise's warnings do not carry the URL, but an exception from a plugin or the
    network layer may: the URL itself becomes its masked form, and every longer piece
    of it (password, token, key) that the masked form hides becomes ``****``.
    """
    masked = mask_url(url)
    out = text.replace(url, masked).replace(url.split("?", 1)[0], masked)
    # query keys (to=, from=, pass=) are words, never secrets: only their values count
    values = re.sub(r"([?&])[^=&#]*=", r"\1", url.split("://", 1)[-1])
    for piece in sorted(set(re.split(r"[/:@?&#,;+]", values)), key=len, reverse=True):
        if len(piece) >= 4 and piece not in masked:
            out = out.replace(piece, "****")
    return out


def send(url: str, tag: str, title: str, body: str, fmt: str) -> str | None:
    """Send one message to one apprise URL; None on success, else the error (masked)."""
    ap = apprise.Apprise()
    if not ap.add(url, tag=tag):
        return f"apprise does not recognise the URL {mask_url(url)}"
    # apprise's own words, without its timestamp
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
        try:
            result = ap.notify(title=title, body=body, body_format=_BODY_FORMAT[fmt], tag=tag)
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not stop the run
            return scrub(f"apprise raised {type(exc).__name__}: {exc}", url)[:500]
        captured = logs.getvalue().strip() if hasattr(logs, "getvalue") else ""
    if result:
        return None
    lines = [ln for ln in captured.splitlines() if ln.strip()]
    return scrub(" | ".join(lines[-3:]) or "delivery failed", url)[:500]


# --- the outbox ------------------------------------------------------------------------


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    messages: int = 0
    errors: list[str] = field(default_factory=list)
    health_queued: int = 0  # "alerting is broken" / "recovered" messages queued
    health_sent: int = 0
    health_failed: int = 0


def deliver(store: Store, config: Config, *, mode: str = "instant",
            routes: Sequence[str] | None = None, now: datetime | None = None) -> SendReport:
    """Send what the outbox holds for ``mode`` (instant or digest) and record the outcome."""
    now = now or utcnow()
    rep = SendReport()
    by_name = {r.name: r for r in config.routes}
    urls = {(r.name, target_key(u)): u for r in config.routes for u in r.urls}
    claimed = store.claim_deliveries(mode=mode, now=now, routes=routes)
    groups: dict[tuple[str, str], list[tuple[Delivery, Hit, Article]]] = defaultdict(list)
    for row in claimed:
        groups[(row[0].route, row[0].target)].append(row)
    sources = _sources(store, [h.article_id for _, h, _ in claimed])
    settings = config.settings.alerts
    for (route_name, target), rows in groups.items():
        route, url = by_name.get(route_name), urls.get((route_name, target))
        ids = [d.id for d, _, _ in rows if d.id is not None]
        if route is None or url is None:
            # The route or URL left the config: keep the rows, say why, try later.
            _fail(store, rows, "route or URL no longer in alerts.yaml", settings, now, rep)
            continue
        items = [_item(config, h, a, sources, settings.evidence_sentences) for _, h, a in rows]
        fmt = _format(route, url)
        chunks = ([items] if (mode == "digest" or len(items) > BATCH_AFTER)
                  else [[it] for it in items])
        row_chunks = ([rows] if len(chunks) == 1 and len(items) > 1 or mode == "digest"
                      else [[r] for r in rows])
        for chunk, chunk_rows in zip(chunks, row_chunks, strict=True):
            title, body = render(chunk, fmt, digest=mode == "digest")
            error = send(url, route.name, title, body, fmt)
            rep.messages += 1
            store.record_send(route.name, target, chunk_rows[0][0].target_display,
                              ok=error is None, error=error, now=now)
            chunk_ids = [d.id for d, _, _ in chunk_rows if d.id is not None]
            if error is None:
                store.finish_deliveries(chunk_ids, ok=True)
                rep.sent += len(chunk_ids)
                log.info("alert sent route=%s target=%s hits=%d", route.name,
                         chunk_rows[0][0].target_display, len(chunk_ids))
            else:
                _fail(store, chunk_rows, error, settings, now, rep)
        del ids
    try:
        # After the sends, which decide each target's health; never in their way.
        rep.health_queued = check_health(store, config, now=now, rep=rep)
        send_health_alerts(store, config, now=now, rep=rep)
    except Exception as exc:  # noqa: BLE001 - the hits' alerts are sent and recorded
        log.exception("route health check failed")
        rep.errors.append(f"route health check failed: {exc}")
    return rep


def _retry(created: datetime | None, attempts: int, settings: AlertSettings,
           now: datetime) -> tuple[datetime, bool]:
    """(when to try again, whether the row is dead): backoff doubling from the base."""
    dead = now - (created or now) >= timedelta(hours=settings.dead_after_hours)
    delay = min(settings.retry_base_minutes * (2 ** attempts), settings.retry_max_minutes)
    return now + timedelta(minutes=delay), dead


def _fail(store: Store, rows: list[tuple[Delivery, Hit, Article]], error: str,
          settings: AlertSettings, now: datetime, rep: SendReport) -> None:
    error = redact(error)  # apprise's and plugins' texts may quote the URL's secrets
    for d, _, _ in rows:
        retry_at, dead = _retry(d.created_at, d.attempts, settings, now)
        store.finish_deliveries([d.id] if d.id else [], ok=False, error=error,
                                retry_at=retry_at, dead=dead)
        if dead:
            rep.dead += 1
        else:
            rep.failed += 1
        log.warning("alert failed route=%s target=%s hit=%s: %s", d.route, d.target_display,
                    d.hit_id, error)
    rep.errors.append(f"{rows[0][0].route} {rows[0][0].target_display}: {error}")


def _sources(store: Store, article_ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for aid in set(article_ids):
        names = [f.name or f.title or f.url for _, f in store.article_sources(aid)]
        out[aid] = ", ".join(dict.fromkeys(names)) or "unknown source"
    return out


def _item(config: Config, hit: Hit, article: Article, sources: dict[int, str],
          n_sentences: int) -> Item:
    try:
        name = config.topic(hit.topic_id).name
    except KeyError:
        name = hit.topic_id
    sentences = [s["text"] for s in (hit.evidence or {}).get("sentences", [])][:n_sentences]
    return Item(topic_name=name, title=article.title or article.url, link=article.url,
                source=sources.get(article.id or 0, ""), published=article.published_at,
                score=hit.score, sentences=sentences)


# --- route health and "alerting is broken" ---------------------------------------------

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
            out.append(_status(r.name, mask_url(u), r.mode, health.get(key),
                               counts.get(key, {})))
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


def _status(route: str, display: str, mode: str, h: RouteHealth | None,
            c: dict[str, int]) -> RouteStatus:
    if h is None or h.last_attempt_at is None:
        state = "never used"
    else:
        state = "failing" if h.failing_since is not None else "ok"
    st = RouteStatus(route=route, target=display, mode=mode, state=state,
                     waiting=sum(int(c.get(s, 0)) for s in WAITING),
                     dead=int(c.get("dead", 0)), sent=int(c.get("sent", 0)))
    if h is not None:
        st.last_success_at, st.last_attempt_at = h.last_success_at, h.last_attempt_at
        st.failing_since, st.consecutive_failures = h.failing_since, h.consecutive_failures
        st.last_failure_at = h.last_failure_at
        st.last_error = h.last_error if h.failing_since is not None else None
    return st


def _recipients(config: Config, failing_route: str, *, skip: set[tuple[str, str]]
                ) -> list[tuple[str, str, str]]:
    """(route, target key, masked URL) of every target to tell about ``failing_route``:
    the configured notify routes, never the failing route itself, none in ``skip``."""
    notify = config.alert_health.notify
    names = {r.name for r in config.routes} if notify == "all" else set(notify)
    return [(r.name, target_key(u), mask_url(u)) for r in config.routes
            if r.name in names and r.name != failing_route for u in r.urls
            if (r.name, target_key(u)) not in skip]


def check_health(store: Store, config: Config, *, now: datetime | None = None,
                 rep: SendReport | None = None) -> int:
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
        if h.consecutive_failures < hs.after_failures or \
                now - h.failing_since < timedelta(minutes=hs.after_minutes):
            continue
        told = store.health_alert_recipients(h.route, h.target, h.episode, "broken")
        recipients = _recipients(config, h.route, skip=told)
        if not recipients:
            continue  # nobody to tell, or all told already: the usual case, and cheap
        title, body = _broken_message(h, store.outbox_counts(*key).get(key, {}), now)
        new = store.add_health_alerts([_health_row(h, "broken", r, title, body, now)
                                       for r in recipients])
        if new:
            queued += new
            log.warning("alerting is broken: route=%s target=%s failing since %s, %d "
                        "failures; telling %s", h.route, h.target_display, h.failing_since,
                        h.consecutive_failures, ", ".join(sorted({r[0] for r in recipients})))
            if rep is not None:
                rep.errors.append(f"alerting is broken: {h.route} {h.target_display} failing "
                                  f"since {_when(h.failing_since)}: {h.last_error}")
    episodes: dict[tuple[str, str, int], list[HealthAlert]] = defaultdict(list)
    for a in store.unrecovered_health_alerts():
        episodes[(a.about_route, a.about_target, a.episode)].append(a)
    for (route, target, episode), announced in episodes.items():
        back = health.get((route, target))
        if back is None or back.last_success_at is None or \
                (back.episode == episode and back.failing_since is not None):
            continue  # still failing (or never worked): no news yet
        counts = store.outbox_counts(route, target).get((route, target), {})
        title, body = _recovered_message(back, announced[0], counts)
        new = store.add_health_alerts([
            _health_row(back, "recovered", (a.route, a.target, a.target_display), title, body,
                        now, episode=episode) for a in announced])
        if new:
            queued += new
            log.info("alerting recovered: route=%s target=%s", route, back.target_display)
    return queued


def _health_row(h: RouteHealth, kind: str, recipient: tuple[str, str, str], title: str,
                body: str, now: datetime, episode: int | None = None) -> dict[str, Any]:
    route, target, display = recipient
    return dict(about_route=h.route, about_target=h.target, about_display=h.target_display,
                episode=h.episode if episode is None else episode, kind=kind, route=route,
                target=target, target_display=display, title=title[:250], body=body,
                status="pending", attempts=0, created_at=now, next_attempt_at=now)


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
    body = "\n".join([
        f"newsmon cannot deliver alerts to route {h.route} ({h.target_display}).",
        f"Failing since: {_when(since)} ({_duration(now - since)}), "
        f"{h.consecutive_failures} attempts in a row failed.",
        f"Last success: {_when(h.last_success_at) if h.last_success_at else 'never'}.",
        f"Last error: {h.last_error or 'unknown'}",
        f"Alerts waiting for this route: {waiting}; given up (dead): {dead}.",
        "",
        "Waiting alerts are retried with backoff and go out once the channel works "
        "again; dead ones never will: see `newsmon alerts` and "
        "`newsmon alerts --status dead`. You will get one message when the route "
        "recovers.",
    ])
    return title, body


def _recovered_message(h: RouteHealth, broken: HealthAlert, c: dict[str, int]
                       ) -> tuple[str, str]:
    waiting, dead = sum(int(c.get(s, 0)) for s in WAITING), int(c.get("dead", 0))
    back = h.last_success_at or utcnow()
    title = f"newsmon: alerting recovered - route {h.route} delivers again"
    lines = [f"Alerts to route {h.route} ({h.target_display}) go out again since "
             f"{_when(back)}."]
    if broken.created_at is not None:
        lines.append(f"It was announced broken at {_when(broken.created_at)}.")
    lines.append(f"Alerts still waiting for this route: {waiting} (they go out with the next "
                 f"runs); given up (dead), never delivered: {dead}"
                 + (" - see `newsmon alerts --status dead`." if dead else "."))
    return title, "\n".join(lines)


def send_health_alerts(store: Store, config: Config, *, now: datetime | None = None,
                       rep: SendReport | None = None) -> SendReport:
    """Send the due health alerts (plain text), with the retries a delivery gets."""
    now = now or utcnow()
    rep = rep if rep is not None else SendReport()
    urls = {(r.name, target_key(u)): (r, u) for r in config.routes for u in r.urls}
    settings = config.settings.alerts
    for a in store.claim_health_alerts(now=now):
        found = urls.get((a.route, a.target))
        if found is None:
            error: str | None = "route or URL no longer in alerts.yaml"
        else:
            route, url = found
            error = send(url, route.name, a.title, a.body, "text")
            store.record_send(route.name, a.target, a.target_display, ok=error is None,
                              error=error, now=now)
        assert a.id is not None
        if error is None:
            store.finish_health_alerts([a.id], ok=True, now=now)
            rep.health_sent += 1
            log.info("health alert sent kind=%s about=%s to route=%s target=%s", a.kind,
                     a.about_route, a.route, a.target_display)
            continue
        retry_at, dead = _retry(a.created_at, a.attempts, settings, now)
        store.finish_health_alerts([a.id], ok=False, error=error, retry_at=retry_at,
                                   dead=dead, now=now)
        rep.health_failed += 1
        log.warning("health alert failed kind=%s about=%s to route=%s target=%s: %s",
                    a.kind, a.about_route, a.route, a.target_display, error)
        rep.errors.append(f"health alert ({a.kind}: {a.about_route}) to {a.route} "
                          f"{a.target_display}: {error}")
    return rep
