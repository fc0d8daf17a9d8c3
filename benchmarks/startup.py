"""How fast the ``newsmon`` command starts and gives its first results, in new processes.

    .venv/bin/python benchmarks/startup.py            # --help (median of 7) and one-shot runs
    .venv/bin/python benchmarks/startup.py --prefect  # ... and `newsmon run --prefect` too
    .venv/bin/python benchmarks/startup.py --record   # into docs/performance.md

``--help``: the installed ``newsmon`` script (the venv's, beside this Python) with no
config, several times; its wall time and CPU time (user + system, from ``wait4``).
One-shot run: ``newsmon run`` over the demo world (3 loopback feeds, 9 articles, the
real topics and alert routes), a new process and a fresh database each time, as cron
would start it; wall time to its summary, and the CPU of the command and every process it
started (workers, forkserver, a Prefect server) and the peak of their summed PSS, read
from /proc every 0.1 s. Medians are printed beside the goals.
CPU time depends little on the machine's load; wall time does: the load average is
printed with the figures.
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
RUN_GOAL_S = 10.0


def newsmon() -> list[str]:
    script = Path(sys.executable).with_name("newsmon")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from monitor.cli import main; main()"]


def _tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [pid], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _cpu_and_pss(pid: int) -> tuple[float, int]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
        return cpu, pss
    except (OSError, IndexError, ValueError):
        return 0.0, 0


def one_run(
    cmd: list[str], env: dict[str, str] | None = None, sample: bool = False
) -> tuple[float, float, int]:
    """(wall s, CPU s, peak kB) of one run of ``cmd``. Without ``sample``: its CPU and
    peak RSS (``wait4``). With it: the CPU of it and every process below it and the peak
    of their summed PSS, read from /proc every 0.1 s (a process's last 0.1 s may be
    missed)."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    cpu: dict[int, float] = {}
    peak_pss = 0
    while sample and proc.poll() is None:
        pss = 0
        for p in _tree(proc.pid):
            c, m = _cpu_and_pss(p)
            cpu[p] = max(cpu.get(p, 0.0), c)
            pss += m
        peak_pss = max(peak_pss, pss)
        time.sleep(0.1)
    _, status, usage = os.wait4(proc.pid, 0) if proc.returncode is None else (0, 0, None)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status) if usage is not None else proc.returncode
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}")
    if sample:
        return wall, sum(cpu.values()), peak_pss
    assert usage is not None
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def one_shot(tmp: Path, i: int, extra: list[str]) -> tuple[float, float, int]:
    """One ``newsmon run`` over the demo world, a fresh database."""
    from monitor.demo.world import world

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSMON_") and k != "PREFECT_API_URL"
    }
    # The local Prefect server's state is kept between runs, as a user's would be.
    env.update(
        NEWSMON_HOME=str(tmp / "home"),
        PREFECT_HOME=str(tmp / "prefect-client"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    with world(ROOT / "config" / "topics.yaml", directory=tmp / f"w{i}") as w:
        cmd = [*newsmon(), "-c", str(w.config_dir), "--db", f"sqlite:///{tmp / f'{i}.db'}"]
        return one_run([*cmd, "run", *extra], env, sample=True)


def run_figures(label: str, extra: list[str], runs: int) -> tuple[float, float, float]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="newsmon-startup-") as d:
        if extra:
            one_shot(Path(d), -1, extra)  # the server's first start migrates its database
        res = [one_shot(Path(d), i, extra) for i in range(runs)]
    wall = statistics.median(r[0] for r in res)
    cpu = statistics.median(r[1] for r in res)
    rss = statistics.median(r[2] for r in res) / 1024
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{label}, median of {runs} runs (load average {load}):")
    print(f"  wall {wall:.1f} s   goal <= {RUN_GOAL_S:.0f} s")
    print(f"  CPU  {cpu:.1f} s (the command and every process it started)")
    print(f"  peak PSS, all its processes {rss:.0f} MB")
    return wall, cpu, rss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="--help runs (7)")
    ap.add_argument("--run-runs", type=int, default=3, help="one-shot runs (3)")
    ap.add_argument("--prefect", action="store_true", help="also `newsmon run --prefect`")
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
    rows: list[tuple[str, str, str]] = [
        ("`newsmon --help`, wall (median)", f"{wall:.3f} s", f"<= {GOAL_S} s"),
        ("`newsmon --help`, CPU (median)", f"{cpu:.3f} s", f"<= {GOAL_S} s"),
        ("`newsmon --help`, peak RSS", f"{rss:.0f} MB", "-"),
    ]
    run_wall, run_cpu, run_rss = run_figures("newsmon run (one-shot, plain)", [], args.run_runs)
    rows += [
        ("one-shot `newsmon run`, wall (median)", f"{run_wall:.1f} s", f"<= {RUN_GOAL_S:.0f} s"),
        ("one-shot `newsmon run`, CPU of all its processes", f"{run_cpu:.1f} s", "-"),
        ("one-shot `newsmon run`, peak PSS of all its processes", f"{run_rss:.0f} MB", "-"),
    ]
    result = (
        f"RESULT help_wall_s={wall:.3f} help_cpu_s={cpu:.3f} help_rss_mb={rss:.0f} "
        f"run_wall_s={run_wall:.1f} run_cpu_s={run_cpu:.1f}"
    )
    if args.prefect:
        pw, pc, pr = run_figures("newsmon run --prefect (a local server)", ["--prefect"], 1)
        rows += [
            ("`newsmon run --prefect`, wall", f"{pw:.1f} s", "-"),
            ("`newsmon run --prefect`, CPU of all its processes", f"{pc:.1f} s", "-"),
            ("`newsmon run --prefect`, peak PSS of all its processes", f"{pr:.0f} MB", "-"),
        ]
        result += f" prefect_run_wall_s={pw:.1f} prefect_run_cpu_s={pc:.1f}"
    print(result)
    if args.record:
        record(
            "startup",
            rows,
            title="startup: newsmon --help and a one-shot run",
            result=result,
            path=PERFORMANCE_MD,
        )
    return 0 if cpu <= GOAL_S and run_wall <= RUN_GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
