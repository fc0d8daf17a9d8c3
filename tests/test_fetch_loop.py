"""The cycle's fetch loop: work started in batches, taken by the step that needs it,
outcomes and cancellation carried across the thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import pytest

from monitor.fetch.loop import FetchLoop


def test_a_batch_runs_on_the_loop_and_each_outcome_reaches_its_future() -> None:
    started: list[int] = []

    async def work(i: int) -> int:
        started.append(i)
        await asyncio.sleep(0.01 * (5 - i))
        if i == 3:
            raise ValueError("three")
        return i * 10

    with FetchLoop() as loop:
        futs = loop.start_many([(("k", i), lambda i=i: work(i)) for i in range(5)])
        assert loop.start_many([(("k", 0), lambda: work(99))])[0] is futs[0]  # once per key
        taken = loop.take_many([(("k", i), lambda i=i: work(100 + i)) for i in range(6)])
        assert taken[:5] == futs  # started ahead: the same futures
        assert [f.result(5) for f in taken[:3]] == [0, 10, 20]
        with pytest.raises(ValueError, match="three"):
            taken[3].result(5)
        assert taken[4].result(5) == 40
        assert taken[5].result(5) == 1050  # not started ahead: started now, by take
        assert sorted(started) == [0, 1, 2, 3, 4, 105]
        # taken: forgotten, so a new start runs again
        again = loop.start_many([(("k", 0), lambda: work(0))])[0]
        assert again is not futs[0] and again.result(5) == 0


def test_cancelling_a_future_cancels_its_task() -> None:
    running = threading.Event()
    cancelled = threading.Event()

    async def slow() -> None:
        running.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with FetchLoop() as loop:
        fut = loop.start("slow", slow)
        assert running.wait(5)
        assert fut.cancel()
        assert cancelled.wait(5)
        with pytest.raises(concurrent.futures.CancelledError):
            fut.result(1)


def test_a_future_cancelled_before_the_loop_takes_it_never_runs() -> None:
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")

    with FetchLoop() as loop:
        gate = threading.Event()
        loop.loop.call_soon_threadsafe(gate.wait, 5)  # hold the loop
        fut = loop.start("w", work)
        assert fut.cancel()
        gate.set()
        loop.call(asyncio.sleep(0.05))
    assert ran == []


def test_closing_the_loop_cancels_what_was_started() -> None:
    async def slow() -> None:
        await asyncio.sleep(30)

    loop = FetchLoop()
    fut = loop.start("slow", slow)
    loop.close()
    assert fut.cancelled()
    late = loop.start("late", slow)  # after close: a clear error, not a hang
    with pytest.raises(RuntimeError):
        late.result(1)


def test_a_request_that_cannot_start_fails_alone() -> None:
    async def ok() -> str:
        return "ok"

    def bad() -> Any:
        raise ValueError("cannot make this request")

    with FetchLoop() as loop:
        first, second = loop.take_many([("bad", bad), ("ok", ok)])
        with pytest.raises(ValueError, match="cannot make"):
            first.result(5)
        assert second.result(5) == "ok"


def test_a_task_cancelled_on_the_loop_cancels_its_future() -> None:
    async def gives_up() -> None:
        raise asyncio.CancelledError

    with FetchLoop() as loop:
        fut = loop.start("x", gives_up)
        with pytest.raises(concurrent.futures.CancelledError):
            fut.result(5)
        assert fut.cancelled()


def test_closing_the_loop_fails_taken_futures_too() -> None:
    async def slow() -> None:
        await asyncio.sleep(30)

    loop = FetchLoop()
    (taken,) = loop.take_many([("slow", slow)])  # no longer held under its key
    loop.close()
    with pytest.raises(concurrent.futures.CancelledError):
        taken.result(5)  # not a wait for ever


@pytest.mark.timeout(60)  # a regression hangs: fail it soon
def test_a_loop_that_dies_fails_every_waiting_future_and_every_later_one() -> None:
    async def slow() -> None:
        await asyncio.sleep(30)

    async def kills_the_loop() -> None:
        raise SystemExit("a library called sys.exit")  # asyncio lets it out of the loop

    loop = FetchLoop()
    waiting = loop.start_many([(("slow", i), slow) for i in range(3)])
    taken = loop.take("slow-taken", slow)
    loop.start("exit", kills_the_loop)
    for fut in [*waiting, taken]:
        with pytest.raises(RuntimeError, match="the fetch loop stopped: SystemExit"):
            fut.result(5)  # told, not left waiting for ever
    later = loop.start("later", slow)
    with pytest.raises(RuntimeError, match="fetch loop stopped"):
        later.result(1)
    with pytest.raises(RuntimeError, match="fetch loop stopped"):
        loop.call(slow())
    loop.close()  # and closing it does not hang either
