"""The desk's training and test jobs run in their own processes: stopped after the job
timeout, stopped when the desk shuts down (stopping ``newsmon web`` never waits for a
training), and gone by themselves when the desk's process is killed. Real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from monitor.desk import create_app
from monitor.desk.learning import LoopJobs
from monitor.store import Store

with warnings.catch_warnings():  # "install httpx2": the test client works with httpx as is
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent


def gone(pid: int, within: float = 10.0) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for a reaper counts)."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def child_pid(jobs: LoopJobs, topic: str, within: float = 30.0) -> int:
    deadline = time.monotonic() + within
    while (pid := jobs.pid(topic)) is None:
        assert time.monotonic() < deadline, "the job's process did not start"
        time.sleep(0.05)
    return pid


def test_a_job_past_its_timeout_is_stopped() -> None:
    jobs = LoopJobs(timeout=1.5)
    job = jobs.start("t", "train", "ana", time.sleep, 120)
    pid = child_pid(jobs, "t")
    deadline = time.monotonic() + 30
    while jobs.running("t") is not None:
        assert time.monotonic() < deadline, "the job ran past its timeout"
        time.sleep(0.1)
    assert job.error is not None and "stopped after 1.5 s (the job timeout)" in job.error
    assert jobs.last("t", "train") is job and gone(pid)


def test_a_jobs_result_comes_back_from_its_process() -> None:
    jobs = LoopJobs()
    job = jobs.start("t", "test", "ana", dict, {"answer": 42})
    deadline = time.monotonic() + 30
    while job.running:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job.error is None and job.result == {"answer": 42}


def counting(n: int, progress: Any) -> dict[str, Any]:
    """A job with progress: reports each step, then waits to be seen at its last step."""
    for i in range(n + 1):
        progress({"done": i, "total": n})
        time.sleep(0.3)
    return {"counted": n}


def test_a_jobs_progress_comes_back_from_its_process() -> None:
    jobs = LoopJobs()
    job = jobs.start("t", "rescan", "ana", counting, 5, progress=True)
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while job.running:
        assert time.monotonic() < deadline
        if job.progress is not None and job.progress["done"] not in seen:
            seen.append(job.progress["done"])
        time.sleep(0.05)
    assert job.error is None and job.result == {"counted": 5}
    assert job.progress == {"done": 5, "total": 5}
    assert len(seen) >= 3 and seen == sorted(seen)  # seen while it ran, in order


def test_shutting_the_desk_down_stops_its_running_job(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'news.db'}")
    app = create_app(store, [])
    jobs: LoopJobs = app.state.loop_jobs
    with TestClient(app):
        job = jobs.start("t", "train", "ana", time.sleep, 120)
        pid = child_pid(jobs, "t")
    try:
        assert gone(pid, within=10), "the job's process outlived the desk's shutdown"
        while job.running:  # its watcher records the end
            time.sleep(0.05)
        assert job.error == "stopped: the desk shut down"
    finally:
        if not gone(pid, within=0):
            os.kill(pid, signal.SIGKILL)
    store.close()


SCRIPT = """
import os, sys, time
from monitor.desk.learning import LoopJobs
if __name__ == "__main__":
    jobs = LoopJobs()
    jobs.start("t", "train", "ana", time.sleep, 120)
    while jobs.pid("t") is None:
        time.sleep(0.05)
    print(jobs.pid("t"), flush=True)
    if sys.argv[1] == "exit":
        sys.exit(0)
    time.sleep(120)
"""


def _script(how: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, how], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def test_a_process_that_exits_does_not_wait_for_its_job() -> None:
    proc, pid = _script("exit")
    try:
        proc.wait(15)  # it hung until the job ended when a process pool ran the job
        assert gone(pid)
    finally:
        proc.kill()
        if not gone(pid, within=0):
            os.kill(pid, signal.SIGKILL)


def test_a_job_ends_when_the_desk_is_killed() -> None:
    proc, pid = _script("stay")
    try:
        assert not gone(pid, within=0.5)
        proc.kill()  # SIGKILL: no exit hook, no shutdown runs
        proc.wait(5)
        assert gone(pid, within=10), "the job's process was orphaned"
    finally:
        if not gone(pid, within=0):
            os.kill(pid, signal.SIGKILL)
