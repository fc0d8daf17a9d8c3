"""A cycle where nothing is new does little besides its requests.

The scheduled deployment polls all day and most polls bring nothing: every feed
answers 304 or the same bytes. Such a cycle must not start the worker pool (a served
run is a process of its own; starting the workers loads spaCy, trafilatura and the
language model), and commits its quiet feed batches together instead of one step per
batch. What is committed is the same: every feed's outcome written, every lease
released. No timing assertion: the harness (``benchmarks/pipeline.py``) measures time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.config import load_config
from monitor.demo.servers import FixtureServer
from monitor.demo.world import DEMO_DATA, write_config
from monitor.pipeline.cycle import run_cycle
from monitor.pipeline.workers import WorkerPool
from monitor.store import Feed, Store
from tests.support.hostile import FAST, TOPICS, item, merge, rows, rss


def _counting(calls: Counter[str]) -> Callable[..., Any]:
    def run(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        calls[step.__name__] += 1
        return step(*args, **kwargs)

    return run


def _world(srv: FixtureServer, tmp_path: Path, n: int, settings: dict[str, Any]) -> Any:
    for i in range(n):
        srv.add(
            f"x/f{i}.xml",
            rss([item(f"{{BASE}}/x/p{i}", title=f"story {i}", guid=f"g{i}")]),
            "application/rss+xml",
        )
    cfg = write_config(
        tmp_path / "config",
        topics_from=TOPICS,
        feed_urls=[srv.url(f"x/f{i}.xml") for i in range(n)],
        routes=[],
        settings=merge(FAST, settings),
    )
    return load_config(cfg)


def test_nothing_new_starts_no_workers_and_commits_quiet_batches_together(tmp_path: Path) -> None:
    with FixtureServer(DEMO_DATA) as srv:
        config = _world(srv, tmp_path, 6, {"extract": {"workers": 1}})
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        with WorkerPool.for_config(config) as first:
            s1 = run_cycle(store, config, pool=first, feed_batch=2)
            assert first.started and s1.articles_new == 6
        calls: Counter[str] = Counter()
        with WorkerPool.for_config(config) as pool:
            s2 = run_cycle(store, config, pool=pool, force=True, feed_batch=2, run=_counting(calls))
            assert not pool.started, "a cycle with nothing new started the worker pool"
    assert s2.feeds_polled == 6 and s2.feeds_not_modified + s2.feeds_unchanged == 6
    assert s2.articles_new == 0
    assert calls["poll_batches"] == 1  # the three quiet batches of 2 in one poll step
    assert calls["commit_feeds"] == 1  # the three quiet batches together
    feeds = rows(store, Feed)
    assert all(f.last_outcome in ("not_modified", "unchanged") for f in feeds)
    assert not any(f.lease_owner for f in feeds)


def test_batches_with_new_articles_are_still_committed_one_by_one(tmp_path: Path) -> None:
    """Only quiet batches wait: a batch with articles is committed after they are stored."""
    with FixtureServer(DEMO_DATA) as srv:
        config = _world(srv, tmp_path, 4, {"extract": {"workers": 1}})
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        calls: Counter[str] = Counter()
        with WorkerPool.for_config(config) as pool:
            s = run_cycle(store, config, pool=pool, feed_batch=1, run=_counting(calls))
    assert s.articles_new == 4 and calls["commit_feeds"] == 4
    assert calls["poll_batches"] == 4  # each batch brings articles: a poll step each
    assert all(f.last_outcome == "ok" and not f.lease_owner for f in rows(store, Feed))


def test_a_poll_step_stops_at_the_first_batch_with_new_articles(tmp_path: Path) -> None:
    """Quiet batches are polled together in one step, up to the first batch that brings
    news: its articles are then fetched and analysed while the next batches are polled."""
    with FixtureServer(DEMO_DATA) as srv:
        config = _world(srv, tmp_path, 4, {"extract": {"workers": 1}})
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        assert run_cycle(store, config, feed_batch=1).articles_new == 4
        srv.add(  # the third feed (in poll order) has a new entry; the others nothing new
            "x/f2.xml",
            rss(
                [
                    item("{BASE}/x/p9", title="story 9", guid="g9"),
                    item("{BASE}/x/p2", title="story 2", guid="g2"),
                ]
            ),
            "application/rss+xml",
        )
        calls: Counter[str] = Counter()
        s = run_cycle(store, config, force=True, feed_batch=1, run=_counting(calls))
    assert s.feeds_polled == 4 and s.articles_new == 1
    assert calls["poll_batches"] == 2  # f0, f1 and f2 (news: the step ends); then f3
    assert calls["commit_feeds"] == 2  # f2 after its article; the quiet three together
    feeds = rows(store, Feed)
    assert sorted(f.last_outcome or "" for f in feeds).count("ok") == 1
    assert not any(f.lease_owner for f in feeds)


class _EngineDown(RuntimeError):
    pass


def test_a_poll_step_that_fails_before_taking_a_batch_fails_one_and_moves_on(
    tmp_path: Path,
) -> None:
    """A step that raises before it takes a batch (the task engine failing, say) must not
    be run again on the same batches forever: the next batch fails in its place, is
    released, and the next cycle reads it."""
    calls: Counter[str] = Counter()

    def engine_down(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if step.__name__ == "poll_batches":
            calls["poll_batches"] += 1
            if calls["poll_batches"] > 20:
                raise SystemExit("the cycle keeps calling a failing poll step")
            raise _EngineDown("the task engine failed before running the step")
        return step(*args, **kwargs)

    with FixtureServer(DEMO_DATA) as srv:
        config = _world(srv, tmp_path, 3, {"extract": {"workers": 1}})
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        s = run_cycle(store, config, feed_batch=1, run=engine_down)
        assert calls["poll_batches"] == 3 and len(s.errors) == 3
        assert not any(f.lease_owner for f in rows(store, Feed))  # released, not held
        assert run_cycle(store, config, feed_batch=1).articles_new == 3  # nothing lost


def test_every_feed_not_yet_committed_keeps_its_lease(tmp_path: Path) -> None:
    """A cycle longer than the lease renews, at each batch it takes, the leases of every
    feed it has not committed yet: those polled earlier in the same step and those
    waiting to be stored or committed, not only the batches still to come."""
    with FixtureServer(DEMO_DATA) as srv:
        # a lease so short that every batch taken renews (a third of it has gone by)
        config = _world(srv, tmp_path, 5, {"extract": {"workers": 1}})
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        assert run_cycle(store, config, feed_batch=1).articles_new == 5
        srv.add(  # the first feed in poll order brings news, the others nothing new
            "x/f0.xml",
            rss(
                [
                    item("{BASE}/x/p9", title="story 9", guid="g9"),
                    item("{BASE}/x/p0", title="story 0", guid="g0"),
                ]
            ),
            "application/rss+xml",
        )
        config.settings.fetch.lease_minutes = 0.00001
        seen: list[tuple[set[int], set[int]]] = []  # (renewed, committed by then)
        committed: set[int] = set()
        real_renew, real_save = store.renew_leases, store.save_feeds

        def renew(owner: str, ids: Any, **kw: Any) -> set[int]:
            seen.append((set(ids), set(committed)))
            return real_renew(owner, ids, **kw)

        def save(feeds: Any, *a: Any, **kw: Any) -> Any:
            committed.update(f.id for f in feeds)
            return real_save(feeds, *a, **kw)

        store.renew_leases = renew  # type: ignore[method-assign]
        store.save_feeds = save  # type: ignore[method-assign]
        s = run_cycle(store, config, force=True, feed_batch=1)
    assert s.articles_new == 1 and not s.errors
    all_ids = {f.id for f in rows(store, Feed)}
    assert seen, "no lease was renewed: the lease did not run short"
    for ids, done in seen:
        assert all_ids - done <= ids, f"renewed {sorted(ids)}, not committed {all_ids - done}"
