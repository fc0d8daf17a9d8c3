"""The review desk's queries in monitor.store: full-text search (SQLite FTS5 and
PostgreSQL tsvector), filters, keyset paging, counts per day and per label.

Each test that can runs on both SQLite and a throwaway PostgreSQL (skipped locally
when PostgreSQL is not installed; a failure in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, literal_column, select, text
from sqlmodel import select as sm_select

from monitor.alerts.routes import target_key
from monitor.config import FeedConfig
from monitor.errors import NotFound
from monitor.store import Article, Hit, HitFilter, NewArticle, Store
from monitor.store.search import FTS_TABLE, parse_search, pg_search_document

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
FEEDS = [FeedConfig(url=f"https://feeds.example/{n}.xml", name=n) for n in ("world", "wire")]
EV = {"score": 0.5, "sentences": [{"text": "x"}]}

# (key, title, text, language, feed, topic, score, days before T0)
ROWS = [
    (
        "thaw",
        "Iran and Azerbaijan signal a thaw",
        "Pezeshkian visits Baku. The North-South Transport Corridor is on the agenda.",
        "en",
        "world",
        "caucasus",
        0.72,
        0,
    ),
    (
        "pipeline",
        "Shah Deniz gas flows rise",
        "SOCAR says the Southern Gas Corridor carried more natural gas.",
        "en",
        "wire",
        "energy",
        0.55,
        1,
    ),
    (
        "russian",
        "Поставки газа по TANAP выросли",
        "Газопровод работает на полную мощность.",
        "ru",
        "wire",
        "energy",
        0.61,
        2,
    ),
    (
        "german",
        "Iran: Inspektoren in Natanz",
        "Die Anreicherung geht weiter; Gespräche über das Atomabkommen.",
        "de",
        "world",
        "nuclear",
        0.91,
        3,
    ),
    (
        "accents",
        "Café talks in Tbilisi",
        "Résumé of the Erdoğan visit.",
        "en",
        "world",
        "caucasus",
        0.40,
        4,
    ),
]


def _article(
    key: str, title: str, body: str, lang: str, feed_id: int, topic: str, score: float
) -> NewArticle:
    url = f"https://news.example/{key}"
    return NewArticle(
        canonical_url=url,
        url=url,
        guid=key,
        title=title,
        summary="",
        text=body,
        author=None,
        published_at=T0,
        published_source="feed",
        language=lang,
        fingerprint=None,
        extraction="ok",
        extraction_error=None,
        sources=[(feed_id, key, url)],
        hits=[(topic, score, "v1", EV)],
    )


def fill(store: Store) -> dict[str, int]:
    """Store ROWS through store_articles; spread the hits over days; return hit ids."""
    store.sync_feeds(FEEDS)
    feeds = {f.name: f.id for f in store.feeds()}
    out = {}
    for key, title, body, lang, feed, topic, score, days in ROWS:
        batch = store.store_articles(
            [_article(key, title, body, lang, feeds[feed] or 0, topic, score)]
        )
        hid = (batch.hit_ids or [0])[0]
        out[key] = hid
        with store.session(write=True) as s:
            h = s.get(Hit, hid)
            assert h is not None
            h.created_at = T0 - timedelta(days=days)
            s.add(h)
    return out


@pytest.fixture
def store(sqlite_or_pg_store: Store) -> Store:
    return sqlite_or_pg_store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'n.db'}")
    yield s
    s.close()


def keys(store: Store, ids: dict[str, int], **kw: Any) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[h.id or 0] for h, _ in store.find_hits(HitFilter(**kw), limit=100).rows]


def _folds_unicode(store: Store) -> bool:
    if store.dialect == "sqlite":
        return True
    with store.engine.connect() as c:
        return c.execute(text("SELECT lower('Ж')")).scalar() == "ж"


def test_parse_search_keeps_only_words() -> None:
    assert parse_search('Baku "North-South corridor" iran*') == [
        ["Baku"],
        ["North", "South", "corridor"],
        ["iran"],
    ]
    assert parse_search("AND OR NOT NEAR( ) : * ^ - \" ' ; --") == [
        ["AND"],
        ["OR"],
        ["NOT"],
        ["NEAR"],
    ]
    assert parse_search("") == [] and parse_search("   ") == [] and parse_search("_") == []
    assert parse_search("газопровод Erdoğan") == [["газопровод"], ["Erdoğan"]]


def test_search_words_prefixes_phrases_and_languages(store: Store) -> None:
    ids = fill(store)
    assert keys(store, ids, search="baku") == ["thaw"]
    assert keys(store, ids, search="Pezesh") == ["thaw"]  # a prefix
    assert keys(store, ids, search="iran") == ["thaw", "german"]  # title of both
    assert keys(store, ids, search='"north-south transport"') == ["thaw"]
    assert keys(store, ids, search='"transport north"') == []  # a phrase is in order
    assert keys(store, ids, search="gas corridor") == ["pipeline"]  # all words required
    assert keys(store, ids, search="Газопровод") == ["russian"]
    assert keys(store, ids, search="газа") == ["russian"]
    if _folds_unicode(store):  # PostgreSQL folds case as its LC_CTYPE says: C folds ASCII only
        assert keys(store, ids, search="ГАЗА") == ["russian"]
    assert keys(store, ids, search="nothing-like-this") == []


def test_search_syntax_from_the_user_is_inert(store: Store) -> None:
    ids = fill(store)
    for q in [
        '"',
        "*",
        "AND",
        "OR NOT",
        "title:baku",
        "baku) OR (1",
        "'; DROP TABLE hit; --",
        "NEAR(baku iran)",
        "a & b | !c",
        ":*",
        "<->",
        "\\",
        "%",
        "x" * 300,
    ]:
        store.find_hits(HitFilter(search=q))  # no syntax error from FTS5 or to_tsquery
        store.count_hits(HitFilter(search=q))
    assert keys(store, ids, search="baku) AND (iran") == ["thaw"]  # "and" is a word here
    assert keys(store, ids, search="baku OR nuclear") == []  # no "or" in the text: not OR
    assert store.count_hits() == len(ROWS)


def test_filters_combine(store: Store) -> None:
    ids = fill(store)
    feeds = {f.name: f.id for f in store.feeds()}
    store.mark_hit(ids["german"], "relevant")
    store.mark_hit(ids["pipeline"], "irrelevant", "not Caspian")
    assert keys(store, ids, topic="energy") == ["pipeline", "russian"]
    assert keys(store, ids, language="ru") == ["russian"]
    assert keys(store, ids, feed_id=feeds["world"]) == ["thaw", "german", "accents"]
    assert keys(store, ids, label="relevant") == ["german"]
    assert keys(store, ids, label="unreviewed") == ["thaw", "russian", "accents"]
    assert keys(store, ids, min_score=0.6) == ["thaw", "russian", "german"]
    assert keys(store, ids, min_score=0.6, max_score=0.8) == ["thaw", "russian"]
    assert keys(store, ids, since=T0 - timedelta(days=2, hours=1)) == [
        "thaw",
        "pipeline",
        "russian",
    ]
    assert keys(store, ids, until=T0 - timedelta(days=2, hours=1)) == ["german", "accents"]
    f = HitFilter(
        topic="energy", language="en", feed_id=feeds["wire"], search="gas", label="irrelevant"
    )
    assert keys(store, ids, **vars(f)) == ["pipeline"]
    assert store.count_hits(f) == 1
    assert store.count_hits(HitFilter(language="en")) == 3
    assert store.count_hits(HitFilter(search="iran", feed_id=feeds["world"])) == 2
    assert store.count_hits(HitFilter(language="en"), at_most=2) == 2  # stops counting
    assert store.count_hits(HitFilter(language="en"), at_most=9) == 3


def test_keyset_paging_visits_every_hit_once_in_order(store: Store) -> None:
    store.sync_feeds(FEEDS)
    fid = store.feeds()[0].id or 0
    # One batch: many hits share created_at, so the id must break the ties.
    store.store_articles(
        [
            _article(
                f"a{i}",
                f"Story {i}",
                "Baku text",
                "en",
                fid,
                "caucasus" if i % 3 else "energy",
                0.5,
            )
            for i in range(23)
        ]
    )
    with store.session() as s:
        expected = [
            h.id
            for h in s.exec(sm_select(Hit).order_by(Hit.created_at.desc(), Hit.id.desc())).all()
        ]  # type: ignore[union-attr]
    seen, before, pages = [], None, 0
    while True:
        page = store.find_hits(limit=5, before=before)
        pages += 1
        assert page.has_newer == (before is not None)
        seen += [h.id for h, _ in page.rows]
        if not page.has_older:
            break
        before = page.rows[-1][0].id
    assert seen == expected and pages == 5
    # And back again, newer pages from the oldest.
    back, after = [], expected[-1]
    while after is not None:
        page = store.find_hits(limit=5, after=after)
        back = [h.id for h, _ in page.rows] + back
        after = page.rows[0][0].id if page.has_newer else None
    assert back == expected[:-1]
    # Paging within a filter.
    topic = [h.id for h, _ in store.find_hits(HitFilter(topic="energy"), limit=100).rows]
    first = store.find_hits(HitFilter(topic="energy"), limit=3)
    second = store.find_hits(HitFilter(topic="energy"), limit=3, before=first.rows[-1][0].id)
    assert [h.id for h, _ in first.rows + second.rows] == topic[:6]
    with pytest.raises(NotFound):
        store.find_hits(before=999_999)
    # Neighbours for the hit page's newer/older links.
    assert store.hit_neighbours(None, expected[1]) == (expected[0], expected[2])
    assert store.hit_neighbours(None, expected[0]) == (None, expected[1])


def test_story_size_order_pages_every_hit_once(store: Store) -> None:
    from monitor.store import Story, StoryArticle

    store.sync_feeds(FEEDS)
    fid = store.feeds()[0].id or 0
    batch = store.store_articles(  # one batch: shared found times, the id breaks ties
        [
            _article(f"s{i}", f"Story {i}", "Baku text", "en", fid, "ab"[i % 2], 0.5)
            for i in range(23)
        ]
    )
    hits = {h.id: h for h, _ in store.find_hits(limit=100).rows}
    ids = sorted(hits)
    with store.session(write=True) as s:  # stories of 4, 4, 2, 1 (a merged-away one too)
        for sid, n, members in (("x", 4, ids[0:4]), ("y", 4, ids[10:14]), ("z", 2, ids[20:22])):
            s.add(Story(id=sid, n_articles=n))
            s.add_all(StoryArticle(article_id=hits[i].article_id, story_id=sid) for i in members)
        s.add(Story(id="gone", n_articles=9, merged_into="x"))
        s.add(Story(id="one", n_articles=1))
        s.add(StoryArticle(article_id=hits[ids[5]].article_id, story_id="one"))
    assert batch.hit_ids
    size = {i: 4 for i in ids[0:4] + ids[10:14]} | {i: 2 for i in ids[20:22]}
    expected = sorted(ids, key=lambda i: (size.get(i, 1), hits[i].created_at, i), reverse=True)
    seen, before = [], None
    while True:
        page = store.find_hits_by_story(limit=5, before=before)
        assert page.has_newer == (before is not None)
        seen += [h.id for h, _ in page.rows]
        if not page.has_older:
            break
        before = page.rows[-1][0].id
    assert seen == expected
    back, after = [], expected[-1]
    while after is not None:
        page = store.find_hits_by_story(limit=5, after=after)
        back = [h.id for h, _ in page.rows] + back
        after = page.rows[0][0].id if page.has_newer else None
    assert back == expected[:-1]
    topic_b = [i for i in expected if hits[i].topic_id == "b"]
    assert [h.id for h, _ in store.find_hits_by_story(HitFilter(topic="b"), limit=50).rows] == (
        topic_b
    )
    sizes = store.story_sizes([hits[i].article_id for i in (ids[0], ids[5], ids[7])])
    assert sizes == {hits[ids[0]].article_id: (4, 0), hits[ids[5]].article_id: (1, 0)}
    with pytest.raises(NotFound):
        store.find_hits_by_story(before=999_999)


def test_preferences_per_user(store: Store) -> None:
    assert store.preferences("ana") == {}
    store.set_preferences("ana", {"advance": False})
    store.set_preferences("ana", {"sort": "story"})
    assert store.preferences("ana") == {"advance": False, "sort": "story"}
    assert store.preferences("bob") == {}


def test_list_rows_do_not_load_the_text_unless_asked(store: Store) -> None:
    fill(store)
    row = store.find_hits(limit=1).rows[0][1]
    assert "text" not in row.__dict__  # deferred: a list page never reads 200 kB bodies
    assert store.find_hits(limit=1, with_text=True).rows[0][1].text


def test_counts_per_day_per_label_per_feed(store: Store) -> None:
    ids = fill(store)
    store.mark_hit(ids["thaw"], "relevant")
    store.mark_hit(ids["accents"], "irrelevant")
    per_day = store.hits_per_day(T0 - timedelta(days=3, hours=1))
    assert per_day == {
        "caucasus": {date(2025, 5, 1): 1},
        "energy": {date(2025, 4, 30): 1, date(2025, 4, 29): 1},
        "nuclear": {date(2025, 4, 28): 1},
    }
    assert store.hits_per_day(T0 - timedelta(days=9), topic="energy").keys() == {"energy"}
    counts = store.label_counts()
    assert {
        k: (v["hits"], v["relevant"], v["irrelevant"], v["unreviewed"]) for k, v in counts.items()
    } == {"caucasus": (2, 1, 1, 0), "energy": (2, 0, 0, 2), "nuclear": (1, 0, 0, 1)}
    assert counts["caucasus"]["last_labeled_at"].tzinfo is not None
    assert store.labels_since(None) == {"caucasus": 2}
    assert store.labels_since(datetime.now(UTC) + timedelta(hours=1)) == {}
    feeds = {f.name: f.id for f in store.feeds()}
    assert store.feed_counts() == {feeds["world"]: (3, 3), feeds["wire"]: (2, 2)}
    assert store.hit_topics() == ["caucasus", "energy", "nuclear"]
    assert store.article_languages() == ["de", "en", "ru"]
    by_article = store.feeds_of_articles([a.id or 0 for _, a in store.find_hits().rows])
    assert all(len(v) == 1 for v in by_article.values()) and len(by_article) == 5


def test_outbox_and_delivery_counts(store: Store) -> None:
    ids = fill(store)
    now = datetime.now(UTC)
    store.enqueue_deliveries(
        [
            dict(
                hit_id=ids[k],
                route="r",
                target=target_key(k),
                target_display=f"json://x/{k}",
                mode="instant",
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
            for k in ("thaw", "german")
        ]
    )
    d = store.outbox()
    assert [h.id for _, h, _ in d] == [ids["german"], ids["thaw"]]  # newest delivery first
    store.finish_deliveries([d[0][0].id or 0], ok=False, error="boom", dead=True)
    assert store.delivery_counts() == {"pending": 1, "dead": 1}
    assert [x.last_error for x, _, _ in store.outbox("dead")] == ["boom"]
    assert store.outbox(before=d[0][0].id)[0][0].id == d[1][0].id


# --- SQLite: the FTS5 index follows every write ------------------------------------------


def fts_ids(store: Store, q: str) -> list[int]:
    with store.engine.connect() as c:
        return [
            r[0]
            for r in c.exec_driver_sql(
                f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?", (q,)
            )
        ]


def test_store_articles_indexes_new_articles_and_prune_updates_them(sqlite_store: Store) -> None:
    store = sqlite_store
    ids = fill(store)
    art = store.hit(ids["pipeline"])[1].id
    assert fts_ids(store, "socar") == [art]
    # A second store of the same story (another feed entry) adds nothing to the index.
    store.store_articles(
        [
            _article(
                "pipeline",
                "Shah Deniz gas flows rise",
                "SOCAR",
                "en",
                store.feeds()[0].id or 0,
                "energy",
                0.5,
            )
        ]
    )
    assert fts_ids(store, "socar") == [art]
    # An article that is not a hit loses its text after N days: the index follows.
    url = "https://news.example/old"
    store.store_articles(
        [
            NewArticle(
                canonical_url=url,
                url=url,
                guid=None,
                title="Old market report",
                summary="",
                text="Wheat prices in Odessa",
                author=None,
                published_at=T0,
                published_source="feed",
                language="en",
                fingerprint=None,
                extraction="ok",
                extraction_error=None,
                sources=[],
                hits=[],
            )
        ]
    )
    assert len(fts_ids(store, "odessa")) == 1
    assert store.prune_text(0, now=datetime.now(UTC) + timedelta(days=1)) == 1
    assert fts_ids(store, "odessa") == [] and len(fts_ids(store, "market")) == 1
    with store.engine.connect() as c:  # the index is consistent with its table
        c.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('integrity-check')")


def test_ensure_indexes_indexes_a_database_made_before_search(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    ids = fill(store)
    with store.engine.begin() as c:  # what a database from before the desk looks like
        for trig in ("ai", "ad", "au"):
            c.exec_driver_sql(f"DROP TRIGGER {FTS_TABLE}_{trig}")
        c.exec_driver_sql(f"DROP TABLE {FTS_TABLE}")
        c.exec_driver_sql("DROP INDEX ix_hit_topic_recent")
    store.close()
    store = Store(url)  # opening it does not change it...
    with store.engine.connect() as c:
        assert (
            c.exec_driver_sql(f"SELECT 1 FROM sqlite_master WHERE name='{FTS_TABLE}'").first()
            is None
        )
    store.ensure_indexes()  # ...the desk's start does, once
    store.ensure_indexes()
    assert keys(store, ids, search="baku") == ["thaw"]
    with store.engine.connect() as c:
        names = {r[0] for r in c.exec_driver_sql("SELECT name FROM sqlite_master")}
    assert {"ix_hit_topic_recent", f"{FTS_TABLE}_ai", f"{FTS_TABLE}_au"} <= names
    fill_more = _article(
        "late", "Late news from Baku", "x", "en", store.feeds()[0].id or 0, "caucasus", 0.5
    )
    store.store_articles([fill_more])
    assert len(store.find_hits(HitFilter(search="baku")).rows) == 2


def test_sqlite_list_query_walks_an_index_not_the_table(sqlite_store: Store) -> None:
    store = sqlite_store
    fill(store)
    with store.engine.connect() as c:
        plan = " ".join(
            r[3]
            for r in c.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM hit WHERE topic_id = 'energy' AND created_at <= "
                "'2025-05-01' ORDER BY created_at DESC, id DESC LIMIT 50"
            )
        )
    assert "ix_hit_topic_recent" in plan and "TEMP B-TREE" not in plan


# --- PostgreSQL: the GIN index --------------------------------------------------------------


def test_postgres_search_can_use_the_gin_index(pg_url: str) -> None:
    store = Store(pg_url)
    try:
        ids = fill(store)
        with store.engine.begin() as c:  # what a database from before the desk looks like
            c.execute(text("ALTER TABLE article DROP COLUMN search_document"))
        store.close()
        store = Store(pg_url)
        store.ensure_indexes()  # adds the column, fills it, indexes it
        assert keys(store, ids, search='"north-south transport"') == ["thaw"]
        late = _article(
            "late", "Late news from Baku", "x", "en", store.feeds()[0].id or 0, "caucasus", 0.5
        )
        store.store_articles([late])  # the generated column follows new rows
        assert len(store.find_hits(HitFilter(search="baku")).rows) == 2
        q = select(Article.id).where(
            pg_search_document().op("@@")(  # type: ignore[arg-type]
                func.to_tsquery(literal_column("'simple'::regconfig"), "baku:*")
            )
        )
        sql = str(q.compile(store.engine, compile_kwargs={"literal_binds": True}))
        with store.engine.connect() as c:
            c.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(r[0] for r in c.execute(text("EXPLAIN " + sql)))
        assert "ix_article_search" in plan, plan
        store.ensure_indexes()  # idempotent on PostgreSQL too
    finally:
        store.close()
