"""The worker pool starts in the background: the first job never waits for it.

Starting the workers blocks until the forkserver has imported and built what they share
(seconds). The first page of a cycle is submitted from the cycle's fetch loop; when that
call blocked, every request in flight on the loop timed out meanwhile (a PDF answered
at once was recorded as "timed out after 6s": tests/test_hostile_network.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from monitor.config import load_config
from monitor.workers import PageJob, WorkerPool
from tests.support.workers import pool_workers

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "monitor" / "demo_data" / "pages" / "caucasus-iran-azerbaijan-thaw.html"


def test_submit_returns_before_the_workers_are_up_and_the_job_runs_once_they_are() -> None:
    topics = load_config(ROOT / "config").topics
    with WorkerPool(topics, workers=1) as pool:
        assert not pool.started
        t0 = time.monotonic()
        fut = pool.submit(PageJob("k", PAGE.read_bytes(), "http://example.org/a"))
        returned_after = time.monotonic() - t0
        # the forkserver was still loading spaCy and trafilatura when submit returned:
        # no worker process existed yet (before the fix, submit returned once they did)
        assert pool_workers() == [], returned_after
        assert not fut.done() and not pool._ready
        a = pool.outcome("k", fut)
        assert pool._ready and a.error is None and a.extracted is not None
        assert any(r.matched and r.topic == "caucasus-realignment" for r in a.results)
        # later jobs go straight to the running workers
        b = pool.outcome("k2", pool.submit(PageJob("k2", PAGE.read_bytes(),
                                                   "http://example.org/b")))
        assert b.error is None


def test_a_pool_closed_while_starting_fails_its_jobs_cleanly() -> None:
    topics = load_config(ROOT / "config").topics
    pool = WorkerPool(topics, workers=1)
    fut = pool.submit(PageJob("k", PAGE.read_bytes(), "http://example.org/a"))
    pool.close()
    a = pool.outcome("k", fut)
    assert a.extracted is None and a.error and "closed" in a.error
