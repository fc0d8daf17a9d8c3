"""The plain-XML fast path of feed parsing: a well-formed RSS 2.0 or Atom 1.0 document read
with lxml, as feedparser would read it, several times faster (see the note below)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from feedparser.datetimes import _parse_date as feedparser_date
from feedparser.mixin import _cp1252, _FeedParserMixin
from feedparser.urls import _urljoin as _fp_urljoin
from lxml import etree

from monitor.feeds.entry import ParsedFeed, parsed_feed

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


def parse_plain_xml(
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
        return parsed_feed(title, raw, feed_url, now)
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
        return parsed_feed(title, raw_atom, feed_url, now)
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
