"""Network and server faults, injected by real loopback servers, through the whole cycle.

Each feed in one config meets one fault (refused, reset mid-body, one byte a second,
no answer, 500, 503/429 with Retry-After, redirect chains and loops, 410, DNS
failure); article pages are PDFs, images, slow, broken, or make extraction run too
long or kill its worker. Expected: every request and every article bounded in time,
each feed's health and each article's state recorded, backoff applied, the run never
stuck. ``tests/test_fetch.py`` covers the fetcher alone; these go through
:func:`monitor.pipeline.cycle.run_cycle` and the database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.demo.servers import Fault, FixtureServer, free_port
from monitor.demo.world import DEMO_DATA, write_config
from monitor.pipeline.cycle import run_cycle
from monitor.pipeline.workers import WorkerPool
from monitor.store import Article, Feed, Store
from tests.support.hostile import FAST, TOPICS, item, merge, rows, rss
from tests.support.workers import kill_busy_worker_when

TIMEOUT_S = 1.5  # read limit above the 1 s drip, so the overall limit (2x + connect) is hit
CONNECT_S = 3.0  # generous: a loaded CI machine can be slow to hand over a loopback socket
REQUEST_BOUND_S = TIMEOUT_S * 2 + CONNECT_S
SETTINGS = merge(
    FAST, {"fetch": {"timeout_s": TIMEOUT_S, "connect_timeout_s": CONNECT_S, "max_redirects": 3}}
)
FEED_OK = rss(
    [item("{BASE}/pages/caucasus-iran-azerbaijan-thaw.html", title="ok story", guid="ok-1")]
)
BIG = rss(
    [
        item(
            f"{{BASE}}/p/{i}", title=f"filler {i}", guid=f"f{i}", description=os.urandom(200).hex()
        )
        for i in range(40)
    ]
)  # hard to gzip


@dataclass
class FeedFault:
    name: str
    fault: Fault | None = None
    error: str = ""  # phrase the recorded error must contain
    status: int | None = None  # the feed's recorded last_status
    own_host: bool = False  # a server of its own (a host throttled on many paths is held back)
    body: str = FEED_OK


FEED_FAULTS = [
    FeedFault("reset-mid-body", Fault(cut_after=40), "connection broken", body=BIG),
    FeedFault("one-byte-per-second", Fault(drip_s=1.0), "timed out after 6s"),
    FeedFault("no-answer", Fault(delay_s=30), "timed out"),
    FeedFault("http-500", Fault(status=500), "HTTP 500", 500),
    FeedFault(
        "http-503-retry-after",
        Fault(status=503, headers={"Retry-After": "7200"}),
        "Retry-After 7200s",
        503,
        own_host=True,
    ),
    FeedFault(
        "http-429-retry-after-date",
        Fault(status=429, headers={"Retry-After": "Wed, 01 Jan 2098 00:00:00 GMT"}),
        "HTTP 429",
        429,
        own_host=True,
    ),
    FeedFault(
        "redirect-loop",
        Fault(status=302, headers={"Location": "/feeds/redirect-loop"}),
        "redirect loop",
    ),
    FeedFault(
        "redirect-too-many",
        Fault(status=302, headers={"Location": "/hop/1"}),
        "more than 3 redirects",
    ),
    FeedFault("gone-410", Fault(status=410), "410 Gone", 410),
]


@dataclass
class NetRun:
    feeds: dict[str, Feed]
    articles: dict[str, Article]
    seconds: float
    summary: Any
    again_seconds: float
    again: Any
    refused: str
    dns: str


def run_network(tmp: Path) -> NetRun:
    """Every feed fault and hostile page in one config; a cycle, then a second one."""
    main = FixtureServer(DEMO_DATA).start()
    own: list[FixtureServer] = []
    urls = []
    try:
        for ff in FEED_FAULTS:
            srv = main
            if ff.own_host:
                srv = FixtureServer(DEMO_DATA).start()
                own.append(srv)
            urls.append(srv.add(f"feeds/{ff.name}", ff.body, "application/rss+xml"))
            if ff.fault:
                srv.faults[f"/feeds/{ff.name}"] = ff.fault
        for i in range(1, 6):  # a chain longer than max_redirects
            main.faults[f"/hop/{i}"] = Fault(status=302, headers={"Location": f"/hop/{i + 1}"})
        # a redirect chain that ends well, and a feed whose pages are all hostile
        main.faults["/feeds/redirect-chain"] = Fault(status=302, headers={"Location": "/r/2"})
        main.faults["/r/2"] = Fault(status=307, headers={"Location": "/r/3"})
        main.faults["/r/3"] = Fault(status=302, headers={"Location": "/feeds/world.xml"})
        urls.append(main.url("feeds/redirect-chain"))
        pages = {
            "pdf": (b"%PDF-1.4\n" + os.urandom(2000), "application/pdf", None),
            "image": (b"\x89PNG\r\n\x1a\n" + os.urandom(2000), "image/png", None),
            "page-500": (b"", "text/html", Fault(status=500)),
            "page-drip": (b"<html><body><p>slow</p></body></html>", "text/html", Fault(drip_s=1.0)),
            "page-reset": (
                b"<html><body>" + os.urandom(3000) + b"</body></html>",
                "text/html",
                Fault(cut_after=10),
            ),
            "page-no-answer": (b"<html></html>", "text/html", Fault(delay_s=30)),
        }
        for name, (body, ctype, fault) in pages.items():
            main.add(f"hostile/{name}", body, ctype)
            if fault:
                main.faults[f"/hostile/{name}"] = fault
        main.add(
            "feeds/hostile-pages",
            rss([item(f"{{BASE}}/hostile/{n}", title=f"page {n}", guid=f"hp-{n}") for n in pages]),
            "application/rss+xml",
        )
        urls.append(main.url("feeds/hostile-pages"))
        refused = f"http://127.0.0.1:{free_port()}/feed.xml"
        dns = "http://no-such-host.invalid/feed.xml"
        urls += [refused, dns]
        cfg = write_config(
            tmp / "config", topics_from=TOPICS, feed_urls=urls, routes=[], settings=SETTINGS
        )
        config = load_config(cfg)
        store = Store(f"sqlite:///{tmp / 'db.sqlite'}")
        with WorkerPool.for_config(config) as pool:
            t0 = time.monotonic()
            summary = run_cycle(store, config, pool=pool)
            seconds = time.monotonic() - t0
            t0 = time.monotonic()
            again = run_cycle(store, config, pool=pool)  # nothing due: all backed off
            again_seconds = time.monotonic() - t0
        feeds = {f.url: f for f in store.feeds()}
        by_name = {}
        for f in feeds.values():
            by_name[f.url.rsplit("/", 1)[-1] if "/feeds/" in f.url else f.url] = f
        articles = {a.url.rsplit("/", 1)[-1]: a for a in rows(store, Article)}
        return NetRun(by_name, articles, seconds, summary, again_seconds, again, refused, dns)
    finally:
        for srv in [main, *own]:
            srv.stop()


def print_network(run: NetRun) -> None:
    print(
        f"\nnetwork faults: {len(run.feeds)} feeds in {run.seconds:.1f}s; second cycle "
        f"{run.again_seconds:.1f}s"
    )
    for name, f in sorted(run.feeds.items()):
        print(
            f"  {name[:40]:40} {f.last_outcome or '-':8} {f.consecutive_failures} "
            f"{(f.last_error or f.notice or '')[:80]}"
        )


@pytest.fixture(scope="module")
def net_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetRun]:
    run = run_network(tmp_path_factory.mktemp("hostile-network"))
    yield run
    print_network(run)


@pytest.mark.parametrize("ff", FEED_FAULTS, ids=lambda ff: ff.name)
def test_feed_fault_is_recorded_and_backed_off(net_run: NetRun, ff: FeedFault) -> None:
    f = net_run.feeds[ff.name]
    assert f.last_outcome in {"error", "gone"}, (ff.name, f.last_outcome)
    assert ff.error.lower() in (f.last_error or "").lower(), (ff.name, f.last_error)
    assert f.consecutive_failures == 1 and f.enabled
    if ff.status is not None:
        assert f.last_status == ff.status
    delay = f.next_poll_at - f.last_polled_at
    assert delay >= timedelta(minutes=5), (ff.name, delay)  # backoff_base_minutes


def test_connection_refused_and_dns_failure_are_recorded(net_run: NetRun) -> None:
    refused, dns = net_run.feeds[net_run.refused], net_run.feeds[net_run.dns]
    assert refused.last_outcome == "error" and "cannot connect" in refused.last_error
    assert dns.last_outcome == "error" and "DNS" in dns.last_error


def test_retry_after_is_honoured(net_run: NetRun) -> None:
    f = net_run.feeds["http-503-retry-after"]
    assert f.next_poll_at - f.last_polled_at >= timedelta(hours=2)
    f = net_run.feeds["http-429-retry-after-date"]  # capped by backoff_max_hours (24)
    assert f.next_poll_at - f.last_polled_at == timedelta(hours=24)


def test_gone_feed_is_polled_rarely_and_says_so(net_run: NetRun) -> None:
    f = net_run.feeds["gone-410"]
    assert f.gone and f.next_poll_at - f.last_polled_at == timedelta(hours=24)


def test_redirect_chain_that_ends_well_is_read(net_run: NetRun) -> None:
    f = net_run.feeds["redirect-chain"]
    assert f.last_outcome == "ok" and f.fetch_url is None  # temporary hops: not a move
    assert "caucasus-iran-azerbaijan-thaw.html" in net_run.articles


def test_hostile_article_pages_fall_back_to_the_feed_summary(net_run: NetRun) -> None:
    expected = {
        "pdf": "not an HTML page (application/pdf)",
        "image": "not an HTML page (image/png)",
        "page-500": "HTTP 500",
        "page-drip": "timed out",
        "page-reset": "connection broken",
        "page-no-answer": "timed out",
    }
    for name, phrase in expected.items():
        a = net_run.articles[name]
        assert a.extraction == "summary", name
        assert phrase in (a.extraction_error or ""), (name, a.extraction_error)
        assert a.title == f"page {name}" and a.text  # the summary is kept
    assert net_run.feeds["hostile-pages"].last_outcome == "ok"


def test_time_is_bounded_and_nothing_is_stuck(net_run: NetRun) -> None:
    # Faults run concurrently: the cycle takes about one bounded request, not their sum.
    assert net_run.seconds < 4 * REQUEST_BOUND_S + 30, net_run.seconds
    assert not [e for e in net_run.summary.errors if e.startswith("batch")]
    # The next cycle finds nothing due (all failures backed off) and returns at once.
    assert net_run.again.feeds_due == 0 and net_run.again_seconds < 10


# --- extraction that runs too long or kills its worker ------------------------------------

SLOW_PAGE = (
    b"<html><head><title>Slow</title></head><body><article>"
    + b"<p>Some words here and there, a sentence of text that goes on.</p>" * 75_000
    + b"</article></body></html>"
)  # 5 MB: trafilatura needs ~12 s for it (a third
# of it took 2.05 s on a quiet machine: too close to the 2 s limit the test sets)


EMPTY_FEED = rss([])


def _world(tmp: Path, page: bytes, timeout_s: float) -> tuple[Any, Store, FixtureServer]:
    """One feed with one hostile page; the demo's world feed, empty until it is opened."""
    srv = FixtureServer(DEMO_DATA).start()
    srv.add("x/victim", page, "text/html")
    srv.add(
        "feeds/x.xml",
        rss([item("{BASE}/x/victim", title="victim", guid="victim")]),
        "application/rss+xml",
    )
    srv.faults["/feeds/world.xml"] = Fault(
        status=200, body=EMPTY_FEED.encode(), headers={"Content-Type": "application/rss+xml"}
    )
    cfg = write_config(
        tmp / "config",
        topics_from=TOPICS,
        feed_urls=[srv.url("feeds/x.xml"), srv.url("feeds/world.xml")],
        routes=[],
        settings=merge(
            SETTINGS, {"fetch": {"timeout_s": 5}, "extract": {"workers": 1, "timeout_s": timeout_s}}
        ),
    )
    return load_config(cfg), Store(f"sqlite:///{tmp / 'db.sqlite'}"), srv


