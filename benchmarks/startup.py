"""How fast the ``newsmon`` command starts: ``newsmon --help`` in a new process.

    .venv/bin/python benchmarks/startup.py            # median of 7 runs, wall and CPU
    .venv/bin/python benchmarks/startup.py --runs 15 --record   # into docs/performance.md

Each run starts the installed ``newsmon`` script (the venv's, beside this Python) with
``--help`` and no config, and reads its wall time and its CPU time (user + system, from
``wait4``). The median of the runs is printed beside the goal. CPU time depends little
on the machine's load; wall time does: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.benchreport import add_record_flag, record  # noqa: E402

PERFORMANCE_MD = ROOT / "docs" / "performance.md"

GOAL_S = 0.3


def newsmon() -> list[str]:
    script = Path(sys.executable).with_name("newsmon")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from monitor.cli import main; main()"]


def one_run(cmd: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS kB) of one run of ``cmd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    add_record_flag(ap)
    args = ap.parse_args(argv)
    cmd = [*newsmon(), "--help"]
    one_run(cmd)  # warm the page cache and the .pyc files
    runs = [one_run(cmd) for _ in range(args.runs)]
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    rss = statistics.median(r[2] for r in runs) / 1024
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"newsmon --help, median of {args.runs} runs (load average {load}):")
    print(f"  wall {wall:.3f} s   goal <= {GOAL_S} s")
    print(f"  CPU  {cpu:.3f} s   goal <= {GOAL_S} s")
    print(f"  peak RSS {rss:.0f} MB")
    result = f"RESULT help_wall_s={wall:.3f} help_cpu_s={cpu:.3f} help_rss_mb={rss:.0f}"
    print(result)
    if args.record:
        record(
            "startup",
            [
                ("`newsmon --help`, wall (median)", f"{wall:.3f} s", f"<= {GOAL_S} s"),
                ("`newsmon --help`, CPU (median)", f"{cpu:.3f} s", f"<= {GOAL_S} s"),
                ("`newsmon --help`, peak RSS", f"{rss:.0f} MB", "-"),
            ],
            title="startup: newsmon --help",
            result=result,
            path=PERFORMANCE_MD,
        )
    return 0 if cpu <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
