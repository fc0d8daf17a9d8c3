"""monitor.fetch against a real loopback HTTP server (monitor.demo.servers.FixtureServer)."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.config import FetchSettings
from monitor.demo.servers import LAST_MODIFIED, Fault, FixtureServer
from monitor.errors import FetchError
from monitor.fetch.http import HOST_THROTTLE_PATHS, Fetcher, FetchResult, parse_retry_after

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>A</title><link>{BASE}/a</link></item></channel></rss>"""


def loopback(**kw: Any) -> FetchSettings:
    """Settings for tests: loopback allowed (it is refused by default), no spacing."""
    base: dict[str, Any] = dict(
        allow_hosts=["127.0.0.0/8"], per_host_delay_s=0.0, timeout_s=5, connect_timeout_s=5
    )
    return FetchSettings(**(base | kw))


class CountingServer(FixtureServer):
    """A FixtureServer that also records when each request started and how many overlapped."""

    def __init__(self, counter: dict[str, Any] | None = None, **kw: Any) -> None:
        self.counter = counter if counter is not None else new_counter()
        super().__init__(**kw)

    def _handler_class(self) -> type:
        base = super()._handler_class()
        server = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:
                counter = server.counter  # the one current when the request came in
                with counter["lock"]:
                    counter["active"] += 1
                    counter["peak"] = max(counter["peak"], counter["active"])
                    counter["starts"].append((self.path, time.monotonic()))
                try:
                    super().do_GET()
                finally:
                    with counter["lock"]:
                        counter["active"] -= 1

        return Handler


def new_counter() -> dict[str, Any]:
    return {"lock": threading.Lock(), "active": 0, "peak": 0, "starts": []}


@pytest.fixture(scope="module")
def shared_server() -> Iterator[CountingServer]:
    # one server for the module: stopping one takes half a second (its poll interval)
    with CountingServer() as srv:
        yield srv


@pytest.fixture
def server(shared_server: CountingServer) -> CountingServer:
    """The shared server, emptied: no files, faults, requests or counts from other tests."""
    srv = shared_server
    srv.files.clear()
    srv.faults.clear()
    with srv._lock:
        srv.requests.clear()
    srv.counter = new_counter()
    return srv


def fetch(url: str, settings: FetchSettings | None = None, **kw: Any) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(settings or loopback()) as f:
            return await f.fetch(url, **kw)

    return asyncio.run(go())


def fetch_error(url: str, settings: FetchSettings | None = None, **kw: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, settings, **kw)
    return info.value


# --- plain answers ----------------------------------------------------------------------


def test_200(server: CountingServer) -> None:
    url = server.add("feed.xml", FEED, "application/rss+xml")
    res = fetch(url)
    assert res.status == 200 and not res.not_modified
    assert res.url == url and res.moved_to is None
    assert res.body == FEED.replace(b"{BASE}", server.base.encode())
    assert res.content_type == "application/rss+xml"
    assert res.etag and res.last_modified == LAST_MODIFIED
    req = server.hits("feed.xml")[0]
    assert "rss+xml" in req.headers["accept"]
    assert req.headers["user-agent"].startswith("newsmon/")
    assert "if-none-match" not in req.headers


def test_gzipped_body_is_decompressed(server: CountingServer) -> None:
    body = b"<rss>" + b"x" * 5000 + b"</rss>"
    url = server.add("big.xml", body, "application/xml")
    res = fetch(url)
    assert res.headers.get("content-encoding") == "gzip"
    assert res.body == body


def test_404(server: CountingServer) -> None:
    err = fetch_error(server.url("missing.xml"))
    assert err.status == 404
    assert str(err) == "HTTP 404"


# --- conditional GET --------------------------------------------------------------------


def test_conditional_get_with_stored_validators(server: CountingServer) -> None:
    url = server.add("feed.xml", FEED, "application/rss+xml")
    first = fetch(url)
    again = fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert again.status == 304 and again.not_modified and again.body is None
    req = server.hits("feed.xml")[-1]
    assert req.headers["if-none-match"] == first.etag
    assert req.headers["if-modified-since"] == first.last_modified
    assert req.status == 304


