"""Alert routes: what ``alerts.yaml`` may say, and their apprise URLs (checked, masked,
and keyed by a hash so that the secret URL itself is never stored)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.alerts.plugins import apprise_for


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Escalate(Strict):
    """When a later article of a story alerts again: the story reached ``sources``
    sources within ``within_hours`` of its first article, or an article came from one
    of ``hosts`` (e.g. reuters.com). Once per route and story."""

    sources: int | None = Field(None, ge=2)
    within_hours: float = Field(24, gt=0)
    hosts: list[str] = []


class Route(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    topics: list[str] = Field(["*"], min_length=1)
    min_score: float = Field(0.0, ge=0, le=1)
    urls: list[str] = []
    mode: Literal["instant", "digest"] = "instant"
    format: Literal["auto", "markdown", "html", "text"] = "auto"
    # first: a story alerts once, its later articles update it; every: each article alerts
    stories: Literal["first", "every"] = "first"
    escalate: Escalate | None = None

    @field_validator("urls")
    @classmethod
    def _drop_empty(cls, v: list[str]) -> list[str]:
        # ``${VAR:-}`` that resolves to nothing switches a URL off.
        return [u.strip() for u in v if u and u.strip()]

    def wants(self, topic_id: str, score: float) -> bool:
        return ("*" in self.topics or topic_id in self.topics) and score >= self.min_score


class AlertHealth(Strict):
    """When a failing alert channel is itself news: "alerting is broken" on other routes.

    A target is announced once per failure episode when BOTH hold: at least
    ``after_failures`` sends in a row failed, and it has been failing for at least
    ``after_minutes`` (one bad minute does not page anyone; a dead channel does).
    ``notify``: ``all`` (the default: every other route, so the news is never kept
    from anyone), a list of route names, or ``[]`` to switch these alerts off.
    """

    notify: Literal["all"] | list[str] = "all"
    after_failures: int = Field(3, ge=1)
    after_minutes: float = Field(30, ge=0)


class FeedHealth(Strict):
    """When a feed's trouble is news for the operator: "feed failing" / "feed silent",
    once per episode, and "feed recovered" when it works (and publishes) again.

    Failing: ``after_failures`` polls in a row failed. Silent: no new entry for
    ``silent_factor`` times the feed's usual gap between new entries (its average since
    newsmon first saw it, once it has given ``silent_min_entries``), and never sooner
    than ``silent_min_hours``. ``notify`` as for route health; ``[]`` switches these
    alerts off.
    """

    notify: Literal["all"] | list[str] = "all"
    after_failures: int = Field(5, ge=1)
    silent_factor: float = Field(10, gt=1)
    silent_min_hours: float = Field(24, gt=0)
    silent_min_entries: int = Field(5, ge=2)


class Spikes(Strict):
    """A "spike" message when a topic gets many more new stories in an hour than it
    usually does at that time of day and on that weekday; once per spike."""

    route: str | None = None  # the route told; None: spikes are not announced
    topics: list[str] = ["*"]
    min_stories: int = Field(3, ge=1)  # fewer new stories in the hour is never a spike
    factor: float = Field(3.0, gt=1)  # ... and at least this many times the usual


class AlertsFile(Strict):
    routes: list[Route] = []
    health: AlertHealth = AlertHealth()
    feed_health: FeedHealth = FeedHealth()
    spikes: Spikes = Spikes()

    @model_validator(mode="after")
    def _unique(self) -> AlertsFile:
        names = [r.name for r in self.routes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"route name used twice: {', '.join(sorted(dup))}")
        return self


def has_secret(url: str) -> bool:
    """True if apprise masks something in ``url`` (a password, token or key)."""
    try:
        obj = apprise_for(url).Apprise.instantiate(url, suppress_exceptions=True)
        return obj is not None and obj.url(privacy=True) != obj.url(privacy=False)
    except Exception:  # noqa: BLE001
        return True  # unsure: treat as secret


def apprise_problem(url: str) -> str | None:
    """None if apprise understands the URL; the message never shows its credentials."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    try:
        ok = apprise_for(url).Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001
        ok = None
    if ok:
        return None
    return (
        f"apprise does not understand this URL (scheme {scheme!r}); "
        "see https://github.com/caronc/apprise/wiki"
    )


def mask_url(url: str) -> str:
    """The URL with passwords, tokens and keys masked (apprise's privacy mode)."""
    try:
        obj = apprise_for(url).Apprise.instantiate(url)
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
        known = apprise_for(url).Apprise.instantiate(url)
        return None if known else "apprise does not recognise this URL"
    except Exception as exc:  # noqa: BLE001
        return f"invalid apprise URL: {exc}"


def target_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def outbox_row(now: datetime, **fields: Any) -> dict[str, Any]:
    """A new outbox row (a hit's delivery or a health message), due now, not yet tried."""
    return dict(fields, status="pending", attempts=0, created_at=now, next_attempt_at=now)
