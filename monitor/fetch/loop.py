"""The cycle's fetch loop: one :class:`~monitor.fetch.http.Fetcher` on an event loop in a
background thread, shared by every step of a cycle."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
from collections.abc import Callable, Coroutine, Hashable, Sequence
from typing import Any, TypeVar

from monitor.config.settings import FetchSettings
from monitor.fetch.http import Fetcher

T = TypeVar("T")

log = logging.getLogger(__name__)


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
        self._live: set[concurrent.futures.Future[Any]] = set()  # handed over, not done
        self._stopped: RuntimeError | None = None  # once the loop's thread has ended
        self._on_stop: list[Callable[[RuntimeError], None]] = []
        self._thread = threading.Thread(target=self._run, name="newsmon-fetch", daemon=True)
        self._thread.start()
        self.fetcher: Fetcher = self.call(self._make())

    async def _make(self) -> Fetcher:
        return Fetcher(self.settings)

    def _run(self) -> None:
        """The loop's thread. However it ends - :meth:`close`, or an exception that escapes
        the loop (``SystemExit`` or ``KeyboardInterrupt`` raised in a request: asyncio
        lets those through) - every future not done yet fails, and so does every later
        one: no caller waits for ever on a loop that no longer runs."""
        why = "it was closed"
        try:
            self.loop.run_forever()
        except BaseException as exc:  # noqa: BLE001 - told to every waiting caller instead
            why = f"{type(exc).__name__} {exc}".strip()
            log.error("the fetch loop stopped: %s", why)
        finally:
            with self._lock:
                stopped = self._stopped = RuntimeError(f"the fetch loop stopped: {why}")
                pending = [*self._started.values(), *self._live]
                hooks = list(self._on_stop)
            for fut in pending:
                _fail(fut, stopped)
            for hook in hooks:
                hook(stopped)

    @property
    def stopped(self) -> RuntimeError | None:
        """Why the loop no longer runs, once it does not."""
        return self._stopped

    def when_stopped(self, hook: Callable[[RuntimeError], None]) -> None:
        """Call ``hook(error)`` when the loop's thread ends (at once if it has): work
        waiting on the loop in its own futures (the page stream's) fails then, too."""
        with self._lock:
            stopped = self._stopped
            if stopped is None:
                self._on_stop.append(hook)
        if stopped is not None:
            hook(stopped)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; a future for its result."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._spawn([(fut, _Made(coro))])
        return fut

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return self.submit(coro).result()

    def start(
        self, key: Hashable, make: Callable[[], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T]:
        """Start ``make()`` once under ``key`` (work done ahead of the step that needs it)."""
        return self.start_many([(key, make)])[0]

    def take(
        self, key: Hashable, make: Callable[[], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T]:
        """The future started under ``key``, forgotten here; or ``make()`` started now."""
        return self.take_many([(key, make)])[0]

    def start_many(
        self, items: Sequence[tuple[Hashable, Callable[[], Coroutine[Any, Any, T]]]]
    ) -> list[concurrent.futures.Future[T]]:
        """:meth:`start` for each ``(key, make)``, handed to the loop in one wake-up (a
        batch of feeds: one call across threads, not one per feed)."""
        return self._hand_over(items, keep=True)

    def take_many(
        self, items: Sequence[tuple[Hashable, Callable[[], Coroutine[Any, Any, T]]]]
    ) -> list[concurrent.futures.Future[T]]:
        """:meth:`take` for each ``(key, make)``; those not started are started together."""
        return self._hand_over(items, keep=False)

    def _hand_over(
        self, items: Sequence[tuple[Hashable, Callable[[], Coroutine[Any, Any, T]]]], keep: bool
    ) -> list[concurrent.futures.Future[T]]:
        """The future of each key: the one started under it (kept there if ``keep``, else
        forgotten), or a new one for ``make()``, all new ones started together."""
        out: list[concurrent.futures.Future[T]] = []
        new: list[tuple[concurrent.futures.Future[T], Callable[[], Coroutine[Any, Any, T]]]] = []
        with self._lock:
            for key, make in items:
                fut = self._started.get(key) if keep else self._started.pop(key, None)
                if fut is None:
                    fut = concurrent.futures.Future()
                    if keep:
                        self._started[key] = fut
                    new.append((fut, make))
                out.append(fut)
        self._spawn(new)
        return out

    def _spawn(
        self, new: list[tuple[concurrent.futures.Future[T], Callable[[], Coroutine[Any, Any, T]]]]
    ) -> None:
        """Run each ``make()`` as a task on the loop, its outcome copied to its future
        (cancelling the future cancels the task), with one wake-up of the loop for all."""
        if not new:
            return

        with self._lock:
            stopped = self._stopped
            if stopped is None:
                self._live.update(fut for fut, _make in new)
        if stopped is not None:
            for fut, make in new:
                _discard(make)
                _fail(fut, stopped)
            return
        for fut, _make in new:
            fut.add_done_callback(self._forget)

        def spawn() -> None:
            for fut, make in new:
                if fut.cancelled():
                    _discard(make)
                    continue
                try:
                    task = self.loop.create_task(make())
                except BaseException as exc:  # noqa: BLE001 - its future says so, not the loop
                    _fail(fut, exc)
                    continue
                task.add_done_callback(functools.partial(_copy_outcome, fut))
                fut.add_done_callback(functools.partial(_cancel_task, self.loop, task))

        try:
            self.loop.call_soon_threadsafe(spawn)
        except RuntimeError as exc:  # the loop is closed
            for fut, make in new:
                _discard(make)
                _fail(fut, exc)

    def _forget(self, fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._live.discard(fut)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        with self._lock:
            # every future not done yet, taken or not: none may wait for a closed loop
            pending = [*self._started.values(), *self._live]
            self._started.clear()
        for fut in pending:
            fut.cancel()
        try:
            if self._stopped is None:  # the loop still runs: close its connections there
                self.call(self.fetcher.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._finish_tasks()
            self.loop.close()

    def _finish_tasks(self) -> None:
        """Requests left on the loop once its thread has ended (cancelled ones whose end
        it did not reach; all of them if it died): cancelled and run to their end here,
        for a few seconds at most, so none is destroyed while pending."""
        left = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        if not left:
            return
        for task in left:
            task.cancel()
        try:
            self.loop.run_until_complete(asyncio.wait(left, timeout=5))
        except BaseException as exc:  # noqa: BLE001 - closing: nothing more to do with them
            log.debug("fetch loop: requests left unfinished: %r", exc)

    def __enter__(self) -> FetchLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fail(fut: concurrent.futures.Future[Any], exc: BaseException) -> None:
    if not fut.done() and fut.set_running_or_notify_cancel():  # not cancelled meanwhile
        fut.set_exception(exc)


class _Made:
    """``make`` for a coroutine made already (:meth:`FetchLoop.submit`)."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro

    def __call__(self) -> Coroutine[Any, Any, Any]:
        return self.coro


def _discard(make: Callable[[], Any]) -> None:
    """A request that will not run: a coroutine made already is closed, so Python does
    not warn that it was never awaited (a ``make`` not called has made none)."""
    if isinstance(make, _Made):
        make.coro.close()


def _copy_outcome(fut: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
    if task.cancelled():  # as run_coroutine_threadsafe does: the future is cancelled too
        fut.cancel()
        return
    if not fut.set_running_or_notify_cancel():  # cancelled meanwhile
        return
    if (exc := task.exception()) is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(task.result())


def _cancel_task(
    loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], fut: concurrent.futures.Future[Any]
) -> None:
    if fut.cancelled():
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop closed meanwhile: its tasks are gone with it
            pass
