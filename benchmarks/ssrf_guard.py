"""What the SSRF guard costs per request: loopback fetches with and without it.

The guard resolves the host before each request (every hop) and again when a
connection is opened. This fetches one small feed from a loopback server, many
times, with the legacy switch (``allow_private_networks: true``: no check at all,
the reference) and with the allow-list (both checks), by address and by name
(``localhost``: the resolver is asked), in alternating rounds so that machine load
falls on both alike. Prints the median time per request side by side.

    .venv/bin/python benchmarks/ssrf_guard.py [--requests 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import FetchSettings  # noqa: E402
from monitor.demo.servers import FixtureServer  # noqa: E402
from monitor.fetch.http import Fetcher  # noqa: E402
from tests.support.benchreport import add_record_flag, record  # noqa: E402

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>A</title><link>http://example.org/a</link></item></channel></rss>"
)


async def per_request(url: str, settings: FetchSettings, n: int, fresh: bool) -> float:
    """Seconds per request: one client (kept-alive connections), or a new client per
    request (a new connection each time: the connect-time check runs every time)."""
    t0 = time.perf_counter()
    if fresh:
        for _ in range(n):
            async with Fetcher(settings) as f:
                await f.fetch(url)
    else:
        async with Fetcher(settings) as f:
            for _ in range(n):
                await f.fetch(url)
    return (time.perf_counter() - t0) / n


async def check_only(url: str, settings: FetchSettings, n: int) -> float:
    """Seconds per check before a request (resolution + address test), alone."""
    async with Fetcher(settings) as f:
        t0 = time.perf_counter()
        for _ in range(n):
            await f._check(url)
        return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    add_record_flag(ap)
    args = ap.parse_args()
    base = dict(per_host_delay_s=0, timeout_s=10, connect_timeout_s=5)
    reference = FetchSettings(allow_private_networks=True, **base)
    guarded = FetchSettings(allow_hosts=["127.0.0.0/8"], **base)
    with FixtureServer() as srv:
        by_ip = srv.add("feed.xml", FEED, "application/rss+xml")
        by_name = by_ip.replace("127.0.0.1", "localhost")
        cases = [
            (f"{how}, {conn}", url, fresh)
            for how, url in (("by address", by_ip), ("by name", by_name))
            for conn, fresh in (("kept-alive", False), ("new connection", True))
        ]
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for label, url, fresh in cases:
                for kind, settings in (("reference", reference), ("guarded", guarded)):
                    t = asyncio.run(per_request(url, settings, args.requests, fresh))
                    times.setdefault((label, kind), []).append(t)
        checks = {
            label: statistics.median(
                asyncio.run(check_only(url, guarded, args.requests * 10))
                for _ in range(args.rounds)
            )
            for label, url in (("by address", by_ip), ("by name", by_name))
        }
    print(
        f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds x "
        f"{args.requests} requests; median ms per request"
    )
    print(f"{'case':<28} {'no check (ref.)':>16} {'guarded':>10} {'difference':>11}")
    rows: list[tuple[str, str, str]] = []
    for label, _, _ in cases:
        ref = statistics.median(times[(label, "reference")]) * 1000
        g = statistics.median(times[(label, "guarded")]) * 1000
        print(f"{label:<28} {ref:>16.3f} {g:>10.3f} {g - ref:>+11.3f}")
        rows.append(
            (
                f"a request {label}",
                f"{g:.2f} ms ({g - ref:+.2f} ms)",
                f"{ref:.2f} ms without the guard",
            )
        )
    for label, t in checks.items():
        print(f"the check alone, {label:<12} {t * 1e6:>10.1f} us per request (one hop)")
        rows.append((f"the check alone, {label}", f"{t * 1e6:.1f} µs", "one hop"))
    result = (
        f"RESULT check_address_us={checks['by address'] * 1e6:.1f} "
        f"check_name_us={checks['by name'] * 1e6:.1f}"
    )
    print(result)
    if args.record:
        record(
            "ssrf_guard",
            rows,
            title="ssrf_guard: what the SSRF check costs per request",
            header=("what", "median, guarded (difference)", "reference"),
            result=result,
            notes="What the guard checks: [robustness.md](robustness.md#which-urls-are-"
            "fetched-ssrf).",
        )


if __name__ == "__main__":
    main()
