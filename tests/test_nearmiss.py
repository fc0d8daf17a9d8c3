"""Every stored article reviewable: near misses kept with the batch that stores the hits,
labels on non-hits (who, when, note), training reading them, and the list and search of
all stored articles. On SQLite and PostgreSQL, with the committed topics' real decisions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from monitor.config import load_config
from monitor.errors import NotFound
from monitor.pipeline.articles import new_article
from monitor.pipeline.jobs import Analysis, Page, SummaryVerdict, scores
from monitor.pipeline.pages import Candidate
from monitor.store import NearMiss, NewArticle, Store
from monitor.store.people import LabelEvent
from monitor.topics.match import Classifier
from monitor.topics.nearmiss import NEAR_BAND, near_miss
from monitor.topics.review import load_pool, rescan_near_misses, train_topic
from tests.test_topics_learn import NOT_RELEVANT, RELEVANT, stored_items  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "caucasus-realignment"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# (key, title, text): a hit, a near miss of the rule passed kind is made below by
# raising the threshold, and articles that are nothing for the topic.
TEXTS = [
    (
        "thaw",
        "Baku and Tehran agree on the Aras transit corridor",
        "Azerbaijan and Iran signed an agreement on the Aras transit corridor, bypassing "
        "Armenia's Syunik province; Israel watches the rapprochement of Baku and Tehran.",
    ),
    (
        "marathon",
        "Baku marathon draws record crowd",
        "Runners from Iran and Turkey joined the Baku marathon on Sunday.",
    ),
    ("weather", "Sunny weekend in London", "The weather stays dry and warm in London."),
    ("cricket", "Cricket: England win the test", "England beat India by six wickets at Lord's."),
]


@pytest.fixture(scope="module")
def topics() -> list[Any]:
    return load_config(ROOT / "config").topics


@pytest.fixture
def store(sqlite_or_pg_store: Store) -> Store:
    return sqlite_or_pg_store


def _classified(clf: Classifier, key: str, title: str, text: str) -> NewArticle:
    """An article as the pipeline makes it: its page's text classified, then stored."""
    url = f"https://news.example/{key}"
    c = Candidate(url, url, key, title, "", T0, [])
    page = Page(title, text, None, T0, "en", None)
    a = Analysis(url, page, None, scores(clf.classify(title, text, language="en")))
    return new_article(c, a, None, None)


def _fill(store: Store, topics: list[Any]) -> dict[str, int]:
    clf = Classifier(topics, models={})
    items = [_classified(clf, *t) for t in TEXTS]
    store.store_articles(items)
    return {a.guid or "": a.id or 0 for a in store.browse_articles(limit=100)}


def test_unlabelled_near_misses_go_with_their_texts(store: Store, topics: list[Any]) -> None:
    """After ``retention.prune_text_after_days`` an unlabelled near miss is deleted (its
    article's text is gone too); a labelled one stays, and so does a recent one."""
    ids = _fill(store, topics)
    store.mark_article(ids["marathon"], TOPIC, "irrelevant", "a race, not a visit")
    other = NearMiss(
        article_id=ids["weather"], topic_id=TOPIC, reason="close", score=0.3, threshold=0.35
    )
    with store.session(write=True) as s:
        s.add(other)
    now = datetime.now(UTC)
    with store.session(write=True) as s:
        for row in s.exec(select(NearMiss)).all():
            row.created_at = now - timedelta(days=40)
            s.add(row)
    fresh = NearMiss(
        article_id=ids["cricket"], topic_id=TOPIC, reason="close", score=0.3, threshold=0.35
    )
    with store.session(write=True) as s:
        fresh.created_at = now - timedelta(days=2)
        s.add(fresh)
    assert store.prune_near_misses(30, now=now) >= 1
    with store.session() as s:
        left = {(r.article_id, r.topic_id, r.label) for r in s.exec(select(NearMiss)).all()}
    assert left == {
        (ids["marathon"], TOPIC, "irrelevant"),
        (ids["cricket"], TOPIC, None),
    }
    assert store.nonhit_labels(TOPIC) == {ids["marathon"]: "irrelevant"}


