"""A near miss that becomes a hit, on every path that makes hits (the pipeline's batch, a
page read on retry, ``topics test --store``): the analyst's label moves onto the hit with
its author, and an article labelled "not a hit" is stored but never alerted. Labels given
at the same moment as a hit or a rescan are neither lost nor an error (real PostgreSQL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from monitor.alerts.routes import Route
from monitor.config import Config, load_config
from monitor.pipeline.stories_step import group_stories
from monitor.store import FoundNearMiss, NearMiss, NewArticle, Store
from monitor.store.labels import LabelChange
from monitor.store.people import LabelEvent
from monitor.store.retries import RecoveredPage
from monitor.topics.loop import change_warnings
from monitor.topics.review import Change, ChangeReport
from tests import test_topics_learn as learn

# the learning tests' database (pages and texts stored and classified as the pipeline does)
stored_items = learn.stored_items
world = learn.world

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "caucasus-realignment"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(sqlite_or_pg_store: Store) -> Store:
    return sqlite_or_pg_store


def _article(i: int, *, near: bool = True, hit: bool = False) -> NewArticle:
    url = f"https://news.example/{i}"
    return NewArticle(
        canonical_url=url,
        url=url,
        guid=str(i),
        title=f"Article {i}",
        summary="summary",
        text=None,
        author=None,
        published_at=datetime.now(UTC),  # news: routes push it (max article age)
        published_source="feed",
        language="en",
        fingerprint=None,
        extraction="failed",
        extraction_error="timeout",
        sources=[],
        hits=[(TOPIC, 0.9, "v2", {"score": 0.9})] if hit else [],
        near_misses=[FoundNearMiss(TOPIC, 0.3, 0.35, "rule passed", 1.5, "v1", {})] if near else [],
    )


def _one_target(topic: str, score: float, published: datetime | None) -> list[dict[str, Any]]:
    return [dict(route="r", target="t", target_display="t", status="pending", created_at=T0)]


def _via_add_hits(store: Store, aids: list[int]) -> None:
    store.add_hits([(a, TOPIC, 0.9, "v2", {"score": 0.9}) for a in aids], _one_target)


def _via_page_retry(store: Store, aids: list[int]) -> None:
    for a in aids:
        page = RecoveredPage("t", "the full text", None, "en", None, [(TOPIC, 0.9, "v2", {})])
        assert store.page_recovered(a, page, _one_target) == 1


def _via_a_later_report(store: Store, aids: list[int]) -> None:
    # the same story seen again (same URL, another feed): merged, and now a hit
    b = store.store_articles([_article(a - 1, near=False, hit=True) for a in aids], _one_target)
    assert b.articles_merged == len(aids) and b.hits_new == len(aids)


PATHS: dict[str, Callable[[Store, list[int]], None]] = {
    "add_hits": _via_add_hits,
    "page_recovered": _via_page_retry,
    "store_articles": _via_a_later_report,
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_labelled_near_miss_becomes_the_hit(store: Store, path: str) -> None:
    b = store.store_articles([_article(i) for i in range(3)])
    no, yes, unlabelled = b.article_ids or []
    assert [no, yes, unlabelled] == [1, 2, 3]  # _via_a_later_report relies on it
    store.mark_article(no, TOPIC, "irrelevant", "a marathon, no relation", by="ana")
    store.mark_article(yes, TOPIC, "relevant", "the relation is in the lede", by="bo")

    PATHS[path](store, [no, yes, unlabelled])

    hits = {h.article_id: h for h, _ in store.hits(topic=TOPIC)}
    assert set(hits) == {no, yes, unlabelled}
    h_no, h_yes = hits[no], hits[yes]
    assert (h_no.label, h_no.label_note) == ("irrelevant", "a marathon, no relation")
    assert (h_yes.label, h_yes.label_note) == ("relevant", "the relation is in the lede")
    assert h_no.labeled_at is not None and hits[unlabelled].label is None
    # "not a hit": stored with the label, never alerted; the others alerted once
    assert store.deliveries_for_hit(h_no.id or 0) == []
    assert len(store.deliveries_for_hit(h_yes.id or 0)) == 1
    assert len(store.deliveries_for_hit(hits[unlabelled].id or 0)) == 1
    # the label's author and its move are in the audit
    with store.session() as s:
        events = {e.hit_id: e for e in s.exec(select(LabelEvent)).all()}
        left = s.exec(select(NearMiss)).all()
    assert (events[h_no.id].user_name, events[h_no.id].label) == ("ana", "irrelevant")
    assert (events[h_yes.id].user_name, events[h_yes.id].note) == (
        "bo",
        "the relation is in the lede",
    )
    # no longer near misses anywhere: inbox, counts, the desk's article view
    assert left == [] and store.near_misses(TOPIC, label=None) == []
    assert store.near_miss_counts().get(TOPIC, {}).get("irrelevant", 0) == 0
    assert store.article_reviews([no, yes])[1] == {}
    assert store.topic_labels(TOPIC) == {no: "irrelevant", yes: "relevant"}


def test_counts_leave_out_a_near_miss_row_whose_article_is_a_hit(store: Store) -> None:
    # a row left behind by a hit made before near misses moved (or by hand)
    (aid,) = store.store_articles([_article(7)]).article_ids or []
    store.mark_article(aid, TOPIC, "irrelevant", by="ana")
    with store.session(write=True) as s:
        from monitor.store.models import Hit

        s.add(Hit(article_id=aid, topic_id=TOPIC, score=0.9, topic_version="v", created_at=T0))
    assert store.near_miss_counts().get(TOPIC, {}).get("irrelevant", 0) == 0


def test_the_stories_step_does_not_alert_a_hit_labelled_not_a_hit(store: Store) -> None:
    b = store.store_articles([_article(0), _article(1)])
    no, yes = b.article_ids or []
    store.mark_article(no, TOPIC, "irrelevant", by="ana")
    store.mark_article(yes, TOPIC, "relevant", by="bo")
    # stories on: the batch stores without deliveries, the stories step queues them
    later = store.store_articles([_article(0, near=False, hit=True)])
    config = Config(
        topics=load_config(ROOT / "config").topics,
        routes=[Route(name="r", urls=["json://127.0.0.1:9/a"])],
    )
    out = group_stories(store, config, [no], later.hit_ids or [])
    assert out.alerts_queued == 0 and store.deliveries() == []
    # the control: the same with "teach as hit" alerts
    later = store.store_articles([_article(1, near=False, hit=True)])
    out = group_stories(store, config, [yes], later.hit_ids or [])
    assert out.alerts_queued == 1 and len(store.deliveries()) == 1


def test_topics_test_warns_of_new_hits_labelled_not_a_hit() -> None:
    new = [
        Change("article:1", "a", "u1", False, 0.5, None, "en"),
        Change("article:2", "b", "u2", None, 0.5, None, "en"),
        Change("article:3", "c", "u3", True, 0.5, None, "en"),
    ]
    rep = ChangeReport("t", "v", None, 10, 5, 8, new, [], 5, [], {"en": 9})
    (w,) = change_warnings(rep)
    assert w.kind == "irrelevant" and [c.key for c in w.changes] == ["article:1"]
    assert "1 new hit(s) an analyst labelled not a hit" in w.message


# --- at the same moment, on PostgreSQL ---------------------------------------------------


def _at_once(*calls: Callable[[], Any]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(calls))

    def run(f: Callable[[], Any]) -> None:
        start.wait()
        try:
            f()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


ROUNDS = 30


def test_two_labels_at_once_on_a_non_hit(pg_url: str) -> None:
    store = Store(pg_url)
    aids = store.store_articles([_article(i, near=False) for i in range(ROUNDS)]).article_ids
    errors: list[BaseException] = []
    for aid in aids or []:
        errors += _at_once(
            lambda a=aid: store.mark_article(a, TOPIC, "relevant", by="ana"),
            lambda a=aid: store.mark_article(a, TOPIC, "irrelevant", by="bo"),
        )
    assert errors == []
    labels = store.nonhit_labels(TOPIC)
    assert set(labels) == set(aids or []) and set(labels.values()) <= {"relevant", "irrelevant"}
    store.close()


def test_a_label_given_as_the_hit_is_made_is_kept(pg_url: str) -> None:
    store = Store(pg_url)
    aids = store.store_articles([_article(i, near=False) for i in range(ROUNDS)]).article_ids
    errors: list[BaseException] = []
    for aid in aids or []:
        errors += _at_once(
            lambda a=aid: store.mark_article(a, TOPIC, "irrelevant", by="ana"),
            lambda a=aid: _via_add_hits(store, [a]),
        )
    assert errors == []
    hits = {h.article_id: h for h, _ in store.hits(topic=TOPIC, limit=1000)}
    assert set(hits) == set(aids or [])
    assert {a: h.label for a, h in hits.items()} == {a: "irrelevant" for a in aids or []}
    assert store.nonhit_labels(TOPIC) == {}  # no label left behind on a hidden row
    store.close()


def test_a_label_given_during_a_rescan_is_kept(pg_url: str) -> None:
    store = Store(pg_url)
    aids = store.store_articles([_article(i) for i in range(ROUNDS)]).article_ids or []
    errors: list[BaseException] = []
    for aid in aids:
        # the rescan finds it is no near miss any more (its row would go) while an
        # analyst labels it
        errors += _at_once(
            lambda a=aid: store.mark_article(a, TOPIC, "relevant", by="ana"),
            lambda a=aid: store.refresh_near_misses(TOPIC, [a], []),
        )
    assert errors == []
    assert store.nonhit_labels(TOPIC) == {a: "relevant" for a in aids}
    store.close()


def test_a_rescan_that_finds_a_near_miss_as_it_is_labelled_keeps_both(pg_url: str) -> None:
    store = Store(pg_url)
    aids = store.store_articles([_article(i, near=False) for i in range(ROUNDS)]).article_ids
    found = FoundNearMiss(TOPIC, 0.3, 0.35, "close", 0.9, "v3", {"score": 0.3})
    errors: list[BaseException] = []
    for aid in aids or []:
        errors += _at_once(
            lambda a=aid: store.mark_article(a, TOPIC, "irrelevant", by="ana"),
            lambda a=aid: store.refresh_near_misses(TOPIC, [a], [(a, found)]),
        )
    assert errors == []
    rows = [n for n, _ in store.near_misses(TOPIC, label=None, limit=1000)]
    assert len(rows) == len(aids or [])
    assert {(n.label, n.labeled_by, n.reason, n.topic_version) for n in rows} == {
        ("irrelevant", "ana", "close", "v3")
    }
    store.close()


def test_a_batch_adding_a_near_miss_as_it_is_labelled_keeps_both(pg_url: str) -> None:
    store = Store(pg_url)
    aids = store.store_articles([_article(i, near=False) for i in range(ROUNDS)]).article_ids
    errors: list[BaseException] = []
    for aid in aids or []:
        # the same story reported again (merged), now a near miss of the topic
        errors += _at_once(
            lambda a=aid: store.mark_article(a, TOPIC, "irrelevant", by="ana"),
            lambda a=aid: store.store_articles([_article(a - 1)]),
        )
    assert errors == []
    assert store.nonhit_labels(TOPIC) == {a: "irrelevant" for a in aids or []}
    store.close()


def test_topics_test_store_alert_skips_an_article_labelled_not_a_hit(
    world: dict[str, Any], webhook: Any
) -> None:
    """End to end: a broader definition finds an article an analyst said is not a hit;
    `topics test` warns, `--store --alert` stores it with the label and alerts the rest."""
    from tests.test_topics_loop import _lower_threshold, _route_to, cli

    _lower_threshold(world)
    _route_to(world, webhook)
    args = ("topics", "test", TOPIC, "--model", "none", "--json")
    rep = json.loads(cli(world, *args).output)
    assert len(rep["new_hits"]) >= 2
    no = int(rep["new_hits"][0]["key"].split(":")[1])
    store = Store(world["db"])
    store.mark_article(no, TOPIC, "irrelevant", "no relation", by="ana")
    rep = json.loads(cli(world, *args).output)
    (w,) = [w for w in rep["warnings"] if w["kind"] == "irrelevant"]
    assert w["articles"] == [f"article:{no}"]
    text = cli(world, "topics", "test", TOPIC, "--model", "none").output
    assert "WARNING: finds 1 new hit(s) an analyst labelled not a hit" in text

    r = cli(world, *args, "--store", "--alert", "--yes")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    n = len(out["new_hits"])
    assert len(out["stored"]["hit_ids"]) == n and out["stored"]["deliveries"] == n - 1
    hit = next(h for h, a in store.hits(topic=TOPIC, limit=500) if a.id == no)
    assert (hit.label, hit.label_note) == ("irrelevant", "no relation")
    assert store.deliveries_for_hit(hit.id or 0) == []
    store.close()


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_non_hit_label_keeps_its_trail_onto_the_hit(store: Store, path: str) -> None:
    """Each change of a non-hit's label is audited (who, when, note, from what), and the
    trail follows the article when it becomes a hit: its hit's history shows it all."""
    b = store.store_articles([_article(i) for i in range(3)])
    aid = (b.article_ids or [])[1]
    store.mark_article(aid, TOPIC, "irrelevant", "a marathon", by="ana")
    store.mark_article(aid, TOPIC, "relevant", "the relation is in the lede", by="bo")
    store.mark_article(aid, TOPIC, None, by="cy")
    store.mark_article(aid, TOPIC, "relevant", "taught again", by="bo")
    before = store.label_trail(aid, TOPIC)
    assert [(e.user_name, e.previous_label, e.label, e.hit_id) for e in reversed(before)] == [
        ("ana", None, "irrelevant", None),
        ("bo", "irrelevant", "relevant", None),
        ("cy", "relevant", None, None),
        ("bo", None, "relevant", None),
    ]
    assert before[-1].note == "a marathon" and before[-2].previous_note == "a marathon"
    assert all(e.at is not None for e in before)

    PATHS[path](store, (b.article_ids or [])[:3] if path == "store_articles" else [aid])

    hit = next(h for h, _ in store.hits(topic=TOPIC) if h.article_id == aid)
    store.mark_hits([LabelChange(hit.id or 0, "irrelevant", "no, a sports page")], by="dee")
    trail = store.label_trail(aid, TOPIC)
    assert trail[len(trail) - len(before) :] == before  # the non-hit's steps kept, oldest last
    moved, last = trail[1], trail[0]
    assert moved.moved and moved.hit_id == hit.id and moved.label == "relevant"
    assert (moved.user_name, moved.note) == ("bo", "taught again")
    assert (last.user_name, last.previous_label, last.label, last.hit_id) == (
        "dee",
        "relevant",
        "irrelevant",
        hit.id,
    )
    assert not last.moved and len(trail) == len(before) + 2
