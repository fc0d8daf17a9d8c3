"""monitor.store on a real SQLite file: idempotent writes, dedup, leases, labels, the outbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from monitor.alerts.routes import target_key
from monitor.config import FeedConfig
from monitor.errors import NotFound
from monitor.store import Article, ArticleSource, Hit, NewArticle, Store, utcnow

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
FEEDS = [
    FeedConfig(url=f"https://feeds.example/{n}.xml", name=n.title(), tags=[n])
    for n in ("world", "regional", "sport")
]
EVIDENCE = {
    "score": 0.7,
    "rule": "any(region≥2:3 ✓) ✓",
    "sentences": [{"text": "Iran and Azerbaijan signed seven agreements."}],
}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'newsmon.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.sync_feeds(FEEDS)
    yield s
    s.close()


def feed_ids(store: Store) -> dict[str, int]:
    return {f.name or "": f.id or 0 for f in store.feeds()}


def article(
    url: str,
    *,
    sources: list[tuple[int, str, str]],
    title: str = "A story",
    text: str | None = "Body text.",
    fingerprint: str | None = None,
    extraction: str = "ok",
    hits: list[tuple[str, float, str, dict[str, Any]]] | None = None,
    published: datetime | None = T0,
) -> NewArticle:
    return NewArticle(
        canonical_url=url,
        url=url,
        guid=None,
        title=title,
        summary="",
        text=text,
        author=None,
        published_at=published,
        published_source="feed",
        language="en",
        fingerprint=fingerprint,
        extraction=extraction,
        extraction_error=None,
        sources=sources,
        hits=hits or [],
    )


def rows(store: Store, model: type) -> list[Any]:
    with store.session() as s:
        return list(s.exec(select(model)).all())


def outbox_rows(targets: list[tuple[str, str]]) -> Any:
    """A deliveries_for callback: one pending row per (route, url)."""

    def make(topic: str, score: float, published: datetime | None) -> list[dict[str, Any]]:
        now = utcnow()
        return [
            dict(
                route=r,
                target=target_key(u),
                target_display=u,
                mode="instant",
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
            for r, u in targets
        ]

    return make


# --- articles and hits -------------------------------------------------------------------


def test_database_file_and_folder_are_created(db_url: str, tmp_path: Path) -> None:
    Store(db_url).close()
    assert (tmp_path / "data" / "newsmon.db").is_file()


def test_store_articles_is_idempotent(store: Store) -> None:
    ids = feed_ids(store)
    batch = [
        article(
            "https://news.example/a",
            sources=[(ids["World"], "guid-a", "https://news.example/a?utm_source=rss")],
            hits=[("caucasus-realignment", 0.7, "v1", EVIDENCE)],
        )
    ]
    deliveries = outbox_rows([("desk", "json://127.0.0.1:1/hook"), ("mail", "mailto://x")])
    first = store.store_articles(batch, deliveries)
    second = store.store_articles(batch, deliveries)
    assert (first.articles_new, first.articles_merged, first.hits_new) == (1, 0, 1)
    assert (second.articles_new, second.articles_merged, second.hits_new) == (0, 1, 0)
    assert second.hit_ids == []
    assert store.counts() == {"feeds": 3, "articles": 1, "hits": 1, "deliveries": 2}
    assert len(rows(store, ArticleSource)) == 1
    hit, art = store.hits()[0]
    assert first.hit_ids == [hit.id]
    assert hit.evidence == EVIDENCE and hit.topic_version == "v1"
    assert art.published_at == T0 and art.published_at.tzinfo is not None
    assert {d.route for d in store.deliveries_for_hit(hit.id or 0)} == {"desk", "mail"}


def test_same_url_from_another_feed_adds_a_source(store: Store) -> None:
    ids = feed_ids(store)
    store.store_articles([article("https://news.example/a", sources=[(ids["World"], "w-1", "l1")])])
    res = store.store_articles(
        [article("https://news.example/a", sources=[(ids["Regional"], "tag:r-1", "l2")])]
    )
    assert res.articles_merged == 1 and res.articles_new == 0
    (a,) = rows(store, Article)
    assert sorted(f.name for _, f in store.article_sources(a.id)) == ["Regional", "World"]


def test_fingerprint_dedup_merges_sources(store: Store) -> None:
    ids = feed_ids(store)
    hit = [("caucasus-realignment", 0.6, "v1", EVIDENCE)]
    store.store_articles(
        [
            article(
                "https://one.example/story",
                fingerprint="fp-1",
                hits=hit,
                sources=[(ids["World"], "w-1", "https://one.example/story")],
            )
        ]
    )
    res = store.store_articles(
        [
            article(
                "https://two.example/syndicated",
                fingerprint="fp-1",
                hits=hit,
                sources=[(ids["Regional"], "r-1", "https://two.example/syndicated")],
            )
        ]
    )
    assert res.articles_new == 0 and res.articles_merged == 1 and res.hits_new == 0
    (a,) = rows(store, Article)
    assert a.canonical_url == "https://one.example/story"
    assert {(s.feed_id, s.link) for s, _ in store.article_sources(a.id)} == {
        (ids["World"], "https://one.example/story"),
        (ids["Regional"], "https://two.example/syndicated"),
    }
    assert len(rows(store, Hit)) == 1


def test_fingerprint_of_a_fallback_summary_does_not_merge(store: Store) -> None:
    ids = feed_ids(store)
    store.store_articles(
        [article("https://one.example/a", fingerprint="fp-x", sources=[(ids["World"], "w-1", "l")])]
    )
    res = store.store_articles(
        [
            article(
                "https://one.example/b",
                fingerprint="fp-x",
                extraction="summary",
                sources=[(ids["World"], "w-2", "l")],
            )
        ]
    )
    assert res.articles_new == 1
    assert len(rows(store, Article)) == 2


def test_known_entry_keys_and_articles(store: Store) -> None:
    ids = feed_ids(store)
    store.store_articles([article("https://n.example/a", sources=[(ids["World"], "k1", "l")])])
    assert store.known_entry_keys(ids["World"], ["k1", "k2"]) == {"k1"}
    assert store.known_entry_keys(ids["Regional"], ["k1"]) == set()
    known = store.known_articles(["https://n.example/a", "https://n.example/zz"])
    assert list(known) == ["https://n.example/a"]
    assert store.add_sources([(known["https://n.example/a"], ids["Sport"], "s1", "l")]) == 1
    assert store.add_sources([(known["https://n.example/a"], ids["Sport"], "s1", "l")]) == 0


def test_labels_and_filters(store: Store) -> None:
    ids = feed_ids(store)
    src = ids["World"]
    store.store_articles(
        [
            article(
                "https://n.example/1",
                title="Iran and Azerbaijan thaw",
                text="Pezeshkian in Baku",
                sources=[(src, "1", "l")],
                hits=[("caucasus-realignment", 0.8, "v", {})],
            ),
            article(
                "https://n.example/2",
                title="Caspian gas deal",
                text="SOCAR signs contract",
                sources=[(src, "2", "l")],
                hits=[("caspian-energy", 0.4, "v", {})],
            ),
            article(
                "https://n.example/3",
                title="Fordow enrichment",
                text="IAEA report on Iran",
                sources=[(src, "3", "l")],
                hits=[("iran-nuclear", 0.5, "v", {})],
            ),
        ]
    )
    by_topic = {h.topic_id: h for h, _ in store.hits()}
    assert len(by_topic) == 3
    marked = store.mark_hit(by_topic["caucasus-realignment"].id, "relevant", "good catch")
    assert marked.label == "relevant" and marked.labeled_at is not None
    store.mark_hit(by_topic["caspian-energy"].id, "irrelevant")

    def topics(**kw: Any) -> set[str]:
        return {h.topic_id for h, _ in store.hits(**kw)}

    assert topics(label="unreviewed") == {"iran-nuclear"}
    assert topics(label="relevant") == {"caucasus-realignment"}
    assert topics(label="irrelevant") == {"caspian-energy"}
    assert topics(topic="iran-nuclear") == {"iran-nuclear"}
    assert topics(min_score=0.5) == {"caucasus-realignment", "iran-nuclear"}
    # search looks in title and text, case-insensitively
    assert topics(search="baku") == {"caucasus-realignment"}
    assert topics(search="CASPIAN") == {"caspian-energy"}
    assert topics(search="iran") == {"caucasus-realignment", "iran-nuclear"}
    assert topics(search="nothing like this") == set()
    assert len(store.hits(limit=2)) == 2
    assert len(store.hits(limit=2, offset=2)) == 1
    # clearing a label makes the hit unreviewed again
    cleared = store.mark_hit(by_topic["caspian-energy"].id, None)
    assert cleared.labeled_at is None
    assert topics(label="unreviewed") == {"iran-nuclear", "caspian-energy"}
    h, a = store.hit(by_topic["caucasus-realignment"].id)
    assert h.label_note == "good catch" and a.title == "Iran and Azerbaijan thaw"


def test_not_found(store: Store) -> None:
    for call in (
        lambda: store.hit(999),
        lambda: store.article(999),
        lambda: store.feed(999),
        lambda: store.mark_hit(999, "relevant"),
    ):
        with pytest.raises(NotFound):
            call()


def test_prune_text_keeps_articles_with_hits(store: Store) -> None:
    ids = feed_ids(store)
    store.store_articles(
        [
            article(
                "https://n.example/hit",
                sources=[(ids["World"], "1", "l")],
                hits=[("caucasus-realignment", 0.8, "v", {})],
            ),
            article("https://n.example/miss", sources=[(ids["World"], "2", "l")]),
        ]
    )
    assert store.prune_text(30) == 0  # nothing old yet
    assert store.prune_text(30, now=utcnow() + timedelta(days=31)) == 1
    texts = {a.url: a.text for a in rows(store, Article)}
    assert texts == {"https://n.example/hit": "Body text.", "https://n.example/miss": None}


def test_prune_text_since_reads_only_what_aged_past_an_earlier_cutoff(store: Store) -> None:
    ids = feed_ids(store)
    store.store_articles([article("https://n.example/old", sources=[(ids["World"], "1", "l")])])
    later = utcnow() + timedelta(days=31)
    # an earlier prune's cutoff after the article was first seen: it is not read again
    assert store.prune_text(30, now=later, since=utcnow() + timedelta(hours=1)) == 0
    assert rows(store, Article)[0].text == "Body text."
    assert store.prune_text(30, now=later, since=utcnow() - timedelta(hours=1)) == 1
    assert rows(store, Article)[0].text is None


# --- feeds and leases ------------------------------------------------------------------


def test_sync_feeds_follows_the_config(store: Store) -> None:
    assert [f.url for f in store.feeds()] == [f.url for f in FEEDS]
    store.sync_feeds([FEEDS[0], FeedConfig(url=FEEDS[1].url, name="Renamed")])
    by_url = {f.url: f for f in store.feeds()}
    assert by_url[FEEDS[1].url].name == "Renamed"
    assert by_url[FEEDS[2].url].enabled is False  # removed from the config: kept, disabled
    assert {f.url for f in store.claim_due_feeds("a", now=T0)} == {FEEDS[0].url, FEEDS[1].url}


def test_claim_due_feeds_leases(db_url: str, store: Store) -> None:
    other = Store(db_url)  # a second process's connection to the same file
    try:
        got = store.claim_due_feeds("run-a", now=T0, lease=timedelta(minutes=10))
        assert len(got) == 3 and all(f.lease_owner == "run-a" for f in got)
        assert other.claim_due_feeds("run-b", now=T0 + timedelta(minutes=5)) == []
        assert other.claim_due_feeds("run-b", now=T0 + timedelta(minutes=5), force=True) == []
        late = other.claim_due_feeds("run-b", now=T0 + timedelta(minutes=11))
        assert len(late) == 3 and all(f.lease_owner == "run-b" for f in late)
    finally:
        other.close()


def test_concurrent_claims_never_overlap(db_url: str, store: Store) -> None:
    store.sync_feeds([FeedConfig(url=f"https://many.example/{i}.xml") for i in range(40)])
    stores = [Store(db_url, create=False) for _ in range(4)]
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(len(stores))

    def claim(i: int) -> None:
        barrier.wait()
        mine: list[int] = []
        while batch := stores[i].claim_due_feeds(f"w{i}", now=T0, limit=3):
            mine += [f.id or 0 for f in batch]
        claimed[f"w{i}"] = mine

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in stores:
        s.close()
    all_ids = [i for ids in claimed.values() for i in ids]
    assert len(claimed) == 4
    assert len(all_ids) == len(set(all_ids)) == 40  # every enabled feed once, by one worker


def test_save_feeds_records_health_and_releases(db_url: str, store: Store) -> None:
    got = {f.url: f for f in store.claim_due_feeds("run-a", now=T0)}
    ok, broken, later = (got[f.url] for f in FEEDS)
    ok.etag, ok.last_outcome, ok.last_status = '"abc"', "ok", 200
    ok.entries_total, ok.next_poll_at = 5, T0 - timedelta(minutes=1)  # due again at once
    broken.last_outcome, broken.last_error, broken.consecutive_failures = "error", "HTTP 500", 1
    broken.next_poll_at = T0 + timedelta(minutes=30)
    later.next_poll_at = T0 + timedelta(hours=1)
    store.save_feeds([ok, broken, later])
    rows_ = {f.url: f for f in store.feeds()}
    assert all(f.lease_owner is None and f.lease_until is None for f in rows_.values())
    assert rows_[ok.url].etag == '"abc"' and rows_[ok.url].entries_total == 5
    assert rows_[broken.url].last_error == "HTTP 500"
    assert rows_[broken.url].consecutive_failures == 1
    # released, but only the feed that is due is handed out
    other = Store(db_url)
    try:
        assert [
            f.url for f in other.claim_due_feeds("run-b", now=T0, lease=timedelta(hours=3))
        ] == [ok.url]
        assert {f.url for f in other.claim_due_feeds("run-c", now=T0 + timedelta(hours=2))} == {
            broken.url,
            later.url,
        }
    finally:
        other.close()
    # entries_total accumulates over polls
    ok2 = store.feed(rows_[ok.url].id or 0)
    ok2.entries_total = 2
    store.save_feed(ok2)
    assert store.feed(ok2.id or 0).entries_total == 7


def test_save_feeds_writes_alike_feeds_together_and_skips_a_lost_lease(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Feeds whose poll changed the same things alike (an idle cycle: checked now, due
    again in an interval) are written by one statement, not one each; a member whose
    lease another run holds now is left alone and named, the others are written."""
    from sqlalchemy import event, update

    from monitor.store import Feed

    got = {f.url: f for f in store.claim_due_feeds("run-a", now=T0)}
    taken = got[FEEDS[1].url]
    with store.session(write=True) as s:  # run-b took it over meanwhile
        s.execute(update(Feed).where(col(Feed.id) == taken.id).values(lease_owner="run-b"))
    for f in got.values():
        f.last_polled_at = f.last_success_at = T0
        f.last_status, f.last_outcome, f.entries_total = 304, "not_modified", 0
        f.next_poll_at = T0 + timedelta(minutes=30)
    updates: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *a: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with caplog.at_level("WARNING", logger="monitor.store"):
            store.save_feeds(list(got.values()))
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert len(updates) == 1
    rows_ = {f.url: f for f in store.feeds()}
    for url, f in got.items():
        row = rows_[url]
        if f is taken:
            assert row.lease_owner == "run-b" and row.last_status is None
        else:
            assert row.lease_owner is None and row.last_status == 304
            assert row.next_poll_at == T0 + timedelta(minutes=30)
    assert [r.getMessage() for r in caplog.records] == [
        f"feed {taken.url}: lease lost to another run while polling; not saving this poll"
    ]


