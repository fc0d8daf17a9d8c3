"""Every stored article reviewable: a topic's near misses (the inbox of what it almost
found), all stored articles (list and search, hits or not), one article with its
standing for every topic, and a label on any article for any topic ("Teach as hit" /
"Not a hit", through :meth:`Store.mark_article`); and a rescan of a topic's near misses
as a background job (as ``newsmon topics near-misses T --rescan``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.desk.filters import WITHIN, path_id, to_int
from monitor.desk.highlight import Highlighter
from monitor.desk.learning import Busy, rescan_work
from monitor.desk.routes.learning import jobs_of
from monitor.desk.security import safe_next
from monitor.desk.views import Desk, desk_of, qs
from monitor.store import utcnow
from monitor.topics.model import models_dir

LABELS = {"relevant": "relevant", "irrelevant": "irrelevant", "clear": None}
INBOX = ("unreviewed", "relevant", "irrelevant", "all")
PAGE = 50
MAX_NOTE = 2000
MAX_PAGES = 200  # the inbox pages by offset: deep pages are not what an inbox is for
RESCAN_DEFAULT = 20_000  # the newest stored articles a rescan scores (as the CLI's)
# The job holds the texts it scores in memory and must end within --job-minutes: more
# is the CLI's (`newsmon topics near-misses ID --rescan --articles N`).
RESCAN_MAX = 50_000


def _topic_ids(desk: Desk, counts: dict[str, Any]) -> list[str]:
    """The configured topics, then any other topic the store has near misses for."""
    configured = [t.id for t in desk.topics]
    return configured + sorted(set(counts) - set(configured))


def _back(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def near_misses_page(request: Request) -> Response:
    """GET /near-misses?topic=T&label=unreviewed|relevant|irrelevant|all&page=N"""
    desk = desk_of(request)
    store = desk.store
    counts = store.near_miss_counts()
    topics = _topic_ids(desk, counts)
    params = request.query_params
    topic = params.get("topic") or (topics[0] if topics else "")
    label = params.get("label") if params.get("label") in INBOX else "unreviewed"
    page = min(to_int(params.get("page")) or 0, MAX_PAGES)
    rows = (
        store.near_misses(
            topic,
            label=None if label == "all" else label,
            limit=PAGE + 1,
            offset=page * PAGE,
        )
        if topic
        else []
    )
    more = len(rows) > PAGE
    items = []
    for n, a in rows[:PAGE]:
        ev = n.evidence or {}
        hl = Highlighter.for_evidence(ev, None)
        items.append(
            {
                "nm": n,
                "article": a,
                "rule": ev.get("rule"),
                "sentences": [hl.mark(s.get("text")) for s in (ev.get("sentences") or [])[:2]],
                "groups": sorted(ev.get("groups") or {}),
            }
        )
    base = {"topic": topic, "label": label}
    jobs = jobs_of(request)
    running = jobs.running(topic) if topic else None
    resp = desk.render(
        request,
        "nearmisses.html",
        topics=topics,
        topic=topic,
        label=label,
        counts=counts,
        items=items,
        page=page,
        newer_qs=qs(base, page=page - 1) if page > 0 else None,
        older_qs=qs(base, page=page + 1) if more and page < MAX_PAGES else None,
        back=_back(request),
        configured=desk.topic(topic) is not None if topic else False,
        running=running,
        rescanned=jobs.last(topic, "rescan") if topic else None,
        rescan_default=RESCAN_DEFAULT,
        rescan_max=RESCAN_MAX,
        refused=params.get("refused", "")[:300],
    )
    if running is not None and running.kind == "rescan":
        resp.headers["refresh"] = "2"  # until the job is done; no script needed
    return resp


async def rescan(request: Request) -> Response:
    """POST /near-misses/rescan (topic, articles; analyst): re-score the newest stored
    articles for the topic's near misses, in the background; back to the inbox."""
    desk = desk_of(request)
    form = await desk.verified_form(request)
    desk.require(request, "analyst")
    tid = str(form.get("topic") or "")[:200]
    topic = desk.topic(tid)
    if topic is None:
        raise HTTPException(400, "topic must be one of the configured topics")
    n = to_int(form.get("articles"))
    limit = RESCAN_DEFAULT if n is None or n < 1 else min(n, RESCAN_MAX)
    back = f"/near-misses?topic={quote(topic.id)}"
    try:
        jobs_of(request).start(
            topic.id,
            "rescan",
            desk.reader(request),
            rescan_work,
            desk.store.url,
            topic,
            limit,
            models_dir(),
            progress=True,
        )
    except Busy as exc:
        return RedirectResponse(f"{back}&refused={quote(str(exc))}", 303)
    return RedirectResponse(back, 303)