def test_a_near_miss_is_decided_from_the_topic_decision(topics: list[Any]) -> None:
    clf = Classifier(topics, models={})
    by = {r.topic: r for r in clf.classify(*TEXTS[1][1:], language="en")}
    r = by[TOPIC]  # the marathon: Baku and Iran, but no relation - the rule fails
    assert not r.matched and not r.evidence["rule_passed"]
    v = near_miss(r.matched, r.score, r.evidence)
    assert v is not None and v.reason == "close" and v.threshold == r.evidence["threshold"]
    # the rule passed but the score is short of the threshold: before anything "close"
    hit = {x.topic: x for x in clf.classify(*TEXTS[0][1:], language="en")}[TOPIC]
    assert hit.matched and near_miss(True, hit.score, hit.evidence) is None
    ev = dict(hit.evidence, threshold=hit.score + 0.01)
    passed = near_miss(False, hit.score, ev)
    assert passed is not None and passed.reason == "rule passed" and passed.priority > v.priority
    # a model that said no where the rules said yes: first of all
    ev_model = dict(ev, model={"used": True}, rule_matched=True)
    disagree = near_miss(False, 0.2, ev_model)
    assert disagree is not None and disagree.reason == "disagree"
    assert disagree.priority > passed.priority
    # a failed rule is kept only close to the threshold (NEAR_BAND), not far under it
    failed = dict(r.evidence, rule_passed=False, threshold=0.4)
    assert near_miss(False, 0.4 * NEAR_BAND + 0.001, failed) is not None
    assert near_miss(False, 0.4 * NEAR_BAND - 0.001, failed) is None
    # nothing matched: not kept (most article x topic pairs)
    none = {x.topic: x for x in clf.classify(*TEXTS[2][1:], language="en")}[TOPIC]
    assert near_miss(none.matched, none.score, none.evidence) is None


def test_near_misses_are_stored_with_the_hits(store: Store, topics: list[Any]) -> None:
    ids = _fill(store, topics)
    assert {a.id for (a,) in [(a,) for _, a in store.hits(topic=TOPIC)]} == {ids["thaw"]}
    inbox = store.near_misses(TOPIC)
    assert [a.id for _, a in inbox] == [ids["marathon"]]
    n = inbox[0][0]
    assert n.reason == "close" and n.threshold == 0.35 and n.score is not None
    assert n.evidence["groups"] and n.evidence["rule_passed"] is False
    # bounded: a hit is not a near miss of its topic, and what matched nothing is not kept
    with store.session() as s:
        rows = s.exec(select(NearMiss)).all()
    assert not {(r.article_id, r.topic_id) for r in rows} & {(ids["thaw"], TOPIC)}
    assert not {r.article_id for r in rows} & {ids["weather"], ids["cricket"]}
    # storing the same articles again changes nothing (idempotent, as hits)
    _fill(store, topics)
    with store.session() as s:
        assert len(s.exec(select(NearMiss)).all()) == len(rows)


def test_an_article_classified_by_its_summary_keeps_its_near_misses(topics: list[Any]) -> None:
    clf = Classifier(topics, models={})
    key, title, text = TEXTS[1]
    url = f"https://news.example/{key}"
    verdict = SummaryVerdict(url, "en", scores(clf.classify(title, text, language="en")))
    item = new_article(Candidate(url, url, key, title, text, T0, []), None, None, verdict)
    near = {n.topic: n for n in item.near_misses}
    assert TOPIC in near and near[TOPIC].evidence["text_from"] == "feed summary"


def test_inbox_order_and_filters(store: Store, topics: list[Any]) -> None:
    ids = _fill(store, topics)
    with store.session(write=True) as s:
        for key, reason, prio in (("weather", "close", 0.6), ("cricket", "rule passed", 1.7)):
            s.add(
                NearMiss(
                    article_id=ids[key], topic_id=TOPIC, reason=reason, priority=prio, score=0.2
                )
            )
    order = [a.id for _, a in store.near_misses(TOPIC)]
    assert order == [ids["cricket"], ids["marathon"], ids["weather"]]
    store.mark_article(ids["cricket"], TOPIC, "irrelevant")
    assert [a.id for _, a in store.near_misses(TOPIC)] == [ids["marathon"], ids["weather"]]
    assert [a.id for _, a in store.near_misses(TOPIC, label="irrelevant")] == [ids["cricket"]]
    assert len(store.near_misses(TOPIC, label=None)) == 3
    counts = store.near_miss_counts()[TOPIC]
    assert counts == {"unreviewed": 2, "relevant": 0, "irrelevant": 1}