def test_save_feeds_writes_only_what_the_poll_changed(store: Store) -> None:
    """A column the poll left alone is not written back with the value read at the claim:
    a change made to it meanwhile (here: by hand) stands. A feed made in memory rather
    than read from the store has all of its poll state written."""
    from sqlalchemy import update

    from monitor.store import Feed

    got = {f.url: f for f in store.claim_due_feeds("run-a", now=T0)}
    polled = got[FEEDS[0].url]
    with store.session(write=True) as s:
        s.execute(update(Feed).where(col(Feed.id) == polled.id).values(title="Renamed"))
    polled.next_poll_at = T0 + timedelta(minutes=30)
    store.save_feeds([polled])
    row = store.feed(polled.id or 0)
    assert row.title == "Renamed" and row.next_poll_at == T0 + timedelta(minutes=30)
    made = Feed(id=got[FEEDS[2].url].id, url=FEEDS[2].url, lease_owner="run-a", title="Made")
    made.next_poll_at, made.last_status, made.entries_total = T0, 200, 0
    store.save_feeds([made])
    row = store.feed(made.id or 0)
    assert (row.title, row.last_status, row.lease_owner) == ("Made", 200, None)


def test_save_feeds_twice_writes_what_changed_since(store: Store) -> None:
    """The same object saved again writes what changed since the first save, even a
    value set back to the one first read (a feed saved without a lease)."""
    again = store.feeds()[1]
    again.etag, again.consecutive_failures, again.entries_total = '"v1"', 5, 0
    store.save_feeds([again])
    assert (store.feed(again.id or 0).etag, store.feed(again.id or 0).consecutive_failures) == (
        '"v1"',
        5,
    )
    again.etag, again.consecutive_failures = None, 0
    store.save_feeds([again])
    row = store.feed(again.id or 0)
    assert (row.etag, row.consecutive_failures) == (None, 0)


