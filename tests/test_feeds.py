"""monitor.feeds: bytes in, clean entries out (RSS, Atom, JSON Feed, HTML, OPML)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import FeedParseError
from monitor.feeds.opml import read_opml
from monitor.feeds.parse import canonical_url, discover_feed_links, parse_feed

ROOT = Path(__file__).resolve().parent.parent
DEMO_FEEDS = ROOT / "monitor" / "demo" / "data" / "feeds"
CORPORA = ROOT.parent / "shared" / "corpora"
NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
RSS_HEADERS = {"Content-Type": "application/rss+xml"}

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
  <title>Desk &amp; <b>Wire</b></title>
  <link>https://news.example/</link>
  <item>
    <title>Iran and Azerbaijan sign &lt;i&gt;seven&lt;/i&gt; agreements</title>
    <link>https://news.example/a/1?utm_source=rss&amp;utm_medium=feed&amp;id=7#comments</link>
    <guid isPermaLink="false">news-1</guid>
    <pubDate>Mon, 28 Apr 2025 16:00:00 GMT</pubDate>
    <description>&lt;p&gt;Leaders met in &lt;b&gt;Baku&lt;/b&gt;.&lt;script&gt;alert(1)&lt;/script&gt;&lt;/p&gt;</description>
  </item>
  <item>
    <title>Same guid again</title>
    <link>https://news.example/a/1-copy</link>
    <guid isPermaLink="false">news-1</guid>
  </item>
  <item>
    <title>No link, no guid</title>
    <description>nothing to follow</description>
  </item>
  <item><title>Script link</title><link>javascript:alert(document.cookie)</link></item>
  <item><title>Data link</title><link>data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==</link></item>
  <item><title>Bad port</title><link>http://news.example:99999/x</link></item>
  <item>
    <title>From the future</title>
    <link>/a/future</link>
    <pubDate>Thu, 28 Apr 2033 16:00:00 GMT</pubDate>
  </item>
  <item>
    <title>Only a permalink guid</title>
    <guid>https://news.example/a/guid-only</guid>
    <pubDate>Tue, 29 Apr 2025 08:30:00 +0200</pubDate>
  </item>
</channel></rss>
"""  # noqa: E501 - the feed as served, long lines and all


def test_rss_entries_are_normalised() -> None:
    feed = parse_feed(RSS, url="https://news.example/feed", headers=RSS_HEADERS, now=NOW)
    assert feed.title == "Desk & Wire"
    assert feed.warning is None
    by_title = {e.title: e for e in feed.entries}
    assert list(by_title) == [
        "Iran and Azerbaijan sign seven agreements",
        "From the future",
        "Only a permalink guid",
    ]
    first = by_title["Iran and Azerbaijan sign seven agreements"]
    assert first.key == "news-1" and first.guid == "news-1"
    assert first.link == "https://news.example/a/1?utm_source=rss&utm_medium=feed&id=7#comments"
    assert first.canonical_url == "https://news.example/a/1?id=7"
    assert first.published == datetime(2025, 4, 28, 16, 0, tzinfo=UTC)
    # markup stripped, script content dropped, entities decoded
    assert first.summary == "Leaders met in Baku."


def test_rss_skips_entries_without_a_usable_link() -> None:
    feed = parse_feed(RSS, url="https://news.example/feed", headers=RSS_HEADERS, now=NOW)
    # no link/guid, javascript:, data:, and an impossible port: four skipped, none crash
    assert feed.skipped == 4
    links = [e.link for e in feed.entries]
    assert not any(link.startswith(("javascript:", "data:")) for link in links)
    assert all(link.startswith("https://news.example/") for link in links)


def test_duplicate_guid_is_kept_once() -> None:
    feed = parse_feed(RSS, url="https://news.example/feed", headers=RSS_HEADERS, now=NOW)
    assert [e.key for e in feed.entries].count("news-1") == 1
    assert "https://news.example/a/1-copy" not in [e.link for e in feed.entries]