def test_labels_on_any_article_for_any_topic(store: Store, topics: list[Any]) -> None:
    ids = _fill(store, topics)
    # a non-hit taught as a hit: who, when, note, on its near-miss row
    m = store.mark_article(ids["marathon"], TOPIC, "relevant", "a relation after all", by="ana")
    assert m.hit_id is None and m.label == "relevant" and m.previous_label is None
    row = next(n for n, _ in store.near_misses(TOPIC, label="relevant"))
    assert (row.label, row.label_note, row.labeled_by) == (
        "relevant",
        "a relation after all",
        "ana",
    )
    assert row.labeled_at is not None and row.reason == "close"
    # an article with no near-miss row for the topic gets one made by the label
    m = store.mark_article(ids["weather"], TOPIC, "irrelevant", by="bo")
    assert m.label == "irrelevant"
    labels = store.topic_labels(TOPIC)
    assert labels == {ids["marathon"]: "relevant", ids["weather"]: "irrelevant"}
    # a hit labelled through its article is the hit's label, audited as any
    m = store.mark_article(ids["thaw"], TOPIC, "irrelevant", "not new", by="ana")
    hit = store.hits(topic=TOPIC)[0][0]
    assert m.hit_id == hit.id and hit.label == "irrelevant" and hit.label_note == "not new"
    with store.session() as s:
        ev = s.exec(select(LabelEvent).where(LabelEvent.hit_id == hit.id)).one()
    assert ev.user_name == "ana" and ev.label == "irrelevant"
    assert store.topic_labels(TOPIC)[ids["thaw"]] == "irrelevant"
    assert store.labels_since(None, topic=TOPIC) == {TOPIC: 3}
    assert store.labels_since(datetime.now(UTC) + timedelta(hours=1)) == {}
    # clearing: a row made by the label alone goes, a kept near miss stays unreviewed
    store.mark_article(ids["weather"], TOPIC, None)
    store.mark_article(ids["marathon"], TOPIC, None)
    assert [a.id for _, a in store.near_misses(TOPIC)] == [ids["marathon"]]
    assert ids["weather"] not in {a.id for _, a in store.near_misses(TOPIC, label=None)}
    assert set(store.topic_labels(TOPIC)) == {ids["thaw"]}
    with pytest.raises(NotFound):
        store.mark_article(999_999, TOPIC, "relevant")


def test_a_labelled_non_hit_keeps_its_text(store: Store, topics: list[Any]) -> None:
    ids = _fill(store, topics)
    store.mark_article(ids["weather"], TOPIC, "irrelevant")
    later = datetime.now(UTC) + timedelta(days=40)
    assert store.prune_text(30, now=later) == 2  # marathon and cricket: no hit, no label
    assert store.article(ids["weather"]).text and not store.article(ids["cricket"]).text
    assert store.article(ids["thaw"]).text


def test_training_reads_labels_on_non_hits(store: Store, topics: list[Any], tmp_path: Path) -> None:
    ids = _fill(store, topics)
    topic = next(t for t in topics if t.id == TOPIC)
    store.mark_article(ids["marathon"], TOPIC, "relevant", by="ana")  # a rule miss
    store.mark_article(ids["thaw"], TOPIC, "relevant")
    pool = load_pool(store, topic, with_seeds=False, limit=1)  # the window: one article
    labelled = {p.key: p.label for p in pool if p.label is not None}
    # a labelled article older than the window is read too
    assert labelled == {f"article:{ids['marathon']}": True, f"article:{ids['thaw']}": True}


def test_browse_all_articles(store: Store, topics: list[Any]) -> None:
    ids = _fill(store, topics)
    everything = store.browse_articles()
    assert [a.id for a in everything] == sorted(ids.values(), reverse=True)
    assert [a.id for a in store.browse_articles(search="marathon")] == [ids["marathon"]]
    assert [a.id for a in store.browse_articles(search='"transit corridor"')] == [ids["thaw"]]
    assert store.browse_articles(language="ru") == []
    assert store.browse_articles(since=datetime.now(UTC) + timedelta(hours=1)) == []
    page = store.browse_articles(limit=2)
    rest = store.browse_articles(limit=10, before=page[-1].id)
    assert [a.id for a in page + rest] == [a.id for a in everything]
    hits, marks = store.article_reviews([ids["thaw"], ids["marathon"]])
    assert [h.topic_id for h in hits[ids["thaw"]]] == [TOPIC]
    assert TOPIC in {n.topic_id for n in marks[ids["marathon"]]}
    assert TOPIC not in {n.topic_id for n in marks.get(ids["thaw"], [])}


