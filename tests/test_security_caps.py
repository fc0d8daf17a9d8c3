"""Caps on what a hostile page can make newsmon hold or analyse.

Already tested elsewhere: the response size (declared and streamed, counted after
HTTP decompression: tests/test_fetch.py ``test_size_cap_*``, the 1 GiB gzip bomb feed
in tests/test_hostile_inputs.py), redirects (``test_too_many_redirects``), entries per
feed (``max_entries_per_feed`` in test_hostile_inputs.py), feed titles and summaries
(500 / 4,000 characters). Here: a page that is itself a gzip file (it reached
``gzip.decompress`` with no limit), and the extracted title and text handed to the
classifier (a long ``<title>`` made spaCy refuse the whole page).
"""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ExtractError
from monitor.extract.article import (
    MAX_PAGE_BYTES,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    extract_file,
    extract_html,
    gunzip,
)
from tests.support.hostile import gzip_bomb

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "monitor" / "demo" / "data" / "pages" / "caucasus-iran-azerbaijan-thaw.html"


def test_gzip_bomb_page_stops_at_the_cap_without_inflating() -> None:
    bomb = gzip_bomb(1 << 30)  # 1 GiB of zeros, about 1 MB
    assert len(bomb) < 2_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ExtractError) as info:
            extract_html(bomb, "http://example.org/a")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == f"page larger than {MAX_PAGE_BYTES:,} bytes when decompressed"
    assert peak < 3 * MAX_PAGE_BYTES, f"peak {peak:,} bytes"  # not 1 GiB


def test_gzipped_pages_within_the_cap_are_read() -> None:
    html = PAGE.read_bytes()
    one = extract_html(gzip.compress(html), "http://example.org/a")
    assert one.title == extract_html(html).title and one.text
    # a file of two gzip members (concatenated) is read whole, as gzip(1) does
    half = len(html) // 2
    two = gzip.compress(html[:half]) + gzip.compress(html[half:])
    assert gunzip(two) == html
    assert gunzip(gzip.compress(b"x" * 100), limit=100) == b"x" * 100
    with pytest.raises(ExtractError, match="larger than 99 bytes"):
        gunzip(gzip.compress(b"x" * 100), limit=99)
    with pytest.raises(ExtractError, match="larger than 150 bytes"):
        gunzip(gzip.compress(b"x" * 100) * 2, limit=150)  # counted over all members


def test_corrupt_gzip_page_is_a_clear_error(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(PAGE.read_bytes()))
    data[20:40] = b"\xff" * 20
    with pytest.raises(ExtractError, match="corrupt gzip"):
        extract_html(bytes(data))
    f = tmp_path / "page.html.gz"
    f.write_bytes(gzip_bomb(1 << 28))
    with pytest.raises(ExtractError) as info:
        extract_file(f)
    assert str(info.value) == f"{f}: page larger than {MAX_PAGE_BYTES:,} bytes when decompressed"


def test_long_title_and_text_are_cut_and_still_classified() -> None:
    from monitor.pipeline.jobs import PageJob, analyse
    from monitor.topics.match import Classifier

    html = PAGE.read_text(encoding="utf-8")
    title = "Iran and Azerbaijan " * 20_000  # 400,000 characters
    filler = "".join(
        f"<p>Paragraph {i} says that Baku and Tehran talk about trade and "
        f"the border, again and again, at length.</p>\n"
        for i in range(3_500)
    )
    # the headline everywhere a page gives it (<title>, og:title, <h1>)
    hostile = html.replace("Iran and Azerbaijan signal a thaw", title).replace(
        "</article>", filler + "</article>", 1
    )
    assert hostile != html and len(hostile) > 300_000
    ex = extract_html(hostile.encode(), "http://example.org/a")
    assert len(ex.title) == MAX_TITLE_CHARS and ex.title.startswith("Iran and Azerbaijan")
    assert MAX_TEXT_CHARS - 1000 < len(ex.text) <= MAX_TEXT_CHARS
    # the worker's own step: extraction then classification, no spaCy length error
    topics = load_config(ROOT / "config").topics
    a = analyse(PageJob("k", hostile.encode(), "http://example.org/a"), Classifier(topics))
    assert a.error is None and a.extracted is not None and a.results


def test_a_gzip_page_is_inflated_only_up_to_fetch_max_bytes(tmp_path: Path) -> None:
    """A page that is itself a gzip file (no Content-Encoding: the fetcher's size cap
    sees only its compressed bytes) is inflated in the worker up to the user's
    ``fetch.max_bytes``, not a fixed 10 MB: over it, the article keeps its feed summary
    and says why."""
    from monitor.demo.servers import FixtureServer
    from monitor.demo.world import write_config
    from monitor.pipeline.cycle import run_cycle
    from monitor.pipeline.workers import WorkerPool
    from monitor.store import Article, Store
    from tests.support.hostile import FAST, TOPICS, item, merge, rows, rss

    html = PAGE.read_bytes().replace(
        b"</article>", b"<p>" + b"padding words " * 20_000 + b"</p></article>", 1
    )
    page = gzip.compress(html)
    assert len(page) < 100_000 < len(html)  # small on the wire, large once inflated
    assert extract_html(page, "http://example.org/a").text  # under the default cap: read
    srv = FixtureServer(tmp_path).start()
    try:
        srv.add("x/packed", page, "text/html")
        srv.add(
            "x.xml",
            rss([item("{BASE}/x/packed", title="packed", guid="packed")]),
            "application/rss+xml",
        )
        cfg = write_config(
            tmp_path / "config",
            topics_from=TOPICS,
            feed_urls=[srv.url("x.xml")],
            routes=[],
            settings=merge(FAST, {"fetch": {"max_bytes": 100_000}}),
        )
        config = load_config(cfg)
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        with WorkerPool.for_config(config) as pool:
            s = run_cycle(store, config, pool=pool)
        (a,) = rows(store, Article)
        assert s.articles_new == 1 and a.extraction == "summary", a.extraction
        assert "page larger than 100,000 bytes when decompressed" in (a.extraction_error or "")
    finally:
        srv.stop()