def test_future_date_is_dropped_and_relative_link_resolved() -> None:
    feed = parse_feed(RSS, url="https://news.example/feed", headers=RSS_HEADERS, now=NOW)
    future = next(e for e in feed.entries if e.title == "From the future")
    assert future.published is None
    assert future.link == "https://news.example/a/future"
    assert future.guid is None and future.key == "https://news.example/a/future"
    # a date within a day of now is believed
    soon = parse_feed(
        RSS,
        url="https://news.example/feed",
        headers=RSS_HEADERS,
        now=datetime(2033, 4, 28, 0, 0, tzinfo=UTC),
    )
    assert next(e for e in soon.entries if e.title == "From the future").published == datetime(
        2033, 4, 28, 16, 0, tzinfo=UTC
    )


def test_guid_permalink_stands_in_for_a_missing_link() -> None:
    feed = parse_feed(RSS, url="https://news.example/feed", headers=RSS_HEADERS, now=NOW)
    e = next(e for e in feed.entries if e.title == "Only a permalink guid")
    assert e.link == "https://news.example/a/guid-only"
    assert e.published == datetime(2025, 4, 29, 6, 30, tzinfo=UTC)  # converted to UTC


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Regional Wire</title>
  <id>urn:example:feed</id>
  <entry>
    <title type="html">&lt;b&gt;Zangezur&lt;/b&gt; corridor talks</title>
    <link rel="enclosure" href="https://wire.example/audio.mp3"/>
    <link rel="alternate" href="/posts/1"/>
    <id>tag:wire.example,2025:1</id>
    <published>2025-04-28T16:00:00Z</published>
    <updated>2025-04-29T10:00:00Z</updated>
    <content type="html">&lt;p&gt;Body &amp;amp; more&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Undated</title>
    <link href="https://wire.example/posts/2"/>
    <id>tag:wire.example,2025:2</id>
  </entry>