def test_conditional_get_last_modified_only(server: CountingServer) -> None:
    url = server.add("feed.xml", FEED, "application/rss+xml")
    res = fetch(url, last_modified=LAST_MODIFIED)
    assert res.not_modified


def test_changed_body_is_fetched_again(server: CountingServer) -> None:
    url = server.add("feed.xml", FEED, "application/rss+xml")
    first = fetch(url)
    server.add(
        "feed.xml", FEED.replace(b"<title>T</title>", b"<title>T2</title>"), "application/rss+xml"
    )
    res = fetch(url, etag=first.etag)
    assert res.status == 200 and b"T2" in (res.body or b"")
    assert res.etag != first.etag


# --- size cap ---------------------------------------------------------------------------


def test_size_cap_declared_length(server: CountingServer) -> None:
    noise = random.Random(0).randbytes(5000)  # incompressible: the declared length is big
    url = server.add("huge.bin", noise, "application/octet-stream")
    err = fetch_error(url, loopback(max_bytes=1000))
    assert "response too large" in str(err) and "(limit 1,000)" in str(err)


def test_size_cap_counts_decompressed_bytes(server: CountingServer) -> None:
    # 2 MB of zeros gzip to a few KB: the declared length passes, the stream must not.
    body = b"<rss>" + b"\x00" * 2_000_000
    url = server.add("bomb.xml", body, "application/xml")
    err = fetch_error(url, loopback(max_bytes=100_000))
    assert server.hits("bomb.xml")[0].status == 200
    assert "larger than the limit of 100,000 bytes" in str(err)


# --- redirects --------------------------------------------------------------------------


def test_redirect_chain(server: CountingServer) -> None:
    final = server.add("final.xml", FEED, "application/rss+xml")
    server.faults["/a"] = Fault(status=302, headers={"Location": "/b"})
    server.faults["/b"] = Fault(status=307, headers={"Location": server.url("c")})
    server.faults["/c"] = Fault(status=303, headers={"Location": "final.xml"})
    res = fetch(server.url("a"), etag='"old"')
    assert res.status == 200 and res.url == final
    assert res.moved_to is None  # temporary redirects: keep polling the old URL
    assert [r.path for r in server.requests] == ["/a", "/b", "/c", "/final.xml"]
    # the stored validator belongs to the first URL only
    assert server.hits("a")[0].headers.get("if-none-match") == '"old"'
    assert "if-none-match" not in server.hits("final.xml")[0].headers


def test_permanent_redirect_sets_moved_to(server: CountingServer) -> None:
    final = server.add("new.xml", FEED, "application/rss+xml")
    server.faults["/old.xml"] = Fault(status=301, headers={"Location": "/mid.xml"})
    server.faults["/mid.xml"] = Fault(status=308, headers={"Location": "/new.xml"})
    res = fetch(server.url("old.xml"))
    assert res.status == 200 and res.moved_to == final


def test_permanent_then_temporary_is_not_a_move(server: CountingServer) -> None:
    server.add("new.xml", FEED, "application/rss+xml")
    server.faults["/old.xml"] = Fault(status=301, headers={"Location": "/mid.xml"})
    server.faults["/mid.xml"] = Fault(status=302, headers={"Location": "/new.xml"})
    assert fetch(server.url("old.xml")).moved_to is None


def test_redirect_loop(server: CountingServer) -> None:
    server.faults["/a"] = Fault(status=302, headers={"Location": "/b"})
    server.faults["/b"] = Fault(status=301, headers={"Location": "/a"})
    err = fetch_error(server.url("a"))
    assert "redirect loop" in str(err)
    assert str(err).count("/a") == 2 and "/b" in str(err)
    assert len(server.requests) == 2  # stopped as soon as the loop showed


def test_too_many_redirects(server: CountingServer) -> None:
    for i in range(5):
        server.faults[f"/r{i}"] = Fault(status=302, headers={"Location": f"/r{i + 1}"})
    server.add("r5", FEED, "application/rss+xml")
    err = fetch_error(server.url("r0"), loopback(max_redirects=2))
    assert "more than 2 redirects" in str(err)
    assert len(server.requests) == 3


