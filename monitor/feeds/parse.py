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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
import nh3
from feedparser.datetimes import _parse_date as feedparser_date
from feedparser.mixin import _cp1252, _FeedParserMixin
from feedparser.urls import _urljoin as _fp_urljoin
from lxml import etree

from monitor.errors import FeedParseError

TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|_gl|"
    r"ref|ref_src|ref_url|cmpid|ocid|smid|smtyp|rss|rssfeed|feature|at_medium|at_campaign|"
    r"at_custom[0-9]*|sr_share|mkt_tok|spm|share|s_cid|__twitter_impression)$",
    re.I,
)
MAX_TITLE = 500
MAX_SUMMARY = 4000
# feedparser has no limits of its own: it reads every entry (100,000 tiny ones take it a
# minute) and looks each attribute up by a linear scan (30,000 attributes on one element,
# half a megabyte, take it longer still). Both are cut short before it starts.
_ENTRY_END = re.compile(rb"</(?:[A-Za-z][\w.-]*:)?(?:item|entry)\s*>", re.I)
_LONG_TAG = re.compile(rb"<[A-Za-z][^<>]{20000,}>")
MAX_ATTRIBUTES = 1000


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
    if _looks_like_json_feed(body, headers):
        return _parse_json_feed(body, url=url, max_entries=max_entries, now=now)
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
    return _parsed(d.feed.get("title"), d.entries[:max_entries], url, now, warning)


def _parsed(
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


# --- the plain-XML fast path -------------------------------------------------------------
#
# feedparser turns every run of character data into a Python callback: on real feeds
# (whole articles, escaped, in <content:encoded>) that is most of its time. For the
# common case - a well-formed RSS 2.0 or Atom 1.0 document in UTF-8, served as XML, with
# no DTD and no xml:base, whose entries hold only elements whose meaning below is the
# same as feedparser's - lxml reads the same fields several times faster. Anything else
# goes to feedparser. tests/test_feeds_fast.py checks that both give the same result on
# the real feed corpora.

_ATOM = "{http://www.w3.org/2005/Atom}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC = "{http://purl.org/dc/elements/1.1/}"
_MEDIA = "{http://search.yahoo.com/mrss/}"
_XML_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml")
# Item children the fast path reads.
_RSS_READ = {"title", "link", "guid", "description", "pubDate", _CONTENT, _DC + "date"}
_ATOM_READ = {_ATOM + n for n in ("title", "id", "summary", "content", "published", "updated")}
# Elements feedparser has a handler for that set none of the fields newsmon reads.
_HARMLESS = {
    "category",
    "author",
    "comments",
    "enclosure",
    "source",
    "dc_creator",
    "dc_subject",
    "dc_rights",
    "dc_language",
    "dc_publisher",
    "dc_contributor",
    "media_content",
    "media_thumbnail",
    "media_credit",
    "media_keywords",
    "media_category",
    "media_rating",
    "media_player",
    "itunes_author",
    "itunes_image",
    "itunes_duration",
    "itunes_explicit",
    "itunes_keywords",
    "itunes_category",
    "itunes_block",
    "itunes_name",
    "itunes_email",
    "slash_comments",
    "wfw_commentrss",
    "wfw_comment",
    "feedburner_origlink",
    "contributor",
    "rights",
}
_ATOM_NS = _ATOM[1:-1].lower()
_PERSON = {_ATOM + n for n in ("name", "email", "uri")}
_FP_PREFIX = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}


def _harmless(child: Any) -> bool:
    """An element of an item that cannot change the fields we read, in feedparser."""
    qn = etree.QName(child)
    ns = (qn.namespace or "").lower()
    if len(child):
        # feedparser reads what is inside by its own rules; an Atom person is harmless
        return (
            ns == _ATOM_NS
            and qn.localname in ("author", "contributor")
            and all(
                not isinstance(c.tag, str)
                or (c.tag in _PERSON and not len(c))
                or (not c.tag.startswith(_ATOM) and _harmless(c))
                for c in child
            )
        )
    prefix = _FP_PREFIX.get(ns, child.prefix or "") if ns else ""
    name = f"{prefix}_{qn.localname}".lower() if prefix else qn.localname.lower()
    if name == "link" and ns == _ATOM_NS:
        return child.get("rel", "alternate") != "alternate" and child.get("href") is not None
    if name in _HARMLESS:
        return True
    handled = hasattr(_FeedParserMixin, f"_start_{name}") or hasattr(
        _FeedParserMixin, f"_end_{name}"
    )
    return not handled


def _fp(value: str | None, *, base: str | None = None, link: bool = False) -> str:
    """Text as feedparser's ``pop`` leaves it: stripped, cp1252 controls mapped, URIs
    resolved against the base, UTF-8 read as Latin-1 repaired, link entities undone."""
    out = (value or "").strip()
    if _C1.search(out):  # rare: translate() with a table is slow on long text
        out = out.translate(_cp1252)
    if base is not None and out:
        if base is _XML_BASE:  # feedparser would resolve against xml:base; absolute is safe
            if not _ABSOLUTE.match(out):
                raise _NeedFeedparser
        else:
            out = _fp_urljoin(base, out)
    try:
        out = out.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    if link:
        out = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", out.replace("&amp;", "&"))
    return out


_TEXT_TYPES = {None, "text", "html", "text/plain", "text/html"}
_C1 = re.compile("[\x80-\x9f]")
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]")
_XML_BASE: Any = object()  # stands for a base only feedparser knows


