"""Where should a feed be parsed: on the cycle's thread, or in the worker pool?

    .venv/bin/python benchmarks/feed_parse_pool.py [--entries 20] [--rounds 3]

For the 200 real feeds of ``feeds-real``, by body size, side by side:

- ``inline``: CPU ms of ``parse_feed_job`` on this thread (what the cycle's main thread
  spends, holding the GIL its fetch loop needs, when it parses the feed itself);
- ``pool main``: CPU ms this process spends to hand the same feed to an idle
  :class:`monitor.pipeline.workers.WorkerPool` and take the result back (pickling, pebble's
  threads), measured over the whole process;
- ``pool wall``: wall ms from submit to result with the pool idle (the parse plus the
  round trip).

Then the worst structure found so far (nested XHTML in an Atom entry, quadratic in
feedparser) at sizes around the inline limit: the longest a feed under the limit can
hold the thread. ``monitor.pipeline.poll.INLINE_PARSE_MAX_BYTES`` is chosen from these.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import world as W  # noqa: E402
from tests.support.benchreport import add_record_flag, record  # noqa: E402

BUCKETS = [(0, 16), (16, 64), (64, 256), (256, 1024), (1024, 1 << 20)]  # KB


def load_line() -> str:
    with open("/proc/loadavg") as f:
        return "load average " + " ".join(f.read().split()[:3])


def nested_atom(depth: int) -> bytes:
    inner = "<div>" * depth + "deep" + "</div>" * depth
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>n</title><entry><id>http://a.example/1</id><title>n</title>"
        '<link href="http://a.example/1"/><content type="xhtml">'
        f'<div xmlns="http://www.w3.org/1999/xhtml">{inner}</div></content></entry>'
        "</feed>"
    ).encode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--entries",
        type=int,
        default=20,
        help="fetch.max_entries_per_feed (20, as in benchmarks/pipeline.py)",
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--corpora")
    add_record_flag(ap)
    args = ap.parse_args()
    try:
        root = W.find_corpora(args.corpora)
    except W.CorpusMissing as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2
    from monitor.config import load_config
    from monitor.pipeline.jobs import FeedJob, parse_feed_job
    from monitor.pipeline.poll import INLINE_PARSE_MAX_BYTES
    from monitor.pipeline.workers import WorkerPool

    now = datetime.now(UTC)
    feeds = [
        FeedJob(
            i,
            body,
            "http://127.0.0.2/f",
            {"content-type": W.content_type_for(body)},
            args.entries,
            now,
        )
        for i, (_, body) in enumerate(W.load_feeds(root))
    ]
    print(
        f"{len(feeds)} real feeds, max_entries {args.entries}, {args.rounds} rounds; "
        f"{load_line()} on {os.cpu_count()} cores",
        flush=True,
    )
    inline: dict[int, float] = {}
    for job in feeds:
        parse_feed_job(job)  # first-call costs
        c0 = time.process_time()
        for _ in range(args.rounds):
            parse_feed_job(job)
        inline[job.key] = (time.process_time() - c0) / args.rounds
    config = load_config(ROOT / "config")
    pool_cpu: dict[int, float] = {}
    pool_wall: dict[int, float] = {}
    with WorkerPool(config.topics, workers=1) as pool:
        pool.feed_outcome(0, pool.submit_feed(feeds[0]))  # the worker is up
        for job in feeds:
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(args.rounds):
                pool.feed_outcome(job.key, pool.submit_feed(job))
            pool_cpu[job.key] = (time.process_time() - c0) / args.rounds
            pool_wall[job.key] = (time.perf_counter() - t0) / args.rounds
    print(
        f"{'body size':>14} {'feeds':>5} {'inline CPU ms':>14} {'pool main CPU ms':>17} "
        f"{'pool wall ms':>13}   (median per feed; max inline)"
    )
    table: list[tuple[str, int, str, str, str]] = []
    for lo, hi in BUCKETS:
        keys = [j.key for j in feeds if lo * 1024 <= len(j.body) < hi * 1024]
        if not keys:
            continue

        def med(d: dict[int, float], keys: list[int] = keys) -> float:
            return 1000 * sorted(d[k] for k in keys)[len(keys) // 2]

        print(
            f"{lo:>5}-{hi if hi < 1 << 20 else '':>4} KB {len(keys):>6} {med(inline):>14.2f} "
            f"{med(pool_cpu):>17.2f} {med(pool_wall):>13.2f}   "
            f"(max {1000 * max(inline[k] for k in keys):.1f})"
        )
        table.append(
            (
                f"{lo}-{hi} KB" if hi < 1 << 20 else f"over {lo // 1024} MB",
                len(keys),
                f"{med(inline):.2f} (max {1000 * max(inline[k] for k in keys):.1f})",
                f"{med(pool_cpu):.2f}",
                f"{med(pool_wall):.2f}",
            )
        )
    print(
        f"worst structure found (nested XHTML in Atom), inline; limit "
        f"{INLINE_PARSE_MAX_BYTES // 1024} KB:"
    )
    for depth in (1500, 3000, 6000, 12000):
        body = nested_atom(depth)
        job = FeedJob(
            0,
            body,
            "http://a.example/f",
            {"content-type": "application/atom+xml"},
            args.entries,
            now,
        )
        c0 = time.process_time()
        parse_feed_job(job)
        ms = 1000 * (time.process_time() - c0)
        print(f"  {len(body) // 1024:>4} KB: {ms:.0f} ms CPU")
        table.append((f"nested XHTML in Atom, {len(body) // 1024} KB", 1, f"{ms:.0f}", "-", "-"))
    print(load_line())
    if args.record:
        record(
            "feed_parse_pool",
            table,
            title="feed_parse_pool: where feeds are parsed",
            header=(
                "body size",
                "feeds",
                "inline CPU ms, median",
                "main-process CPU ms via the pool",
                "wall ms via an idle pool",
            ),
            notes=f"{len(feeds)} real feeds, {args.entries} entries each; feeds up to "
            f"{INLINE_PARSE_MAX_BYTES // 1024} KB are parsed inline. Why the limit "
            "is where it is: [performance.md](performance.md).",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
