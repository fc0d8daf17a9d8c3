"""Labels from the hit list: one hit or a selection, in place (JSON, for the list's
keyboard triage) or as a plain form (without JavaScript), and undone the same way."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from monitor.desk.accounts import may
from monitor.desk.filters import MAX_ID, to_int
from monitor.desk.security import CSRF_COOKIE, safe_next
from monitor.desk.views import desk_of
from monitor.errors import NotFound
from monitor.store.labels import KEEP, LabelChange

LABELS = {"relevant": "relevant", "irrelevant": "irrelevant", "clear": None}
MAX_ITEMS = 500
MAX_NOTE = 2000


class Refused(ValueError):
    """What the request asks cannot be done as asked (a 400 with this text)."""


def _change(item: Any) -> LabelChange:
    if not isinstance(item, dict):
        raise Refused("each item is an object with an id and a label")
    hid, label = item.get("id"), item.get("label")
    if not isinstance(hid, int) or isinstance(hid, bool) or not 0 < hid <= MAX_ID:
        raise Refused("id must be a hit id")
    if label is not None and label not in LABELS:
        raise Refused("label must be relevant, irrelevant, clear or null")
    note: Any = KEEP
    if "note" in item:
        note = item["note"]
        if note is not None and not isinstance(note, str):
            raise Refused("note must be text or null")
        note = (note or "").strip()[:MAX_NOTE] or None
    return LabelChange(hid, LABELS.get(label) if label else None, note)


def csrf_refused(request: Request) -> Response | None:
    """None when a JSON request's origin and ``X-CSRF-Token`` header are right; else 403."""
    sec = desk_of(request).security
    if sec.origin_ok(request) and sec.csrf_ok(
        request.cookies.get(CSRF_COOKIE), request.headers.get("x-csrf-token")
    ):
        return None
    # A same-origin page whose token is stale (the desk restarted) gets a fresh one
    # to retry with; another site cannot read this response.
    fresh = None
    if request.headers.get("origin") and request.cookies.get(CSRF_COOKIE):
        fresh = sec.csrf_token(request.cookies.get(CSRF_COOKIE) or "")
    return JSONResponse(
        {"error": "the page's CSRF token is out of date (the desk restarted?)", "csrf": fresh},
        403,
    )


async def _json_labels(request: Request) -> Response:
    desk = desk_of(request)
    if (refused := csrf_refused(request)) is not None:
        return refused
    if not may(str(request.scope.get("state", {}).get("role")), "analyst"):
        return JSONResponse({"error": "labelling needs the analyst role"}, 403)
    try:
        body = json.loads(await request.body())
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not 0 < len(items) <= MAX_ITEMS:
            raise Refused(f"items must be a list of 1 to {MAX_ITEMS} labels")
        changes = [_change(i) for i in items]
    except (ValueError, UnicodeDecodeError) as exc:
        msg = str(exc) if isinstance(exc, Refused) else "the body must be JSON"
        return JSONResponse({"error": msg}, 400)
    try:
        results = await run_in_threadpool(desk.store.mark_hits, changes, desk.reader(request))
    except NotFound as exc:
        return JSONResponse({"error": str(exc)}, 404)
    await run_in_threadpool(desk.store.mark_read, [c.hit_id for c in changes], desk.reader(request))
    return JSONResponse(
        {
            "items": [
                {
                    "id": r.hit_id,
                    "label": r.label,
                    "note": r.note,
                    "previous_label": r.previous_label,
                    "previous_note": r.previous_note,
                }
                for r in results
            ]
        }
    )


async def label_hits(request: Request) -> Response:
    """POST /hits/labels: JSON in, JSON out; or a form (ids, label, back) and back."""
    if request.headers.get("content-type", "").startswith("application/json"):
        return await _json_labels(request)
    desk = desk_of(request)
    form = await desk.verified_form(request, max_fields=MAX_ITEMS + 10)
    desk.require(request, "analyst")
    back = safe_next(form.get("back"), "/hits")
    label = form.get("label", "")
    ids = [i for i in (to_int(v) for v in form.getlist("id")) if i is not None]
    if label not in LABELS or not ids:
        return RedirectResponse(back, 303)
    changes = [LabelChange(i, LABELS[label]) for i in ids]
    await run_in_threadpool(desk.store.mark_hits, changes, desk.reader(request))
    return RedirectResponse(back, 303)


routes = [Route("/hits/labels", label_hits, methods=["POST"])]