</feed>
"""


def test_atom() -> None:
    feed = parse_feed(
        ATOM,
        url="https://wire.example/atom.xml",
        headers={"content-type": "application/atom+xml"},
        now=NOW,
    )
    assert feed.title == "Regional Wire"
    assert feed.skipped == 0
    first, second = feed.entries
    assert first.title == "Zangezur corridor talks"
    assert first.link == "https://wire.example/posts/1"  # the alternate link, not the enclosure
    assert first.key == "tag:wire.example,2025:1"
    assert first.published == datetime(2025, 4, 28, 16, 0, tzinfo=UTC)  # published, not updated
    assert first.summary == "Body & more"  # content used when there is no summary
    assert second.published is None
    assert second.key == "tag:wire.example,2025:2"


JSON_FEED = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON Desk",
        "items": [
            {
                "id": "j1",
                "url": "https://json.example/1?utm_campaign=x&fbclid=abc&page=2",
                "title": "<em>First</em>",
                "content_html": "<p>Hello <b>there</b></p>",
                "date_published": "2025-04-28T18:00:00+02:00",
            },
            {"id": "j1", "url": "https://json.example/1-duplicate", "title": "Same id"},
            {"id": "j2", "title": "No URL at all"},
            {"id": "j3", "url": "javascript:alert(1)", "title": "Script"},
            {
                "id": "j4",
                "url": "/relative",
                "title": "Future",
                "date_published": "2040-01-01T00:00:00Z",
            },
            {"url": "https://json.example/5", "title": "No id", "content_text": "plain"},
            "not an object",
        ],
    }
).encode()


def test_json_feed() -> None:
    feed = parse_feed(
        JSON_FEED,
        url="https://json.example/feed.json",
        headers={"Content-Type": "application/feed+json"},
        now=NOW,
    )
    assert feed.title == "JSON Desk"
    assert [e.key for e in feed.entries] == ["j1", "j4", "https://json.example/5"]
    assert feed.skipped == 3  # no url, javascript:, not an object
    j1, j4, j5 = feed.entries
    assert j1.title == "First" and j1.summary == "Hello there"
    assert j1.canonical_url == "https://json.example/1?page=2"
    assert j1.published == datetime(2025, 4, 28, 16, 0, tzinfo=UTC)
    assert j4.link == "https://json.example/relative" and j4.published is None
    assert j5.guid is None and j5.summary == "plain"


def test_json_feed_recognised_without_content_type() -> None:
    feed = parse_feed(JSON_FEED, url="https://json.example/feed.json", now=NOW)
    assert feed.title == "JSON Desk" and len(feed.entries) == 3


def test_json_that_is_not_a_feed() -> None:
    with pytest.raises(FeedParseError, match="not a JSON Feed"):
        parse_feed(
            b'{"status": "ok"}',
            url="https://x.example/api",
            headers={"content-type": "application/json"},
        )
    with pytest.raises(FeedParseError, match="invalid JSON feed"):
        parse_feed(
            b'{"items": [',
            url="https://x.example/api",
            headers={"content-type": "application/json"},
        )


HTML_PAGE = b"""<!DOCTYPE html><html><head><title>News</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml">
<link rel='alternate' type='application/atom+xml' href='https://news.example/atom?a=1&amp;b=2'>
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
<link rel="alternate" hreflang="fr" href="/fr/">
</head><body><p>Welcome</p></body></html>"""


def test_html_page_instead_of_a_feed() -> None:
    with pytest.raises(FeedParseError) as info:
        parse_feed(
            HTML_PAGE, url="https://news.example/section/", headers={"content-type": "text/html"}
        )
    err = info.value
    assert err.discovered == ["https://news.example/feed.xml", "https://news.example/atom?a=1&b=2"]
    assert "HTML page, not a feed" in str(err)
    assert "https://news.example/feed.xml" in str(err)


def test_html_without_feed_links_and_empty_body() -> None:
    with pytest.raises(FeedParseError) as info:
        parse_feed(
            b"<html><body><p>Just a page</p></body></html>",
            url="https://x.example/",
            headers={"content-type": "text/html"},
        )
    assert info.value.discovered == []
    assert str(info.value).startswith("not a feed")
    with pytest.raises(FeedParseError, match="empty response"):
        parse_feed(b"  \n ", url="https://x.example/")


def test_discover_feed_links_ignores_non_feeds() -> None:
    assert (
        discover_feed_links(
            b'<link rel="alternate" hreflang="de" href="/de">', "https://x.example/"
        )
        == []
    )


def test_max_entries() -> None:
    feed = parse_feed(
        RSS, url="https://news.example/feed", headers=RSS_HEADERS, now=NOW, max_entries=1
    )
    assert len(feed.entries) == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://News.Example:443/Path/Story?utm_source=x&id=3&fbclid=abc#top",
            "https://news.example/Path/Story?id=3",
        ),
        ("http://news.example:80", "http://news.example/"),
        (
            "http://news.example:8080/a?gclid=1&UTM_Medium=2&ref=tw&q=iran",
            "http://news.example:8080/a?q=iran",
        ),
        ("https://news.example./a?b=2&a=1", "https://news.example/a?b=2&a=1"),  # order kept
        ("https://news.example/a?keep=&mc_cid=x", "https://news.example/a?keep="),
        ("http://[::1]:8080/a?utm_source=x", "http://[::1]:8080/a"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_demo_feeds_with_base_placeholder() -> None:
    base = "http://127.0.0.1:8000"
    world = (DEMO_FEEDS / "world.xml").read_bytes().replace(b"{BASE}", base.encode())
    regional = (DEMO_FEEDS / "regional.xml").read_bytes().replace(b"{BASE}", base.encode())
    w = parse_feed(
        world, url=f"{base}/feeds/world.xml", headers={"content-type": "application/xml"}, now=NOW
    )
    r = parse_feed(
        regional,
        url=f"{base}/feeds/regional.xml",
        headers={"content-type": "application/xml"},
        now=datetime(2026, 6, 1, tzinfo=UTC),
    )
    assert w.title == "Demo World Desk" and len(w.entries) == 6
    assert r.title == "Demo Regional Wire" and len(r.entries) == 2
    thaw = f"{base}/pages/caucasus-iran-azerbaijan-thaw.html"
    w_thaw = next(e for e in w.entries if e.link == thaw)
    r_thaw = next(e for e in r.entries if e.link == thaw)
    # same article, different entry ids: only the canonical URL ties them together
    assert w_thaw.key != r_thaw.key
    assert w_thaw.canonical_url == r_thaw.canonical_url
    assert w_thaw.published == r_thaw.published == datetime(2025, 4, 28, 16, 0, tzinfo=UTC)


def test_read_opml(tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_text(
        """<?xml version="1.0"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="News">
    <outline text="BBC" title="BBC World" type="rss" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
    <outline text="Nested">
      <outline text="OC Media" xmlUrl=" https://oc-media.org/feed/ "/>
    </outline>
  </outline>
  <outline text="Again" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
  <outline text="Not http" xmlUrl="file:///etc/passwd"/>
  <outline text="Folder without feed"/>
