"""The hit list's filters: query parameters in, a :class:`HitFilter` out, with the
problems to show for what was ignored."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from starlette.datastructures import QueryParams
from starlette.requests import Request

from monitor.errors import NotFound
from monitor.store import utcnow
from monitor.store.reading import DeskFilter

WITHIN = {
    "24h": timedelta(hours=24),
    "3d": timedelta(days=3),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
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
    "read",
    "sort",
)
SORTS = ("time", "score", "story")


def _date(value: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        return None


def _float(value: str, name: str, problems: list[str]) -> float | None:
    if not value:
        return None
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):  # "nan" and "inf" are floats to Python, not scores
        problems.append(f"{name} must be a number (ignored: {value!r})")
        return None
    return x


def parse_filters(
    qp: QueryParams, now: datetime | None = None, reader: str = ""
) -> tuple[DeskFilter, dict[str, str], list[str]]:
    """Query parameters -> a filter, the cleaned parameters, and problems to show.
    ``read=unread`` keeps what ``reader`` has not read; ``sort`` (time, score or story)
    is left in the parameters for the list to order by."""
    params = {k: qp.get(k, "").strip()[:200] for k in FILTER_KEYS}
    problems: list[str] = []
    f = DeskFilter(
        topic=params["topic"] or None, search=params["q"] or None, language=params["lang"] or None
    )
    if params["read"] == "unread":
        f.unread_by = reader
    elif params["read"]:
        problems.append(f"read must be unread or empty (ignored: {params['read']!r})")
        params["read"] = ""
    if params["sort"] not in ("", *SORTS):
        problems.append(f"sort must be time, score or story (ignored: {params['sort']!r})")
        params["sort"] = ""
    elif params["sort"] == "time":
        params["sort"] = ""  # the default: the URL stays short
    if params["label"] in ("relevant", "irrelevant", "unreviewed"):
        f.label = params["label"]
    elif params["label"]:
        problems.append(f"unknown label {params['label']!r} (ignored)")
        params["label"] = ""
    if params["feed"]:
        f.feed_id = to_int(params["feed"])
        if f.feed_id is None:
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


MAX_ID = 2**63 - 1  # SQLite's and PostgreSQL's largest integer


def to_int(value: str | None) -> int | None:
    """A positive database id from a query string, or None: only ASCII digits (``²``
    is a digit to :meth:`str.isdigit`), never more than the database can hold."""
    if not value or len(value) > 19 or not (value.isascii() and value.isdigit()):
        return None
    n = int(value)
    return n if 0 < n <= MAX_ID else None


def path_id(request: Request, name: str = "hit_id") -> int:
    """An id from the URL's path; one no database can hold is simply not there (404)."""
    value = request.path_params[name]
    n = value if isinstance(value, int) else to_int(str(value))
    if n is None or not 0 < n <= MAX_ID:
        raise NotFound(f"no {name.removesuffix('_id')} with id {str(value)[:30]}")
    return n
