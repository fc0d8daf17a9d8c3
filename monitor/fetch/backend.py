"""The connect-time half of :mod:`monitor.fetch.guard`: httpcore's network backend with
the host policy's check on the address a connection really opens to, and
:func:`guard_connections`, which puts it into an httpx client.

A module of its own so that the policy and the allow-list parsing (which the config
imports, and so the extraction workers' forkserver) do not import httpcore.
"""

from __future__ import annotations

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


def guard_connections(client: httpx.AsyncClient, policy: HostPolicy) -> bool:
    """Put the connect-time check into ``client``'s direct transport (not into proxy
    transports: those connect to the proxy the user configured). False if this httpx
    has no such place (the check before each request still applies)."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if inner is None:
        return False
    pool._network_backend = GuardedBackend(policy, inner)  # type: ignore[union-attr]
    return True