def test_save_feeds_adds_the_entries_a_poll_found_once(store: Store) -> None:
    """``entries_total`` set by a poll is what it found, added to the stored total once;
    a feed read and saved without a poll (a fix by hand) adds nothing, although its
    ``entries_total`` holds the stored total."""
    feed = store.feeds()[0]
    feed.entries_total = 4  # a poll found four
    store.save_feeds([feed])
    store.save_feeds([feed])  # saved again: nothing new found since
    assert store.feed(feed.id or 0).entries_total == 4
    fixed = store.feed(feed.id or 0)
    fixed.consecutive_failures = 0
    store.save_feed(fixed)
    assert store.feed(feed.id or 0).entries_total == 4


def test_release_feeds_only_releases_the_owners_leases(store: Store) -> None:
    got = store.claim_due_feeds("run-a", now=T0)
    store.release_feeds([f.id or 0 for f in got], owner="someone-else")
    assert all(f.lease_owner == "run-a" for f in store.feeds())
    store.release_feeds([f.id or 0 for f in got], owner="run-a")
    assert all(f.lease_owner is None for f in store.feeds())
    assert len(store.claim_due_feeds("run-b", now=T0)) == 3


# --- the outbox -------------------------------------------------------------------------


@pytest.fixture
def outbox(store: Store) -> list[int]:
    ids = feed_ids(store)
    store.store_articles(
        [
            article(
                f"https://n.example/{i}",
                sources=[(ids["World"], str(i), "l")],
                hits=[("caucasus-realignment", 0.8, "v", {})],
            )
            for i in range(2)
        ],
        outbox_rows([("desk", "json://127.0.0.1:1/hook")]),
    )
    return sorted(d.id or 0 for d in store.deliveries())


