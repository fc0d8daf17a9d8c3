"""Work shared between concurrent cycles: every feed polled once, nothing stored or sent
twice, and a dead worker's feeds taken over once its lease runs out (SQLite and
PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from monitor.config import load_config
from monitor.pipeline.cycle import run_cycle
from monitor.pipeline.summary import CycleSummary
from monitor.store import Article, ArticleSource, Delivery, Feed, Hit, Store
from tests.support.manyfeeds import ManyFeeds, many_feeds


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("pg_url")


def count(store: Store, model: type, *where: Any) -> int:
    with store.session() as s:
        q = select(func.count()).select_from(model)
        for w in where:
            q = q.where(w)
        return int(s.exec(q).one())


def check_nothing_twice(w: ManyFeeds, store: Store, runs: list[CycleSummary]) -> None:
    """Every feed fetched once; articles, sources, hits, deliveries and alerts once."""
    assert {p: w.polls(p) for p in w.feed_paths} == {p: 1 for p in w.feed_paths}
    assert sum(r.feeds_polled for r in runs) == len(w.feed_paths)
    assert sum(r.feeds_failed for r in runs) == 0, [r.errors for r in runs]
    assert count(store, Article) == sum(r.articles_new for r in runs)
    assert count(store, ArticleSource) == 3 * len(w.feed_paths)  # each feed entry once
    hits = count(store, Hit)
    assert hits == sum(r.hits_new for r in runs) >= 1
    assert count(store, Delivery) == 2 * hits  # two routes match the caucasus topic
    assert count(store, Delivery, Delivery.status == "sent") == 2 * hits
    assert len(w.smtp.messages) == hits and len(w.webhook.received) == hits
    assert count(store, Feed, Feed.lease_owner != None) == 0  # noqa: E711 - all released


def test_two_concurrent_cycles_share_the_feeds(db_url: str, tmp_path: Path) -> None:
    with many_feeds(
        tmp_path, feeds=24, delay_s=0.05, settings={"fetch": {"max_feeds_per_cycle": 12}}
    ) as w:
        config = load_config(w.config_dir)
        stores = [Store(db_url) for _ in range(2)]
        start = threading.Barrier(2)
        runs: list[CycleSummary] = []
        errors: list[BaseException] = []

        def worker(store: Store) -> None:
            try:
                start.wait()
                runs.append(run_cycle(store, config, feed_batch=4))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors
        assert sorted(r.feeds_polled for r in runs) == [12, 12]  # both did work
        check_nothing_twice(w, stores[0], runs)
        # A third cycle right after finds nothing due and changes nothing.
        again = run_cycle(stores[1], config)
        assert again.feeds_due == 0 and again.articles_new == 0 and again.hits_new == 0
        for s in stores:
            s.close()


def test_a_dead_workers_feeds_are_taken_over_after_its_lease(db_url: str, tmp_path: Path) -> None:
    with many_feeds(tmp_path, feeds=12) as w:
        config = load_config(w.config_dir)
        store = Store(db_url)
        store.sync_feeds(config.feeds)
        # A worker claims every feed and dies without releasing them.
        dead = store.claim_due_feeds("dead-worker", lease=timedelta(seconds=2))
        assert len(dead) == 12
        early = run_cycle(store, config)
        assert early.feeds_due == 0 and all(w.polls(p) == 0 for p in w.feed_paths)
        time.sleep(2.2)
        late = run_cycle(store, config)
        assert late.feeds_due == 12
        check_nothing_twice(w, store, [early, late])
        store.close()


def test_a_cycle_longer_than_its_lease_keeps_its_feeds(db_url: str, tmp_path: Path) -> None:
    """Leases are renewed batch by batch: a second worker arriving after the first's
    initial lease ran out finds nothing to take, and no feed is polled twice."""
    lease_s = 1.5
    with many_feeds(
        tmp_path,
        feeds=16,
        delay_s=0.4,
        settings={"fetch": {"lease_minutes": lease_s / 60, "per_host_concurrency": 2}},
    ) as w:
        config = load_config(w.config_dir)
        first, second = Store(db_url), Store(db_url)
        runs: list[CycleSummary] = []
        t0 = time.monotonic()
        t = threading.Thread(target=lambda: runs.append(run_cycle(first, config, feed_batch=2)))
        t.start()
        time.sleep(lease_s + 0.5)
        assert t.is_alive(), "the first cycle must outlast its lease for this test to mean much"
        runs.append(run_cycle(second, config))
        t.join(300)
        assert time.monotonic() - t0 > lease_s
        assert runs[-1].feeds_polled == 16 or runs[0].feeds_polled == 16
        check_nothing_twice(w, first, runs)
        first.close()
        second.close()


def test_renew_leases_keeps_own_and_yields_taken_feeds(tmp_path: Path) -> None:
    with many_feeds(tmp_path, feeds=4) as w:
        config = load_config(w.config_dir)
        store = Store(f"sqlite:///{tmp_path / 'r.db'}")
        store.sync_feeds(config.feeds)
        a = store.claim_due_feeds("a", lease=timedelta(seconds=1))
        ids = [f.id for f in a if f.id is not None]
        time.sleep(1.1)  # expired but not taken: still a's to renew
        assert store.renew_leases("a", ids, lease=timedelta(seconds=1)) == set(ids)
        time.sleep(1.1)
        b = store.claim_due_feeds("b", lease=timedelta(minutes=5))
        assert {f.id for f in b} == set(ids)
        assert store.renew_leases("a", ids) == set()  # b has them now
        store.close()
