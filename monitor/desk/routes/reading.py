"""Read state and saved views: "mark all read" for the list as filtered, and named
views (the list's query string) to come back to."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.desk.filters import parse_filters, path_id
from monitor.desk.security import safe_next
from monitor.desk.views import desk_of, qs

MAX_NAME = 80


def _list_query(back: str) -> str:
    """The hit list's query string in ``back`` (a path on this site)."""
    parts = urlsplit(back)
    return parts.query if parts.path == "/hits" else ""


async def mark_all_read(request: Request) -> Response:
    desk = desk_of(request)
    form = await desk.verified_form(request)
    back = safe_next(form.get("back"), "/hits")
    reader = desk.reader(request)
    f, _, _ = parse_filters(QueryParams(_list_query(back)), reader=reader)
    await run_in_threadpool(desk.store.mark_all_read, f, reader)
    return RedirectResponse(back, 303)


async def save_view(request: Request) -> Response:
    desk = desk_of(request)
    form = await desk.verified_form(request)
    back = safe_next(form.get("back"), "/hits")
    name = " ".join((form.get("name") or "").split())[:MAX_NAME]
    if not name:
        raise HTTPException(400, "a saved view needs a name")
    # Only what the list understands is kept, cleaned; paging is not part of a view.
    _, params, _ = parse_filters(QueryParams(_list_query(back)))
    await run_in_threadpool(desk.store.save_view, name, qs(params), desk.reader(request))
    return RedirectResponse(back, 303)


async def delete_view(request: Request) -> Response:
    desk = desk_of(request)
    form = await desk.verified_form(request)
    await run_in_threadpool(
        desk.store.delete_view, path_id(request, "view_id"), desk.reader(request)
    )
    return RedirectResponse(safe_next(form.get("back"), "/hits"), 303)


routes = [
    Route("/hits/read", mark_all_read, methods=["POST"]),
    Route("/views", save_view, methods=["POST"]),
    Route("/views/{view_id:int}/delete", delete_view, methods=["POST"]),
]
