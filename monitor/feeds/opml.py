"""Feed lists from feed readers: the feeds of an OPML export."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from monitor.errors import FeedParseError


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
        name = "" if name == url else name  # a reader's stand-in for "no name"
        out.append({"url": url, "name": name})
    if not out and root.tag.lower() != "opml":
        raise FeedParseError(f"{path}: not an OPML file (root element <{root.tag}>)")
    return out


def write_opml(feeds: list[dict[str, str]], title: str = "newsmon feeds") -> str:
    """An OPML document of ``[{"url": ..., "name": ...}]``, as feed readers import it
    (and :func:`read_opml` reads back). Credentials in a URL are the caller's to mask."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = title
    body = ElementTree.SubElement(root, "body")
    for f in feeds:
        name = f.get("name") or f["url"]
        ElementTree.SubElement(body, "outline", type="rss", text=name, title=name, xmlUrl=f["url"])
    ElementTree.indent(root)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + ElementTree.tostring(root, encoding="unicode")
        + "\n"
    )
