"""The connect-time half of :mod:`monitor.fetch.guard`: httpcore's network backend with
the host policy's check on the address a connection really opens to, and
:func:`guard_connections`, which puts it into an httpx client.

A module of its own so that the policy and the allow-list parsing (which the config
imports, and so the extraction workers' forkserver) do not import httpcore.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import httpcore

from monitor.errors import FetchError
from monitor.fetch.guard import HostPolicy, resolve

if TYPE_CHECKING:  # httpx brings click, rich and pygments
    import httpx


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, checking the address it really connects to.

    The check before each request resolves the name once; the connection would
    resolve it again. Here the name is resolved once more, every address checked,
    and the connection opened to a checked address (TLS still verifies the name).
    """

    def __init__(self, policy: HostPolicy, inner: httpcore.AsyncNetworkBackend) -> None:
        self.policy = policy
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self.policy.allows_name(host):
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = await resolve(host, port)
        for _, ip in addresses:
            problem = self.policy.refusal(host, ip)
            if problem:
                raise FetchError(problem)
        last: Exception | None = None
        for _, ip in addresses:  # as the resolver ordered them, as a plain connect would
            try:
                return await self.inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kw: Any) -> httpcore.AsyncNetworkStream:
        raise FetchError("refused: unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _direct_pool(client: httpx.AsyncClient) -> Any:
    """httpcore's pool behind ``client``'s direct transport (None where this httpx keeps
    it elsewhere): where both the connect-time check and the lean pool go."""
    return getattr(getattr(client, "_transport", None), "_pool", None)


def guard_connections(client: httpx.AsyncClient, policy: HostPolicy) -> bool:
    """Put the connect-time check into ``client``'s direct transport (not into proxy
    transports: those connect to the proxy the user configured). False if this httpx
    has no such place (the check before each request still applies)."""
    pool = _direct_pool(client)
    inner = getattr(pool, "_network_backend", None)
    if inner is None:
        return False
    pool._network_backend = GuardedBackend(policy, inner)
    return True


class LeanConnectionPool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool with its bookkeeping in one cheap pass.

    On every request that starts or ends, httpcore 1.0 walks its connections: for each
    idle one it builds a list of all of them to count (``len([c.is_idle() for c in
    connections])``, which is the number of connections, idle or not), and asks the
    socket whether the server closed it (a ``poll`` through anyio's attribute lookups).
    With the 64 connections a cycle keeps to many hosts, that was the flow process's
    largest use of CPU after the stories (~300,000 ``is_idle`` calls for 390 pages), and
    any connection beyond the 32nd was closed as soon as it was idle, so keep-alive went
    unused on the hosts a cycle asks again (encode/httpcore#1035, unmerged). Here:

    - one walk; idle connections beyond ``max_keepalive_connections`` are closed, longest
      idle first, and a connection a request is waiting to start on is never closed as
      surplus or to make room (encode/httpcore#1110; one the server closed is, and its
      request is retried on another, as httpcore does);
    - whether an idle connection expired (its keep-alive time is over, or the server
      closed it) is asked of the connection a request is about to be given, and of all
      of them once every :data:`SWEEP_S`, not of every one on every request;
    - queued requests are otherwise assigned as httpcore does.
    """

    SWEEP_S = 1.0

    def _expired(self, connection: httpcore.AsyncConnectionInterface) -> bool:
        return connection.is_idle() and connection.has_expired()

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        now = time.monotonic()
        sweep = now >= getattr(self, "_lean_sweep_at", 0.0)
        if sweep:
            self._lean_sweep_at = now + self.SWEEP_S
        spoken_for = {id(r.connection) for r in self._requests if r.connection is not None}
        live: list[httpcore.AsyncConnectionInterface] = []
        idle: list[httpcore.AsyncConnectionInterface] = []
        for connection in self._connections:
            if connection.is_closed():
                continue
            if sweep and self._expired(connection):
                closing.append(connection)
                continue
            live.append(connection)
            if connection.is_idle() and id(connection) not in spoken_for:
                idle.append(connection)
        surplus = len(idle) - self._max_keepalive_connections
        if surplus > 0:  # the oldest idle ones (connections are kept in creation order)
            dropped = {id(c) for c in idle[:surplus]}
            closing.extend(idle[:surplus])
            live = [c for c in live if id(c) not in dropped]
            idle = idle[surplus:]

        for pool_request in [r for r in self._requests if r.is_queued()]:
            origin = pool_request.request.url.origin
            available = None
            expired: list[httpcore.AsyncConnectionInterface] = []
            for c in live:
                if c.can_handle_request(origin) and c.is_available():
                    if id(c) not in spoken_for and self._expired(c):
                        expired.append(c)  # the server closed it, or it timed out
                        continue
                    available = c
                    break
            if expired:
                closing.extend(expired)
                gone = {id(c) for c in expired}
                live = [c for c in live if id(c) not in gone]
                idle = [c for c in idle if id(c) not in gone]
            if available is not None:
                pool_request.assign_to_connection(available)
                spoken_for.add(id(available))
                if available in idle:  # spoken for now: not one to close for room
                    idle.remove(available)
                continue
            if len(live) >= self._max_connections:
                if not idle:
                    continue  # it waits for a connection to come free
                victim = idle.pop(0)
                live.remove(victim)
                closing.append(victim)
            connection = self.create_connection(origin)
            live.append(connection)
            pool_request.assign_to_connection(connection)
            spoken_for.add(id(connection))
        self._connections = live
        return closing


def lean_pool(client: httpx.AsyncClient) -> bool:
    """Make ``client``'s direct transport keep its connections with
    :class:`LeanConnectionPool`. False (and the client unchanged) where this httpx or
    httpcore is not the one it was written for."""
    pool = _direct_pool(client)
    if type(pool) is not httpcore.AsyncConnectionPool or not all(
        hasattr(pool, a)
        for a in ("_connections", "_requests", "_max_connections", "_max_keepalive_connections")
    ):
        return False
    pool.__class__ = LeanConnectionPool
    return True
