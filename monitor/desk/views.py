"""What every page of the desk shares: the :class:`Desk` (store, topics, security,
templates), rendering a template with the security context, the CSRF-checked form,
the template filters, and the error pages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from monitor.config import Config
from monitor.desk.accounts import may
from monitor.desk.health import HealthBanners
from monitor.desk.ranks import Ranks
from monitor.desk.security import CSRF_COOKIE, CSRF_FIELD, Security
from monitor.errors import NotFound, StoreError
from monitor.store import Store, utcnow
from monitor.topics.language import TopicConfig

HERE = Path(__file__).parent


def when(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if dt else "-"


def ago(dt: datetime | None, now: datetime | None = None) -> str:
    if dt is None:
        return "never"
    secs = ((now or utcnow()) - dt).total_seconds()
    future = secs < 0
    secs = abs(secs)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            n = int(secs // size)
            return f"in {n} {unit}" if future else f"{n} {unit} ago"
    return "just now"


def http_url(url: str | None) -> str | None:
    """Only http(s) links from feeds become links: never ``javascript:`` or ``data:``."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def make_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = when
    env.filters["ago"] = ago
    env.filters["http_url"] = http_url
    env.filters["host"] = lambda u: urlsplit(u).netloc if u else ""
    env.filters["pct"] = lambda x: "-" if x is None else f"{100 * x:.0f}%"
    env.filters["num"] = lambda n: f"{n:,}"
    return env


def qs(params: dict[str, Any], **extra: Any) -> str:
    """A query string of ``params`` and ``extra``, empty values left out."""
    merged = {**params, **{k: v for k, v in extra.items() if v not in (None, "")}}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


STALE_DROP = {CSRF_FIELD, "token", "password"}  # never written back into a page


class StaleForm(Exception):
    """A form from this desk's own page whose CSRF token has expired (the desk restarted
    since the page was loaded): shown again, filled in, with a fresh token."""

    def __init__(self, action: str, fields: list[tuple[str, str]]) -> None:
        super().__init__(action)
        self.action, self.fields = action, fields


class Fields(dict[str, str]):
    """A submitted form: the last value of each field, and every value with getlist."""

    lists: dict[str, list[str]]

    def getlist(self, key: str) -> list[str]:
        return self.lists.get(key, [])


@dataclass
class Desk:
    """What the views share: the store, the topics from the config, the security."""

    store: Store
    topics: list[TopicConfig] = field(default_factory=list)
    security: Security = field(default_factory=Security)
    config_problem: str | None = None
    env: jinja2.Environment = field(default_factory=make_env)
    health: HealthBanners | None = None
    ranks: Ranks | None = None
    config: Config | None = None  # the loaded config: its directory is what feed actions edit

    def topic(self, topic_id: str) -> TopicConfig | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    def reader(self, request: Request) -> str:
        """Whose read state and saved views these are: the logged-in user's name, ""
        on a desk without user accounts."""
        return str(request.scope.get("state", {}).get("user") or "")

    def prefs(self, request: Request) -> dict[str, Any] | None:
        """The logged-in user's preferences (read once per request); None on a desk
        without user accounts, where the page's script keeps them in the browser."""
        state = request.scope.setdefault("state", {})
        user = self.reader(request)
        if not user:
            return None
        if "prefs" not in state:
            try:
                state["prefs"] = self.store.preferences(user)
            except StoreError:  # the page that says the database is unavailable
                return None
        prefs: dict[str, Any] = state["prefs"]
        return prefs

    def require(self, request: Request, role: str) -> None:
        """403 unless the one asking has at least ``role`` (viewer < analyst < admin)."""
        have = str(request.scope.get("state", {}).get("role") or "viewer")
        if not may(have, role):
            raise HTTPException(403, f"this needs the {role} role (yours is {have})")

    def topic_name(self, topic_id: str) -> str:
        """The topic's name from the config; its id when it is not configured."""
        t = self.topic(topic_id)
        return t.name if t is not None and t.name else topic_id

    def render(self, request: Request, name: str, code: int = 200, **ctx: Any) -> HTMLResponse:
        """``name`` rendered with the page's security context, timed in Server-Timing."""
        state = request.scope.get("state", {})
        started = state.get("started", time.perf_counter())
        base = {
            "request": request,
            "csrf_field": CSRF_FIELD,
            "csrf_token": self.security.csrf_token(state["csrf_cookie"]),
            "topic_name": self.topic_name,
            "banners": self.health.now() if self.health else [],
            "auth": self.security.login_required(),
            "user": state.get("user", ""),
            "role": state.get("role", "viewer"),
            "prefs": self.prefs(request),
            "config_problem": self.config_problem,
            "path": request.url.path,
        }
        html = self.env.get_template(name).render(**base, **ctx)
        elapsed = (time.perf_counter() - started) * 1000
        return HTMLResponse(
            html, status_code=code, headers={"server-timing": f"app;dur={elapsed:.1f}"}
        )

    async def verified_form(self, request: Request, max_fields: int = 20) -> Fields:
        """The submitted form, after the CSRF and origin checks (403 otherwise)."""
        form = await request.form(max_files=0, max_fields=max_fields)
        sec = self.security
        cookie = request.cookies.get(CSRF_COOKIE)
        if not sec.origin_ok(request) or not sec.csrf_ok(cookie, str(form.get(CSRF_FIELD, ""))):
            if cookie and request.headers.get("origin") and sec.origin_ok(request):
                # This desk's own page, but its token was made before a restart.
                raise StaleForm(
                    request.url.path,
                    [(k, str(v)) for k, v in form.multi_items() if k not in STALE_DROP],
                )
            raise HTTPException(
                403, "the form's CSRF token is missing or wrong: reload the page and try again"
            )
        fields = Fields({k: str(v) for k, v in form.items()})
        fields.lists = {k: [str(v) for v in form.getlist(k)] for k in form}
        return fields


def desk_of(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


# --- error pages ---------------------------------------------------------------------------


def not_found(request: Request, exc: Exception) -> Response:
    return desk_of(request).render(
        request,
        "error.html",
        code=404,
        title="Not found",
        message=str(exc) if isinstance(exc, NotFound) else "No such page.",
    )


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if "csrf_cookie" not in request.scope.get("state", {}):
        return Response(exc.detail, exc.status_code)
    return desk_of(request).render(
        request,
        "error.html",
        code=exc.status_code,
        title={403: "Refused", 400: "Bad request"}.get(exc.status_code, "Error"),
        message=exc.detail,
    )


def stale_form(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StaleForm)
    return desk_of(request).render(
        request,
        "stale.html",
        code=409,
        action=exc.action,
        fields=exc.fields,
        label=dict(exc.fields).get("label"),
    )


def store_error(request: Request, exc: Exception) -> Response:
    return desk_of(request).render(
        request, "error.html", code=503, title="Database unavailable", message=str(exc)
    )
