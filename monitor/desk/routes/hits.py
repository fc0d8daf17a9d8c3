"""The hit list: filters, full-text search, keyset paging, export links."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.desk.filters import WITHIN, parse_filters, to_int
from monitor.desk.views import desk_of, qs
from monitor.errors import NotFound
from monitor.store import HitFilter

PAGE_SIZE = 50
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


def hits_page(request: Request) -> Response:
    desk = desk_of(request)
    store = desk.store
    f, params, problems = parse_filters(request.query_params)
    before, after = (
        to_int(request.query_params.get("before")),
        to_int(request.query_params.get("after")),
    )
    try:
        page = store.find_hits(f, limit=PAGE_SIZE, before=before, after=after)
    except NotFound:
        page = store.find_hits(f, limit=PAGE_SIZE)
        problems.append("that page no longer exists: showing the newest hits")
    # Unfiltered, the exact count is cheap; filtered, counting stops at COUNT_CAP.
    filtered = f != HitFilter()
    total = store.count_hits(f, at_most=COUNT_CAP + 1 if filtered else None)
    feeds_of = store.feeds_of_articles([a.id for _, a in page.rows if a.id is not None])
    all_feeds = store.feeds()
    topic_ids = sorted({t.id for t in desk.topics} | set(store.hit_topics()))
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
        back=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


routes = [Route("/hits", hits_page)]
