"""Feed parsing and normalisation: bytes in, clean entries out.

feedparser parses bytes we fetched ourselves. Its HTML sanitiser is most of its
cost, so it is off: titles and summaries are reduced to plain text here (nh3
strips every tag), which is all newsmon displays or sends.

RSS and Atom go to :mod:`monitor.feeds.plainxml` first (lxml, when the document is
plain enough) and to feedparser otherwise; JSON Feed to :mod:`monitor.feeds.jsonfeed`;
every entry is normalised by :mod:`monitor.feeds.entry`.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime

import feedparser

from monitor.errors import FeedParseError
from monitor.feeds.entry import (
    MAX_SUMMARY,
    MAX_TITLE,
    TRACKING_PARAMS,
    Entry,
    ParsedFeed,
    canonical_url,
    parsed_feed,
    plain_text,
    plain_title,
    safe_link,
)
from monitor.feeds.jsonfeed import looks_like_json_feed, parse_json_feed
from monitor.feeds.plainxml import parse_plain_xml as _parse_plain_xml

__all__ = [
    "FEED_TYPES",
    "MAX_ATTRIBUTES",
    "MAX_SUMMARY",
    "MAX_TITLE",
    "TRACKING_PARAMS",
    "Entry",
    "ParsedFeed",
    "body_hash",
    "canonical_url",
    "discover_feed_links",
    "parse_feed",
    "plain_text",
    "plain_title",
]

# feedparser has no limits of its own: it reads every entry (100,000 tiny ones take it a
# minute) and looks each attribute up by a linear scan (30,000 attributes on one element,
# half a megabyte, take it longer still). Both are cut short before it starts.
_ENTRY_END = re.compile(rb"</(?:[A-Za-z][\w.-]*:)?(?:item|entry)\s*>", re.I)
_LONG_TAG = re.compile(rb"<[A-Za-z][^<>]{20000,}>")
MAX_ATTRIBUTES = 1000


def parse_feed(
    body: bytes,
    *,
    url: str,
    headers: dict[str, str] | None = None,
    max_entries: int = 1000,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse fetched bytes into entries; raise FeedParseError when it is not a feed."""
    now = now or datetime.now(UTC)
    if not body.strip():
        raise FeedParseError("empty response: no feed in it")
    if looks_like_json_feed(body, headers):
        return parse_json_feed(body, url=url, max_entries=max_entries, now=now)
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    body = _defuse(body, max_entries)
    fast = _parse_plain_xml(
        body, url=url, content_type=hdrs.get("content-type"), max_entries=max_entries, now=now
    )
    if fast is not None:
        return fast
    hdrs.setdefault("content-location", url)
    try:
        d = feedparser.parse(
            body, response_headers=hdrs, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # noqa: BLE001 - feedparser should not raise; the input is hostile
        raise FeedParseError(f"feed parser failed: {type(exc).__name__}: {exc}") from None
    version = d.get("version") or ""
    if not d.entries and not version:
        found = discover_feed_links(body, url)
        if found:
            raise FeedParseError(
                "this is an HTML page, not a feed; it links to feed(s): " + ", ".join(found[:3]),
                discovered=found,
            )
        reason = d.get("bozo_exception")
        raise FeedParseError("not a feed" + (f": {_bozo(reason)}" if reason else ""))
    warning = _bozo(d.get("bozo_exception")) if d.get("bozo") else None
    return parsed_feed(d.feed.get("title"), d.entries[:max_entries], url, now, warning)


def _defuse(body: bytes, max_entries: int) -> bytes:
    """Refuse an element with thousands of attributes; drop the entries after the first
    ``max_entries`` (keeping the document's closing tags), so parsing time is bounded."""
    for m in _LONG_TAG.finditer(body):
        n = m.group().count(b"=")
        if n > MAX_ATTRIBUTES:
            raise FeedParseError(
                f"not a feed: an element with {n:,} attributes "
                f"(more than {MAX_ATTRIBUTES:,}) at byte {m.start():,}"
            )
    count, cut, last = 0, 0, 0
    for m in _ENTRY_END.finditer(body):
        count += 1
        if count == max_entries:
            cut = m.end()
        last = m.end()
    if count > max_entries > 0:
        return body[:cut] + body[last:]
    return body


def _bozo(exc: object) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if exc else ""


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


_LINK_TAG = re.compile(rb"<link\b[^>]*>", re.I)
_ATTR = re.compile(rb"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
FEED_TYPES = {
    b"application/rss+xml",
    b"application/atom+xml",
    b"application/feed+json",
    b"application/json",
    b"application/rdf+xml",
}


def discover_feed_links(body: bytes, base: str) -> list[str]:
    """Feed URLs an HTML page announces with ``<link rel="alternate" type=...>``."""
    found: list[str] = []
    for tag in _LINK_TAG.findall(body[:500_000]):
        attrs = {
            m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or b"")
            for m in _ATTR.finditer(tag)
        }
        rel = attrs.get(b"rel", b"").lower().split()
        if b"alternate" in rel and attrs.get(b"type", b"").lower() in FEED_TYPES:
            href = html.unescape(attrs.get(b"href", b"").decode("utf-8", "replace"))
            link = safe_link(href, base)
            if link and link not in found:
                found.append(link)
    return found
