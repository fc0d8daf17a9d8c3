"""A flow run's heartbeat that stops at once when the run ends.

Prefect's flow engine (3.x, ``prefect.flow_engine._send_heartbeats``) sends a heartbeat
event every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds from a thread that sleeps in
steps of one second, and joins that thread when the run ends: every flow run waits out
the current second, 0.5 s on average, for nothing (docs/performance.md, "the cycle with
nothing new"). This is the same heartbeat, whose thread waits on the stop event instead,
so the join returns at once. Installed by :func:`install` when the engine has the
function and the methods it uses; otherwise Prefect's own stays.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

NEEDS = ("heartbeat_seconds", "_build_heartbeat_event_template", "_emit_flow_run_heartbeat")


@contextmanager
def send_heartbeats(engine: Any, join_on_exit: bool = True) -> Generator[None, None, None]:
    """Prefect's ``_send_heartbeats``, waking on stop instead of sleeping second by second."""
    from prefect import flow_engine

    seconds = engine.heartbeat_seconds
    if seconds is None:
        yield
        return
    seconds = max(seconds, flow_engine.MINIMUM_HEARTBEAT_INTERVAL)
    resource, related = engine._build_heartbeat_event_template()
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            run = engine.flow_run
            if run and run.state and run.state.is_final():
                return
            try:
                engine._emit_flow_run_heartbeat(resource, related)
            except Exception:  # as in Prefect: a heartbeat never fails a run
                engine.logger.debug("Failed to emit heartbeat", exc_info=True)
            stop.wait(seconds)

    # The run's context (its settings, so its API URL), as Prefect's own thread has.
    ctx = contextvars.copy_context()
    thread = threading.Thread(
        target=ctx.run, args=(beat,), name="newsmon-flow-heartbeat", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        if join_on_exit:
            thread.join(timeout=2)


def install() -> bool:
    """Use :func:`send_heartbeats` for every flow run of this process; False when this
    Prefect's engine is not the one it was written for (Prefect's own stays)."""
    from prefect import flow_engine

    engine = getattr(flow_engine, "BaseFlowRunEngine", None)
    if (
        not hasattr(flow_engine, "_send_heartbeats")
        or not hasattr(flow_engine, "MINIMUM_HEARTBEAT_INTERVAL")
        or engine is None
        or not all(hasattr(engine, n) for n in NEEDS)
    ):
        return False
    flow_engine._send_heartbeats = send_heartbeats
    return True
