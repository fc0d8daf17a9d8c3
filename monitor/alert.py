"""Alerts: routes -> outbox rows -> apprise messages, each (hit, route, URL) once.

A new hit gets one outbox row (:class:`monitor.store.Delivery`) per URL of every
route that wants it, written in the same transaction as the hit. Sending claims
due rows ('sending'), sends, and records 'sent' or 'failed' with the error and
the time of the next attempt (exponential backoff); after ``dead_after_hours`` a
failing row is 'dead' and shown, never dropped silently. Secret URLs are never
stored or printed: rows keep a hash and a masked form.
"""

from __future__ import annotations

import html
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import apprise

from monitor.config import AlertSettings, Config, Route
from monitor.redact import redact
from monitor.store import Article, Delivery, Hit, Store, target_key, utcnow

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


def send(url: str, tag: str, title: str, body: str, fmt: str) -> str | None:
    """Send one message to one apprise URL; None on success, else the error."""
    ap = apprise.Apprise()
    if not ap.add(url, tag=tag):
        return f"apprise does not recognise the URL {mask_url(url)}"
    # apprise's own words, without its timestamp; WARNING and up never carry the URL
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
        try:
            result = ap.notify(title=title, body=body, body_format=_BODY_FORMAT[fmt], tag=tag)
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not stop the run
            return f"apprise raised {type(exc).__name__}: {exc}"[:500]
        captured = logs.getvalue().strip() if hasattr(logs, "getvalue") else ""
    if result:
        return None
    lines = [ln for ln in captured.splitlines() if ln.strip()]
    return (" | ".join(lines[-3:]) or "delivery failed")[:500]


# --- the outbox ------------------------------------------------------------------------


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    messages: int = 0
    errors: list[str] = field(default_factory=list)


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
            chunk_ids = [d.id for d, _, _ in chunk_rows if d.id is not None]
            if error is None:
                store.finish_deliveries(chunk_ids, ok=True)
                rep.sent += len(chunk_ids)
                log.info("alert sent route=%s target=%s hits=%d", route.name,
                         chunk_rows[0][0].target_display, len(chunk_ids))
            else:
                _fail(store, chunk_rows, error, settings, now, rep)
        del ids
    return rep


def _fail(store: Store, rows: list[tuple[Delivery, Hit, Article]], error: str,
          settings: AlertSettings, now: datetime, rep: SendReport) -> None:
    error = redact(error)  # apprise's and plugins' texts may quote the URL's secrets
    for d, _, _ in rows:
        created = d.created_at or now
        dead = now - created >= timedelta(hours=settings.dead_after_hours)
        delay = min(settings.retry_base_minutes * (2 ** d.attempts), settings.retry_max_minutes)
        store.finish_deliveries([d.id] if d.id else [], ok=False, error=error,
                                retry_at=now + timedelta(minutes=delay), dead=dead)
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
