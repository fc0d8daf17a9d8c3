"""A feed entry as newsmon keeps it: the link made canonical, title and summary made
plain text, the date checked; the same for every feed format (RSS and Atom through
feedparser or :mod:`monitor.feeds.plainxml`, JSON Feed through :mod:`monitor.feeds.jsonfeed`).
"""

from __future__ import annotations

import calendar
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
import nh3

TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|_gl|"
    r"ref|ref_src|ref_url|cmpid|ocid|smid|smtyp|rss|rssfeed|feature|at_medium|at_campaign|"
    r"at_custom[0-9]*|sr_share|mkt_tok|spm|share|s_cid|__twitter_impression)$",
    re.I,
)
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
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not TRACKING_PARAMS.match(k)
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def plain_text(value: str | None, limit: int) -> str:
    """Markup to plain text: every tag stripped, entities decoded, space folded.

    This is the sanitiser for everything shown or sent (feedparser's own is off): nh3
    (ammonia) drops every tag, and script and style with their content. Markup that was
    escaped twice (``&amp;lt;script&amp;gt;``) decodes to markup again and is stripped
    again, so the result holds no tag in any form."""
    if not value or not isinstance(value, str):  # a JSON feed may put anything here
        return ""
    for _ in range(3):
        if "<" not in value and "&" not in value:
            break
        value = html.unescape(nh3.clean(value, tags=set(), strip_comments=True))
        if not _MARKUP.search(value):
            break
    else:
        value = value.replace("<", " ").replace(">", " ")  # still markup: no more rounds
    value = re.sub(r"\s+", " ", value).strip()
    return value[:limit]


_MARKUP = re.compile(r"<[A-Za-z/!?]")

# Every HTML element name (and SVG/MathML roots): a "<" before anything else in a
# title is text, as in "BP <BP> may...", and is kept.
_ELEMENTS = (
    "a abbr address area article aside audio b base bdi bdo blockquote body br button "
    "canvas caption cite code col colgroup data datalist dd del details dfn dialog div dl "
    "dt em embed fieldset figcaption figure footer form frame frameset h1 h2 h3 h4 h5 h6 "
    "head header hgroup hr html i iframe img input ins kbd label legend li link main map "
    "mark marquee math menu meta meter nav noembed noframes noscript object ol optgroup "
    "option output p param picture plaintext portal pre progress q rp rt ruby s samp "
    "script search section select slot small source span strike strong style sub summary "
    "sup svg table tbody td template textarea tfoot th thead time title tr track tt u ul "
    "var video wbr xmp image font center big nobr blink applet basefont isindex keygen"
).split()
_NOT_A_TAG = re.compile(
    r"<(?!/?(?:" + "|".join(sorted(_ELEMENTS, key=len, reverse=True)) + r")[\s/>]|[!?])",
    re.IGNORECASE,
)


def plain_title(value: str | None, limit: int) -> str:
    """A title as plain text: :func:`plain_text`, except that a ``<`` that opens no HTML
    element (``BP <BP> may...``, ``x <y``) is the title's own text and is kept."""
    if not value or not isinstance(value, str):
        return ""
    for _ in range(3):  # markup escaped twice is markup again: look after each round
        if "<" not in value and "&" not in value:
            break
        value = html.unescape(
            nh3.clean(_NOT_A_TAG.sub("&lt;", value), tags=set(), strip_comments=True)
        )
        if not _MARKUP.search(_NOT_A_TAG.sub("", value)):
            break
    else:
        value = value.replace("<", " ").replace(">", " ")
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


def parsed_feed(
    title: str | None,
    raw: Sequence[Mapping[str, Any]],
    url: str,
    now: datetime,
    warning: str | None = None,
) -> ParsedFeed:
    entries: list[Entry] = []
    skipped = 0
    seen: set[str] = set()
    for e in raw:
        entry = _entry(e, url, now)
        if entry is None:
            skipped += 1
            continue
        if entry.key in seen:  # duplicate guid within one document
            continue
        seen.add(entry.key)
        entries.append(entry)
    return ParsedFeed(
        title=plain_title(title, MAX_TITLE) or None,
        entries=entries,
        skipped=skipped,
        warning=warning,
    )


def safe_link(link: str | None, base: str) -> str | None:
    if not link or not isinstance(link, str):
        return None
    try:
        raw = urlsplit(link.strip())
        if raw.scheme.lower() in {"http", "https"} and not raw.netloc:
            return None  # "http:" or "http://" alone would resolve to the feed's own URL
        link = urljoin(base, link.strip())
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number 0-65535
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    return link


def _entry(e: feedparser.FeedParserDict, base: str, now: datetime) -> Entry | None:
    link = safe_link(e.get("link"), base)
    if link is None:
        for alt in e.get("links", []) or []:
            if alt.get("rel", "alternate") == "alternate":
                link = safe_link(alt.get("href"), base)
                if link:
                    break
    guid = (e.get("id") or e.get("guid") or "").strip() or None
    if link is None and guid and guid.lower().startswith(("http://", "https://")):
        link = safe_link(guid, base)
    if link is None:
        return None
    canon = canonical_url(link)
    if canon == canonical_url(base):
        return None  # the feed itself ("http://" or "" resolved against it): not an article
    title = plain_title(e.get("title"), MAX_TITLE)
    summary_src = e.get("summary") or ""
    if not summary_src and e.get("content"):
        summary_src = e["content"][0].get("value", "")
    summary = plain_text(summary_src, MAX_SUMMARY)
    key = guid[:500] if guid else canon
    return Entry(
        key=key,
        link=link,
        canonical_url=canon,
        guid=guid,
        title=title,
        summary=summary,
        published=_when(e, now),
    )
