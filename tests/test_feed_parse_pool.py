"""Feed parsing in the worker pool, under a time limit, through the real cycle.

feedparser cannot be interrupted, and some structures cost it time quadratic in their
size: a couple of megabytes of nested XHTML in an Atom entry take it minutes. Large
feeds are therefore parsed in the worker pool under ``fetch.parse_timeout_s``: the
feed that runs over (or whose worker dies) gets a readable error on its own row, the
worker is replaced, and the other feeds of the run are stored. No assertion here is
about speed: only about what is recorded and stored.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.config import load_config
from monitor.demo.servers import FixtureServer
from monitor.demo.world import DEMO_DATA, write_config
from monitor.pipeline.cycle import run_cycle
from monitor.pipeline.jobs import FeedJob, PageJob
from monitor.pipeline.poll import INLINE_PARSE_MAX_BYTES
from monitor.pipeline.workers import WorkerPool
from monitor.store import Article, Feed, Store
from monitor.topics.language import TopicConfig
from tests.support.hostile import FAST, TOPICS, item, merge, rows, rss
from tests.support.workers import kill_busy_worker_when

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def nested_atom(depth: int) -> bytes:
    """An Atom feed whose one entry holds XHTML nested ``depth`` deep: well-formed, and
    feedparser's time on it grows with the square of the depth."""
    inner = "<div>" * depth + "deep" + "</div>" * depth
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>nested</title>'
        "<entry><id>{BASE}/nested/1</id><title>nested</title>"
        '<link href="{BASE}/nested/1"/><content type="xhtml">'
        f'<div xmlns="http://www.w3.org/1999/xhtml">{inner}</div></content></entry></feed>'
    ).encode()


PATHOLOGICAL = nested_atom(200_000)  # 2.2 MB: minutes of feedparser on any machine


def _world(
    tmp: Path, parse_timeout_s: float, extra: dict[str, bytes]
) -> tuple[Any, Store, FixtureServer]:
    srv = FixtureServer(DEMO_DATA).start()
    for name, body in extra.items():
        srv.add(f"x/{name}", body, "application/atom+xml")
    urls = [srv.url(f"x/{name}") for name in extra] + [srv.url("feeds/world.xml")]
    cfg = write_config(
        tmp / "config",
        topics_from=TOPICS,
        feed_urls=urls,
        routes=[],
        settings=merge(
            FAST, {"fetch": {"parse_timeout_s": parse_timeout_s}, "extract": {"workers": 1}}
        ),
    )
    return load_config(cfg), Store(f"sqlite:///{tmp / 'db.sqlite'}"), srv


def _feed(store: Store, suffix: str) -> Feed:
    return next(f for f in rows(store, Feed) if f.url.endswith(suffix))


def test_the_pathological_feed_is_large_enough_to_go_to_the_pool() -> None:
    assert len(PATHOLOGICAL) > INLINE_PARSE_MAX_BYTES


def test_a_feed_that_parses_too_long_is_cut_off_and_the_run_goes_on(tmp_path: Path) -> None:
    config, store, srv = _world(tmp_path, 1.0, {"nested.xml": PATHOLOGICAL})
    try:
        with WorkerPool.for_config(config) as pool:
            s = run_cycle(store, config, pool=pool)
            bad = _feed(store, "/x/nested.xml")
            assert bad.last_outcome == "error" and bad.consecutive_failures == 1
            assert "feed parsing timed out after 1s (worker replaced)" in bad.last_error
            assert bad.etag is None and bad.body_hash is None  # read again next time
            # The world feed was polled in the same batch, and its pages were analysed
            # by the replacement worker.
            world = _feed(store, "/feeds/world.xml")
            assert world.last_outcome == "ok" and world.last_error is None
            articles = rows(store, Article)
            assert len(articles) == 6 and s.articles_new == 6
            assert all(a.extraction == "ok" for a in articles), [
                a.extraction_error for a in articles
            ]
            assert s.feeds_failed == 1 and any("timed out" in e for e in s.errors)
    finally:
        srv.stop()