</body></opml>""",
        encoding="utf-8",
    )
    assert read_opml(opml) == [
        {"url": "https://feeds.bbci.co.uk/news/world/rss.xml", "name": "BBC World"},
        {"url": "https://oc-media.org/feed/", "name": "OC Media"},
    ]


def test_read_opml_errors(tmp_path: Path) -> None:
    with pytest.raises(FeedParseError, match="not a readable OPML file"):
        read_opml(tmp_path / "missing.opml")
    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body><outline", encoding="utf-8")
    with pytest.raises(FeedParseError, match="not a readable OPML file"):
        read_opml(broken)
    rss = tmp_path / "feed.xml"
    rss.write_bytes(RSS)
    with pytest.raises(FeedParseError, match=r"not an OPML file \(root element <rss>\)"):
        read_opml(rss)


# --- real-world corpus (optional) -----------------------------------------------------

REAL_FEEDS = {  # named in ../shared/corpora/README.md
    "1796df62c4a287cc": "BBC News",
    "78f77fae2e1ffc14": "NYT > World News",
    "72fea1ebfd02e90a": "Al-Monitor",
    "9f9555d69283aeda": "TIME",
    "7d65af8ecbfc9ee4": "f1metrics",
}


def test_real_feeds_from_the_corpus() -> None:
    folder = CORPORA / "feeds-real" / "feeds"
    if not folder.is_dir():
        pytest.skip(f"corpus not present: {folder}")
    for name, title in REAL_FEEDS.items():
        feed = parse_feed(
            (folder / name).read_bytes(),
            url="https://publisher.example/feed",
            headers={"content-type": "application/rss+xml"},
            now=datetime(2030, 1, 1, tzinfo=UTC),
        )  # the files date from 2026
        assert feed.title and title in feed.title, name
        assert len(feed.entries) >= 10, name
        assert feed.skipped == 0, name
        keys = [e.key for e in feed.entries]
        assert len(set(keys)) == len(keys), name
        for e in feed.entries:
            assert e.link.startswith(("http://", "https://")), (name, e.link)
            assert e.title, (name, e.link)
            assert e.published is not None, (name, e.link)


def test_real_html_pages_announce_their_feeds() -> None:
    folder = CORPORA / "feeds-edge" / "rsparser" / "Tests" / "RSParserTests" / "Resources"
    page = folder / "DaringFireball.html"
    if not page.is_file():
        pytest.skip(f"corpus not present: {page}")
    with pytest.raises(FeedParseError) as info:
        parse_feed(
            page.read_bytes(),
            url="https://daringfireball.net/",
            headers={"content-type": "text/html"},
        )
    assert info.value.discovered == ["https://daringfireball.net/feeds/main"]
