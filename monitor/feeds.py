"""Feed parsing and normalisation: bytes in, clean entries out.

feedparser parses bytes we fetched ourselves. Its HTML sanitiser is most of its
cost, so it is off: titles and summaries are reduced to plain text here (nh3
strips every tag), which is all newsmon displays or sends.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from xml.etree import ElementTree

import feedparser
import nh3

from monitor.errors import FeedParseError

TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|_gl|"
    r"ref|ref_src|ref_url|cmpid|ocid|smid|smtyp|rss|rssfeed|feature|at_medium|at_campaign|"
    r"at_custom[0-9]*|sr_share|mkt_tok|spm|share|s_cid|__twitter_impression)$", re.I)
MAX_TITLE = 500
MAX_SUMMARY = 4000


@dataclass
class Entry:
    """One feed entry, normalised."""

    key: str  # stable identity within the feed: guid, else canonical link
    link: str
    canonical_url: str
    guid: str | None
    title: str
    summary: str
    published: datetime | None


@dataclass
class ParsedFeed:
    title: str | None
    entries: list[Entry]
    skipped: int = 0  # entries with no usable link
    warning: str | None = None  # feedparser's bozo exception, when entries came anyway


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop fragment, default port and tracking parameters."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not TRACKING_PARAMS.match(k)]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def plain_text(value: str | None, limit: int) -> str:
    """Markup to plain text: every tag stripped, entities decoded, space folded."""
    if not value:
        return ""
    if "<" in value or "&" in value:
        value = nh3.clean(value, tags=set(), strip_comments=True)
        value = html.unescape(value)
    value = re.sub(r"\s+", " ", value).strip()
    return value[:limit]


def _when(entry: feedparser.FeedParserDict, now: datetime) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        t = entry.get(key)
        if t:
            try:
                dt = datetime.fromtimestamp(calendar.timegm(t), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
            # A date far in the future is a publisher's error, not a fact.
            if dt > now + timedelta(days=1):
                return None
            return dt
    return None


def parse_feed(body: bytes, *, url: str, headers: dict[str, str] | None = None,
               max_entries: int = 1000, now: datetime | None = None) -> ParsedFeed:
    """Parse fetched bytes into entries; raise FeedParseError when it is not a feed."""
    now = now or datetime.now(UTC)
    if not body.strip():
        raise FeedParseError("empty response: no feed in it")
    if _looks_like_json_feed(body, headers):
        return _parse_json_feed(body, url=url, max_entries=max_entries, now=now)
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    hdrs.setdefault("content-location", url)
    try:
        d = feedparser.parse(body, response_headers=hdrs, sanitize_html=False,
                             resolve_relative_uris=False)
    except Exception as exc:  # feedparser should not raise, but the input is hostile
        raise FeedParseError(f"feed parser failed: {type(exc).__name__}: {exc}") from None
    version = d.get("version") or ""
    if not d.entries and not version:
        found = discover_feed_links(body, url)
        if found:
            raise FeedParseError("this is an HTML page, not a feed; it links to feed(s): "
                                 + ", ".join(found[:3]), discovered=found)
        reason = d.get("bozo_exception")
        raise FeedParseError("not a feed" + (f": {_bozo(reason)}" if reason else ""))
    entries: list[Entry] = []
    skipped = 0
    seen: set[str] = set()
    for e in d.entries[:max_entries]:
        entry = _entry(e, url, now)
        if entry is None:
            skipped += 1
            continue
        if entry.key in seen:  # duplicate guid within one document
            continue
        seen.add(entry.key)
        entries.append(entry)
    warning = _bozo(d.get("bozo_exception")) if d.get("bozo") else None
    title = plain_text(d.feed.get("title"), MAX_TITLE) or None
    return ParsedFeed(title=title, entries=entries, skipped=skipped, warning=warning)


def _bozo(exc: object) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if exc else ""


def _safe_link(link: str | None, base: str) -> str | None:
    if not link:
        return None
    try:
        link = urljoin(base, link.strip())
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number 0-65535
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    return link


def _entry(e: feedparser.FeedParserDict, base: str, now: datetime) -> Entry | None:
    link = _safe_link(e.get("link"), base)
    if link is None:
        for alt in e.get("links", []) or []:
            if alt.get("rel", "alternate") == "alternate":
                link = _safe_link(alt.get("href"), base)
                if link:
                    break
    guid = (e.get("id") or e.get("guid") or "").strip() or None
    if link is None and guid and guid.lower().startswith(("http://", "https://")):
        link = _safe_link(guid, base)
    if link is None:
        return None
    canon = canonical_url(link)
    title = plain_text(e.get("title"), MAX_TITLE)
    summary_src = e.get("summary") or ""
    if not summary_src and e.get("content"):
        summary_src = e["content"][0].get("value", "")
    summary = plain_text(summary_src, MAX_SUMMARY)
    key = guid[:500] if guid else canon
    return Entry(key=key, link=link, canonical_url=canon, guid=guid, title=title,
                 summary=summary, published=_when(e, now))


def _looks_like_json_feed(body: bytes, headers: dict[str, str] | None) -> bool:
    ctype = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type", "")
    head = body.lstrip()[:200]
    return "json" in ctype or (head.startswith(b"{") and b"jsonfeed" in body[:2000])


def _parse_json_feed(body: bytes, *, url: str, max_entries: int, now: datetime) -> ParsedFeed:
    import json
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FeedParseError(f"invalid JSON feed: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise FeedParseError("JSON without an 'items' list: not a JSON Feed")
    entries: list[Entry] = []
    skipped = 0
    seen: set[str] = set()
    for item in data["items"][:max_entries]:
        if not isinstance(item, dict):
            skipped += 1
            continue
        link = _safe_link(item.get("url") or item.get("external_url"), url)
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
        summary = plain_text(item.get("summary") or item.get("content_html")
                             or item.get("content_text"), MAX_SUMMARY)
        canon = canonical_url(link)
        key = (guid or canon)[:500]
        if key in seen:  # duplicate id within one document, as for RSS and Atom
            continue
        seen.add(key)
        entries.append(Entry(key=key, link=link, canonical_url=canon,
                             guid=guid, title=plain_text(item.get("title"), MAX_TITLE),
                             summary=summary, published=published))
    return ParsedFeed(title=plain_text(data.get("title"), MAX_TITLE) or None, entries=entries,
                      skipped=skipped)


_LINK_TAG = re.compile(rb"<link\b[^>]*>", re.I)
_ATTR = re.compile(rb"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
FEED_TYPES = {b"application/rss+xml", b"application/atom+xml", b"application/feed+json",
              b"application/json", b"application/rdf+xml"}


def discover_feed_links(body: bytes, base: str) -> list[str]:
    """Feed URLs an HTML page announces with ``<link rel="alternate" type=...>``."""
    found: list[str] = []
    for tag in _LINK_TAG.findall(body[:500_000]):
        attrs = {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or b"")
                 for m in _ATTR.finditer(tag)}
        rel = attrs.get(b"rel", b"").lower().split()
        if b"alternate" in rel and attrs.get(b"type", b"").lower() in FEED_TYPES:
            href = html.unescape(attrs.get(b"href", b"").decode("utf-8", "replace"))
            link = _safe_link(href, base)
            if link and link not in found:
                found.append(link)
    return found


def read_opml(path: str | Path) -> list[dict[str, str]]:
    """The feeds of an OPML export: ``[{"url": ..., "name": ...}]`` (nested outlines too)."""
    try:
        root = ElementTree.fromstring(Path(path).read_bytes())
    except (OSError, ElementTree.ParseError) as exc:
        raise FeedParseError(f"{path}: not a readable OPML file: {exc}") from None
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url or url in seen or not url.lower().startswith(("http://", "https://")):
            continue
        seen.add(url)
        name = (outline.get("title") or outline.get("text") or "").strip()
        out.append({"url": url, "name": name})
    if not out and root.tag.lower() != "opml":
        raise FeedParseError(f"{path}: not an OPML file (root element <{root.tag}>)")
    return out


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
