"""The hit list: filters, full-text search, keyset paging, export links."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.desk.filters import WITHIN, parse_filters, to_int
from monitor.desk.views import Desk, desk_of, qs
from monitor.errors import NotFound
from monitor.store.reading import DeskFilter

if TYPE_CHECKING:
    from monitor.store import HitPage, Store

PAGE_SIZE = 50
PAGE_SIZES = (25, 50, 100)  # ?n= : hits per page
COUNT_CAP = 10_000  # a filtered list says "10,000+" rather than counting further


SNIPPET = 220


def snippet(text: str, limit: int = SNIPPET) -> str:
    """``text`` cut at a word before ``limit`` with one ellipsis: never "end.…" or "..."
    after a full stop."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" .,;:!?…-–—") + "…"


NEW_CAP = 999  # a saved view says "999+" new rather than counting further


def views_with_counts(desk: Desk, reader: str) -> list[dict[str, Any]]:
    """The reader's saved views, each with how many of its hits are unread."""
    out = []
    for v in desk.store.views(reader):
        f, _, _ = parse_filters(QueryParams(v.query), reader=reader)
        f.unread_by = reader
        n = desk.store.count_hits(f, at_most=NEW_CAP + 1)
        out.append({"view": v, "new": n, "more": n > NEW_CAP})
    return out


def list_sort(request: Request, params: dict[str, str]) -> str:
    """The list's order: the URL's ``sort``, else the user's default. "Newest first"
    named in the URL stays in the links (``params``) when that default is another order."""
    default = (desk_of(request).prefs(request) or {}).get("sort") or "time"
    sort = params.get("sort") or default
    if request.query_params.get("sort", "").strip() == "time":
        sort = "time"
        if default != "time":
            params["sort"] = "time"
    return sort


def finder(store: Store, sort: str) -> Callable[..., HitPage]:
    """The store's keyset-paged query for a list order (time, score or story)."""
    return {"score": store.find_hits_by_score, "story": store.find_hits_by_story}.get(
        sort, store.find_hits
    )


def hits_page(request: Request) -> Response:
    desk = desk_of(request)
    store = desk.store
    f, params, problems = parse_filters(request.query_params, reader=desk.reader(request))
    before, after = (
        to_int(request.query_params.get("before")),
        to_int(request.query_params.get("after")),
    )
    size = to_int(request.query_params.get("n")) or PAGE_SIZE
    if size not in PAGE_SIZES:
        problems.append(f"n must be one of {', '.join(map(str, PAGE_SIZES))} (ignored)")
        size = PAGE_SIZE
    elif size != PAGE_SIZE:
        params["n"] = str(size)
    sort = list_sort(request, params)
    find = finder(store, sort)
    try:
        page = find(f, limit=size, before=before, after=after)
    except NotFound:
        page = find(f, limit=size)
        problems.append("that page no longer exists: showing the first page")
    # Unfiltered, the exact count is cheap; filtered, counting stops at COUNT_CAP.
    filtered = f != DeskFilter()
    total = store.count_hits(f, at_most=COUNT_CAP + 1 if filtered else None)
    feeds_of = store.feeds_of_articles([a.id for _, a in page.rows if a.id is not None])
    all_feeds = store.feeds()
    topic_ids = sorted({t.id for t in desk.topics} | set(store.hit_topics()))
    reader = desk.reader(request)
    hit_ids = [h.id for h, _ in page.rows if h.id is not None]
    read = store.read_ids(hit_ids, reader)
    ranks = desk.ranks.of([h for h, _ in page.rows]) if desk.ranks else {}
    sizes = store.story_sizes([a.id for _, a in page.rows if a.id is not None])
    rows = []
    for h, a in page.rows:
        ev = h.evidence or {}
        sents = ev.get("sentences") or []
        rows.append(
            {
                "hit": h,
                "article": a,
                "feeds": feeds_of.get(a.id or 0, []),
                "snippet": snippet(sents[0]["text"] if sents else (a.summary or "")),
                "threshold": ev.get("threshold"),
                "read": h.id in read,
                "rank": ranks.get(h.id or 0),
                "story": sizes.get(a.id or 0),
            }
        )
    first = page.rows[0][0].id if page.rows else None
    last = page.rows[-1][0].id if page.rows else None
    more_than = filtered and total > COUNT_CAP
    return desk.render(
        request,
        "hits.html",
        rows=rows,
        total=COUNT_CAP if more_than else total,
        more_than=more_than,
        params=params,
        problems=problems,
        topic_ids=topic_ids,
        feeds=all_feeds,
        languages=store.article_languages(),
        within=list(WITHIN),
        newer_qs=qs(params, after=first) if page.has_newer else None,
        older_qs=qs(params, before=last) if page.has_older else None,
        at_top=before is None and after is None,
        filter_qs=qs(params),
        export_qs=qs(params),
        views=views_with_counts(desk, reader),
        sort=sort,
        stories=bool(sizes) or sort == "story" or store.has_stories(),
        back=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


routes = [Route("/hits", hits_page)]
