"""Feeds and their health, most trouble first."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.desk.accounts import may
from monitor.desk.filters import path_id
from monitor.desk.views import Desk, desk_of, http_url
from monitor.errors import NotFound
from monitor.redact import redact
from monitor.store import Feed


def feed_state(f: Feed) -> str:
    if f.gone:
        return "gone"
    if not f.enabled:
        return "disabled"
    if f.consecutive_failures:
        return "failing"
    if f.last_polled_at is None:
        return "never polled"
    return "ok"


def _trouble(f: Feed) -> tuple[Any, ...]:
    """Most trouble first (gone, then most consecutive failures), then newest poll."""
    polled = f.last_polled_at.timestamp() if f.last_polled_at else 0
    return (not f.gone, -(f.consecutive_failures or 0), not f.enabled, -polled, f.id or 0)


def feeds_page(request: Request) -> Response:
    desk = desk_of(request)
    feeds = list(desk.store.feeds())
    counts = desk.store.feed_counts()
    last_new = desk.store.feeds_last_new()
    return desk.render(
        request,
        "feeds.html",
        rows=[
            {
                "feed": f,
                "state": feed_state(f),
                "articles": counts.get(f.id or 0, (0, 0))[0],
                "hits": counts.get(f.id or 0, (0, 0))[1],
                "url": redact(http_url(f.fetch_url or f.url)),
                "last_new": last_new.get(f.id or 0),
            }
            for f in sorted(feeds, key=_trouble)
        ],
        failing=sum(1 for f in feeds if f.consecutive_failures or f.gone),
        admin=may(str(request.scope.get("state", {}).get("role")), "admin"),
        done=request.query_params.get("done", "")[:200],
        can_edit=bool(desk.config and desk.config.directory),
    )


async def poll_now(request: Request) -> Response:
    """Make a feed due now (admin): the next run polls it first."""
    desk = desk_of(request)
    await desk.verified_form(request)
    desk.require(request, "admin")
    fid = path_id(request, "feed_id")
    await run_in_threadpool(desk.store.poll_soon, fid)
    if desk.health:
        desk.health.forget()
    return RedirectResponse(f"/feeds?done={quote('feed ' + str(fid) + ' is due now')}", 303)


def _reconfigure(desk: Desk, feed_id: int, action: str) -> str:
    """Pause, resume or remove the feed in feeds.yaml, then make the stored feeds
    follow the file at once (as the next run would)."""
    from monitor.config import load_config, pause_feed, remove_feed

    directory = desk.config.directory if desk.config else None
    if directory is None:
        raise HTTPException(409, "the desk was started without a config directory to edit")
    feed = next((f for f in desk.store.feeds() if f.id == feed_id), None)
    if feed is None:
        raise NotFound(f"no feed with id {feed_id}")
    if action == "remove":
        remove_feed(directory, feed.url)
    else:
        pause_feed(directory, feed.url, paused=action == "pause")
    desk.store.sync_feeds(load_config(directory).feeds)
    return f"{feed.name or feed.title or 'the feed'}: {action}d"


async def feed_action(request: Request) -> Response:
    """Pause, resume or remove a feed (admin): an edit of feeds.yaml, comments kept."""
    desk = desk_of(request)
    await desk.verified_form(request)
    desk.require(request, "admin")
    action = request.path_params["action"]
    if action not in ("pause", "resume", "remove"):
        raise NotFound("no such action")
    done = await run_in_threadpool(_reconfigure, desk, path_id(request, "feed_id"), action)
    if desk.health:
        desk.health.forget()
    return RedirectResponse(f"/feeds?done={quote(done)}", 303)


routes = [
    Route("/feeds", feeds_page),
    Route("/feeds/{feed_id:int}/poll", poll_now, methods=["POST"]),
    Route("/feeds/{feed_id:int}/{action:str}", feed_action, methods=["POST"]),
]
