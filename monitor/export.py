"""Hit records for export and scripting: the same for ``newsmon hits export``,
``newsmon hits --json`` and the review desk's export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from monitor.store import Article, Feed, Hit, HitFilter, NearMiss, Store
from monitor.store.people import LabelStep

# Cells a spreadsheet would run as a formula get a leading quote (CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def hit_record(
    h: Hit, a: Article, *, full: bool = False, story: str | None = None
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": h.id,
        "topic": h.topic_id,
        "score": h.score,
        "label": h.label,
        "label_note": h.label_note,
        "title": a.title,
        "url": a.url,
        "published_at": a.published_at,
        "found_at": h.created_at,
        "language": a.language,
        "topic_version": h.topic_version,
        "evidence_sentences": [s["text"] for s in (h.evidence or {}).get("sentences", [])[:3]],
        "story": story,  # the story (monitor.stories) the article belongs to
    }
    if full:
        rec["evidence"] = h.evidence
        rec["text"] = a.text
        rec["extraction"] = a.extraction
        rec["extraction_error"] = a.extraction_error
    return rec


def _feed_name(f: Feed) -> str:
    """The feed's name, title, or host: never its URL (which may carry credentials)."""
    return f.name or f.title or urlsplit(f.url).hostname or "?"


def iter_hits(
    store: Store,
    f: HitFilter,
    limit: int | None = None,
    *,
    page: int = 500,
    with_text: bool = False,
) -> Iterator[tuple[Hit, Article]]:
    """Hits matching ``f``, newest first, page by page (keyset: a deep page costs what
    the first does)."""
    before, n = None, 0
    while True:
        size = page if limit is None else min(page, limit - n)
        if size <= 0:
            return
        p = store.find_hits(f, limit=size, before=before, with_text=with_text)
        yield from p.rows
        n += len(p.rows)
        if not p.has_older or not p.rows:
            return
        before = p.rows[-1][0].id


def hit_records(
    store: Store, rows: Iterable[tuple[Hit, Article]], *, full: bool = False, chunk: int = 500
) -> Iterator[dict[str, Any]]:
    """:func:`hit_record` of each row with ``feed`` (the names of the feeds the article
    came from) and ``story`` (the story it belongs to), looked up a chunk at a time."""
    batch: list[tuple[Hit, Article]] = []

    def flush() -> Iterator[dict[str, Any]]:
        ids = [a.id for _, a in batch if a.id is not None]
        feeds = store.feeds_of_articles(ids)
        stories = store.story_ids_of(ids)
        for h, a in batch:
            rec = hit_record(h, a, full=full, story=stories.get(a.id or 0))
            names = [_feed_name(f) for f in feeds.get(a.id or 0, [])]
            # after the url, so a spreadsheet reads title, url, feed side by side
            yield {**{k: rec[k] for k in list(rec)[:7]}, "feed": names, **rec}
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            yield from flush()
    yield from flush()


def csv_cell(v: Any) -> Any:
    if isinstance(v, list):
        v = " | ".join(str(x) for x in v)
    elif isinstance(v, dict):
        v = json.dumps(v, default=str)
    if isinstance(v, str) and v.startswith(_FORMULA):
        return "'" + v
    return v


def lines(records: Iterable[dict[str, Any]], fmt: str) -> Iterator[str]:
    """CSV or JSON lines, a chunk at a time."""
    if fmt == "jsonl":
        for rec in records:
            yield json.dumps(rec, ensure_ascii=False, default=str) + "\n"
        return
    buf = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for i, rec in enumerate(records):
        if writer is None:
            writer = csv.DictWriter(buf, fieldnames=list(rec))
            writer.writeheader()
        writer.writerow({k: csv_cell(v) for k, v in rec.items()})
        if i % 200 == 199:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def article_records(store: Store, articles: Sequence[Article]) -> list[dict[str, Any]]:
    """Stored articles, hits or not, each with its hits and its labels and near misses
    for the topics it did not hit (``newsmon articles --json``)."""
    ids = [a.id for a in articles if a.id is not None]
    hits, marks = store.article_reviews(ids)
    feeds = store.feeds_of_articles(ids)
    out = []
    for a in articles:
        aid = a.id or 0
        out.append(
            {
                "id": a.id,
                "title": a.title,
                "url": a.url,
                "feed": [_feed_name(f) for f in feeds.get(aid, [])],
                "published_at": a.published_at,
                "first_seen_at": a.first_seen_at,
                "language": a.language,
                "extraction": a.extraction,
                "hits": [
                    {"topic": h.topic_id, "hit": h.id, "score": h.score, "label": h.label}
                    for h in hits.get(aid, [])
                ],
                "non_hits": [near_miss_record(n) for n in marks.get(aid, [])],
            }
        )
    return out


def near_miss_record(n: NearMiss, a: Article | None = None) -> dict[str, Any]:
    """A topic's near miss or labelled non-hit; with its article's title and link."""
    rec: dict[str, Any] = {
        "topic": n.topic_id,
        "article": n.article_id,
        "reason": n.reason,
        "score": n.score,
        "threshold": n.threshold,
        "priority": n.priority,
        "label": n.label,
        "label_note": n.label_note,
        "labeled_by": n.labeled_by,
        "labeled_at": n.labeled_at,
        "found_at": n.created_at,
    }
    if a is not None:
        rec |= {
            "title": a.title,
            "url": a.url,
            "language": a.language,
            "published_at": a.published_at,
            "rule": (n.evidence or {}).get("rule"),
            "evidence_sentences": [s["text"] for s in (n.evidence or {}).get("sentences", [])[:3]],
        }
    return rec


def label_step_record(e: LabelStep) -> dict[str, Any]:
    """One step of a label trail (:meth:`Store.label_trail`)."""
    return {
        "at": e.at,
        "by": e.user_name,
        "label": e.label,
        "note": e.note,
        "previous_label": e.previous_label,
        "previous_note": e.previous_note,
        "hit": e.hit_id,
        "moved_onto_hit": e.moved,
    }
