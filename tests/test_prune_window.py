"""The cycle's prune step reads the articles that aged past the retention cutoff since
its last prune, not the whole history (a cycle's cost must not grow with the store);
a full pass again once a day catches what that window misses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select, update

from monitor.config import load_config
from monitor.demo.world import write_config
from monitor.pipeline import cycle
from monitor.store import Article, NewArticle, Store
from tests.support.articles import plain_article
from tests.support.hostile import TOPICS


def _article(url: str) -> NewArticle:
    return plain_article(url)


def _age(store: Store, url: str, days: float) -> None:
    with store.session(write=True) as s:
        s.execute(
            update(Article)
            .where(Article.canonical_url == url)  # type: ignore[arg-type]
            .values(first_seen_at=datetime.now(UTC) - timedelta(days=days))
        )


def _texts(store: Store) -> dict[str, str | None]:
    with store.session() as s:
        return {a.canonical_url: a.text for a in s.exec(select(Article)).all()}


def test_prune_reads_only_newly_aged_articles_then_all_once_a_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(
        tmp_path / "config",
        topics_from=TOPICS,
        feed_urls=[],
        routes=[],
        settings={"retention": {"prune_text_after_days": 30}},
    )
    config = load_config(cfg)
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setattr(cycle, "_PRUNED", {})
    store.store_articles([_article("https://n.example/a"), _article("https://n.example/b")])
    _age(store, "https://n.example/a", 40)
    assert cycle.prune(store, config).texts_pruned == 1  # the first prune reads everything
    # An old text the window does not reach (e.g. a page recovered late): left for now.
    _age(store, "https://n.example/b", 40)
    assert cycle.prune(store, config).texts_pruned == 0
    assert _texts(store)["https://n.example/b"] == "Body text."
    # ... and pruned by the next full pass.
    monkeypatch.setattr(cycle, "FULL_PRUNE_EVERY_S", 0.0)
    assert cycle.prune(store, config).texts_pruned == 1
    assert _texts(store) == {"https://n.example/a": None, "https://n.example/b": None}
    store.close()