def _then_the_pool_still_works(
    config: Any, store: Store, srv: FixtureServer, pool: WorkerPool
) -> None:
    """Open the world feed: its pages go through the same pool, to its new worker."""
    del srv.faults["/feeds/world.xml"]
    s = run_cycle(store, config, pool=pool, force=True)
    assert s.articles_new == 6 and s.hits_new == 1 and s.extraction_fallbacks == 0


def test_extraction_that_runs_too_long_is_cut_off_and_the_worker_replaced(tmp_path: Path) -> None:
    config, store, srv = _world(tmp_path, SLOW_PAGE, timeout_s=2)
    try:
        with WorkerPool.for_config(config) as pool:
            t0 = time.monotonic()
            s = run_cycle(store, config, pool=pool)
            seconds = time.monotonic() - t0
            victim = rows(store, Article)[0]
            assert victim.extraction == "summary" and victim.text
            assert "timed out after 2s" in victim.extraction_error
            assert s.articles_new == 1 and seconds < 30
            _then_the_pool_still_works(config, store, srv, pool)
    finally:
        srv.stop()


def test_worker_killed_mid_extraction_is_replaced_and_the_article_recorded(tmp_path: Path) -> None:
    config, store, srv = _world(tmp_path, SLOW_PAGE, timeout_s=60)
    try:
        with WorkerPool.for_config(config) as pool:
            # the only page is being analysed once its worker burns CPU: kill it then
            t, killed = kill_busy_worker_when(lambda: bool(srv.hits("x/victim")))
            s = run_cycle(store, config, pool=pool)
            t.join(timeout=5)
            assert killed, "no busy worker process found to kill"
            victim = rows(store, Article)[0]
            assert victim.extraction == "summary" and victim.text
            assert "crashed (exit code -9)" in victim.extraction_error
            assert "replaced" in victim.extraction_error and s.articles_new == 1
            _then_the_pool_still_works(config, store, srv, pool)
    finally:
        srv.stop()


