"""What the fetcher's connection pool costs: httpcore's own pool against newsmon's.

    .venv/bin/python benchmarks/fetch_pool.py [--hosts 30] [--pages 20] [--delay 0.25]
                                              [--latency 0.1] [--runs 5] [--record]

Loopback hosts (``127.0.2.x``, in a process of their own) each serve ``--pages`` small
pages, ``--latency`` seconds per response; a :class:`monitor.fetch.http.Fetcher` with
newsmon's defaults (32 requests at once, 2 per host, ``--delay`` seconds between requests
to a host) fetches all of them,
host by host as a cycle asks, once with httpcore's ``AsyncConnectionPool`` and once with
``monitor.fetch.backend.LeanConnectionPool``, alternating, ``--runs`` times each. It
prints this process's CPU seconds per run (the servers' are not counted) and the
median of both side by side; the reference is httpcore's pool, and the goal is less
CPU (docs/performance.md, "What bounds each figure").
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import FetchSettings  # noqa: E402
from monitor.demo.servers import Fault, FixtureServer  # noqa: E402
from monitor.fetch import http as fetch_http  # noqa: E402
from monitor.fetch.backend import lean_pool  # noqa: E402
from tests.support.benchreport import add_record_flag, record  # noqa: E402

PAGE = "<html><body><p>" + "news " * 400 + "</p></body></html>"


def _serve(hosts: int, pages: int, latency: float, q: Any) -> None:
    servers = []
    for i in range(hosts):
        s = FixtureServer(host=f"127.0.2.{i + 1}").start()
        for k in range(pages):
            s.add(f"{k}.html", PAGE, "text/html")
            if latency:
                s.faults[f"/{k}.html"] = Fault(delay_s=latency)
        servers.append(s)
    q.put([s.base for s in servers])
    time.sleep(24 * 3600)


def _one_run(lean: bool, urls: list[str], delay: float) -> tuple[float, float, int]:
    """(CPU s, wall s, TCP connections opened) for one fetch of every URL."""
    fetch_http.lean_pool = lean_pool if lean else (lambda client: False)  # type: ignore[assignment]
    settings = FetchSettings(allow_private_networks=True, per_host_delay_s=delay)
    opened = 0

    async def go() -> list[int]:
        nonlocal opened
        async with fetch_http.Fetcher(settings) as f:
            pool: Any = f._client._transport._pool  # type: ignore[attr-defined]
            inner = pool._network_backend
            connect = inner.connect_tcp

            async def counting(*args: Any, **kw: Any) -> Any:
                nonlocal opened
                opened += 1
                return await connect(*args, **kw)

            inner.connect_tcp = counting
            return [r.status for r in await asyncio.gather(*(f.fetch(u) for u in urls))]

    c0, w0 = time.process_time(), time.perf_counter()
    statuses = asyncio.run(go())
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    if set(statuses) != {200}:
        raise SystemExit(f"not every page was fetched: {sorted(set(statuses))}")
    return cpu, wall, opened


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=30)
    ap.add_argument("--pages", type=int, default=20, help="pages per host")
    ap.add_argument("--delay", type=float, default=0.25, help="seconds between requests to a host")
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per response")
    ap.add_argument("--runs", type=int, default=5)
    add_record_flag(ap)
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    server = ctx.Process(target=_serve, args=(args.hosts, args.pages, args.latency, q), daemon=True)
    server.start()
    try:
        bases = q.get(timeout=120)
        urls = [f"{b}/{k}.html" for b in bases for k in range(args.pages)]
        runs: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
        for i in range(args.runs):
            for lean in (False, True):
                cpu, wall, opened = _one_run(lean, urls, args.delay)
                runs[lean].append((cpu, wall, opened))
                name = "newsmon's pool" if lean else "httpcore's pool"
                print(
                    f"run {i + 1}, {name}: {cpu:.2f} CPU s, {wall:.1f} s wall, "
                    f"{opened} connections opened",
                    flush=True,
                )
    finally:
        server.terminate()
    med = {k: statistics.median(c for c, _, _ in v) for k, v in runs.items()}
    conns = {k: statistics.median(o for _, _, o in v) for k, v in runs.items()}
    n = len(urls)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(
        f"{n} requests to {args.hosts} hosts, {args.delay} s apart per host, median of "
        f"{args.runs}: newsmon's pool {med[True]:.2f} CPU s ({conns[True]:.0f} connections) "
        f"vs httpcore's {med[False]:.2f} ({conns[False]:.0f}) = "
        f"{med[True] / med[False]:.2f}x; load average {load}"
    )
    result = (
        f"RESULT requests={n} lean_cpu_s={med[True]:.2f} stock_cpu_s={med[False]:.2f} "
        f"lean_vs_stock={med[True] / med[False]:.2f} lean_connections={conns[True]:.0f} "
        f"stock_connections={conns[False]:.0f}"
    )
    print(result)
    if args.record:
        record(
            "fetch-pool",
            [
                (
                    f"CPU for {n} requests ({args.hosts} hosts, {args.delay} s apart), median "
                    f"of {args.runs}",
                    f"{med[True]:.2f} s",
                    f"httpcore's pool {med[False]:.2f} s ({med[True] / med[False]:.2f}x)",
                ),
                (
                    "TCP connections opened",
                    f"{conns[True]:.0f}",
                    f"httpcore's pool {conns[False]:.0f}",
                ),
            ],
            title="fetch pool: httpcore's connection pool against newsmon's",
            result=result,
            notes="What it measures: the docstring of benchmarks/fetch_pool.py and "
            "[performance.md](performance.md#what-bounds-each-figure).",
        )


if __name__ == "__main__":
    main()
