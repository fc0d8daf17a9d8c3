"""The hostile-world figures: bad inputs, network faults, crash trials, channel faults.

Runs the same scenarios as tests/test_hostile_inputs.py, test_hostile_network.py,
test_crash_restart.py and test_alert_faults.py (it imports them), with more trials,
and prints the table of docs/robustness.md (with --record, writes it into
docs/benchmarks.md; with --json, writes the figures). Offline: everything is served on loopback.

    .venv/bin/python benchmarks/faults.py          # about 15 min on 2 cores (crash trials)
    .venv/bin/python benchmarks/faults.py --quick      # fewer trials, no wellformed corpus
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.benchreport import add_record_flag, record  # noqa: E402

_HOME = tempfile.mkdtemp(prefix="newsmon-faults-")
os.environ.setdefault("NEWSMON_HOME", os.path.join(_HOME, "newsmon"))
os.environ.setdefault("PREFECT_HOME", os.path.join(_HOME, "prefect"))
for var in ("NEWSMON_DB", "NEWSMON_CONFIG", "PREFECT_API_URL"):
    os.environ.pop(var, None)


def _batch_errors(summary: Any) -> int:
    return sum(1 for e in summary.errors if e.startswith("batch"))


def inputs(tmp: Path, fuzz_cases: int, wellformed: bool) -> list[dict[str, Any]]:
    from tests import test_hostile_inputs as hi

    rows: list[dict[str, Any]] = []
    run = hi.run_generated(tmp / "generated")
    hi.print_generated(run)
    unrecorded = [n for n, o in run.outcomes.items() if not o.recorded]
    stuck_healthy = [
        n
        for n, o in run.outcomes.items()
        if o.outcome == "error" and run.again[n].outcome != "error"
    ]
    rows.append(
        dict(
            what="generated bad feeds (2 cycles)",
            tried=len(run.cases),
            outcome=f"{sum(o.outcome == 'ok' for o in run.outcomes.values()) - 1} stored, "
            f"{sum(o.outcome == 'error' for o in run.outcomes.values())} recorded errors",
            crashes=_batch_errors(run.summary) + _batch_errors(run.again_summary),
            silent=len(unrecorded) + len(stuck_healthy),
            lost=0,
            duplicates=0,
            notes=f"{run.seconds:.0f}s, peak RSS +{run.growth_mb:.0f} MB (1 GiB gzip bomb, "
            f"2 x 50 MB, 100,000 entries)",
        )
    )
    if hi.EDGE.is_dir() and hi.REAL.is_dir():
        sets = [("feed corpora: edge + real", hi.corpus_files(wellformed=False))]
        if wellformed:
            sets.append(
                (
                    "feed corpora: feedparser wellformed",
                    [p for p in hi.corpus_files(wellformed=True) if "/wellformed/" in str(p)],
                )
            )
        for i, (label, files) in enumerate(sets):
            out, summary, seconds, growth = hi.run_corpus(tmp / f"corpus{i}", files)
            hi._report(label, out, seconds, growth)
            rows.append(
                dict(
                    what=label,
                    tried=len(files),
                    outcome=f"{sum(o.outcome == 'ok' for o in out.values())} read, "
                    f"{sum(o.outcome == 'error' for o in out.values())} recorded errors",
                    crashes=_batch_errors(summary),
                    silent=sum(1 for o in out.values() if not o.recorded),
                    lost=0,
                    duplicates=0,
                    notes=f"{seconds:.0f}s, peak RSS +{growth:.0f} MB",
                )
            )
    else:
        print(f"feed corpora not found under {hi.CORPORA}: skipped")
    t0 = time.monotonic()
    stats = hi.fuzz(fuzz_cases, seed=4)
    rows.append(
        dict(
            what="fuzzed feeds (mutations of real ones)",
            tried=stats["cases"],
            outcome=f"{stats['parsed']} parsed, {stats['rejected']} rejected",
            crashes=0,
            silent=0,
            lost=0,
            duplicates=0,
            notes=f"{time.monotonic() - t0:.0f}s; {stats['entries']} entries checked",
        )
    )
    return rows


def network(tmp: Path) -> list[dict[str, Any]]:
    from tests import test_hostile_network as hn

    run = hn.run_network(tmp / "network")
    hn.print_network(run)
    failed = [f for n, f in run.feeds.items() if f.last_outcome in {"error", "gone"}]
    pages = [a for a in run.articles.values() if a.extraction == "summary"]
    return [
        dict(
            what="network and server faults (feeds and pages)",
            tried=len(failed) + len(pages),
            outcome=f"{len(failed)} feed errors recorded and backed off, "
            f"{len(pages)} pages fell back to the feed summary",
            crashes=_batch_errors(run.summary),
            silent=sum(1 for f in failed if not f.last_error),
            lost=0,
            duplicates=0,
            notes=f"cycle {run.seconds:.0f}s (faults concurrent); next cycle "
            f"{run.again_seconds:.1f}s, nothing due",
        )
    ]


def cross_feed(tmp: Path) -> list[dict[str, Any]]:
    from tests import test_cross_feed as cf

    run = cf.run_cross_feed(tmp / "cross-feed")
    for line in run.silent + [f"lost: {x}" for x in run.lost]:
        print(f"  cross-feed: {line}")
    return [
        dict(
            what="cross-feed: several feeds per host with two throttled (429/503, Retry-After "
            "3600), 7 hostile redirect feeds and 7 hostile article links (port 99999, octal "
            "host, newline in Location, ...), good feeds, 3 pages throttled when first seen; "
            "one batch",
            tried=run.feeds + run.pages,
            outcome=f"{run.feeds} feeds and {run.pages} articles; every good article read "
            "from its page (the throttled ones on the next cycle's page retry)",
            crashes=run.crashes,
            silent=len(run.silent),
            lost=len(run.lost),
            duplicates=run.duplicates,
            notes=f"{run.seconds:.0f}s, two cycles",
        )
    ]


def crashes(
    tmp: Path, trials: int, db_url: str | None = None, store_name: str = "SQLite"
) -> list[dict[str, Any]]:
    from tests import test_crash_restart as cr

    w = cr.CrashWorld(tmp / f"crash-{store_name}", db_url=db_url)
    try:
        t0 = time.monotonic()
        done = cr.run_trials(w, trials, seed=2025)
        secs = time.monotonic() - t0
    finally:
        w.close()
    print(cr.report(done))
    problems = [p for t in done for p in t.problems]
    lost = sum(1 for p in problems if "lost" in p or "never reached" in p)
    dup = sum(1 for p in problems if "copies" in p)
    kills = [t for t in done if t.killed]
    by_phase: dict[str, int] = {}
    for t in kills:
        by_phase[t.phase] = by_phase.get(t.phase, 0) + 1
    rows = [
        dict(
            what=f"SIGKILL crash trials, then restart ({store_name})",
            tried=len(done),
            outcome=f"{len(kills)} killed mid-run ("
            + ", ".join(f"{k} {v}" for k, v in sorted(by_phase.items()))
            + ")",
            crashes=sum(1 for p in problems if "restart failed" in p),
            silent=len(problems) - lost - dup,
            lost=lost,
            duplicates=dup,
            notes=f"{secs:.0f}s; {done[-1].duplicates if done else 0} second copies "
            f"where the kill fell inside the send (allowed)",
        )
    ]
    w = cr.CrashWorld(
        tmp / f"two-{store_name}", mirror=True, db_url=db_url and _fresh_pg_database(db_url)
    )
    try:
        ok, err = True, ""
        try:
            cr._two_runs(w)
        except AssertionError as exc:
            ok, err = False, str(exc)[:300]
    finally:
        w.close()
    rows.append(
        dict(
            what=f"two `newsmon run` at once, one {store_name} database",
            tried=3,
            outcome="rounds passed" if ok else f"FAILED: {err}",
            crashes=0 if ok else 1,
            silent=0,
            lost=0,
            duplicates=0 if ok else 1,
            notes="no 'database is locked'; same stories raced through two feeds",
        )
    )
    return rows


def _fresh_pg_database(server_url: str) -> str:
    from tests.support.postgres import fresh_database

    return fresh_database(server_url)


def pg_crashes(tmp: Path, trials: int) -> list[dict[str, Any]]:
    """The crash trials again on a throwaway PostgreSQL cluster (the scaled-out store)."""
    from tests.support.postgres import PostgresUnavailable, ThrowawayPostgres

    server = ThrowawayPostgres()
    try:
        url = server.start()
    except PostgresUnavailable as exc:
        print(f"PostgreSQL crash trials skipped: {exc}")
        return []
    try:
        return crashes(tmp, trials, db_url=_fresh_pg_database(url), store_name="PostgreSQL")
    finally:
        server.stop()


def alerts() -> list[dict[str, Any]]:
    return _pytest_row(
        "test_alert_faults.py",
        "alert channel faults (SMTP, webhook, apprise)",
        "a hanging webhook that kept the message got it once more on retry (counted, allowed)",
    ) + _pytest_row(
        "test_alert_health.py",
        "route health and 'alerting is broken' alerts (webhook down then back, "
        "all routes down, SIGKILL inside the health alert's send, concurrent checks)",
        "one 'broken' and one 'recovered' message per failure episode, by real email",
    )


def _pytest_row(test_file: str, what: str, notes: str) -> list[dict[str, Any]]:
    import pytest

    class Count:
        passed = failed = 0

        def pytest_runtest_logreport(self, report: Any) -> None:
            if report.when == "call":
                if report.passed:
                    self.passed += 1
                elif report.failed:
                    self.failed += 1

    c = Count()
    pytest.main(["-q", "-p", "no:cacheprovider", str(ROOT / "tests" / test_file)], plugins=[c])
    return [
        dict(
            what=what,
            tried=c.passed + c.failed,
            outcome=f"{c.passed} scenarios passed",
            crashes=c.failed,
            silent=0,
            lost=0,
            duplicates=0,
            notes=notes,
        )
    ]


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| what | tried | how it ended | crashes | silent or broken | lost | duplicate alerts |"
        " notes |\n|---|---:|---|---:|---:|---:|---:|---|"
    )
    lines = [
        f"| {r['what']} | {r['tried']:,} | {r['outcome']} | {r['crashes']} | "
        f"{r['silent']} | {r['lost']} | {r['duplicates']} | {r['notes']} |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer trials, smaller corpus")
    ap.add_argument("--trials", type=int, default=None, help="crash trials (default 30)")
    ap.add_argument(
        "--pg-trials",
        type=int,
        default=None,
        help="crash trials on PostgreSQL (default 12; 0 to skip)",
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    add_record_flag(ap)
    args = ap.parse_args()
    trials = args.trials or (6 if args.quick else 30)
    tmp = Path(tempfile.mkdtemp(prefix="newsmon-faults-"))
    t0 = time.monotonic()
    rows = inputs(tmp, 2_000 if args.quick else 10_000, wellformed=not args.quick)
    rows += network(tmp)
    rows += cross_feed(tmp)
    rows += crashes(tmp, trials)
    pg_trials = args.pg_trials if args.pg_trials is not None else (6 if args.quick else 12)
    if pg_trials:
        rows += pg_crashes(tmp, pg_trials)
    rows += alerts()
    print(f"\n## Reliability (benchmarks/faults.py, {time.monotonic() - t0:.0f}s)\n")
    print(table(rows))
    result = (
        f"RESULT crashes={sum(r['crashes'] for r in rows)} "
        f"silent={sum(r['silent'] for r in rows)} lost={sum(r['lost'] for r in rows)} "
        f"duplicates={sum(r['duplicates'] for r in rows)} rows={len(rows)} "
        f"seconds={time.monotonic() - t0:.0f}"
    )
    print(result)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.record:
        record(
            "faults-quick" if args.quick else "faults",
            [
                (
                    r["what"],
                    r["tried"],
                    r["outcome"],
                    r["crashes"],
                    r["silent"],
                    r["lost"],
                    r["duplicates"],
                    r["notes"],
                )
                for r in rows
            ],
            title=f"faults{' --quick' if args.quick else ''}: the hostile world",
            header=(
                "what",
                "tried",
                "how it ended",
                "crashes",
                "silent or broken",
                "lost",
                "duplicate alerts",
                "notes",
            ),
            result=result,
            notes="Goal: 0 in the last four columns. What each row is: "
            "[robustness.md](robustness.md).",
        )


if __name__ == "__main__":
    main()
