"""Who may use the review desk, and how its forms are protected.

- **Bind address.** 127.0.0.1 by default. Any other address needs a token
  (``NEWSMON_WEB_TOKEN``): :func:`check_bind` refuses to start without one.
- **Token or accounts.** With a token, or once user accounts exist (``newsmon users
  add``), every page except ``/login`` and ``/static`` needs either the session cookie
  that ``/login`` sets (HttpOnly, SameSite=Strict, Secure behind HTTPS; a random
  value whose hash is stored, so logging out ends it on the server) or an
  ``Authorization: Bearer <token>`` header (for scripts fetching exports). Failed
  logins are throttled per client address and per user name.
- **Host header.** Without a token the desk answers only to loopback host names, so a
  web page cannot reach it by pointing its own domain at 127.0.0.1 (DNS rebinding).
- **CSRF.** Every POST form carries a token derived from a random cookie with the
  per-process secret (HMAC); a POST whose token is missing or wrong is refused with
  403, as is one whose ``Origin`` is another site.
- **Escaping.** Templates autoescape; text from feeds never reaches the page raw;
  links from feeds are shown only when they are http(s). The Content-Security-Policy
  allows no inline script at all, so even a missed escape could not run one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.desk.accounts import Throttle
from monitor.errors import NewsmonError
from monitor.store.people import Login

CSRF_COOKIE = "newsmon_csrf"
SESSION_COOKIE = "newsmon_session"
CSRF_FIELD = "csrf"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
PUBLIC_PATHS = ("/login", "/static/")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class WebError(NewsmonError):
    """The review desk cannot start as asked."""


def is_loopback(host: str) -> bool:
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, accounts: bool = False) -> None:
    """Refuse to serve beyond this machine without a token or user accounts."""
    if not is_loopback(host) and not token and not accounts:
        raise WebError(
            f"binding to {host} makes the desk reachable from other machines: "
            "set NEWSMON_WEB_TOKEN to a long random secret or add a user "
            "(newsmon users add NAME) first "
            "(or bind to 127.0.0.1)"
        )
    if token is not None and len(token) < 16:
        raise WebError("NEWSMON_WEB_TOKEN is too short: use at least 16 characters")


class Sessions(Protocol):
    """Where logins live (the store)."""

    def session_login(self, token: str) -> Login | None: ...

    def has_users(self) -> bool: ...


EVERYONE = Login("", "admin")  # a desk with no login: loopback only, one shared desk
ACCOUNTS_CHECK = 5.0  # seconds between looks at whether accounts exist


@dataclass
class Security:
    token: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sessions: Sessions | None = None
    behind_https: bool = False
    throttle: Throttle = field(default_factory=Throttle)
    _accounts: tuple[float, bool] = (0.0, False)

    def accounts(self) -> bool:
        """Whether user accounts exist (looked up at most every few seconds)."""
        if self.sessions is None:
            return False
        at, known = self._accounts
        if time.monotonic() - at > ACCOUNTS_CHECK:
            known = self.sessions.has_users()
            self._accounts = (time.monotonic(), known)
        return known

    def login_required(self) -> bool:
        return bool(self.token) or self.accounts()

    def login_of(self, request: Request) -> Login | None:
        """Who is asking: the session's user, the token's holder, or None (not logged in)."""
        if not self.login_required():
            return EVERYONE
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and self.token_ok(auth[7:].strip()):
            return EVERYONE
        cookie = request.cookies.get(SESSION_COOKIE) or ""
        if not cookie:
            return None
        if self.sessions is not None:
            return self.sessions.session_login(cookie)
        ok = bool(self.token) and hmac.compare_digest(cookie, self.session_value())
        return EVERYONE if ok else None

    def secure(self, request: Request) -> bool:
        """Whether cookies get ``Secure``: behind HTTPS (``--behind-https``, or the
        request or a proxy's forwarded header says https). Trusting the header can only
        add the flag, never remove it."""
        if self.behind_https or request.url.scheme == "https":
            return True
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        fwd = request.headers.get("forwarded", "").lower()
        return proto == "https" or "proto=https" in fwd

    def cookie(self, request: Request, name: str, value: str, max_age: int | None = None) -> str:
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure(request):
            parts.append("Secure")
        return "; ".join(parts)

    def _mac(self, *parts: str) -> str:
        return hmac.new(self.secret, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()

    def csrf_token(self, cookie: str) -> str:
        return self._mac("csrf", cookie)

    def csrf_ok(self, cookie: str | None, submitted: str | None) -> bool:
        if not cookie or not submitted:
            return False
        return hmac.compare_digest(self.csrf_token(cookie), submitted)

    def session_value(self) -> str:
        assert self.token
        return self._mac("session", self.token)

    def token_ok(self, submitted: str | None) -> bool:
        return bool(self.token and submitted) and hmac.compare_digest(
            (submitted or "").encode(), (self.token or "").encode()
        )

    def authenticated(self, request: Request) -> bool:
        return self.login_of(request) is not None

    def host_ok(self, request: Request) -> bool:
        if self.login_required():
            return True  # reachable under any name, but only with a login
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        return name.lower() in LOOPBACK_NAMES

    def origin_ok(self, request: Request) -> bool:
        """A browser POST names its origin: it must be this desk's own."""
        origin = request.headers.get("origin")
        if origin is None:  # not a browser, or an old one: the CSRF token still applies
            return True
        if origin == "null":
            return False
        return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def safe_next(target: str | None, default: str = "/hits") -> str:
    """A redirect target that stays on this site: a path, never ``//other`` or a URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


class SecurityMiddleware:
    """Host check, login gate, the CSRF cookie, and security headers on every response."""

    def __init__(self, app: ASGIApp, security: Security) -> None:
        self.app = app
        self.security = security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        sec = self.security
        response: Response | None = None
        if not sec.host_ok(request):
            response = PlainTextResponse(
                "newsmon web answers only to localhost/127.0.0.1 (Host header refused)", 400
            )
        login = sec.login_of(request) if response is None else None
        if response is None and login is None and not request.url.path.startswith(PUBLIC_PATHS):
            if request.method == "GET":
                nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={quote(nxt)}", 303)
            else:
                response = PlainTextResponse("authentication required", 401)
        cookie = request.cookies.get(CSRF_COOKIE)
        new_cookie = None
        if not cookie:
            new_cookie = secrets.token_urlsafe(32)
        state = scope.setdefault("state", {})
        state["csrf_cookie"] = cookie or new_cookie
        state["user"] = login.user_name if login else ""
        state["role"] = login.role if login else "viewer"
        csrf_set = sec.cookie(request, CSRF_COOKIE, new_cookie or "")
        state["started"] = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                for k, v in _SECURITY_HEADERS:
                    headers.append((k, v))
                if new_cookie:
                    headers.append((b"set-cookie", csrf_set.encode()))
                message["headers"] = headers
            await send(message)

        if response is not None:
            await response(scope, receive, send_wrapper)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_wrapper(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            # A bug still answers with this desk's headers (the CSP above all), not a
            # bare page from the server; the error goes on to be logged.
            if not started:
                await PlainTextResponse("internal error: see the server's log", 500)(
                    scope, receive, send_wrapper
                )
            raise


_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make Origin "null"
    (b"cache-control", b"no-store"),
]


__all__ = ["Security", "SecurityMiddleware", "WebError", "check_bind", "is_loopback", "safe_next"]