def test_redirect_without_location_and_to_other_scheme(server: CountingServer) -> None:
    server.faults["/nowhere"] = Fault(status=302)
    assert "without a Location" in str(fetch_error(server.url("nowhere")))
    server.faults["/ftp"] = Fault(status=302, headers={"Location": "ftp://127.0.0.1/x"})
    assert "unsupported URL scheme 'ftp'" in str(fetch_error(server.url("ftp")))


# --- statuses with meaning ---------------------------------------------------------------


def test_410_gone(server: CountingServer) -> None:
    server.faults["/gone.xml"] = Fault(status=410)
    err = fetch_error(server.url("gone.xml"))
    assert err.status == 410
    assert "410 Gone" in str(err) and "removed" in str(err)


def test_429_retry_after_seconds(server: CountingServer) -> None:
    server.faults["/busy.xml"] = Fault(status=429, headers={"Retry-After": "7"})
    err = fetch_error(server.url("busy.xml"))
    assert err.status == 429 and err.retry_after == 7.0
    assert "Retry-After 7s" in str(err)


def test_503_retry_after_http_date(server: CountingServer) -> None:
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    server.faults["/down.xml"] = Fault(status=503, headers={"Retry-After": when})
    err = fetch_error(server.url("down.xml"))
    assert err.status == 503
    assert err.retry_after is not None and 55 <= err.retry_after <= 61


def test_503_without_retry_after(server: CountingServer) -> None:
    server.faults["/down.xml"] = Fault(status=503)
    err = fetch_error(server.url("down.xml"))
    assert err.status == 503 and err.retry_after is None


def test_long_retry_after_blocks_its_url_not_the_host(server: CountingServer) -> None:
    server.faults["/busy.xml"] = Fault(status=429, headers={"Retry-After": "120"})
    other = server.add("other.xml", FEED, "application/rss+xml")

    async def go() -> tuple[FetchError, FetchError, FetchResult, float]:
        async with Fetcher(loopback()) as f:
            with pytest.raises(FetchError) as first:
                await f.fetch(server.url("busy.xml"))
            t0 = time.monotonic()
            with pytest.raises(FetchError) as again:
                await f.fetch(server.url("busy.xml"))
            res = await f.fetch(other)
            return first.value, again.value, res, time.monotonic() - t0

    first, again, res, waited = asyncio.run(go())
    assert first.retry_after == 120
    # the URL that said to wait is not asked again meanwhile; no sleeping either
    assert again.status == 429 and again.retry_after is not None and again.retry_after > 100
    assert "this URL said to wait" in str(again)
    assert len(server.hits("busy.xml")) == 1 and waited < 1.0
    # another path of the same host is still read (Retry-After concerns its URL)
    assert res.status == 200 and len(server.hits("other.xml")) == 1


def test_retry_after_on_several_paths_blocks_the_host(server: CountingServer) -> None:
    for i in range(HOST_THROTTLE_PATHS):
        server.faults[f"/busy{i}.xml"] = Fault(status=503, headers={"Retry-After": "600"})
    other = server.add("other.xml", FEED, "application/rss+xml")

    async def go() -> FetchError:
        async with Fetcher(loopback()) as f:
            for i in range(HOST_THROTTLE_PATHS):
                with pytest.raises(FetchError):
                    await f.fetch(server.url(f"busy{i}.xml"))
            with pytest.raises(FetchError) as err:
                await f.fetch(other)
            return err.value

    err = asyncio.run(go())
    assert err.retry_after is not None and err.retry_after > 500
    assert "the host" in str(err) and server.hits("other.xml") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        (" 30 ", 30.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: no wait
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_date_relative_to_now() -> None:
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now=now) == 120.0


# --- broken servers ----------------------------------------------------------------------


