"""One message through one apprise URL, its error masked; and the retry schedule that
outbox rows (deliveries and health alerts) share."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import apprise

from monitor.alerts.plugins import apprise_for
from monitor.alerts.routes import mask_url
from monitor.config.settings import AlertSettings

_BODY_FORMAT = {
    "html": apprise.NotifyFormat.HTML,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    "slack": apprise.NotifyFormat.MARKDOWN,  # escaped for Slack's mrkdwn by render
    "text": apprise.NotifyFormat.TEXT,
}


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


# apprise's generic webhooks send the URL's "+Name=value" parameters as headers.
_HEADER_SCHEMES = {"json", "jsons", "form", "forms", "xml", "xmls"}


def idempotency_key(*parts: object) -> str:
    """A key that is the same for every attempt to send the same message."""
    return "newsmon-" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def with_idempotency_key(url: str, key: str) -> str:
    """``url`` sending an ``Idempotency-Key`` header (the IETF draft's name, as Stripe and
    others use it) where apprise can send headers: a receiver that saw the key before can
    drop a retry of a message whose answer never reached us. Other targets unchanged."""
    if url.split(":", 1)[0].lower() not in _HEADER_SCHEMES:
        return url
    return f"{url}{'&' if '?' in url else '?'}+Idempotency-Key={key}"


def send(url: str, tag: str, title: str, body: str, fmt: str) -> str | None:
    """Send one message to one apprise URL; None on success, else the error (masked)."""
    ap = apprise_for(url).Apprise()
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


def next_attempt(
    created: datetime | None, attempts: int, settings: AlertSettings, now: datetime
) -> tuple[datetime, bool]:
    """(when to try again, whether the row is dead): backoff doubling from the base."""
    dead = now - (created or now) >= timedelta(hours=settings.dead_after_hours)
    delay = min(settings.retry_base_minutes * (2**attempts), settings.retry_max_minutes)
    return now + timedelta(minutes=delay), dead