# --- the command line ------------------------------------------------------------------


def _cli(db: str, *args: str) -> Any:
    from typer.testing import CliRunner

    from monitor.cli import app

    return CliRunner().invoke(
        app,
        ["--config", str(ROOT / "config"), "--db", db, *args],
        # no trained model: the rescan decides with rules alone
        env={
            "NEWSMON_CONFIG": None,
            "NEWSMON_DB": None,
            "NEWSMON_MODELS": db.removeprefix("sqlite:///") + ".models",
        },
    )


def test_cli_articles_mark_and_near_misses(tmp_path: Path, topics: list[Any]) -> None:
    db = f"sqlite:///{tmp_path / 'n.db'}"
    s = Store(db)
    ids = _fill(s, topics)
    s.close()
    r = _cli(db, "articles")
    assert r.exit_code == 0, r.output
    # every stored article, hits or not, newest first
    assert "Sunny weekend in London" in r.output and "Baku marathon" in r.output
    assert f"{TOPIC}" in r.output  # the hit's topic is shown
    rows = json.loads(_cli(db, "articles", "--search", "marathon", "--json").output)
    assert [x["id"] for x in rows] == [ids["marathon"]]
    assert rows[0]["hits"] == [] and TOPIC in {n["topic"] for n in rows[0]["non_hits"]}
    assert json.loads(_cli(db, "articles", "--lang", "ru", "--json").output) == []
    assert len(json.loads(_cli(db, "articles", "--limit", "2", "--json").output)) == 2

    inbox = json.loads(_cli(db, "topics", "near-misses", TOPIC, "--json").output)
    assert [x["article"] for x in inbox] == [ids["marathon"]]
    assert inbox[0]["reason"] == "close" and inbox[0]["title"].startswith("Baku marathon")
    text = _cli(db, "topics", "near-misses", TOPIC).output
    assert "Baku marathon" in text and "close" in text

    r = _cli(db, "topics", "near-misses", TOPIC, "--rescan", "--json")
    assert (
        r.exit_code == 0
        and "rescanned 4 stored articles: 1 near misses (0 new, 1 updated" in r.stderr
    )
    assert [x["article"] for x in json.loads(r.stdout)] == [ids["marathon"]]
    r = _cli(db, "articles", "mark", str(ids["marathon"]), "relevant", "-t", TOPIC, "--note", "x")
    assert r.exit_code == 0 and "not a hit" in r.output and "relevant" in r.output, r.output
    assert "no near misses" in _cli(db, "topics", "near-misses", TOPIC).output
    done = json.loads(
        _cli(db, "topics", "near-misses", TOPIC, "--label", "relevant", "--json").output
    )
    assert [(x["article"], x["label_note"], x["labeled_by"]) for x in done] == [
        (ids["marathon"], "x", "")
    ]
    r = _cli(db, "articles", "mark", str(ids["thaw"]), "irrelevant", "--topic", TOPIC)
    assert r.exit_code == 0 and "hit " in r.output, r.output
    assert f"{TOPIC}=irrelevant" in _cli(db, "articles").output
    r = _cli(db, "articles", "mark", str(ids["weather"]), "relevant", "--topic", "nope")
    assert r.exit_code == 2 and "unknown topic" in r.output
    r = _cli(db, "articles", "mark", str(ids["weather"]), "maybe", "--topic", TOPIC)
    assert r.exit_code == 2
    s = Store(db)
    assert s.topic_labels(TOPIC) == {ids["marathon"]: "relevant", ids["thaw"]: "irrelevant"}
    s.close()


