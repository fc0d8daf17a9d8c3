"""The worker pool starts in the background: the first job never waits for it.

Starting the workers blocks until the forkserver has imported and built what they share
(seconds). The first page of a cycle is submitted from the cycle's fetch loop; when that
call blocked, every request in flight on the loop timed out meanwhile (a PDF answered
at once was recorded as "timed out after 6s": tests/test_hostile_network.py).

The first test runs in a fresh interpreter: multiprocessing keeps one forkserver per
process, and once another test has started it, a pool starts in milliseconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from monitor.config import load_config
from monitor.pipeline.jobs import PageJob
from monitor.pipeline.workers import WorkerPool

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "monitor" / "demo" / "data" / "pages" / "caucasus-iran-azerbaijan-thaw.html"

FRESH = r"""
import json, sys, time
from pathlib import Path
from monitor.config import load_config
from monitor.pipeline.jobs import PageJob
from monitor.pipeline.workers import WorkerPool
from tests.support.workers import pool_workers

root = Path(sys.argv[1])
page = (root / "monitor/demo/data/pages/caucasus-iran-azerbaijan-thaw.html").read_bytes()
with WorkerPool(load_config(root / "config").topics, workers=1) as pool:
    t0 = time.monotonic()
    fut = pool.submit(PageJob("k", page, "http://example.org/a"))
    out = {"returned_after_s": time.monotonic() - t0, "workers_then": pool_workers(),
           "done_then": fut.done()}
    a = pool.outcome("k", fut)
    out["error"] = a.error
    out["hit"] = any(r.matched and r.topic == "caucasus-realignment" for r in a.results)
    b = pool.outcome("k2", pool.submit(PageJob("k2", page, "http://example.org/b")))
    out["second_error"] = b.error
print(json.dumps(out))
"""


def test_submit_returns_before_the_workers_are_up_and_the_job_runs_once_they_are() -> None:
    r = subprocess.run(
        [sys.executable, "-c", FRESH, str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # the forkserver was still loading spaCy and trafilatura when submit returned: no
    # worker process existed yet (before the fix, submit returned once they did, ~13 s)
    assert out["workers_then"] == [] and not out["done_then"], out
    assert out["error"] is None and out["hit"] and out["second_error"] is None, out


def test_a_pool_closed_while_starting_fails_its_jobs_cleanly() -> None:
    topics = load_config(ROOT / "config").topics
    pool = WorkerPool(topics, workers=1)
    fut = pool.submit(PageJob("k", PAGE.read_bytes(), "http://example.org/a"))
    pool.close()
    a = pool.outcome("k", fut)
    assert a.extracted is None and a.error and "closed" in a.error


MAIN_SCRIPT = r"""
import os, sys
from pathlib import Path

# Top-level code: runs in every process that imports this file, as multiprocessing
# does in the processes it starts (``__mp_main__``).
with open(sys.argv[2], "a") as f:
    f.write(f"{os.getpid()}\n")

if __name__ == "__main__":
    from monitor.pipeline.jobs import PageJob
    from monitor.pipeline.workers import WorkerPool

    page = Path(sys.argv[1]).read_bytes()
    with WorkerPool([], workers=2) as pool:
        futs = [pool.submit(PageJob(str(i), page, f"http://example.org/{i}")) for i in range(4)]
        errors = [pool.outcome(str(i), f).error for i, f in enumerate(futs)]
    assert errors == [None] * 4, errors
    print("ok")
"""


def test_workers_do_not_import_their_pools_main_module(tmp_path: Path) -> None:
    """A flow run that ``newsmon serve`` starts has ``prefect.engine`` as its main module:
    multiprocessing would import it again in every worker (Prefect's client, +28 MB
    each) to find functions the pool never sends."""
    script, marker = tmp_path / "main_script.py", tmp_path / "imported-by"
    script.write_text(MAIN_SCRIPT)
    r = subprocess.run(
        [sys.executable, str(script), str(PAGE), str(marker)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
    assert len(marker.read_text().split()) == 1  # the script's own process only