def status(store: Store) -> dict[int, str]:
    return {d.id or 0: d.status for d in store.deliveries()}


def test_claim_and_finish_deliveries(store: Store, outbox: list[int]) -> None:
    a, b = outbox
    now = utcnow()
    claimed = store.claim_deliveries(mode="instant", now=now)
    assert [d.id for d, _, _ in claimed] == [a, b]
    d, h, art = claimed[0]
    assert h.id == d.hit_id and art.id == h.article_id
    assert status(store) == {a: "sending", b: "sending"}
    assert store.claim_deliveries(mode="instant", now=now) == []  # nobody sends twice
    assert store.claim_deliveries(mode="digest", now=now + timedelta(days=1)) == []

    store.finish_deliveries([a], ok=True)
    retry_at = now + timedelta(minutes=5)
    store.finish_deliveries([b], ok=False, error="HTTP 500", retry_at=retry_at)
    by_id = {x.id: x for x in store.deliveries()}
    assert by_id[a].status == "sent" and by_id[a].sent_at is not None
    assert by_id[a].attempts == 1 and by_id[a].last_error is None
    assert by_id[b].status == "failed" and by_id[b].last_error == "HTTP 500"
    assert by_id[b].next_attempt_at == retry_at and by_id[b].attempts == 1

    # a failed row is due again only at its retry time; a sent one never
    assert store.claim_deliveries(mode="instant", now=now + timedelta(minutes=4)) == []
    again = store.claim_deliveries(mode="instant", now=now + timedelta(minutes=6))
    assert [d.id for d, _, _ in again] == [b]
    store.finish_deliveries(
        [b], ok=False, error="still down", dead=True, retry_at=now + timedelta(minutes=20)
    )
    assert status(store) == {a: "sent", b: "dead"}
    assert store.claim_deliveries(mode="instant", now=now + timedelta(days=30)) == []
    assert [x.id for x in store.deliveries(status="dead")] == [b]
    assert {x.attempts for x in store.deliveries()} == {1, 2}


