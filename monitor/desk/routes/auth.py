"""Logging in and out (with a user's name and password, or the desk's token), and the
front door. Sessions live in the database: logging out ends one on the server."""

from __future__ import annotations

from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.desk.accounts import check_password
from monitor.desk.security import SESSION_COOKIE, safe_next
from monitor.desk.views import Desk, desk_of

SESSION_TTL = timedelta(hours=12)
MAX_NAME = 80


def _login_page(
    desk: Desk, request: Request, nxt: str, code: int = 200, failed: str | None = None
) -> Response:
    return desk.render(
        request,
        "login.html",
        code=code,
        next=nxt,
        failed=failed,
        accounts=desk.security.accounts(),
        token_login=bool(desk.security.token),
    )


def login_page(request: Request) -> Response:
    desk = desk_of(request)
    if not desk.security.login_required():
        return RedirectResponse("/hits", 303)
    return _login_page(desk, request, safe_next(request.query_params.get("next")))


def _check(desk: Desk, name: str, password: str, token: str) -> tuple[str, str] | None:
    """(user name, role) for good credentials, else None."""
    sec = desk.security
    if name:
        user = desk.store.user(name)
        # A missing user costs what a wrong password does: no timing tells names apart.
        stored = user.password_hash if user else "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AA=="
        ok = check_password(password, stored)
        return (user.name, user.role) if ok and user else None
    if sec.token and sec.token_ok(token):
        return ("", "admin")
    return None


async def login(request: Request) -> Response:
    desk = desk_of(request)
    sec = desk.security
    form = await desk.verified_form(request)
    nxt = safe_next(form.get("next"))
    name = " ".join((form.get("name") or "").split())[:MAX_NAME]
    client = f"ip:{request.client.host if request.client else '?'}"
    keys = (client, f"user:{name.lower()}") if name else (client,)
    wait = sec.throttle.wait(*keys)
    if wait > 0:
        msg = f"Too many failed logins: try again in {int(wait // 60) + 1} min."
        resp = _login_page(desk, request, nxt, code=429, failed=msg)
        resp.headers["retry-after"] = str(int(wait) + 1)
        return resp
    who = await run_in_threadpool(
        _check, desk, name, form.get("password") or "", form.get("token") or ""
    )
    if who is None:
        sec.throttle.failed(*keys)
        what = "That name and password do not match." if name else "That token is not right."
        return _login_page(desk, request, nxt, code=401, failed=what)
    sec.throttle.succeeded(*keys)
    value = await run_in_threadpool(desk.store.start_session, who[0], who[1], SESSION_TTL)
    resp = RedirectResponse(nxt, 303)
    resp.headers.append(
        "set-cookie",
        sec.cookie(request, SESSION_COOKIE, value, int(SESSION_TTL.total_seconds())),
    )
    return resp


async def logout(request: Request) -> Response:
    desk = desk_of(request)
    await desk.verified_form(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await run_in_threadpool(desk.store.end_session, cookie)  # over on the server too
    resp = RedirectResponse("/login" if desk.security.login_required() else "/hits", 303)
    resp.headers.append("set-cookie", desk.security.cookie(request, SESSION_COOKIE, "", 0))
    return resp


def home(request: Request) -> Response:
    return RedirectResponse("/hits", 303)


routes = [
    Route("/", home),
    Route("/login", login_page),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