class _NeedFeedparser(Exception):
    """Raised inside the fast path when feedparser's rules would give another value."""


_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)


def _parse_plain_xml(
    body: bytes, *, url: str, content_type: str | None, max_entries: int, now: datetime
) -> ParsedFeed | None:
    """The feed read with lxml, or None when feedparser must read it (see above)."""
    if content_type is None:
        return None  # feedparser warns that the server gave no content type
    ctype, _, params = content_type.partition(";")
    if ctype.strip().lower() not in _XML_TYPES:
        return None  # text/xml, text/html, ...: feedparser's encoding rules and warnings
    charset = params.lower().partition("charset=")[2].strip(" \"'")
    if charset and charset.replace("-", "") != "utf8":
        return None
    if b"<!DOCTYPE" in body[:4096].upper():
        return None
    try:
        return _read_plain_xml(
            body,
            url=_XML_BASE if b"xml:base" in body else url,
            feed_url=url,
            max_entries=max_entries,
            now=now,
        )
    except _NeedFeedparser:
        return None


def _read_plain_xml(
    body: bytes, *, url: Any, feed_url: str, max_entries: int, now: datetime
) -> ParsedFeed | None:
    head = body[:4096]
    decl = re.match(
        rb"\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)", head.removeprefix(b"\xef\xbb\xbf")
    )
    if decl and decl.group(1).lower().replace(b"-", b"") != b"utf8":
        return None
    try:
        root = etree.fromstring(body, _XML_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root.tag == "rss" and root.get("version") in ("2.0", "0.91", "0.92"):
        channel = root.find("channel")
        if channel is None:
            return None
        raw: list[dict[str, Any]] = []
        for item in channel.iterchildren("item"):
            if len(raw) == max_entries:
                break
            e = _rss_item(item, url)
            if e is None:
                return None
            raw.append(e)
        if root.find(".//" + _ATOM + "entry") is not None or root.find(".//entry") is not None:
            return None
        title = _feed_title(channel, "title")
        if title is False:
            return None
        return _parsed(title, raw, feed_url, now)
    if root.tag == _ATOM + "feed":
        el = root.find(_ATOM + "title")
        if el is not None and (el.get("type") not in _TEXT_TYPES or len(el)):
            return None
        title = _feed_title(root, _ATOM + "title")
        if title is False or any(
            etree.QName(c).localname.lower() == "item" for c in root if isinstance(c.tag, str)
        ):
            return None  # feedparser takes an <item> in Atom for an entry
        raw_atom: list[dict[str, Any]] = []
        for entry in root.iterchildren(_ATOM + "entry"):
            if len(raw_atom) == max_entries:
                break
            e = _atom_entry(entry, url)
            if e is None:
                return None
            raw_atom.append(e)
        return _parsed(title, raw_atom, feed_url, now)
    return None


def _feed_title(parent: Any, tag: str) -> str | Literal[False] | None:
    """The feed's title, or False when another element could give it (dc:title, ...)."""
    el = None
    for c in parent:
        if not isinstance(c.tag, str) or etree.QName(c).localname.lower() != "title":
            continue
        if c.tag != tag or el is not None:
            return False
        el = c
    return _fp(_text_of(el)) if el is not None else None


def _text_of(el: Any) -> str | None:
    if el is None:
        return None
    if len(el):
        return "".join(el.itertext())
    return el.text or ""


def _date(el: Any) -> Any:
    text = (el.text or "").strip()
    return feedparser_date(text) if text else None


def _rss_item(item: Any, base: str) -> dict[str, Any] | None:
    seen: dict[str, Any] = {}
    for child in item:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # a comment or processing instruction
        if tag in _RSS_READ:
            if tag in seen or len(child):
                return None  # two of them, or markup inside: feedparser's own rules
            seen[tag] = child
        elif not _harmless(child):
            return None
    e: dict[str, Any] = {}
    if "title" in seen:
        e["title"] = _fp(seen["title"].text)
    guid = seen.get("guid")
    permalink = guid is not None and guid.get("isPermaLink", "true") == "true"
    if guid is not None:
        e["id"] = _fp(guid.text, base=base if permalink else None)
    if "link" in seen:
        e["link"] = _fp(seen["link"].text, base=base, link=True)
    elif permalink and e.get("id"):
        e["link"] = e["id"]
    if "description" in seen:
        e["summary"] = _fp(seen["description"].text)
    if _CONTENT in seen and not e.get("summary"):  # newsmon reads content only then
        e["content"] = [{"value": _fp(seen[_CONTENT].text)}]
    if "pubDate" in seen:
        e["published_parsed"] = _date(seen["pubDate"])
    if _DC + "date" in seen:
        e["updated_parsed"] = _date(seen[_DC + "date"])
    return e


def _atom_entry(entry: Any, base: str) -> dict[str, Any] | None:
    e: dict[str, Any] = {}
    alternates: list[str] = []
    for child in entry:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag == _ATOM + "link":
            rel, href = child.get("rel", "alternate"), child.get("href")
            if (
                rel == "alternate"
                and href is not None
                and child.get("type") in (None, "text/html", "application/xhtml+xml")
                and not len(child)
            ):
                alternates.append(href)
                continue
            if _harmless(child):
                continue
            return None
        if tag not in _ATOM_READ:
            if _harmless(child):
                continue
            return None
        name = tag[len(_ATOM) :]
        if (
            name in e
            or f"{name}_parsed" in e
            or len(child)
            or (
                name in ("title", "summary", "content")
                and (child.get("type") not in _TEXT_TYPES or child.get("src") is not None)
            )
        ):
            return None
        if name == "id":  # feedparser resolves it like a permalink guid
            e["id"] = _fp(child.text, base=base)
        elif name in ("published", "updated"):
            e[name + "_parsed"] = _date(child)
        elif name == "content":
            e["content"] = [{"value": child.text}]  # made text below, if it is read
        else:
            e[name] = _fp(child.text)
    if len(alternates) > 1:
        return None
    if alternates:
        e["link"] = _fp(alternates[0], base=base)
    if "content" in e:
        if e.get("summary"):  # newsmon reads content only without a summary
            del e["content"]
        else:
            e["content"][0]["value"] = _fp(e["content"][0]["value"])
    return e


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


def _safe_link(link: str | None, base: str) -> str | None:
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


def _looks_like_json_feed(body: bytes, headers: dict[str, str] | None) -> bool:
    ctype = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type", "")
    head = body.lstrip()[:200]
    return "json" in ctype or (head.startswith(b"{") and b"jsonfeed" in body[:2000])


def _parse_json_feed(body: bytes, *, url: str, max_entries: int, now: datetime) -> ParsedFeed:
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
            link = _safe_link(href, base)
            if link and link not in found:
                found.append(link)
    return found
