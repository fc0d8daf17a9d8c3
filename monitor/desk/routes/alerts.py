"""Alerts: the outbox, one row per hit, route and target."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.desk.filters import to_int
from monitor.desk.views import desk_of, qs

PAGE_SIZE = 50
STATUSES = ("pending", "sending", "sent", "failed", "dead")


def alerts_page(request: Request) -> Response:
    desk = desk_of(request)
    status = request.query_params.get("status") or None
    if status not in STATUSES:
        status = None
    before = to_int(request.query_params.get("before"))
    rows = desk.store.outbox(status, limit=PAGE_SIZE + 1, before=before)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return desk.render(
        request,
        "alerts.html",
        rows=rows,
        counts=desk.store.delivery_counts(),
        status=status,
        older_qs=qs({"status": status or ""}, before=rows[-1][0].id) if more else None,
    )


routes = [Route("/alerts", alerts_page)]
