"""The cycle's fetch loop: one :class:`~monitor.fetch.http.Fetcher` on an event loop in a
background thread, shared by every step of a cycle."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, TypeVar

from monitor.config.settings import FetchSettings
from monitor.fetch.http import Fetcher

T = TypeVar("T")


class FetchLoop:
    """One :class:`Fetcher` for a whole cycle, on an event loop in a background thread.

    Steps of the cycle are plain synchronous functions (and Prefect tasks); they hand
    requests to this loop, so one set of connections and one per-host politeness state
    serve the whole cycle, and fetching goes on while the caller does other work.
    """

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        self.loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._started: dict[Hashable, concurrent.futures.Future[Any]] = {}
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="newsmon-fetch", daemon=True
        )
        self._thread.start()
        self.fetcher: Fetcher = self.call(self._make())

    async def _make(self) -> Fetcher:
        return Fetcher(self.settings)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; a future for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return self.submit(coro).result()

    def start(
        self, key: Hashable, make: Callable[[], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T]:
        """Start ``make()`` once under ``key`` (work done ahead of the step that needs it)."""
        with self._lock:
            fut = self._started.get(key)
            if fut is None:
                fut = self._started[key] = self.submit(make())
            return fut

    def take(
        self, key: Hashable, make: Callable[[], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T]:
        """The future started under ``key``, forgotten here; or ``make()`` started now."""
        with self._lock:
            fut = self._started.pop(key, None)
        return fut if fut is not None else self.submit(make())

    def close(self) -> None:
        if self.loop.is_closed():
            return
        with self._lock:
            for fut in self._started.values():
                fut.cancel()
            self._started.clear()
        try:
            self.call(self.fetcher.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()

    def __enter__(self) -> FetchLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
