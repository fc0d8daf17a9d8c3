"""The hit list as a download: CSV or JSON lines, as ``newsmon hits export`` writes."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from monitor.desk.filters import parse_filters
from monitor.desk.views import desk_of
from monitor.export import hit_records, iter_hits, lines
from monitor.store import utcnow


def export(request: Request) -> Response:
    store = desk_of(request).store
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "jsonl"):
        raise HTTPException(400, "format must be csv or jsonl")
    f, _, _ = parse_filters(request.query_params)
    records = hit_records(store, iter_hits(store, f))
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        lines(records, fmt),
        media_type="text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/x-ndjson; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="newsmon-hits-{stamp}.{fmt}"'},
    )


routes = [Route("/hits/export", export)]
