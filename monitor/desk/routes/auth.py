"""Logging in and out (when the desk has a token), and the front door."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.desk.security import SESSION_COOKIE, safe_next, session_cookie_header
from monitor.desk.views import desk_of


def login_page(request: Request) -> Response:
    desk = desk_of(request)
    if not desk.security.token:
        return RedirectResponse("/hits", 303)
    return desk.render(
        request, "login.html", next=safe_next(request.query_params.get("next")), failed=False
    )


async def login(request: Request) -> Response:
    desk = desk_of(request)
    form = await desk.verified_form(request)
    nxt = safe_next(form.get("next"))
    if not desk.security.token_ok(form.get("token")):
        return desk.render(request, "login.html", code=401, next=nxt, failed=True)
    resp = RedirectResponse(nxt, 303)
    resp.headers.append("set-cookie", session_cookie_header(desk.security))
    return resp


async def logout(request: Request) -> Response:
    desk = desk_of(request)
    await desk.verified_form(request)
    resp = RedirectResponse("/login" if desk.security.token else "/hits", 303)
    resp.headers.append("set-cookie", f"{SESSION_COOKIE}=; Path=/; Max-Age=0")
    return resp


def home(request: Request) -> Response:
    return RedirectResponse("/hits", 303)


routes = [
    Route("/", home),
    Route("/login", login_page),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
