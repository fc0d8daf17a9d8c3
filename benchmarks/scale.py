"""Scale-out benchmark: articles per second with 1 and with 2 newsmon workers sharing one
database, and the paper sizing of a fleet for 300,000 articles a day.

    .venv/bin/python benchmarks/scale.py --quick          # about 3 minutes on 2 cores
    .venv/bin/python benchmarks/scale.py --db postgresql  # the shared store on PostgreSQL

Each worker is a separate OS process running :func:`monitor.pipeline.cycle.run_cycle` in a
loop (claim a share of the due feeds under a lease, poll, extract and classify in its own
analysis pool of ``--pool`` processes, store, alert) until no feed is due; they share the
database (a throwaway PostgreSQL cluster, or one SQLite file) and the loopback world of
benchmarks/world.py (real feeds and pages on many 127.x hosts, ``--latency`` per
response). Prefect is left out on purpose: it adds a fixed cost per task, not per
article (docs/performance.md), and the point here is how the work divides.

Be honest about the machine: with 2 cores, 2 workers each with their own analysis
process compete for the same 2 cores as the loopback server and the database. The
figure that extrapolates is the CPU cost per article, not the wall-clock speed-up.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import world as W  # noqa: E402
from pipeline import load_line, say, write_cfg  # noqa: E402

from tests.support.benchreport import add_record_flag, record  # noqa: E402

DAY = 86_400


def _worker(config_dir: str, db_url: str, start: Any, q: Any) -> None:
    os.environ["NEWSMON_DB"] = db_url
    from monitor.config import load_config
    from monitor.pipeline.cycle import run_cycle
    from monitor.pipeline.jobs import PageJob
    from monitor.pipeline.workers import WorkerPool
    from monitor.store import Store

    config = load_config(config_dir)
    config.settings.database = db_url
    store = Store(db_url)
    pool = WorkerPool.for_config(config)
    # Warm the analysis pool (spaCy, trafilatura) before the clock starts.
    list(
        pool.analyse_many(
            [
                PageJob(
                    "warm",
                    b"<html><body><p>" + b"word " * 200 + b"</p></body></html>",
                    "http://warm.test/",
                )
            ]
        )
    )
    start.wait()
    t0, cpu0 = time.perf_counter(), time.process_time()
    cycles, polled, stored, hits = 0, 0, 0, 0
    while True:
        s = run_cycle(store, config, pool=pool)
        if s.feeds_due == 0:
            break
        cycles += 1
        polled += s.feeds_polled
        stored += s.articles_new + s.articles_merged
        hits += s.hits_new
    wall = time.perf_counter() - t0
    q.put(
        {
            "pid": os.getpid(),
            "cycles": cycles,
            "feeds": polled,
            "articles": stored,
            "hits": hits,
            "wall_s": wall,
            "main_cpu_s": time.process_time() - cpu0,
        }
    )
    pool.close()
    store.close()


def run(n_workers: int, cfg: Path, db_url: str, analysis_procs: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(n_workers + 1)
    q = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(str(cfg), db_url, start, q)) for _ in range(n_workers)
    ]
    for p in procs:
        p.start()
    start.wait()  # every worker warm: the clock starts
    t0 = time.perf_counter()
    results = [q.get(timeout=1800) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(60)
    articles = sum(r["articles"] for r in results)
    return {
        "workers": n_workers,
        "analysis_processes_each": analysis_procs,
        "wall_s": round(wall, 2),
        "articles": articles,
        "articles_per_s": round(articles / wall, 2),
        "per_worker": results,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run (about 200 articles)")
    ap.add_argument("--articles", type=int, help="articles per measured run (default 600)")
    ap.add_argument("--feeds", type=int, default=400, help="feeds in the world")
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per response (0.1)")
    ap.add_argument("--pool", type=int, default=1, help="analysis processes per worker (1)")
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--corpora", help="the corpora folder (default ../shared/corpora)")
    ap.add_argument("--json", help="write the figures here too")
    add_record_flag(ap)
    args = ap.parse_args(argv)
    target = args.articles or (200 if args.quick else 600)
    cores = len(os.sched_getaffinity(0))
    try:
        root = W.find_corpora(args.corpora)
    except W.CorpusMissing as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="newsmon-scale-"))
    os.environ.pop("NEWSMON_DB", None)
    ctx = multiprocessing.get_context("spawn")
    say(f"scale benchmark: {target} articles per run, {cores} cores; {load_line()}")
    n_hosts = -(-args.feeds // 5)
    port, socks = W.bind_port([W.host_ip(h) for h in range(n_hosts)])
    from monitor.config import FetchSettings
    from monitor.demo.servers import WebhookReceiver

    plan_args = dict(
        n_feeds=args.feeds,
        feeds_per_host=5,
        port=port,
        latency_s=args.latency,
        entry_cap=20,
        min_gap_s=FetchSettings().per_host_delay_s - 0.02,
    )
    parent, child = ctx.Pipe()
    server = ctx.Process(
        target=W.serve, args=(str(root), plan_args, 2 * target, socks, child), daemon=True
    )
    server.start()
    for s in socks:
        s.close()
    planned = parent.recv()
    spec, e2e = planned["spec"], planned["e2e"]
    parent.recv()  # ready
    # Two disjoint halves of the chosen feeds: each run gets fresh articles, none cached.
    halves = [e2e[0::2], e2e[1::2]]
    webhook = WebhookReceiver().start()
    pg = None
    out: dict[str, Any] = {"cores": cores, "latency_s": args.latency, "db": args.db, "runs": []}
    try:
        if args.db == "postgresql":
            from tests.support.postgres import ThrowawayPostgres, fresh_database

            pg = ThrowawayPostgres()
            base = pg.start()
        for n, feeds in zip((1, 2), halves, strict=True):
            d = tmp / f"w{n}"
            db_url = fresh_database(base) if pg else f"sqlite:///{d / 'newsmon.db'}"
            cfg = write_cfg(
                d / "config",
                [spec.feed_url(i) for i in feeds],
                d / "x.db",
                webhook.apprise_url(),
                20,
            )
            _settings(cfg, db_url, max_feeds=max(1, math.ceil(len(feeds) / n / 2)), pool=args.pool)
            r = run(n, cfg, db_url, args.pool)
            r["feeds"] = len(feeds)
            out["runs"].append(r)
            say(
                f"[{n} worker{'s' if n > 1 else ''}] {r['articles']} articles from "
                f"{len(feeds)} feeds in {r['wall_s']:.1f}s = {r['articles_per_s']:.2f} "
                f"articles/s ({', '.join(str(w['articles']) for w in r['per_worker'])} "
                f"per worker); {load_line()}"
            )
        one, two = out["runs"]
        out["speedup"] = round(two["articles_per_s"] / one["articles_per_s"], 2)
        out["sizing"] = sizing(one["articles_per_s"], cores)
    finally:
        webhook.stop()
        parent.send("stop")
        parent.recv()
        server.join(10)
        if pg:
            pg.stop()
    for line in out["sizing"]["lines"]:
        say("[sizing] " + line)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    result = (
        f"RESULT 1 worker {out['runs'][0]['articles_per_s']} articles/s, 2 workers "
        f"{out['runs'][1]['articles_per_s']} articles/s (x{out['speedup']} on {cores} "
        f"cores); 300,000/day needs {out['sizing']['workers_needed']} such workers"
    )
    say(result)
    if args.record:
        one, two = out["runs"]
        peak = out["sizing"]["peak_per_s"]
        record(
            f"scale-{args.db}",
            [
                (
                    "1 worker",
                    (
                        f"{one['articles']} articles in {one['wall_s']:.1f} s = "
                        f"{one['articles_per_s']:.2f} articles/s"
                    ),
                    (
                        f"300,000/day: {out['sizing']['mean_per_s']:.1f}/s on average, "
                        f"{peak:.1f}/s at a 3× peak"
                    ),
                ),
                (
                    "2 workers",
                    (
                        f"{two['articles']} articles in {two['wall_s']:.1f} s = "
                        f"{two['articles_per_s']:.2f} articles/s (×{out['speedup']})"
                    ),
                    "per worker: " + " + ".join(str(w["articles"]) for w in two["per_worker"]),
                ),
                ("workers of that kind for 300,000/day", out["sizing"]["workers_needed"], "-"),
            ],
            title=f"scale: 1 and 2 workers, {args.db}",
            result=result,
            notes="How the work is shared and the sizing: [scaling.md](scaling.md#measured-here).",
        )
    return 0


def _settings(cfg: Path, db_url: str, *, max_feeds: int, pool: int) -> None:
    import yaml

    p = cfg / "settings.yaml"
    s = yaml.safe_load(p.read_text())
    s["database"] = db_url
    s.setdefault("fetch", {})["max_feeds_per_cycle"] = max_feeds
    s.setdefault("extract", {})["workers"] = pool
    p.write_text(yaml.safe_dump(s, sort_keys=False))


def sizing(one_worker_per_s: float, cores: int) -> dict[str, Any]:
    """300,000 articles a day, on paper, from the measured 1-worker rate."""
    need = 300_000 / DAY  # articles per second, averaged over the day
    peak = 3 * need  # news is not flat: size for three times the mean
    workers = math.ceil(peak / one_worker_per_s)
    lines = [
        f"300,000 articles/day = {need:.2f}/s on average; sized for a 3x peak = {peak:.1f}/s",
        f"one worker measured here: {one_worker_per_s:.2f} articles/s with 1 analysis "
        f"process (on a {cores}-core machine shared with the loopback server and database)",
        f"=> {workers} worker(s) of that kind, i.e. about {workers} cores for analysis plus "
        "one for PostgreSQL and one for the Prefect server",
    ]
    return {
        "mean_per_s": round(need, 3),
        "peak_per_s": round(peak, 2),
        "workers_needed": workers,
        "lines": lines,
    }


if __name__ == "__main__":
    raise SystemExit(main())
