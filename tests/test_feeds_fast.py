"""The lxml fast path of ``parse_feed`` gives what feedparser gives, or steps aside.

For every document of the real and edge-case feed corpora the fast path accepts, the
parsed feed (title, every entry's key, link, guid, title, summary, date, the skipped
count) must equal feedparser's. Documents it does not accept go to feedparser, so
this is the whole of the fast path's contract. The corpora live in ../shared; without
them the corpus test is skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import monitor.feeds.parse as feeds
from monitor.feeds.parse import parse_feed

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
URL = "http://news.example/feed"


def both(body: bytes, ctype: str | None) -> tuple[object, object]:
    """(fast path result or None, feedparser's result or its error)."""
    headers = {"content-type": ctype} if ctype else {}
    fast = feeds._parse_plain_xml(
        feeds._defuse(body, 1000), url=URL, content_type=ctype, max_entries=1000, now=NOW
    )
    saved = feeds._parse_plain_xml
    feeds._parse_plain_xml = lambda *a, **k: None  # type: ignore[assignment]
    try:
        slow: object = parse_feed(body, url=URL, headers=headers, now=NOW)
    except Exception as exc:  # noqa: BLE001
        slow = exc
    finally:
        feeds._parse_plain_xml = saved  # type: ignore[assignment]
    return fast, slow


def _files() -> list[Path]:
    out = sorted((CORPORA / "feeds-real" / "feeds").glob("*"))
    out += sorted((CORPORA / "feeds-edge" / "feed-rs").rglob("*.xml"))
    out += sorted((CORPORA / "feeds-edge" / "rsparser").rglob("*.xml"))
    for sub in ("wellformed", "encoding", "illformed"):
        out += sorted((CORPORA / "feeds-edge" / "feedparser-tests" / "tests" / sub).rglob("*.xml"))
    return [p for p in out if p.is_file()]


@pytest.mark.skipif(not (CORPORA / "feeds-real").is_dir(), reason="corpora not present")
def test_fast_path_agrees_with_feedparser_on_the_corpora() -> None:
    accepted = real = taken = 0
    for path in _files():
        body = path.read_bytes()
        head = body[:600].lower()
        ctype = "application/atom+xml" if b"<feed" in head else "application/rss+xml"
        fast, slow = both(body, ctype)
        is_real = path.parent.name == "feeds"
        real += is_real
        if fast is None:
            continue
        accepted += 1
        taken += is_real
        assert fast == slow, path
    # Most real feeds take the fast path (that is its point).
    assert taken >= real * 0.7, (taken, real)
    assert accepted > 500


RSS = (
    b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>A &amp; B</title><link>https://n.example/a?x=1&amp;y=2</link>"
    b"<guid>a-1</guid><description>&lt;p&gt;Hi&lt;/p&gt;</description>"
    b"<pubDate>Mon, 28 Apr 2025 16:00:00 GMT</pubDate></item></channel></rss>"
)


def test_fast_path_reads_a_plain_rss_feed() -> None:
    fast, slow = both(RSS, "application/rss+xml")
    assert fast is not None and fast == slow
    (e,) = fast.entries  # type: ignore[attr-defined]
    assert (e.title, e.summary, e.link) == ("A & B", "Hi", "https://n.example/a?x=1&y=2")
    assert e.guid == "http://news.example/a-1"  # feedparser resolves a permalink guid


@pytest.mark.parametrize(
    "ctype, body",
    [
        (None, RSS),  # feedparser warns about a missing content type
        ("text/xml", RSS),  # RFC 3023 encoding rules
        ("application/rss+xml; charset=iso-8859-1", RSS),
        ("application/rss+xml", RSS.replace(b"<channel>", b"<!DOCTYPE rss><channel>", 1)),
        (
            "application/rss+xml",
            RSS.replace(
                b"</item>",
                b"<itunes:summary xmlns:itunes="
                b'"http://www.itunes.com/dtds/podcast-1.0.dtd">'
                b"S</itunes:summary></item>",
            ),
        ),
        ("application/rss+xml", RSS.replace(b"</channel>", b"<broken></channel>")),
    ],
)
def test_fast_path_steps_aside(ctype: str | None, body: bytes) -> None:
    fast, _ = both(body, ctype)
    assert fast is None
