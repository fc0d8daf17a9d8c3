"""A near-miss rescan racing a page read on retry, or a hit made meanwhile: the rescan
scores a snapshot for minutes, so what changed since must win - no inbox row left from
the summary it scored, no row beside a hit. On SQLite and PostgreSQL, with the committed
topic's real decisions; then the two at the same moment on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from monitor.config import load_config
from monitor.pipeline.articles import found_near_misses, new_article
from monitor.pipeline.jobs import SummaryVerdict, scores
from monitor.pipeline.pages import Candidate, PageFailure
from monitor.store import FoundNearMiss, NearMiss, RecoveredPage, Store
from monitor.topics.match import Classifier
from monitor.topics.review import rescan_near_misses
from tests.test_nearmiss_hits import ROUNDS, _article, _at_once, _via_add_hits

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "caucasus-realignment"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# A feed summary that is a near miss of the topic (Baku and Iran, no relation) ...
TITLE = "Baku marathon draws record crowd"
SUMMARY = "Runners from Iran and Turkey joined the Baku marathon on Sunday."
# ... and what its page says once it can be read, three ways.
PAGES = {
    "hit": "Azerbaijan and Iran signed an agreement on the Aras transit corridor, bypassing "
    "Armenia's Syunik province; Israel watches the rapprochement of Baku and Tehran.",
    "nothing": "The race started at the seaside boulevard; the winner ran 2:11:40 in the heat.",
}


@pytest.fixture(scope="module")
def topic() -> Any:
    return next(t for t in load_config(ROOT / "config").topics if t.id == TOPIC)


@pytest.fixture
def store(sqlite_or_pg_store: Store) -> Store:
    return sqlite_or_pg_store


def _stored_from_summary(store: Store, clf: Classifier) -> int:
    """An article as the pipeline stores it when its page gave a 429: its summary
    classified (a near miss kept), its page to be asked for again."""
    url = "https://news.example/marathon"
    verdict = SummaryVerdict(url, "en", scores(clf.classify(TITLE, SUMMARY, language="en")))
    c = Candidate(url, url, "marathon", TITLE, SUMMARY, T0, [])
    item = new_article(c, None, PageFailure("HTTP 429", 60.0), verdict)
    assert [n.topic for n in item.near_misses] == [TOPIC] and item.page_retry_in_s
    (aid,) = store.store_articles([item]).article_ids or []
    assert [r.article_id for r in store.page_retries()] == [aid]
    return aid


def _read_page(clf: Classifier, kind: str) -> RecoveredPage:
    """The page as the retry step makes it: its text classified."""
    results = scores(clf.classify(TITLE, PAGES[kind], language="en"))
    hits = [(r.topic, round(r.score, 4), r.version, r.evidence) for r in results if r.matched]
    return RecoveredPage(TITLE, PAGES[kind], None, "en", None, hits, found_near_misses(results))


def _rows(store: Store, aid: int) -> list[NearMiss]:
    with store.session() as s:
        return list(
            s.exec(select(NearMiss).where(NearMiss.article_id == aid, NearMiss.topic_id == TOPIC))
        )


@pytest.mark.parametrize("page", sorted(PAGES))
def test_a_page_read_while_a_rescan_scores_leaves_no_stale_row(
    store: Store, topic: Any, page: str
) -> None:
    clf = Classifier([topic], models={})
    aid = _stored_from_summary(store, clf)
    assert [n.reason for n in _rows(store, aid)] == ["close"]
    read = _read_page(clf, page)
    assert bool(read.hits) == (page == "hit") and not read.near_misses

    def page_read_meanwhile(done: int, total: int) -> None:
        if done == total:  # every article scored, nothing written yet: the page arrives
            assert store.page_recovered(aid, read) == len(read.hits)

    scan = rescan_near_misses(store, topic, classifier=clf, progress=page_read_meanwhile)
    assert scan.articles == 1 and scan.near_misses == 1  # it scored the summary
    # the page's verdict stands: no row from the summary, none beside the hit
    assert _rows(store, aid) == []
    assert store.near_misses(TOPIC, label=None) == []
    assert [h.article_id for h, _ in store.hits(topic=TOPIC)] == ([aid] if page == "hit" else [])
    # and the next rescan, on the page's text, agrees
    rescan_near_misses(store, topic, classifier=clf)
    assert _rows(store, aid) == []


def test_a_page_read_replaces_the_summary_near_miss(store: Store, topic: Any) -> None:
    """Without any rescan: the page's near misses replace the summary's; a label stays."""
    clf = Classifier([topic], models={})
    aid = _stored_from_summary(store, clf)
    assert store.page_recovered(aid, _read_page(clf, "nothing")) == 0
    assert _rows(store, aid) == []  # the summary's "close" went with the summary
    # the same with a label on it: the row stays for its label, no longer a near miss
    bid = store.store_articles([_article(50)]).article_ids or []
    store.mark_article(bid[0], TOPIC, "irrelevant", "a race", by="ana")
    page = RecoveredPage("t", "text", None, "en", None, [], [])
    store.page_recovered(bid[0], page)
    (row,) = _rows(store, bid[0])
    assert (row.label, row.reason) == ("irrelevant", "labelled")
    # a page that is a near miss itself: its score and evidence, not the summary's
    found = FoundNearMiss(TOPIC, 0.33, 0.35, "close", 0.94, "v9", {"text_from": "page"})
    store.page_recovered(bid[0], RecoveredPage("t", "text", None, "en", None, [], [found]))
    (row,) = _rows(store, bid[0])
    assert (row.label, row.reason, row.topic_version) == ("irrelevant", "close", "v9")


def test_a_hit_made_as_a_rescan_writes_keeps_no_near_miss(pg_url: str) -> None:
    store = Store(pg_url)
    aids = store.store_articles([_article(i, near=False) for i in range(ROUNDS)]).article_ids
    found = FoundNearMiss(TOPIC, 0.3, 0.35, "close", 0.9, "v3", {"score": 0.3})
    errors: list[BaseException] = []
    for aid in aids or []:
        # `topics test --store` makes it a hit while a rescan that scored it before
        # (no hit then) writes it as a near miss
        errors += _at_once(
            lambda a=aid: _via_add_hits(store, [a]),
            lambda a=aid: store.refresh_near_misses(TOPIC, [a], [(a, found)]),
        )
    assert errors == []
    assert {h.article_id for h, _ in store.hits(topic=TOPIC, limit=1000)} == set(aids or [])
    with store.session() as s:
        assert s.exec(select(NearMiss)).all() == []
    store.close()