def test_cli_shows_the_label_history_of_a_non_hit_and_its_hit(
    tmp_path: Path, topics: list[Any]
) -> None:
    db = f"sqlite:///{tmp_path / 'n.db'}"
    s = Store(db)
    ids = _fill(s, topics)
    aid = ids["marathon"]
    s.mark_article(aid, TOPIC, "irrelevant", "sports", by="ana")
    s.mark_article(aid, TOPIC, "relevant", "the corridor is named", by="bo")
    s.close()
    r = _cli(db, "articles", "show", str(aid))
    assert r.exit_code == 0, r.output
    lines = [x.strip() for x in r.output.splitlines()]
    at = next(i for i, x in enumerate(lines) if x.startswith(f"{TOPIC}: not a hit (close"))
    assert "relevant" in lines[at]
    assert 'bo: irrelevant -> relevant "the corridor is named" (as a non-hit)' in lines[at + 1]
    assert 'ana: unreviewed -> irrelevant "sports" (as a non-hit)' in lines[at + 2]
    rec = json.loads(_cli(db, "articles", "show", str(aid), "--json").output)
    steps = rec["label_history"][TOPIC]
    assert [(x["by"], x["previous_label"], x["label"], x["hit"]) for x in steps] == [
        ("bo", "irrelevant", "relevant", None),
        ("ana", None, "irrelevant", None),
    ]
    # the article becomes a hit: the trail goes with it, the move said as such
    s = Store(db)
    s.add_hits([(aid, TOPIC, 0.9, "v2", {"score": 0.9})], lambda *_: [])
    hid = next(h.id for h, _ in s.hits(topic=TOPIC) if h.article_id == aid)
    s.close()
    shown = _cli(db, "hits", "show", str(hid)).output
    assert f"became hit {hid}, its label kept: relevant" in shown
    assert '"sports" (as a non-hit)' in shown
    rec = json.loads(_cli(db, "hits", "show", str(hid), "--json").output)
    assert [x["moved_onto_hit"] for x in rec["label_history"]] == [True, False, False]
    assert (
        json.loads(_cli(db, "articles", "show", str(aid), "--json").output)["label_history"][TOPIC]
        == rec["label_history"]
    )


def test_rescan_keeps_near_misses_of_articles_stored_before(
    store: Store, topics: list[Any]
) -> None:
    ids = _fill(store, topics)
    topic = next(t for t in topics if t.id == TOPIC)
    with store.session(write=True) as s:  # a database from before near misses were kept
        for row in s.exec(select(NearMiss)).all():
            s.delete(row)
        s.add(NearMiss(article_id=ids["cricket"], topic_id=TOPIC, reason="close", priority=0.9))
    assert [a.id for _, a in store.near_misses(TOPIC)] == [ids["cricket"]]
    scan = rescan_near_misses(store, topic)
    assert (scan.articles, scan.near_misses, scan.added, scan.removed) == (4, 1, 1, 1)
    inbox = store.near_misses(TOPIC)
    assert [a.id for _, a in inbox] == [ids["marathon"]]  # the hit is not scanned
    assert inbox[0][0].evidence["groups"] and inbox[0][0].reason == "close"
    # the topic edited so that the marathon is far from it: its label stays, as a label
    store.mark_article(ids["marathon"], TOPIC, "irrelevant", by="ana")
    strict = topic.model_copy(update={"threshold": 0.99})
    scan = rescan_near_misses(store, strict, classifier=Classifier([strict], models={}))
    assert scan.near_misses == 0 and scan.updated == 1 and store.near_misses(TOPIC) == []
    assert store.topic_labels(TOPIC) == {ids["marathon"]: "irrelevant"}
    store.mark_article(ids["marathon"], TOPIC, None)  # then cleared: nothing left
    assert store.near_misses(TOPIC, label=None) == []


def test_rules_and_a_trained_model_disagreeing_come_first(
    tmp_path: Path,
    topics: list[Any],
    stored_items: list[NewArticle],  # noqa: F811 - test_topics_learn's fixture
) -> None:
    """A real model trained on labels: where it says no and the rules say yes, the
    article is a near miss of the "disagree" kind, first in the inbox."""
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    store.store_articles(stored_items)
    topic = next(t for t in topics if t.id == TOPIC)
    hits = {a.title: h for h, a in store.hits(topic=TOPIC, limit=100)}
    for title, _ in NOT_RELEVANT:
        store.mark_article(hits[title].article_id, TOPIC, "irrelevant")
    for title, _ in RELEVANT:
        store.mark_article(hits[title].article_id, TOPIC, "relevant")
    model = train_topic(topic, load_pool(store, topic, with_seeds=False)).model
    clf = Classifier([topic], models={TOPIC: model})
    title, text = NOT_RELEVANT[0]
    r = clf.classify(title, text, language="en")[0]
    assert r.evidence["rule_matched"] and not r.matched  # the model learnt the label
    item = _classified(clf, "chess-again", title, text)
    assert [(n.topic, n.reason) for n in item.near_misses] == [(TOPIC, "disagree")]
    store.store_articles([item])
    first, article = store.near_misses(TOPIC)[0]
    assert (first.reason, article.guid) == ("disagree", "chess-again")
    assert first.evidence["model"]["used"] and first.threshold == pytest.approx(
        model.threshold, abs=1e-4
    )
    store.close()