def articles_page(request: Request) -> Response:
    """GET /articles?q=&lang=&within=&before=ID: every stored article, newest first."""
    desk = desk_of(request)
    store = desk.store
    p = request.query_params
    q = (p.get("q") or "").strip()[:300]
    lang = (p.get("lang") or "").strip()[:20]
    within = p.get("within") if p.get("within") in WITHIN else ""
    before = to_int(p.get("before"))
    since = utcnow() - WITHIN[within] if within else None
    rows = store.browse_articles(
        search=q or None, since=since, language=lang or None, limit=PAGE + 1, before=before
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    hits, marks = store.article_reviews([a.id for a in rows if a.id is not None])
    params = {k: v for k, v in (("q", q), ("lang", lang), ("within", within)) if v}
    return desk.render(
        request,
        "articles.html",
        rows=[
            {"article": a, "hits": hits.get(a.id or 0, []), "marks": marks.get(a.id or 0, [])}
            for a in rows
        ],
        params=params,
        within=list(WITHIN),
        languages=store.article_languages(),
        topic_ids=[t.id for t in desk.topics],
        older_qs=qs(params, before=rows[-1].id) if more and rows else None,
        at_top=before is None,
        filter_qs=qs(params),
        back=_back(request),
    )


def article_page(request: Request) -> Response:
    """GET /articles/ID: the article's text and its standing for every topic."""
    desk = desk_of(request)
    store = desk.store
    aid = path_id(request, "article_id")
    a = store.article(aid)
    hits, marks = store.article_reviews([aid])
    by_topic_hit = {h.topic_id: h for h in hits.get(aid, [])}
    by_topic_mark = {n.topic_id: n for n in marks.get(aid, [])}
    ids = [t.id for t in desk.topics]
    ids += sorted((set(by_topic_hit) | set(by_topic_mark)) - set(ids))
    standing = []
    for tid in ids:
        n = by_topic_mark.get(tid)
        standing.append(
            {
                "topic": tid,
                "hit": by_topic_hit.get(tid),
                "nm": n,
                "trail": store.label_trail(aid, tid)[:20],
            }
        )
    focus = request.query_params.get("topic")
    ev = (by_topic_mark[focus].evidence or {}) if focus in by_topic_mark else {}
    hl = Highlighter.for_evidence(ev, None)
    text = a.text if a.text else a.summary
    return desk.render(
        request,
        "article.html",
        article=a,
        title=hl.mark(a.title),
        paragraphs=hl.paragraphs(text),
        text_source="page" if a.text else "feed summary",
        standing=standing,
        focus=focus,
        sources=store.article_sources(aid),
        back=_back(request),
    )


async def label_article(request: Request) -> Response:
    """POST /articles/ID/label (topic, label, note, back): a label for one topic."""
    desk = desk_of(request)
    form = await desk.verified_form(request)
    desk.require(request, "analyst")
    aid = path_id(request, "article_id")
    label = form.get("label", "")
    topic = (form.get("topic") or "").strip()
    if label not in LABELS:
        raise HTTPException(400, "label must be relevant, irrelevant or clear")
    if not topic or len(topic) > 200 or (desk.topics and desk.topic(topic) is None):
        raise HTTPException(400, "topic must be one of the configured topics")
    note = (form.get("note") or "").strip()[:MAX_NOTE] or None
    await run_in_threadpool(
        lambda: desk.store.mark_article(aid, topic, LABELS[label], note, by=desk.reader(request))
    )
    return RedirectResponse(safe_next(form.get("back"), f"/articles/{aid}"), 303)


routes = [
    Route("/near-misses", near_misses_page),
    Route("/near-misses/rescan", rescan, methods=["POST"]),
    Route("/articles", articles_page),
    Route("/articles/{article_id:int}", article_page),
    Route("/articles/{article_id:int}/label", label_article, methods=["POST"]),
]
