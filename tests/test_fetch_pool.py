"""The fetcher's connection pool against real loopback hosts
(monitor.fetch.backend.LeanConnectionPool): idle connections kept up to the keep-alive
limit while others are busy, and many hosts at once within the pool's limits."""

from __future__ import annotations

import asyncio
from typing import Any

import httpcore
import pytest

from monitor.config import FetchSettings
from monitor.demo.servers import Fault, FixtureServer
from monitor.fetch import http as fetch_http
from monitor.fetch.backend import LeanConnectionPool
from monitor.fetch.http import Fetcher

PAGE = "<html><body><p>text</p></body></html>"


class _Counting(httpcore.AsyncNetworkBackend):
    """The pool's network backend, counting the TCP connections it opens."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.opened = 0

    async def connect_tcp(self, *args: Any, **kw: Any) -> httpcore.AsyncNetworkStream:
        self.opened += 1
        stream: httpcore.AsyncNetworkStream = await self.inner.connect_tcp(*args, **kw)
        return stream

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _pool(f: Fetcher) -> Any:
    return f._client._transport._pool  # type: ignore[attr-defined]


def _hosts(n: int) -> list[FixtureServer]:
    return [FixtureServer(host=f"127.0.0.{i}").start() for i in range(1, n + 1)]


def _connections_reused(lean: bool, monkeypatch: pytest.MonkeyPatch) -> int:
    if not lean:
        monkeypatch.setattr(fetch_http, "lean_pool", lambda client: False)
    servers = _hosts(6)
    try:
        for s in servers:
            s.add("p.html", PAGE, "text/html")
        for s in servers[:3]:
            s.add("slow.html", PAGE, "text/html")
            s.faults["/slow.html"] = Fault(delay_s=1.0)
        # 4 requests at once: a pool of 8 connections, 4 kept when idle
        settings = FetchSettings(allow_private_networks=True, per_host_delay_s=0.0, concurrency=4)

        async def go() -> int:
            async with Fetcher(settings) as f:
                pool = _pool(f)
                assert isinstance(pool, LeanConnectionPool) is lean
                counter = pool._network_backend = _Counting(pool._network_backend)
                # three hosts answered: three idle connections
                await asyncio.gather(*(f.fetch(s.url("p.html")) for s in servers[3:]))
                # three other hosts busy for a second; the first three asked again
                slow = [asyncio.create_task(f.fetch(s.url("slow.html"))) for s in servers[:3]]
                await asyncio.sleep(0.3)
                again = await asyncio.gather(*(f.fetch(s.url("p.html")) for s in servers[3:]))
                done = await asyncio.gather(*slow)
                assert all(r.status == 200 for r in [*again, *done])
                return 9 - counter.opened  # requests that went out on an open connection

        return asyncio.run(go())
    finally:
        for s in servers:
            s.stop()


def test_idle_connections_are_kept_while_other_hosts_are_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # httpcore 1.0 closes an idle connection as soon as the pool holds more connections
    # than its keep-alive limit, busy ones included: the three hosts asked again would
    # get new connections. Three idle connections are within the limit of four.
    assert _connections_reused(True, monkeypatch) == 3


def test_the_stock_pool_closes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same run with httpcore's own pool: what the test above guards against.
    assert _connections_reused(False, monkeypatch) == 0


def test_many_hosts_at_once_stay_within_the_pool_limits() -> None:
    servers = _hosts(12)
    try:
        urls = []
        for s in servers:
            urls += [s.add(f"{k}.html", PAGE + str(k), "text/html") for k in range(5)]
        settings = FetchSettings(allow_private_networks=True, per_host_delay_s=0.0, concurrency=6)
        seen: list[int] = []

        async def go() -> list[Any]:
            async with Fetcher(settings) as f:
                pool = _pool(f)

                async def one(url: str) -> Any:
                    r = await f.fetch(url)
                    seen.append(len(pool._connections))
                    return r

                out = await asyncio.gather(*(one(u) for u in urls))
                idle = [c for c in pool._connections if c.is_idle()]
                assert len(idle) <= 6  # the keep-alive limit: the concurrency
                return out

        results = asyncio.run(go())
        assert [r.body for r in results] == [
            (PAGE + str(k)).encode() for _ in servers for k in range(5)
        ]
        assert max(seen) <= 12  # the pool's limit: twice the concurrency
        assert sum(len(s.requests) for s in servers) == 60
    finally:
        for s in servers:
            s.stop()


def test_a_connection_the_server_closed_is_not_reused() -> None:
    # Whether an idle connection is still open is asked when a request is about to be
    # given it (not on every request to any host): a server that closed it in between
    # costs a new connection, never a failed request.
    server = FixtureServer(host="127.0.0.1").start()
    server._httpd.RequestHandlerClass.timeout = 0.2  # type: ignore[attr-defined]
    url = server.add("p.html", PAGE, "text/html")
    settings = FetchSettings(allow_private_networks=True, per_host_delay_s=0.0, concurrency=4)

    async def go() -> list[int]:
        async with Fetcher(settings) as f:
            pool = _pool(f)
            counter = pool._network_backend = _Counting(pool._network_backend)
            statuses = [(await f.fetch(url)).status]
            await asyncio.sleep(0.6)  # the server closes the idle connection after 0.2 s
            statuses.append((await f.fetch(url)).status)
            return [*statuses, counter.opened]

    try:
        assert asyncio.run(go()) == [200, 200, 2]
    finally:
        server.stop()
