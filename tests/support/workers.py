"""Finding the worker pool's processes from a test, and killing the busy one."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def pool_workers() -> list[int]:
    """The worker processes: those forked by a forkserver this process started."""
    out = []
    for child in descendants(os.getpid()):
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"forkserver" in cmd:
            out += descendants(child)
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kill_busy_worker_when(
    started: Callable[[], bool], timeout_s: float = 60
) -> tuple[threading.Thread, list[int]]:
    """A thread that waits for ``started()``, then SIGKILLs the worker that burns CPU
    (idle workers use ~0; on a loaded machine the busy one gets little, hence 0.05 s).
    Returns the started thread and the list the killed pid is put in."""
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + timeout_s
        while not started() and time.monotonic() < deadline:
            time.sleep(0.05)
        while not killed and time.monotonic() < deadline:
            workers = pool_workers()
            before = {pid: cpu_seconds(pid) for pid in workers}
            time.sleep(0.5)
            for pid in workers:
                if cpu_seconds(pid) - before[pid] > 0.05:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    except ProcessLookupError:
                        pass

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    return t, killed


def pipelines_built(_: object = None) -> int:
    """In a worker: how many spaCy pipelines it holds (at first, what its forkserver built)."""
    from monitor.topics.text import pipeline

    return pipeline.cache_info().currsize
