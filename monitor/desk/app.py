"""The review desk: server-rendered pages over the store (Starlette + Jinja2).

Pages: hits (filters, full-text search, keyset paging, export), one hit (text with
the evidence highlighted, score composition, sources, alerts, label buttons),
topics (definition, hits per day, precision from the labels), feeds (health) and
alerts (the outbox). Reads go through :class:`monitor.store.Store`; the only write
is a hit's label, through :meth:`Store.mark_hit` as ``newsmon hits mark`` does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from monitor.desk.highlight import Highlighter, group_order, legend, sentence_groups
from monitor.desk.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    Security,
    SecurityMiddleware,
    safe_next,
    session_cookie_header,
)
from monitor.errors import NotFound, StoreError
from monitor.export import lines
from monitor.redact import redact
from monitor.store import Feed, HitFilter, Store, mask_db_url, utcnow
from monitor.topics.language import TopicConfig

HERE = Path(__file__).parent
PAGE_SIZE = 50
COUNT_CAP = 10_000  # a filtered list says "10,000+" rather than counting further
LABELS = {"relevant": "relevant", "irrelevant": "irrelevant", "clear": None}
WITHIN = {
    "24h": timedelta(hours=24),
    "3d": timedelta(days=3),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
CHART_DAYS = 30
MAX_NOTE = 2000
FILTER_KEYS = (
    "q",
    "topic",
    "label",
    "feed",
    "lang",
    "within",
    "from",
    "to",
    "min_score",
    "max_score",
)


@dataclass
class Desk:
    """What the views share: the store, the topics from the config, the security."""

    store: Store
    topics: list[TopicConfig] = field(default_factory=list)
    security: Security = field(default_factory=Security)
    config_problem: str | None = None

    def topic(self, topic_id: str) -> TopicConfig | None:
        return next((t for t in self.topics if t.id == topic_id), None)


# --- helpers -------------------------------------------------------------------------


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = when
    env.filters["ago"] = ago
    env.filters["http_url"] = http_url
    env.filters["host"] = lambda u: urlsplit(u).netloc if u else ""
    env.filters["pct"] = lambda x: "-" if x is None else f"{100 * x:.0f}%"
    env.filters["num"] = lambda n: f"{n:,}"
    return env


def when(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if dt else "-"


def ago(dt: datetime | None, now: datetime | None = None) -> str:
    if dt is None:
        return "never"
    secs = ((now or utcnow()) - dt).total_seconds()
    future = secs < 0
    secs = abs(secs)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            n = int(secs // size)
            return f"in {n} {unit}" if future else f"{n} {unit} ago"
    return "just now"


def http_url(url: str | None) -> str | None:
    """Only http(s) links from feeds become links: never ``javascript:`` or ``data:``."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _date(value: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        return None


def _float(value: str, name: str, problems: list[str]) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        problems.append(f"{name} must be a number (ignored: {value!r})")
        return None


def parse_filters(
    qp: QueryParams, now: datetime | None = None
) -> tuple[HitFilter, dict[str, str], list[str]]:
    """Query parameters -> a HitFilter, the cleaned parameters, and problems to show."""
    params = {k: qp.get(k, "").strip()[:200] for k in FILTER_KEYS}
    problems: list[str] = []
    f = HitFilter(
        topic=params["topic"] or None, search=params["q"] or None, language=params["lang"] or None
    )
    if params["label"] in ("relevant", "irrelevant", "unreviewed"):
        f.label = params["label"]
    elif params["label"]:
        problems.append(f"unknown label {params['label']!r} (ignored)")
        params["label"] = ""
    if params["feed"]:
        if params["feed"].isdigit():
            f.feed_id = int(params["feed"])
        else:
            problems.append("feed must be a feed id (ignored)")
            params["feed"] = ""
    if params["within"] in WITHIN:
        f.since = (now or utcnow()) - WITHIN[params["within"]]
    elif params["within"]:
        params["within"] = ""
    for key, attr, shift in (("from", "since", timedelta(0)), ("to", "until", timedelta(days=1))):
        if params[key]:
            d = _date(params[key])
            if d is None:
                problems.append(f"{key} must be a date YYYY-MM-DD (ignored)")
                params[key] = ""
            elif attr == "since":
                f.since = max(f.since, d) if f.since else d
            else:
                f.until = d + shift
    f.min_score = _float(params["min_score"], "min score", problems)
    f.max_score = _float(params["max_score"], "max score", problems)
    return f, {k: v for k, v in params.items() if v}, problems


