"""Learning from review: models, and the train / test / activate / eval commands on a
real SQLite database filled the way the pipeline fills it."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import load_config
from monitor.extract.article import extract_file
from monitor.store import NewArticle, Store
from monitor.topics.learn import LabelledPool, fit, predict_matrix, propose, rule_matrix
from monitor.topics.match import Classifier
from monitor.topics.model import (
    FeatureSpace,
    TopicModel,
    active_models,
    model_path,
    save_candidate,
    save_model,
    word_counts,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "topics"
PAGES = ROOT / "monitor" / "demo" / "data" / "pages"
TOPIC = "caucasus-realignment"

# Stories the rules take for the topic but an analyst would not (culture, sport), and
# stories that are the topic: the reviewed labels of the test database.
NOT_RELEVANT = [
    (
        "Armenian and Azerbaijani chess players agree to a friendly match in Tbilisi",
        "Chess federations of Armenia and Azerbaijan signed an agreement for a friendly "
        "match, with players from Russia and Turkey invited. The tournament in Tbilisi is a "
        "cultural event for chess fans.",
    ),
    (
        "Azerbaijani carpet weavers visit Iran and Turkey for a crafts festival",
        "Carpet weavers from Azerbaijan made a visit to Iran and Turkey for a crafts festival "
        "of carpets, weaving and folk music; the festival agreement covers exhibitions.",
    ),
    (
        "Armenian duduk music festival opens with guests from Russia and Iran",
        "The duduk festival in Armenia opened with musicians from Russia and Iran; a "
        "cooperation agreement between music schools of Armenia and Russia was signed.",
    ),
]
RELEVANT = [
    (
        "Baku and Tehran agree on the Aras transit corridor",
        "Azerbaijan and Iran signed an agreement on the Aras transit corridor, bypassing "
        "Armenia's Syunik province; Israel watches the rapprochement of Baku and Tehran.",
    ),
    (
        "Israel and Azerbaijan deepen security ties as Iran protests",
        "Azerbaijan and Israel signed a new arms deal on drones and intelligence cooperation; "
        "Iran protested the security ties on its northern border in the South Caucasus.",
    ),
]


def _item(n: int, title: str, text: str, results: list[Any], language: str | None) -> NewArticle:
    return NewArticle(
        canonical_url=f"https://example.org/{n}",
        url=f"https://example.org/{n}",
        guid=None,
        title=title,
        summary="",
        text=text,
        author=None,
        published_at=datetime.now(UTC),
        published_source="feed",
        language=language,
        fingerprint=None,
        extraction="ok",
        extraction_error=None,
        sources=[],
        hits=[(r.topic, round(r.score, 4), r.version, r.evidence) for r in results if r.matched],
    )


@pytest.fixture(scope="module")
def stored_items() -> list[NewArticle]:
    """The test articles as the pipeline would store them (extracted and classified once)."""
    topics = load_config(ROOT / "config").topics
    clf = Classifier(topics, models={})
    articles: list[tuple[str, str, str | None]] = []
    for p in sorted(PAGES.iterdir()):
        ex = extract_file(p)
        articles.append((ex.title, ex.text, ex.language))
    for p in sorted(FIXTURES.glob("caucasus-*.txt")) + [FIXTURES / "ntvtr-2024-04-30.html.gz"]:
        ex = extract_file(p)
        articles.append((ex.title, ex.text, ex.language))
    articles += [(t, x, "en") for t, x in NOT_RELEVANT + RELEVANT]
    return [
        _item(i, t, x, clf.classify(t, x, language=lang), lang)
        for i, (t, x, lang) in enumerate(articles)
    ]


@pytest.fixture()
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored_items: list[NewArticle]
) -> dict[str, Any]:
    """A config copy, a models directory and a database with hits, some reviewed."""
    cfg = tmp_path / "config"
    cfg.mkdir()
    shutil.copy(ROOT / "config" / "topics.yaml", cfg / "topics.yaml")
    models = tmp_path / "models"
    monkeypatch.setenv("NEWSMON_MODELS", str(models))
    db = f"sqlite:///{tmp_path / 'news.db'}"
    store = Store(db)
    items = stored_items
    articles = items
    store.store_articles(items)
    hits = {a.title: h for h, a in store.hits(topic=TOPIC, limit=100)}
    for title, _ in NOT_RELEVANT:
        store.mark_hit(hits[title].id or 0, "irrelevant")
    for title, _ in RELEVANT:
        store.mark_hit(hits[title].id or 0, "relevant")
    for lang in ("ru", "he"):
        title = extract_file(FIXTURES / f"caucasus-{lang}.txt").title
        store.mark_hit(hits[title].id or 0, "relevant")
    store.close()
    return {
        "cfg": cfg,
        "db": db,
        "models": models,
        "n_hits": len(hits),
        "n_articles": len(articles),
    }


runner = CliRunner()


def cli(w: dict[str, Any], *args: str) -> Any:
    return runner.invoke(
        app,
        ["--config", str(w["cfg"]), "--db", w["db"], *args],
        env={"NEWSMON_CONFIG": None, "NEWSMON_DB": None, "NEWSMON_MODELS": str(w["models"])},
    )


def ok(w: dict[str, Any], *args: str) -> str:
    r = cli(w, *args)
    assert r.exit_code == 0, (args, r.output, r.exception)
    return str(r.stdout)


# --- the loop: train, test, activate ---------------------------------------------------------


def test_train_test_activate(world: dict[str, Any]) -> None:
    topics = load_config(world["cfg"]).topics
    out = ok(world, "topics", "train", TOPIC)
    assert "trained candidate model" in out
    assert "4 reviewed relevant, 3 irrelevant" in out
    assert "reviewed labels: rules agree on 4/7" in out  # the rules took all 7 as hits
    assert f"newsmon topics test {TOPIC}" in out
    cand = model_path(TOPIC, "candidate", world["models"])
    assert cand.exists()
    # a candidate changes nothing: the pipeline's classifier still uses rules alone
    assert active_models(topics, world["models"]) == {}
    assert "model" not in Classifier(topics).classify(*NOT_RELEVANT[0])[0].evidence
    assert "a candidate model waits" in ok(world, "topics", "list")

    rep = json.loads(ok(world, "topics", "test", TOPIC, "--json"))
    assert rep["model_kind"] == "candidate" and rep["model"].startswith("m")
    assert rep["articles"] == world["n_articles"] and rep["stored_hits"] == world["n_hits"]
    assert rep["hits_now"] == rep["stored_hits"] - len(rep["lost_hits"]) + len(rep["new_hits"])
    # with rules alone and an unchanged definition nothing would change
    same = json.loads(ok(world, "topics", "test", TOPIC, "--model", "none", "--json"))
    assert same["new_hits"] == [] and same["lost_hits"] == [] and same["model"] is None
    text = ok(world, "topics", "test", TOPIC)
    assert "hits stored now" in text and "marked relevant (a loss)" in text

    out = ok(world, "topics", "activate", TOPIC)
    assert "is active (7 reviewed labels)" in out
    models = active_models(topics, world["models"])
    assert set(models) == {TOPIC} and not cand.exists()
    r = Classifier(topics).classify(*RELEVANT[0])[0]
    m = r.evidence["model"]
    assert m["used"] and r.version == f"{topics[0].version}+{m['id']}"
    assert r.score == pytest.approx(m["probability"], abs=1e-4)
    assert r.evidence["rule_score"] >= 0 and "rule_matched" in r.evidence
    assert m["features"] and all({"feature", "contribution"} <= set(f) for f in m["features"])
    assert r.matched == (r.score >= models[TOPIC].threshold)
    explained = ok(world, "topics", "explain", str(FIXTURES / "caucasus-az.txt"), "--topic", TOPIC)
    assert "P(relevant)" in explained and "(language az)" in explained
    assert "model deactivated" in ok(world, "topics", "deactivate", TOPIC)
    assert active_models(topics, world["models"]) == {}


def test_train_needs_reviews(world: dict[str, Any], tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    r = runner.invoke(
        app,
        ["--config", str(world["cfg"]), "--db", empty, "topics", "train", TOPIC],
        env={"NEWSMON_MODELS": str(world["models"])},
    )
    assert r.exit_code != 0
    assert "no reviewed examples yet" in str(r.exception)
    r = cli(world, "topics", "train", "no-such-topic")
    assert r.exit_code == 2 and "unknown topic 'no-such-topic'" in r.output


def test_stale_model_is_not_used_and_says_so(world: dict[str, Any]) -> None:
    ok(world, "topics", "train", TOPIC)
    ok(world, "topics", "activate", TOPIC)
    topics = load_config(world["cfg"]).topics
    changed = [topics[0].model_copy(update={"threshold": 0.4})] + topics[1:]
    r = Classifier(changed).classify(*RELEVANT[0])[0]
    assert r.evidence["model"]["used"] is False
    assert "retrain it (newsmon topics train" in r.evidence["model"]["reason"]
    assert r.version == changed[0].version  # rules alone decided
    (world["cfg"] / "topics.yaml").write_text(
        (world["cfg"] / "topics.yaml").read_text().replace("threshold: 0.35", "threshold: 0.4")
    )
    assert "STALE" in ok(world, "topics", "list")


# --- the model itself ------------------------------------------------------------------------


def test_model_json_roundtrip_and_fast_path_agree(world: dict[str, Any]) -> None:
    topics = load_config(world["cfg"]).topics
    topic = topics[0]
    clf = Classifier([topic], models={})
    docs = [
        RELEVANT[0],
        RELEVANT[1],
        NOT_RELEVANT[0],
        NOT_RELEVANT[1],
        ("Weather", "Rain in the north, sun in the south."),
    ]
    toks = [clf.analyse(t, x) for t, x in docs]
    counts = [word_counts(t) for t in toks]
    rows = [(r.evidence, sats) for r, sats in (clf.decide_all(t)[0] for t in toks)]
    space = FeatureSpace.fit(counts, min_df=1)
    X = space.transform(counts)
    R, names = rule_matrix(topic, rows)
    weak = np.array([True, True, True, True, False])
    model = fit(LabelledPool(topic, space, X, R, names, weak, {2: False, 3: False}))
    again = TopicModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again.model_id == model.model_id
    fast = predict_matrix(again, space, X, R, names)
    for i, t in enumerate(toks):
        p, feats = again.predict(t, rows[i][0], rows[i][1], explain=True)
        assert p == pytest.approx(fast[i], abs=1e-6)
        assert feats == sorted(feats, key=lambda f: -abs(f["contribution"]))
    # the two stories reviewed as irrelevant score lower than the relevant ones
    assert max(fast[2:4]) < min(fast[0:2])
    # the id covers all that decides: a model that differs only in its threshold (what
    # a retraining on new labels may change alone) is another model, not "the same as
    # the active one" - it must be offered for activation, not thrown away
    moved = model.with_threshold(0.7)
    assert moved.model_id != model.model_id
    rescaled = TopicModel.from_json(
        {**model.to_json(), "idf": {f: v * 2 for f, v in model.idf.items()}, "model_id": ""}
    )
    assert rescaled.model_id != model.model_id
    models = world["models"]
    save_model(model, "active", models)
    assert save_candidate(moved, models) is not None
    assert save_candidate(model, models) is None  # the active one again: nothing to offer


def test_train_sets_the_threshold_from_the_corrected_rule_hits(world: dict[str, Any]) -> None:
    """The model flags as many pool articles as the rules did, corrected by the reviews:
    here the rules flag 4, the reviewer says 2 of them are not relevant -> 2 flagged."""
    from monitor.topics.learn import TrainSettings, train

    topic = load_config(world["cfg"]).topics[0]
    clf = Classifier([topic], models={})
    docs = [
        *RELEVANT[:2],
        *NOT_RELEVANT[:2],
        ("Weather", "Rain in the north, sun in the south."),
        ("Markets", "Shares rose and the dollar fell."),
    ]
    toks = [clf.analyse(t, x) for t, x in docs]
    counts = [word_counts(t) for t in toks]
    rows = [(r.evidence, sats) for r, sats in (clf.decide_all(t)[0] for t in toks)]
    space = FeatureSpace.fit(counts, min_df=1)
    X = space.transform(counts)
    R, names = rule_matrix(topic, rows)
    weak = np.array([True, True, True, True, False, False])
    labels = {2: False, 3: False}
    pool = LabelledPool(topic, space, X, R, names, weak, labels)
    model, p = train(pool)
    assert int((p >= model.threshold).sum()) == 2
    assert set(np.nonzero(p >= model.threshold)[0]) == {0, 1}
    # without the prevalence rule the threshold is the one asked for
    fixed, _ = train(pool, TrainSettings(prevalence=False, threshold=0.7))
    assert fixed.threshold == 0.7


def test_propose_alternates_around_the_threshold_without_duplicates() -> None:
    from scipy.sparse import csr_matrix

    p = np.array([0.9, 0.55, 0.52, 0.48, 0.3, 0.51, 0.1])
    assert propose(p, 0.5, set(), 4) == [5, 3, 2, 4]
    assert propose(p, 0.5, {5}, 2) == [2, 3]
    # rows 2 and 5 are the same story: only one of them is proposed
    X = csr_matrix(
        np.array(
            [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]],
            dtype=float,
        )
    )
    picked = propose(p, 0.5, set(), 3, X)
    assert picked[:2] == [5, 3] and 2 not in picked


# --- eval ----------------------------------------------------------------------------------


def test_eval_command_on_a_small_dataset(tmp_path: Path, world: dict[str, Any]) -> None:
    topics = tmp_path / "t.yaml"
    topics.write_text(
        "topics:\n"
        "  - id: wheat\n    name: Wheat\n    groups:\n      w: {terms: [wheat]}\n"
        "    threshold: 0.1\n"
        "  - id: oil\n    name: Oil\n    groups:\n      o: {terms: [crude, OPEC]}\n"
        "    threshold: 0.1\n",
        encoding="utf-8",
    )
    rows = [
        ("wheat harvest up", ["wheat"]),
        ("wheat prices", ["wheat"]),
        ("rice crop", ["wheat"]),
        ("OPEC output", ["oil"]),
        ("crude and wheat", ["oil"]),
        ("football", []),
    ]
    ds = tmp_path / "d.jsonl"
    ds.write_text(
        "".join(
            json.dumps({"id": i, "title": t, "text": t + ".", "labels": lab, "split": "test"})
            + "\n"
            for i, (t, lab) in enumerate(rows)
        ),
        encoding="utf-8",
    )
    out = json.loads(
        ok(world, "topics", "eval", "--dataset", str(ds), "--topics", str(topics), "--json")
    )
    rules = out[0]["topics"]
    # wheat: hits 1,2 and "crude and wheat" (fp); misses "rice crop": P 2/3, R 2/3
    assert (rules["wheat"]["tp"], rules["wheat"]["fp"], rules["wheat"]["fn"]) == (2, 1, 1)
    assert (rules["oil"]["tp"], rules["oil"]["fp"], rules["oil"]["fn"]) == (2, 0, 0)
    assert out[0]["micro"]["f1"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 1))
    table = ok(world, "topics", "eval", "--dataset", str(ds), "--topics", str(topics))
    assert "micro F1" in table and "macro F1" in table
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "labels": "earn"}\n', encoding="utf-8")
    r = cli(world, "topics", "eval", "--dataset", str(bad), "--topics", str(topics))
    assert r.exit_code != 0 and "bad.jsonl:1: labels must be a list" in str(r.exception)
    r = cli(
        world, "topics", "eval", "--dataset", str(ds), "--topics", str(topics), "--feedback", "5"
    )
    assert r.exit_code == 2 and "need a train split" in r.output


def test_feedback_eval_honours_model_use_false() -> None:
    """A topic with ``model: {use: false}`` is decided by its rules in the simulated review,
    as the product decides it; the others still learn from their labels."""
    from monitor.topics.evaluate import Item, feedback_run, prepare, rules_run
    from monitor.topics.language import TopicConfig

    def topic(tid: str, use: bool) -> TopicConfig:
        return TopicConfig.model_validate(
            {
                "id": tid,
                "name": tid,
                "groups": {"w": {"terms": ["wheat"]}},
                "threshold": 0.1,
                "model": {"use": use},
            }
        )

    rng = np.random.default_rng(0)
    words = ["harvest", "crop", "prices", "football", "match", "goal", "rain", "market"]
    items = []
    for n in range(120):
        relevant = n % 3 == 0
        text = " ".join(rng.choice(words, 8)) + (" wheat harvest" if relevant else "")
        if n % 10 == 1:
            text += " wheat"  # rule hits that are not relevant: something a model can learn
        items.append(
            Item(
                str(n), f"story {n}", text, ["t"] if relevant else [], "train" if n < 80 else "test"
            )
        )
    off, on = topic("t", use=False), topic("t", use=True)
    rules = rules_run([off], prepare([off], items)).per_topic["t"]
    run_off = feedback_run([off], prepare([off], items), 10)
    assert run_off.labels_used == {"t": 0}
    assert run_off.per_topic["t"] == rules
    run_on = feedback_run([on], prepare([on], items), 10)
    assert run_on.labels_used == {"t": 10}
    assert run_on.per_topic["t"].tp > 0
    # the topic's own model.threshold replaces the trained one, as in the product
    strict = TopicConfig.model_validate({**on.model_dump(), "model": {"threshold": 0.999}})
    run_strict = feedback_run([strict], prepare([strict], items), 10)
    assert run_strict.per_topic["t"].tp == run_strict.per_topic["t"].fp == 0
