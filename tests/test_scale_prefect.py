"""Prefect at scale, for real: a Prefect server (on PostgreSQL), two process workers on
one work pool, the newsmon store on PostgreSQL, the many-feeds loopback world.

Several cycles run as deployment flow runs; every feed is polled once per cycle, nothing
is stored or alerted twice, both workers do work. Then one worker is SIGKILLed in the
middle of a cycle: the other takes its feeds over once their lease runs out.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, update
from sqlmodel import select

from monitor.demo.servers import Fault
from monitor.store import Article, ArticleSource, Delivery, Feed, Hit, Store, utcnow
from tests.support.manyfeeds import many_feeds
from tests.test_deploy_files import (
    PREFECT_BIN,
    TERMINAL,
    _run,
    _stop_flow_run_process,
    _stop_group,
)

FEEDS = 24
LEASE_S = 20


def _count(store: Store, model: type, *where: Any) -> int:
    with store.session() as s:
        q = select(func.count()).select_from(model)
        for w in where:
            q = q.where(w)
        return int(s.exec(q).one())


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_workers_share_cycles_and_survive_a_sigkill(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.serve import LocalPrefectServer
    from tests.support.postgres import drop_database, fresh_database

    prefect_db = fresh_database(pg_url)
    # The Prefect server's own database on PostgreSQL too (asyncpg), as in production.
    monkeypatch.setenv(
        "PREFECT_SERVER_DATABASE_CONNECTION_URL", prefect_db.replace("+psycopg", "+asyncpg")
    )
    workers: list[subprocess.Popen[Any]] = []
    run_ids: list[str] = []
    settings = {
        "fetch": {"max_feeds_per_cycle": FEEDS // 2, "lease_minutes": LEASE_S / 60},
        "extract": {"workers": 1},
    }
    with (
        many_feeds(tmp_path, feeds=FEEDS, settings=settings) as w,
        LocalPrefectServer(home=tmp_path / "prefect-server") as server,
    ):
        api = httpx.Client(base_url=server.url, timeout=30)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSMON_"))}
        env.update(
            PREFECT_API_URL=server.url,
            PREFECT_HOME=str(tmp_path / "prefect-client"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_WORKER_QUERY_SECONDS="2",
            NEWSMON_HOME=str(tmp_path / "home"),
            NEWSMON_CONFIG=str(w.config_dir),
            PATH=f"{PREFECT_BIN.parent}:{os.environ['PATH']}",
        )
        prefect = str(PREFECT_BIN)
        store = Store(pg_url)
        logs = [tmp_path / f"worker-{i}.log" for i in range(2)]

        def start_runs(n: int) -> list[str]:
            ids = []
            for _ in range(n):
                out = _run([prefect, "deployment", "run", "newsmon-cycle/newsmon"], env)
                m = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
                assert m, out
                ids.append(m.group(1))
            run_ids.extend(ids)
            return ids

        def wait(ids: list[str], timeout: float = 300) -> None:
            deadline = time.monotonic() + timeout
            states: dict[str, str] = {}
            while time.monotonic() < deadline:
                states = {i: api.get(f"/flow_runs/{i}").json()["state"]["type"] for i in ids}
                if all(s in TERMINAL for s in states.values()):
                    break
                time.sleep(1)
            tails = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)
            assert set(states.values()) == {"COMPLETED"}, f"{states}\n{tails}"

        def worker_of(run_id: str) -> int:
            # Both workers may try a run; the server lets one have it, the other logs
            # "Aborted submission of flow run '<id>'".
            found = [
                i
                for i, p in enumerate(logs)
                if run_id in (text := p.read_text(errors="replace"))
                and f"Aborted submission of flow run '{run_id}'" not in text
            ]
            assert len(found) == 1, (run_id, found)
            return found[0]

        def make_all_due() -> None:
            with store.session(write=True) as s:
                s.execute(update(Feed).values(next_poll_at=None))

        def check_unique() -> int:
            hits = _count(store, Hit)
            assert _count(store, ArticleSource) == 3 * FEEDS  # each feed entry once
            assert hits >= 1 and _count(store, Delivery) == 2 * hits
            assert _count(store, Delivery, Delivery.status == "sent") == 2 * hits
            assert len(w.smtp.messages) == hits and len(w.webhook.received) == hits
            assert _count(store, Feed, Feed.lease_owner != None) == 0  # noqa: E711
            return hits

        try:
            _run([prefect, "work-pool", "create", "newsmon", "--type", "process"], env)
            _run([prefect, "--no-prompt", "deploy", "--name", "newsmon"], env)
            _run([prefect, "--no-prompt", "deployment", "schedule", "pause", "--all"], env)
            for log in logs:
                with open(log, "wb") as out:
                    workers.append(
                        subprocess.Popen(
                            [prefect, "worker", "start", "--pool", "newsmon", "--limit", "1"],
                            cwd=tmp_path,
                            env={**env, "NEWSMON_DB": pg_url},
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )

            # Cycles 1-3: two flow runs at once, each leases half the due feeds.
            articles = 0
            for cycle in range(1, 4):
                if cycle > 1:
                    make_all_due()
                ids = start_runs(2)
                wait(ids)
                assert {worker_of(i) for i in ids} == {0, 1}, "both workers must do work"
                assert all(w.polls(p) == cycle for p in w.feed_paths), {
                    p: w.polls(p) for p in w.feed_paths
                }
                if cycle == 1:
                    articles = _count(store, Article)
                    assert articles > 0
                assert _count(store, Article) == articles  # nothing new, nothing twice
                check_unique()

            # Cycle 4: one worker killed mid-cycle; slow feeds make "mid" last a while.
            make_all_due()
            for p in w.feed_paths:
                w.server.faults["/" + p] = Fault(delay_s=3)
            before = {p: w.polls(p) for p in w.feed_paths}
            (victim_run,) = start_runs(1)
            deadline = time.monotonic() + 120
            while sum(w.polls(p) for p in w.feed_paths) == sum(before.values()):
                assert time.monotonic() < deadline, "the cycle never started polling"
                time.sleep(0.2)
            killed_at = time.monotonic()
            victim = worker_of(victim_run)
            os.killpg(workers[victim].pid, signal.SIGKILL)
            _stop_flow_run_process(api, victim_run)  # the flow run's own process, too
            workers[victim].wait()
            survivor = 1 - victim
            with store.session() as s:
                leased = select(Feed.url).where(Feed.lease_owner != None)  # noqa: E711
                orphaned = set(s.exec(leased))
            assert len(orphaned) == FEEDS // 2
            # The survivor's next run takes the unleased half at once...
            (r1,) = start_runs(1)
            wait([r1])
            assert worker_of(r1) == survivor
            with store.session() as s:
                still = set(s.exec(select(Feed.url).where(Feed.lease_owner != None)))  # noqa: E711
            assert still == orphaned, "the dead worker's feeds stay leased until the lease ends"
            # ...and the dead worker's half once the lease has run out.
            time.sleep(max(0.0, LEASE_S + 1 - (time.monotonic() - killed_at)))
            (r2,) = start_runs(1)
            wait([r2])
            assert worker_of(r2) == survivor
            with store.session() as s:
                polled = list(s.exec(select(Feed.last_polled_at)))
            assert len(polled) == FEEDS and all(
                t is not None and (utcnow() - t).total_seconds() < 300 for t in polled
            )
            after = {p: w.polls(p) - before[p] for p in w.feed_paths}
            # Every feed polled in cycle 4; only the dead worker's in-flight ones twice.
            assert all(1 <= n <= 2 for n in after.values()), after
            assert _count(store, Article) == articles
            check_unique()
        finally:
            for proc in workers:
                _stop_group(proc)
            for rid in run_ids:
                _stop_flow_run_process(api, rid)
            api.close()
            store.close()
    drop_database(prefect_db)