def _qs(params: dict[str, Any], **extra: Any) -> str:
    merged = {**params, **{k: v for k, v in extra.items() if v not in (None, "")}}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def bars(
    per_day: dict[date, int], days: int = CHART_DAYS, today: date | None = None
) -> dict[str, Any]:
    """Hits per day as bar geometry for a small inline SVG chart."""
    today = today or utcnow().date()
    series = [(today - timedelta(days=days - 1 - i)) for i in range(days)]
    counts = [per_day.get(d, 0) for d in series]
    top = max(counts) or 1
    width, height, gap = 8, 48, 2
    out = []
    for i, (d, n) in enumerate(zip(series, counts, strict=True)):
        h = 0 if n == 0 else max(2, round(height * n / top))
        out.append(
            {
                "x": i * (width + gap),
                "y": height - h,
                "w": width,
                "h": h,
                "n": n,
                "day": d.isoformat(),
            }
        )
    return {
        "bars": out,
        "max": max(counts),
        "total": sum(counts),
        "width": days * (width + gap) - gap,
        "height": height,
        "first": series[0].isoformat(),
        "last": series[-1].isoformat(),
    }


def rule_text(rule: Any, indent: int = 0) -> list[str]:
    """A topic rule as indented lines (the YAML structure, read aloud)."""
    pad = "  " * indent
    if rule is None:
        return [pad + "any group matches"]
    if isinstance(rule, str):
        return [pad + rule]
    data = rule.model_dump() if hasattr(rule, "model_dump") else rule
    if "group" in data:
        return [
            pad + data["group"] + (f" (at least {data['min']})" if data.get("min", 1) > 1 else "")
        ]
    for key, label in (("all", "all of"), ("any", "any of"), ("none", "none of")):
        if key in data:
            return [pad + label] + [
                ln for r in getattr(rule, key) for ln in rule_text(r, indent + 1)
            ]
    if "at_least" in data:
        return [pad + f"at least {data['at_least']} of"] + [
            ln for r in rule.of for ln in rule_text(r, indent + 1)
        ]
    if "sentence" in data:
        return [pad + "in one sentence:"] + rule_text(rule.sentence, indent + 1)
    return [pad + json.dumps(data)]


def last_trained(topic_id: str) -> datetime | None:
    """When the topic's newest model (candidate or active) was trained, if the learning
    loop (monitor.topics.learn) has one; labels after that are the ones it has not used yet."""
    try:
        from monitor.topics.model import load_model, model_path
    except Exception:  # noqa: BLE001 - no learning loop here: the desk works without it
        return None
    newest = None
    for kind in ("candidate", "active"):
        try:
            trained = datetime.fromisoformat(load_model(model_path(topic_id, kind)).trained_at)
        except Exception:  # noqa: BLE001 - no model, or one we cannot read: not trained
            continue
        trained = trained if trained.tzinfo else trained.replace(tzinfo=UTC)
        newest = trained if newest is None or trained > newest else newest
    return newest


def _term_text(spec: Any) -> str:
    return (
        spec
        if isinstance(spec, str)
        else (
            spec.text
            + (" (exact case)" if spec.case_sensitive else "")
            + (f" ×{spec.weight:g}" if spec.weight != 1 else "")
        )
    )


# --- the app -----------------------------------------------------------------------------


