"""What route health costs: the per-cycle health check and `newsmon alerts`' route table,
on an outbox of 100,000 deliveries.

    python benchmarks/alert_health.py               # SQLite, 100,000 deliveries
    python benchmarks/alert_health.py --n 20000     # smaller
    python benchmarks/alert_health.py --pg          # PostgreSQL (a throwaway local cluster)

The outbox is synthetic but shaped like a busy one: 8 targets on 5 routes, 90 % sent,
the rest failed, pending or dead; one target failing (so the check reads the outbox
counts to write its message), one health alert sent. Rows go in by bulk insert through
the real tables and indexes.

Each figure is the median of 7 calls, printed beside its reference: for the per-cycle
check, the outbox query every cycle already ran before route health existed
(``claim_deliveries`` with nothing due); for the route table, the 1 s an interactive
command may take. Run `uptime` alongside: the figures move with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.alerts.health import check_health, route_health  # noqa: E402
from monitor.alerts.routes import (  # noqa: E402
    AlertHealth,
    Route,
    target_key,
)
from monitor.config import Config, load_config  # noqa: E402
from monitor.store import Article, Delivery, Hit, Store  # noqa: E402
from tests.support.benchreport import add_record_flag, record  # noqa: E402

TOPICS = load_config(ROOT / "config").topics
ROUTES = [
    Route(name="desk", urls=["json://127.0.0.1:9/desk", "json://127.0.0.1:9/desk2"]),
    Route(
        name="mail",
        urls=["mailto://127.0.0.1:9?to=a@example.org", "mailto://127.0.0.1:9?to=b@example.org"],
    ),
    Route(name="chat", urls=["json://127.0.0.1:9/chat"]),
    Route(name="ops", urls=["json://127.0.0.1:9/ops", "json://127.0.0.1:9/ops2"]),
    Route(name="digest", mode="digest", urls=["json://127.0.0.1:9/digest"]),
]


def build(store: Store, n: int) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    targets = [(r.name, target_key(u), u) for r in ROUTES for u in r.urls]
    arts, hits, dels = [], [], []
    per_hit = 2
    for i in range(1, n // per_hit + 1):
        found = now - timedelta(minutes=i)
        arts.append(
            dict(
                id=i,
                canonical_url=f"https://news.example/{i}",
                url=f"https://news.example/{i}",
                title=f"Story {i}",
                summary="",
                published_source="feed",
                extraction="ok",
                first_seen_at=found,
            )
        )
        hits.append(
            dict(
                id=i,
                article_id=i,
                topic_id="caucasus-realignment",
                score=0.7,
                topic_version="v1",
                evidence={},
                created_at=found,
            )
        )
        for route, key, url in rng.sample(targets, per_hit):
            status = rng.choice(["sent"] * 18 + ["failed", "dead"]) if i > 50 else "failed"
            dels.append(
                dict(
                    hit_id=i,
                    route=route,
                    target=key,
                    target_display=url,
                    mode="instant",
                    status=status,
                    attempts=1,
                    created_at=found,
                    next_attempt_at=now + timedelta(hours=1),
                    sent_at=found if status == "sent" else None,
                    last_error=None if status == "sent" else "HTTP 500",
                )
            )
    with store.engine.execution_options(immediate=True).begin() as c:
        for model, rows in ((Article, arts), (Hit, hits), (Delivery, dels)):
            for k in range(0, len(rows), 5000):
                c.execute(model.__table__.insert(), rows[k : k + 5000])  # type: ignore[attr-defined]
    for route, key, url in targets:
        store.record_send(route, key, url, ok=True)
    for _ in range(3):  # one target failing past the thresholds
        store.record_send(
            "chat",
            target_key("json://127.0.0.1:9/chat"),
            "json://127.0.0.1:9/chat",
            ok=False,
            error="HTTP 500",
        )


def median_ms(fn: Callable[[], Any], runs: int = 7) -> float:
    fn()  # warm: connections, statement caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="deliveries in the outbox")
    ap.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    add_record_flag(ap)
    args = ap.parse_args()
    import logging

    logging.getLogger("newsmon").setLevel(logging.ERROR)  # the one "alerting is broken" line
    tmp = tempfile.mkdtemp(prefix="newsmon-bench-health-")
    pg: Any = None
    try:
        if args.pg:
            from tests.support.postgres import ThrowawayPostgres, fresh_database

            pg = ThrowawayPostgres().__enter__()
            url = fresh_database(pg.start())
        else:
            url = f"sqlite:///{tmp}/bench.db"
        store = Store(url)
        t0 = time.perf_counter()
        build(store, args.n)
        print(
            f"{store.dialect}: {args.n:,} deliveries on {sum(len(r.urls) for r in ROUTES)} "
            f"targets built in {time.perf_counter() - t0:.1f} s; load {os.getloadavg()[0]:.2f}"
        )
        config = Config(
            topics=TOPICS,
            routes=ROUTES,
            alert_health=AlertHealth(notify=["ops"], after_failures=3, after_minutes=0),
        )
        check_health(store, config)  # queues the one health alert; later calls find it there
        rows = [
            (
                "health check per cycle (one target failing)",
                median_ms(lambda: check_health(store, config)),
                "claim_deliveries, nothing due (per cycle already)",
                median_ms(lambda: store.claim_deliveries(mode="instant")),
            ),
            (
                "route table (`newsmon alerts`, `status`)",
                median_ms(lambda: route_health(store, config)),
                "interactive command budget",
                1000.0,
            ),
        ]
        width = max(len(r[0]) for r in rows)
        print(f"{'what':<{width}}  {'median ms':>9}  reference")
        for what, ms, ref_what, ref_ms in rows:
            print(f"{what:<{width}}  {ms:9.1f}  {ref_ms:.1f} ms ({ref_what})")
        store.close()
        if args.record:
            record(
                f"alert_health-{'postgresql' if args.pg else 'sqlite'}",
                [
                    (what, f"{ms:.1f} ms", f"{ref_ms:.1f} ms ({ref_what})")
                    for what, ms, ref_what, ref_ms in rows
                ],
                title=f"alert_health: route health, {'PostgreSQL' if args.pg else 'SQLite'}",
                header=("what", "median", "reference"),
                notes=f"An outbox of {args.n:,} deliveries on 8 targets, one failing. "
                "What route health is: [alerts.md](alerts.md#route-health).",
            )
    finally:
        if pg is not None:
            pg.__exit__(None, None, None)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
