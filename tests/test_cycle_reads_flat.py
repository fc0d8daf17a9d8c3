"""What every cycle reads from the store must not grow with the history stored: the
stories' recovery pass reads the last day's articles through the first_seen index, and
the feed-health check reads the entries stored since its last read. (The prune step:
tests/test_prune_window.py.) ``benchmarks/growth.py`` measures the cycle against
stores of 1,000 to 100,000 articles; no timing here."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from monitor.alerts import feed_health
from monitor.config import FeedConfig
from monitor.store import NewArticle, Store, utcnow
from tests.support.articles import plain_article


def _article(url: str, feed_id: int) -> NewArticle:
    return plain_article(url, feed_id)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    s.sync_feeds([FeedConfig(url=f"https://feeds.example/{n}.xml", name=n) for n in "ab"])
    yield s
    s.close()


def test_recovery_reads_the_recent_articles_through_the_index(store: Store) -> None:
    fid = store.feeds()[0].id or 0
    store.store_articles([_article(f"https://n.example/{i}", fid) for i in range(20)])
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "first_seen_at >=" in statement:
            seen.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.grouping() as txn:
            assert len(txn.ungrouped_since(utcnow() - timedelta(hours=24))) == 20
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert seen, "the recovery query was not seen"
    with store.engine.connect() as conn:
        plan = " | ".join(
            str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + seen[0][0], seen[0][1])
        )
    # SCAN article: every article stored read to find the last day's
    assert "SCAN article" not in plan and "ix_article_first_seen_at" in plan, plan


def test_feed_activity_is_brought_up_to_date_from_the_new_entries(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_health, "_ACTIVITY", {})
    a, b = (f.id or 0 for f in store.feeds())
    store.store_articles([_article(f"https://n.example/a{i}", a) for i in range(3)])
    assert feed_health._activity(store) == store.feed_activity()
    store.store_articles(
        [_article(f"https://n.example/a{i}", a) for i in range(3, 5)]
        + [_article(f"https://n.example/b{i}", b) for i in range(2)]
    )
    reads: list[Any] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM articlesource" in statement and "GROUP BY" in statement:
            reads.append(params)

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        got = feed_health._activity(store)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert got == store.feed_activity()
    assert got[a][0] == 5 and got[b][0] == 2
    # read from after the last entry seen before, not from the first one
    assert len(reads) == 1 and reads[0][0] == 3, reads
    monkeypatch.setattr(feed_health, "FULL_READ_EVERY_S", 0.0)
    assert feed_health._activity(store) == store.feed_activity()