def create_app(
    store: Store,
    topics: Sequence[TopicConfig] | None = None,
    *,
    token: str | None = None,
    config_problem: str | None = None,
) -> Starlette:
    """The review desk over ``store``. ``topics`` (from the config) give definitions and
    colours; without them the desk still lists and labels every stored hit."""
    desk = Desk(
        store=store,
        topics=list(topics or []),
        security=Security(token=token),
        config_problem=config_problem,
    )
    env = _env()

    def render(request: Request, name: str, code: int = 200, **ctx: Any) -> HTMLResponse:
        started = request.scope.get("state", {}).get("started", time.perf_counter())
        cookie = request.scope["state"]["csrf_cookie"]
        base = {
            "request": request,
            "csrf_field": CSRF_FIELD,
            "csrf_token": desk.security.csrf_token(cookie),
            "database": mask_db_url(store.url),
            "auth": bool(desk.security.token),
            "config_problem": desk.config_problem,
            "path": request.url.path,
        }
        html = env.get_template(name).render(**base, **ctx)
        elapsed = (time.perf_counter() - started) * 1000
        return HTMLResponse(
            html, status_code=code, headers={"server-timing": f"app;dur={elapsed:.1f}"}
        )

    async def verified_form(request: Request) -> dict[str, str]:
        """The submitted form, after the CSRF and origin checks (403 otherwise)."""
        form = await request.form(max_files=0, max_fields=20)
        sec = desk.security
        cookie = request.cookies.get(CSRF_COOKIE)
        if not sec.origin_ok(request) or not sec.csrf_ok(cookie, str(form.get(CSRF_FIELD, ""))):
            raise HTTPException(
                403, "the form's CSRF token is missing or wrong: reload the page and try again"
            )
        return {k: str(v) for k, v in form.items()}

    # -- hits ----------------------------------------------------------------------------

    def hits_page(request: Request) -> Response:
        f, params, problems = parse_filters(request.query_params)
        before, after = (
            _int(request.query_params.get("before")),
            _int(request.query_params.get("after")),
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
                    "snippet": sents[0]["text"] if sents else (a.summary or "")[:300],
                    "threshold": ev.get("threshold"),
                }
            )
        first = page.rows[0][0].id if page.rows else None
        last = page.rows[-1][0].id if page.rows else None
        more_than = filtered and total > COUNT_CAP
        return render(
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
            newer_qs=_qs(params, after=first) if page.has_newer else None,
            older_qs=_qs(params, before=last) if page.has_older else None,
            at_top=before is None and after is None,
            filter_qs=_qs(params),
            export_qs=_qs(params),
        )

    def export(request: Request) -> Response:
        from monitor.export import hit_record, iter_hits  # as `newsmon hits export`

        fmt = request.query_params.get("format", "csv")
        if fmt not in ("csv", "jsonl"):
            raise HTTPException(400, "format must be csv or jsonl")
        f, _, _ = parse_filters(request.query_params)
        records = (hit_record(h, a) for h, a in iter_hits(store, f))

        stamp = utcnow().strftime("%Y%m%d-%H%M")
        return StreamingResponse(
            lines(records, fmt),
            media_type="text/csv; charset=utf-8"
            if fmt == "csv"
            else "application/x-ndjson; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="newsmon-hits-{stamp}.{fmt}"'},
        )

    def hit_page(request: Request) -> Response:
        hit_id = request.path_params["hit_id"]
        h, a = store.hit(hit_id)
        f, params, _ = parse_filters(request.query_params)
        try:
            newer, older = store.hit_neighbours(f, hit_id)
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
        trained = last_trained(h.topic_id)
        labels = store.labels_since(trained, topic=h.topic_id).get(h.topic_id, 0)
        score_parts = legend(ev, tgroups)
        return render(
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
            groups=score_parts,
            sources=store.article_sources(a.id or 0),
            deliveries=store.deliveries_for_hit(hit_id),
            newer=newer,
            older=older,
            filter_qs=_qs(params),
            labels_on_topic=labels,
            trained=trained,
            current_version=topic.version if topic else None,
            back=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        )

    async def label_hit(request: Request) -> Response:
        form = await verified_form(request)
        hit_id = request.path_params["hit_id"]
        label = form.get("label", "")
        if label not in LABELS:
            raise HTTPException(400, "label must be relevant, irrelevant or clear")
        note = (form.get("note") or "").strip()[:MAX_NOTE] or None
        await run_in_threadpool(
            store.mark_hit, hit_id, LABELS[label], note if LABELS[label] else None
        )
        target = safe_next(form.get("back"), f"/hits/{hit_id}")
        if form.get("advance") and form.get("older"):
            older = _int(form.get("older"))
            query = urlsplit(target).query
            if older is not None:
                target = f"/hits/{older}" + (f"?{query}" if query else "")
        return RedirectResponse(target, 303)

    # -- topics, feeds, alerts ---------------------------------------------------------------

    def topics_page(request: Request) -> Response:
        today = utcnow().date()
        per_day = store.hits_per_day(
            datetime.combine(today - timedelta(days=CHART_DAYS - 1), datetime.min.time(), UTC)
        )
        stats = store.label_counts()
        ids = [t.id for t in desk.topics] + sorted(set(stats) - {t.id for t in desk.topics})
        cards = []
        for tid in ids:
            t = desk.topic(tid)
            st = stats.get(
                tid,
                {
                    "hits": 0,
                    "relevant": 0,
                    "irrelevant": 0,
                    "unreviewed": 0,
                    "last_labeled_at": None,
                },
            )
            judged = st["relevant"] + st["irrelevant"]
            trained = last_trained(tid)
            cards.append(
                {
                    "id": tid,
                    "topic": t,
                    "stats": st,
                    "judged": judged,
                    "precision": st["relevant"] / judged if judged else None,
                    "chart": bars(per_day.get(tid, {}), today=today),
                    "labels": store.labels_since(trained, topic=tid).get(tid, 0),
                    "trained": trained,
                    "rule": rule_text(t.rule) if t else [],
                    "groups": [
                        (g, grp.weight, [_term_text(x) for x in grp.terms], grp.description)
                        for g, grp in t.groups.items()
                    ]
                    if t
                    else [],
                    "exclude": [(e.window, [_term_text(x) for x in e.terms]) for e in t.exclude]
                    if t
                    else [],
                }
            )
        return render(request, "topics.html", cards=cards, chart_days=CHART_DAYS)

    def feeds_page(request: Request) -> Response:
        feeds = [f for f in store.feeds()]
        counts = store.feed_counts()
        rows = sorted(feeds, key=_trouble)
        return render(
            request,
            "feeds.html",
            rows=[
                {
                    "feed": f,
                    "state": feed_state(f),
                    "articles": counts.get(f.id or 0, (0, 0))[0],
                    "hits": counts.get(f.id or 0, (0, 0))[1],
                    "url": redact(http_url(f.fetch_url or f.url)),
                }
                for f in rows
            ],
            failing=sum(1 for f in feeds if f.consecutive_failures or f.gone),
        )

    def alerts_page(request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status not in (None, "pending", "sending", "sent", "failed", "dead"):
            status = None
        before = _int(request.query_params.get("before"))
        rows = store.outbox(status, limit=PAGE_SIZE + 1, before=before)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return render(
            request,
            "alerts.html",
            rows=rows,
            counts=store.delivery_counts(),
            status=status,
            older_qs=_qs({"status": status or ""}, before=rows[-1][0].id) if more else None,
        )

    # -- login -------------------------------------------------------------------------------

    def login_page(request: Request) -> Response:
        if not desk.security.token:
            return RedirectResponse("/hits", 303)
        return render(
            request, "login.html", next=safe_next(request.query_params.get("next")), failed=False
        )

    async def login(request: Request) -> Response:
        form = await verified_form(request)
        nxt = safe_next(form.get("next"))
        if not desk.security.token_ok(form.get("token")):
            return render(request, "login.html", code=401, next=nxt, failed=True)
        resp = RedirectResponse(nxt, 303)
        resp.headers.append("set-cookie", session_cookie_header(desk.security))
        return resp

    async def logout(request: Request) -> Response:
        await verified_form(request)
        resp = RedirectResponse("/login" if desk.security.token else "/hits", 303)
        resp.headers.append("set-cookie", f"{SESSION_COOKIE}=; Path=/; Max-Age=0")
        return resp

    def home(request: Request) -> Response:
        return RedirectResponse("/hits", 303)

    # -- errors ------------------------------------------------------------------------------

    def not_found(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "error.html",
            code=404,
            title="Not found",
            message=str(exc) if isinstance(exc, NotFound) else "No such page.",
        )

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if "csrf_cookie" not in request.scope.get("state", {}):
            return Response(exc.detail, exc.status_code)
        return render(
            request,
            "error.html",
            code=exc.status_code,
            title={403: "Refused", 400: "Bad request"}.get(exc.status_code, "Error"),
            message=exc.detail,
        )

    def store_error(request: Request, exc: Exception) -> Response:
        return render(
            request, "error.html", code=503, title="Database unavailable", message=str(exc)
        )

    routes = [
        Route("/", home),
        Route("/hits", hits_page),
        Route("/hits/export", export),
        Route("/hits/{hit_id:int}", hit_page),
        Route("/hits/{hit_id:int}/label", label_hit, methods=["POST"]),
        Route("/topics", topics_page),
        Route("/feeds", feeds_page),
        Route("/alerts", alerts_page),
        Route("/login", login_page),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityMiddleware, security=desk.security)],
        exception_handlers={
            NotFound: not_found,
            404: not_found,
            HTTPException: http_error,
            StoreError: store_error,
        },
    )
    app.state.desk = desk
    return app


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


__all__ = ["Desk", "create_app", "parse_filters"]