def test_a_worker_killed_while_parsing_is_replaced_and_the_feed_recorded(tmp_path: Path) -> None:
    config, store, srv = _world(tmp_path, 120.0, {"nested.xml": PATHOLOGICAL})
    try:
        with WorkerPool.for_config(config) as pool:
            # the one worker burning CPU is parsing the feed
            t, killed = kill_busy_worker_when(lambda: bool(srv.hits("x/nested.xml")))
            s = run_cycle(store, config, pool=pool)
            t.join(timeout=5)
            assert killed, "no busy worker process found to kill"
            bad = _feed(store, "/x/nested.xml")
            assert bad.last_outcome == "error"
            assert "feed parser crashed (exit code -9); worker replaced" in bad.last_error
            assert s.articles_new == 6 and all(a.extraction == "ok" for a in rows(store, Article))
    finally:
        srv.stop()


def test_large_feeds_are_parsed_in_the_pool_and_small_ones_inline(tmp_path: Path) -> None:
    """The same entries come out whichever side parses; only large bodies cross over."""
    entries = [
        item(
            f"{{BASE}}/p/{i}",
            title=f"story {i}",
            guid=f"g{i}",
            description="Lorem ipsum dolor sit amet. " * 40,
        )
        for i in range(60)
    ]
    large = rss(entries).encode()
    small = rss(entries[:2]).encode()
    assert len(large) > INLINE_PARSE_MAX_BYTES >= len(small)
    srv = FixtureServer(DEMO_DATA).start()
    srv.add("x/large.xml", large, "application/rss+xml")
    srv.add("x/small.xml", small, "application/rss+xml")
    cfg = write_config(
        tmp_path / "config",
        topics_from=TOPICS,
        feed_urls=[srv.url("x/large.xml"), srv.url("x/small.xml")],
        routes=[],
        settings=merge(FAST, {"extract": {"workers": 1}}),
    )
    config = load_config(cfg)
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sent: list[int] = []
    try:
        with WorkerPool.for_config(config) as pool:
            submit_feed = pool.submit_feed

            def spy(job: FeedJob) -> Future[Any]:
                sent.append(len(job.body))
                return submit_feed(job)

            pool.submit_feed = spy  # type: ignore[method-assign]
            s = run_cycle(store, config, pool=pool)
        assert len(sent) == 1 and sent[0] > INLINE_PARSE_MAX_BYTES  # the large one
        assert s.feeds_ok == 2 and s.entries_new == 62
        assert _feed(store, "/x/large.xml").entries_total == 60
    finally:
        srv.stop()


def test_a_waiting_feed_goes_before_waiting_pages() -> None:
    """One worker, six pages queued, then a feed: the feed is handed over as soon as the
    worker has room, before the pages that were waiting."""
    topics = load_config(Path(TOPICS).parent).topics
    page = (Path(DEMO_DATA) / "pages").glob("*.html")
    html = next(iter(page)).read_bytes()
    done: list[str] = []
    lock = threading.Lock()

    def note(name: str) -> Any:
        def cb(_: Future[Any]) -> None:
            with lock:
                done.append(name)

        return cb

    with WorkerPool(
        [TopicConfig.model_validate(t.model_dump()) for t in topics], workers=1
    ) as pool:
        pages = []
        for i in range(6):
            f = pool.submit(PageJob(f"p{i}", html, "http://127.0.0.1:9/p"))
            f.add_done_callback(note(f"p{i}"))
            pages.append(f)
        body = rss([item("http://127.0.0.1:9/x", title="x", guid="x")]).encode()
        feed = pool.submit_feed(
            FeedJob(
                "feed",
                body,
                "http://127.0.0.1:9/f",
                {"content-type": "application/rss+xml"},
                10,
                NOW,
            )
        )
        feed.add_done_callback(note("feed"))
        parsed = pool.feed_outcome("feed", feed)
        for f in pages:
            pool.outcome("p", f)
    assert parsed.parsed is not None and len(parsed.parsed.entries) == 1
    # two pages were already handed to pebble (one per worker, plus one ready)
    assert done.index("feed") <= 2, done
    assert done[-1] == "p5"
