"""Page analysis on a Dask cluster (a real LocalCluster of worker processes on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.pipeline.cycle import run_cycle
from monitor.pipeline.jobs import PageJob
from monitor.store import Store
from tests.support.hostile import item, rss
from tests.support.manyfeeds import many_feeds

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None
    ) as c:
        yield c.scheduler_address


def test_dask_pool_analyses_pages_on_the_cluster(cluster: str, tmp_path: Path) -> None:
    from monitor.pipeline.dask_pool import DaskPool

    with many_feeds(tmp_path, feeds=2) as w:
        config = load_config(w.config_dir)
        pool = DaskPool(cluster, config)
        try:
            html = (
                Path(__file__).resolve().parents[1]
                / "monitor"
                / "demo"
                / "data"
                / "pages"
                / "caucasus-iran-azerbaijan-thaw.html"
            ).read_bytes()
            (a, bad) = list(
                pool.analyse_many(
                    [PageJob("a", html, "http://x.test/a"), PageJob("b", b"", "http://x.test/b")]
                )
            )
            assert a.error is None and a.extracted is not None
            assert any(r.matched and r.topic == "caucasus-realignment" for r in a.results)
            assert bad.key == "b" and bad.extracted is None and bad.error
            # ran in the cluster's worker process, not here
            logs = pool.client.run(
                lambda: __import__(
                    "monitor.pipeline.dask_pool"
                ).pipeline.dask_pool._classifiers.__len__()
            )
            assert list(logs.values()) == [1]
        finally:
            pool.close()


def test_dask_pool_parses_large_feeds_and_classifies_summaries_on_the_cluster(
    cluster: str, tmp_path: Path
) -> None:
    """What the flow's own process must not do on a cluster: parse a large feed (an
    unbounded cost on its fetch loop) or load spaCy to classify a feed summary."""
    from datetime import UTC, datetime

    from monitor.pipeline.dask_pool import DaskPool
    from monitor.pipeline.jobs import FeedJob, SummaryJob
    from monitor.pipeline.poll import INLINE_PARSE_MAX_BYTES

    with many_feeds(tmp_path, feeds=1) as w:
        config = load_config(w.config_dir)
    pool = DaskPool(cluster, config)
    try:
        entries = [
            item(
                f"http://x.test/p/{i}",
                title=f"story {i}",
                guid=f"g{i}",
                description="Lorem ipsum dolor sit amet. " * 40,
            )
            for i in range(60)
        ]
        body = rss(entries).encode()
        assert len(body) > INLINE_PARSE_MAX_BYTES

        def job(key: str, data: bytes) -> FeedJob:
            return FeedJob(key, data, f"http://x.test/{key}.xml", {}, 500, datetime.now(UTC))

        good = pool.feed_outcome("big", pool.submit_feed(job("big", body)))
        assert good.error is None and good.parsed is not None
        assert [e.link for e in good.parsed.entries][:2] == [
            "http://x.test/p/0",
            "http://x.test/p/1",
        ]
        assert len(good.parsed.entries) == 60
        bad = pool.feed_outcome("junk", pool.submit_feed(job("junk", b"\x00not a feed" * 2000)))
        assert bad.parsed is None and bad.error
        verdict = pool.submit_summary(
            SummaryJob(
                "k",
                "Iran and Azerbaijan sign a North-South Transport Corridor deal",
                "Presidents of Iran and Azerbaijan met in Baku and signed agreements on the "
                "North-South Transport Corridor and security cooperation.",
            )
        ).result(timeout=120)
        hit = next(r for r in verdict.results if r.topic == "caucasus-realignment")
        assert verdict.key == "k" and verdict.language == "en" and hit.score > 0
    finally:
        pool.close()


def test_a_cycle_with_its_analysis_on_dask(cluster: str, tmp_path: Path) -> None:
    from monitor.pipeline.dask_pool import DaskPool

    with many_feeds(tmp_path, feeds=6) as w:
        config = load_config(w.config_dir)
        store = Store(f"sqlite:///{tmp_path / 'd.db'}")
        pool = DaskPool(cluster, config)
        try:
            s = run_cycle(store, config, pool=pool)
        finally:
            pool.close()
        assert s.feeds_polled == 6 and s.feeds_failed == 0, s.errors
        assert s.articles_new >= 10 and s.hits_new == 1
        assert len(w.webhook.received) == 1
        store.close()


@pytest.mark.slow
def test_the_cycle_flow_takes_a_dask_address(
    cluster: str, tmp_path: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.cycle import cycle

    with many_feeds(tmp_path, feeds=4) as w:
        monkeypatch.setenv("NEWSMON_DB", f"sqlite:///{tmp_path / 'f.db'}")
        out = cycle(config_dir=str(w.config_dir), dask_address=cluster)
        assert out["feeds_polled"] == 4 and out["articles_new"] >= 8 and out["hits_new"] == 1
