"""One hit: the text with the evidence highlighted, the score's composition, sources,
alerts, and its label (the desk's write, through :meth:`Store.mark_hit`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.desk import training
from monitor.desk.filters import parse_filters, path_id, to_int
from monitor.desk.highlight import Highlighter, group_order, legend, sentence_groups
from monitor.desk.routes.hits import finder, list_sort
from monitor.desk.security import safe_next
from monitor.desk.views import desk_of, qs
from monitor.errors import NotFound
from monitor.store.labels import LabelChange

LABELS = {"relevant": "relevant", "irrelevant": "irrelevant", "clear": None}
MAX_NOTE = 2000


def hit_page(request: Request) -> Response:
    desk = desk_of(request)
    store = desk.store
    hit_id = path_id(request)
    h, a = store.hit(hit_id)
    store.mark_read([hit_id], desk.reader(request))
    f, params, _ = parse_filters(request.query_params, reader=desk.reader(request))
    # j/k walk the list in the order it was opened from (time, score or story)
    sort = list_sort(request, params)
    try:
        newer, older = store.hit_neighbours(f, hit_id, find=finder(store, sort))
    except NotFound:
        newer = older = None
    topic = desk.topic(h.topic_id)
    ev = h.evidence or {}
    tgroups = list(topic.groups) if topic else None
    hl = Highlighter.for_evidence(ev, tgroups)
    order = group_order(ev, tgroups)
    sentences = [
        {
            "text": hl.mark(s.get("text")),
            "field": s.get("field"),
            "groups": sentence_groups(s, order),
        }
        for s in ev.get("sentences") or []
    ]
    text = a.text if a.text else a.summary
    trained = training.last_trained(h.topic_id)
    labels = store.labels_since(trained, topic=h.topic_id).get(h.topic_id, 0)
    return desk.render(
        request,
        "hit.html",
        hit=h,
        article=a,
        ev=ev,
        topic=topic,
        title=hl.mark(a.title),
        paragraphs=hl.paragraphs(text),
        text_source="page" if a.text else "feed summary",
        marks=hl.count(text),
        sentences=sentences,
        groups=legend(ev, tgroups),
        sources=store.article_sources(a.id or 0),
        deliveries=store.deliveries_for_hit(hit_id),
        newer=newer,
        older=older,
        filter_qs=qs(params),
        in_time_order=sort == "time",
        labels_on_topic=labels,
        trained=trained,
        current_version=topic.version if topic else None,
        history=store.label_trail(h.article_id, h.topic_id)[:20],
        back=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


async def label_hit(request: Request) -> Response:
    desk = desk_of(request)
    form = await desk.verified_form(request)
    desk.require(request, "analyst")
    hit_id = path_id(request)
    label = form.get("label", "")
    if label not in LABELS:
        raise HTTPException(400, "label must be relevant, irrelevant or clear")
    note = (form.get("note") or "").strip()[:MAX_NOTE] or None
    change = LabelChange(hit_id, LABELS[label], note if LABELS[label] else None)
    await run_in_threadpool(desk.store.mark_hits, [change], desk.reader(request))
    target = safe_next(form.get("back"), f"/hits/{hit_id}")
    if form.get("advance") and form.get("older"):
        older = to_int(form.get("older"))
        query = urlsplit(target).query
        if older is not None:
            target = f"/hits/{older}" + (f"?{query}" if query else "")
    return RedirectResponse(target, 303)


routes = [
    Route("/hits/{hit_id:int}", hit_page),
    Route("/hits/{hit_id:int}/label", label_hit, methods=["POST"]),
]
