"""JSON Feed (jsonfeed.org) documents: items to entries, as for RSS and Atom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.errors import FeedParseError
from monitor.feeds.entry import (
    MAX_SUMMARY,
    MAX_TITLE,
    Entry,
    ParsedFeed,
    canonical_url,
    plain_text,
    plain_title,
    safe_link,
)


def looks_like_json_feed(body: bytes, headers: dict[str, str] | None) -> bool:
    ctype = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type", "")
    head = body.lstrip()[:200]
    return "json" in ctype or (head.startswith(b"{") and b"jsonfeed" in body[:2000])


def parse_json_feed(body: bytes, *, url: str, max_entries: int, now: datetime) -> ParsedFeed:
    import json

    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested 100,000 deep
        raise FeedParseError(f"invalid JSON feed: {str(exc)[:200]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise FeedParseError("JSON without an 'items' list: not a JSON Feed")
    entries: list[Entry] = []
    skipped = 0
    seen: set[str] = set()
    for item in data["items"][:max_entries]:
        if not isinstance(item, dict):
            skipped += 1
            continue
        link = safe_link(item.get("url") or item.get("external_url"), url)
        if link is None:
            skipped += 1
            continue
        guid = str(item.get("id") or "") or None
        published = None
        for k in ("date_published", "date_modified"):
            if item.get(k):
                try:
                    published = datetime.fromisoformat(str(item[k]).replace("Z", "+00:00"))
                    if published.tzinfo is None:
                        published = published.replace(tzinfo=UTC)
                    published = published.astimezone(UTC)
                    if published > now + timedelta(days=1):
                        published = None
                except ValueError:
                    published = None
                break
        summary = plain_text(
            item.get("summary") or item.get("content_html") or item.get("content_text"), MAX_SUMMARY
        )
        canon = canonical_url(link)
        key = (guid or canon)[:500]
        if key in seen:  # duplicate id within one document, as for RSS and Atom
            continue
        seen.add(key)
        entries.append(
            Entry(
                key=key,
                link=link,
                canonical_url=canon,
                guid=guid,
                title=plain_title(item.get("title"), MAX_TITLE),
                summary=summary,
                published=published,
            )
        )
    return ParsedFeed(
        title=plain_title(data.get("title"), MAX_TITLE) or None, entries=entries, skipped=skipped
    )