def test_requests_queued_behind_a_slow_host_are_not_timed_out() -> None:
    """The time limit is per request, from when it is sent: three slow answers ahead of
    it in this host's single slot must not make a fast URL "time out" unasked."""
    import asyncio

    from monitor.config import FetchSettings
    from monitor.errors import FetchError
    from monitor.fetch.http import Fetcher

    settings = FetchSettings(
        allow_hosts=["127.0.0.1"],
        per_host_concurrency=1,
        per_host_delay_s=0,
        timeout_s=1,
        connect_timeout_s=0.5,
    )
    paths = ["slow1", "slow2", "slow3", "fast"]  # limit 2.5s; "fast" waits 2.7s for its turn
    with FixtureServer() as srv:
        for name in paths:
            srv.add(name, FEED_OK, "application/rss+xml")
            if name != "fast":
                srv.faults[f"/{name}"] = Fault(delay_s=0.9)

        async def go() -> list[Any]:
            async with Fetcher(settings) as f:

                async def one(path: str) -> Any:
                    try:
                        return (await f.fetch(srv.url(path))).status
                    except FetchError as exc:
                        return str(exc)

                return await asyncio.gather(*(one(p) for p in paths))

        t0 = time.monotonic()
        assert asyncio.run(go()) == [200] * 4  # each answered within its own limit
        assert time.monotonic() - t0 < 8