def test_stale_sending_row_is_claimed_again(store: Store, outbox: list[int]) -> None:
    now = utcnow()
    assert len(store.claim_deliveries(mode="instant", now=now)) == 2
    # the run crashed: after stale_after the rows are due again, never lost
    assert store.claim_deliveries(mode="instant", now=now + timedelta(minutes=14)) == []
    assert len(store.claim_deliveries(mode="instant", now=now + timedelta(minutes=16))) == 2


def test_claim_deliveries_by_route(store: Store, outbox: list[int]) -> None:
    assert store.claim_deliveries(mode="instant", routes=["mail"]) == []
    assert len(store.claim_deliveries(mode="instant", routes=["desk"])) == 2


def test_secret_urls_are_not_stored(store: Store) -> None:
    ids = feed_ids(store)
    secret = "tgram://123456:SECRET-TOKEN/999"
    store.store_articles(
        [
            article(
                "https://n.example/s",
                sources=[(ids["World"], "s", "l")],
                hits=[("t", 0.9, "v", {})],
            )
        ],
        lambda *_: [
            dict(
                route="chat",
                target=target_key(secret),
                target_display="tgram://****/999",
                mode="instant",
                status="pending",
                attempts=0,
            )
        ],
    )
    raw = Path(store.url.removeprefix("sqlite:///")).read_bytes()
    wal = Path(store.url.removeprefix("sqlite:///") + "-wal")
    blob = raw + (wal.read_bytes() if wal.exists() else b"")
    assert b"SECRET-TOKEN" not in blob
    assert target_key(secret).encode() in blob


