"""Topics: each one's definition, hits per day, and precision from the labels."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.desk import training
from monitor.desk.views import desk_of
from monitor.store import utcnow

CHART_DAYS = 30


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


def topics_page(request: Request) -> Response:
    desk = desk_of(request)
    store = desk.store
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
        trained = training.last_trained(tid)
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
    return desk.render(request, "topics.html", cards=cards, chart_days=CHART_DAYS)


routes = [Route("/topics", topics_page)]