def test_timeout_on_a_slow_answer() -> None:
    # its own server: the delayed answer outlives the test
    with CountingServer() as server:
        server.add("slow.xml", FEED, "application/rss+xml")
        server.faults["/slow.xml"] = Fault(delay_s=1.5)
        t0 = time.monotonic()
        err = fetch_error(server.url("slow.xml"), loopback(timeout_s=0.3, connect_timeout_s=0.3))
        assert time.monotonic() - t0 < 1.2
        assert "timed out" in str(err)


def test_connection_dropped(server: CountingServer) -> None:
    server.faults["/drop.xml"] = Fault(drop=True)
    err = fetch_error(server.url("drop.xml"))
    assert "connection broken" in str(err)
    assert err.status is None


def test_connection_refused() -> None:
    from monitor.demo.servers import free_port

    err = fetch_error(f"http://127.0.0.1:{free_port()}/feed.xml")
    assert "cannot connect" in str(err)


def test_fault_applied_a_number_of_times(server: CountingServer) -> None:
    url = server.add("flaky.xml", FEED, "application/rss+xml")
    server.faults["/flaky.xml"] = Fault(status=500, times=1)
    assert fetch_error(url).status == 500
    assert fetch(url).status == 200


# --- politeness ----------------------------------------------------------------------------


def run_many(urls: list[str], settings: FetchSettings) -> list[FetchResult]:
    async def go() -> list[FetchResult]:
        async with Fetcher(settings) as f:
            return list(await asyncio.gather(*(f.fetch(u) for u in urls)))

    return asyncio.run(go())


def test_per_host_concurrency_limit(server: CountingServer) -> None:
    for i in range(6):
        server.add(f"f{i}.xml", FEED, "application/rss+xml")
        server.faults[f"/f{i}.xml"] = Fault(delay_s=0.25)
    settings = loopback(per_host_concurrency=2, concurrency=32)
    t0 = time.monotonic()
    results = run_many([server.url(f"f{i}.xml") for i in range(6)], settings)
    elapsed = time.monotonic() - t0
    assert [r.status for r in results] == [200] * 6
    assert server.counter["peak"] == 2
    assert elapsed >= 0.7  # three waves of two, 0.25 s each


def test_limit_is_per_host_not_global() -> None:
    counter = new_counter()
    with CountingServer(counter) as a, CountingServer(counter) as b:
        urls = []
        for srv in (a, b):
            for i in range(4):
                urls.append(srv.add(f"f{i}.xml", FEED, "application/rss+xml"))
                srv.faults[f"/f{i}.xml"] = Fault(delay_s=0.3)
        settings = loopback(per_host_concurrency=2)
        run_many(urls, settings)
    # two hosts (ports), two at a time each: four at once overall, never more
    assert counter["peak"] == 4


def test_per_host_spacing(server: CountingServer) -> None:
    for i in range(3):
        server.add(f"s{i}.xml", FEED, "application/rss+xml")
    settings = loopback(per_host_concurrency=4, per_host_delay_s=0.2)
    run_many([server.url(f"s{i}.xml") for i in range(3)], settings)
    starts = sorted(t for _, t in server.counter["starts"])
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) == 2
    assert all(g >= 0.15 for g in gaps), gaps


def test_overall_concurrency_limit() -> None:
    counter = new_counter()
    servers = [CountingServer(counter).start() for _ in range(3)]
    try:
        urls = []
        for srv in servers:
            for i in range(2):
                urls.append(srv.add(f"g{i}.xml", FEED, "application/rss+xml"))
                srv.faults[f"/g{i}.xml"] = Fault(delay_s=0.25)
        run_many(urls, loopback(concurrency=3, per_host_concurrency=2))
    finally:
        for srv in servers:
            srv.stop()
    assert counter["peak"] == 3


def test_private_addresses_refused_by_default(server: CountingServer) -> None:
    url = server.add("feed.xml", FEED, "application/rss+xml")
    err = fetch_error(url, FetchSettings())
    assert "refused" in str(err) and "127.0.0.1" in str(err)
    assert server.requests == []


def test_gzip_fixture_roundtrip_is_real() -> None:
    # guards the size-cap test above: the server really compresses large bodies
    body = b"<rss>" + b"\x00" * 2_000_000
    assert len(gzip.compress(body)) < 100_000