def test_save_feeds_leaves_a_feed_another_worker_took_over(db_url: str, store: Store) -> None:
    """A slow worker whose lease ran out must not overwrite the new holder's poll."""
    mine = {f.url: f for f in store.claim_due_feeds("run-a", now=T0, lease=timedelta(minutes=1))}
    other = Store(db_url)
    try:
        theirs = {f.url: f for f in other.claim_due_feeds("run-b", now=T0 + timedelta(minutes=5))}
        assert set(theirs) == set(mine)  # run-a's leases ran out; run-b took every feed
        stale = mine[FEEDS[0].url]
        stale.etag, stale.last_outcome = '"stale"', "ok"
        store.save_feeds([stale])
        row = next(f for f in other.feeds() if f.url == stale.url)
        assert row.lease_owner == "run-b" and row.etag != '"stale"'
        fresh = theirs[FEEDS[0].url]
        fresh.etag = '"fresh"'
        other.save_feeds([fresh])
        row = next(f for f in other.feeds() if f.url == stale.url)
        assert row.lease_owner is None and row.etag == '"fresh"'
    finally:
        other.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_save_feeds_after_a_takeover_never_overwrites_the_new_holders_poll(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """Run A's lease runs out mid-cycle; run B takes the feeds over, polls and saves
    (releasing them); then A, late, saves its stale poll: nothing of it may land."""
    url = (
        request.getfixturevalue("pg_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'two-runs.db'}"
    )
    a, b = Store(url), Store(url)
    try:
        a.sync_feeds(FEEDS)
        mine = {f.url: f for f in a.claim_due_feeds("run-a", now=T0, lease=timedelta(minutes=1))}
        theirs = {f.url: f for f in b.claim_due_feeds("run-b", now=T0 + timedelta(minutes=5))}
        assert set(theirs) == set(mine)  # A's leases expired: B took every feed
        for f in theirs.values():
            f.etag, f.last_outcome, f.entries_total = '"fresh"', "ok", 3
            f.next_poll_at = T0 + timedelta(minutes=35)
        b.save_feeds(list(theirs.values()))
        for f in mine.values():
            f.etag, f.last_outcome, f.last_error, f.entries_total = '"stale"', "error", "x", 9
            f.next_poll_at = T0 + timedelta(minutes=2)
        a.save_feeds(list(mine.values()))  # too late
        rows_ = {f.url: f for f in b.feeds()}
        for u in mine:
            r = rows_[u]
            assert (r.etag, r.last_outcome, r.last_error) == ('"fresh"', "ok", None)
            assert r.entries_total == 3 and r.next_poll_at == T0 + timedelta(minutes=35)
            assert r.lease_owner is None
        # and a lease that expired but nobody took is still the run's to write
        again = a.claim_due_feeds("run-c", now=T0 + timedelta(hours=1), lease=timedelta(minutes=1))
        assert again
        for f in again:
            f.etag = '"late-but-still-mine"'
        a.save_feeds(again)
        assert {f.etag for f in a.feeds() if f.url in {g.url for g in again}} == {
            '"late-but-still-mine"'
        }
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://newsmon:s3cret@db:5432/newsmon",
        "postgresql+psycopg://u:p%40ss@h/d",
        "postgresql://u:p@ss@h/d",
        "postgresql://u@h/d",
        "postgresql://h:5432/d?x=a@b",
        "sqlite:////tmp/x.db",
        "sqlite://u:pw@//tmp/x.db",
        "postgresql://:only@h/d",
        "not a url",
    ],
)
def test_the_config_reads_a_database_password_as_the_store_does(url: str) -> None:
    """The config masks a database password without SQLAlchemy (only the store speaks
    SQL): its reading must be SQLAlchemy's, or a password could escape the masking."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from monitor.config.secrets import db_password

    try:
        expected = make_url(url).password
    except ArgumentError:
        expected = None
    assert db_password(url) == (str(expected) if expected else None)
