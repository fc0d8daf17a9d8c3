"""A desk user's preferences, kept on the server: ``POST /prefs`` with JSON (the page's
script, same origin, the CSRF token in ``X-CSRF-Token``). A desk without user accounts
(or a login with the shared token) has no one to keep them for: the script keeps
them in the browser instead."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from monitor.desk.filters import SORTS
from monitor.desk.routes.labels import csrf_refused
from monitor.desk.views import desk_of

# Each preference and what its value may be.
PREFS: dict[str, Any] = {
    "advance": lambda v: isinstance(v, bool),  # next hit after labelling
    "sort": lambda v: v in SORTS,  # the list's order when the URL names none
}


async def set_prefs(request: Request) -> Response:
    desk = desk_of(request)
    if not request.headers.get("content-type", "").startswith("application/json"):
        await desk.verified_form(request)  # a form: refused like every other without a token
        return JSONResponse({"error": "send the preferences as JSON"}, 415)
    if (refused := csrf_refused(request)) is not None:
        return refused
    user = desk.reader(request)
    if not user:
        return JSONResponse({"error": "preferences are kept per user account"}, 400)
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return JSONResponse({"error": "the body must be JSON"}, 400)
    if not isinstance(body, dict) or not body:
        return JSONResponse({"error": "the body is an object of preferences"}, 400)
    for key, value in body.items():
        if key not in PREFS or not PREFS[key](value):
            return JSONResponse({"error": f"no preference {key!r} may be {value!r}"[:200]}, 400)
    prefs = await run_in_threadpool(desk.store.set_preferences, user, body)
    return JSONResponse({"prefs": prefs})


routes = [Route("/prefs", set_prefs, methods=["POST"])]
