"""store_articles writes a batch in a few statements; the decisions stay those of one
article after the other: same URL or same text fingerprint is the same story."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from monitor.store import Article, ArticleSource, Delivery, Feed, Hit, NewArticle, Store


def item(
    url: str, fp: str | None, *, feed: int, key: str, hit: bool = True, extraction: str = "ok"
) -> NewArticle:
    return NewArticle(
        canonical_url=url,
        url=url,
        guid=None,
        title=f"t {url}",
        summary="s",
        text="text",
        author=None,
        published_at=None,
        published_source="feed",
        language="en",
        fingerprint=fp,
        extraction=extraction,
        extraction_error=None,
        sources=[(feed, key, url)],
        hits=[("topic-a", 0.5, "v1", {"score": 0.5})] if hit else [],
    )


def rows(store: Store, model: type) -> list:
    with store.session() as s:
        return list(s.exec(select(model)).all())


def test_batch_merges_like_one_by_one(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.session(write=True) as s:
        s.add(Feed(id=1, url="http://f/1"))
        s.add(Feed(id=2, url="http://f/2"))
    deliver = lambda topic, score, published: [  # noqa: E731
        dict(
            route="r", target="t", target_display="d", mode="instant", status="pending", attempts=0
        )
    ]
    first = store.store_articles(
        [
            item("http://a/1", "fp1", feed=1, key="k1"),
            item("http://a/2", "fp1", feed=2, key="k2"),  # same text as a/1: merged into it
            item("http://a/3", "fp3", feed=1, key="k3", hit=False),
            item("http://a/4", "fp1", feed=1, key="k4", extraction="summary"),  # not compared
        ],
        deliveries_for=deliver,
    )
    assert (first.articles_new, first.articles_merged, first.hits_new) == (3, 1, 2)
    arts = {a.canonical_url: a.id for a in rows(store, Article)}
    assert set(arts) == {"http://a/1", "http://a/3", "http://a/4"}
    src = {s.entry_key: s.article_id for s in rows(store, ArticleSource)}
    assert src == {
        "k1": arts["http://a/1"],
        "k2": arts["http://a/1"],
        "k3": arts["http://a/3"],
        "k4": arts["http://a/4"],
    }
    assert len(rows(store, Hit)) == 2 and len(rows(store, Delivery)) == 2
    assert sorted(first.hit_ids or []) == sorted(h.id for h in rows(store, Hit))

    # Again, plus a new URL with a stored fingerprint: nothing new but the source.
    again = store.store_articles(
        [item("http://a/1", "fp1", feed=1, key="k1"), item("http://a/5", "fp3", feed=2, key="k5")],
        deliveries_for=deliver,
    )
    assert (again.articles_new, again.articles_merged, again.hits_new) == (0, 2, 1)
    # a/5 is the story of a/3, which had no hit: its hit is new, on a/3
    assert {h.article_id for h in rows(store, Hit)} == {
        arts["http://a/1"],
        arts["http://a/3"],
        arts["http://a/4"],
    }
    assert len(rows(store, Delivery)) == 3
    assert len(rows(store, Article)) == 3
