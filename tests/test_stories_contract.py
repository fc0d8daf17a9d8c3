"""``newsmon stories cluster`` groups exactly as the pipeline does: the same articles,
stored and grouped by the cycle's story step, fall into the same stories as the
measuring contract puts them (the partition; story ids are hashes of different ids)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from monitor.config import FeedConfig, load_config
from monitor.pipeline.stories_step import group_stories
from monitor.store import Article as StoredArticle
from monitor.store import NewArticle, Store, StoryArticle, utcnow
from monitor.stories import Grouper, cluster_records
from monitor.stories.cluster import load_topics_yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "stories" / "caucasus.jsonl"


def _dated_dev() -> list[dict[str, Any]]:
    if not DATA.is_file():
        pytest.skip(f"{DATA} is absent")
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    seen: set[str] = set()
    out = []
    # Dated (the pipeline dates an undated article by its fetch time; the contract
    # cannot) and one article per URL (the store keeps one article per URL).
    for r in rows:
        if r["split"] == "dev" and r["published"] and r["url"] not in seen:
            seen.add(r["url"])
            out.append(r)
    return out


def _partition(story_of: dict[str, str]) -> set[frozenset[str]]:
    by: dict[str, set[str]] = {}
    for art, story in story_of.items():
        by.setdefault(story, set()).add(art)
    return {frozenset(s) for s in by.values()}


def test_the_cluster_command_groups_as_the_pipeline_does(tmp_path: Path) -> None:
    recs = _dated_dev()
    config = load_config(ROOT / "config")
    grouper = Grouper.with_topics(load_topics_yaml(ROOT / "config"))
    contract = {
        r["id"]: r["story"]
        for r in cluster_records(
            [
                {k: r[k] for k in ("id", "title", "text", "url", "published", "language")}
                for r in recs
            ],
            grouper=grouper,
        )
    }

    # The same articles in a store, moved to end now (their spacing kept).
    def when(r: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(r["published"].replace("Z", "+00:00"))

    last = max(when(r) for r in recs)
    now = utcnow()
    store = Store(f"sqlite:///{tmp_path / 'newsmon.db'}")
    try:
        store.sync_feeds([FeedConfig(url="https://feeds.example/world.xml", name="World")])
        feed_id = store.feeds()[0].id
        stored = store.store_articles(
            [
                NewArticle(
                    canonical_url=r["url"],
                    url=r["url"],
                    guid=None,
                    title=r["title"],
                    summary="",
                    text=r["text"],
                    author=None,
                    published_at=now - (last - when(r)),
                    published_source="feed",
                    language=r["language"],
                    fingerprint=None,
                    extraction="ok",
                    extraction_error=None,
                    sources=[(feed_id, r["id"], r["url"])],
                    hits=[],
                )
                for r in recs
            ]
        )
        group_stories(store, config, stored.article_ids or [], [])
        with store.session() as s:
            urls = {a.id: a.url for a in s.exec(select(StoredArticle)).all()}
            links = list(s.exec(select(StoryArticle)).all())
    finally:
        store.close()
    by_url = {r["url"]: r["id"] for r in recs}
    pipeline = {by_url[urls[link.article_id]]: link.story_id for link in links}
    assert set(pipeline) == set(contract)
    assert _partition(pipeline) == _partition(contract)
    # Not a trivial partition: the set has stories of several articles, across languages.
    assert any(len(s) >= 5 for s in _partition(contract))
