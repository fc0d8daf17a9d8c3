"""Suggested rule edits from labels, measured, applied to topics.yaml with a version kept:
a blind ``crude`` topic on real Reuters-21578 stories (skips without the corpus)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config, load_yaml_model
from monitor.topics.edit import apply_edit, history, versions
from monitor.topics.language import TopicConfig, TopicsFile
from monitor.topics.match import Classifier
from monitor.topics.suggest import ADD, EXCLUDE, Article, suggest, variant
from tests.test_topics_learn import TOPIC, ok, stored_items, world  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "reuters21578"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not present: {CORPUS}")

# written blind: crude oil is "crude", and a price or a producer; no word of OPEC, barrels
TOPICS = """\
# the analyst's first try
topics:
  - id: crude
    name: Crude oil
    groups:
      oil:
        terms: [crude, crude oil]  # the commodity
      market:
        weight: 0.5
        terms:
          - price
          - prices
          - output
    threshold: 0.3
    rule:
      all: [oil]
"""


@pytest.fixture(scope="module")
def stories() -> tuple[list[Article], list[Article]]:
    from tests.support.reuters import stories as read

    all_ = list(read(CORPUS))
    train = [s for s in all_ if s["split"] == "train"][::12]
    test = [s for s in all_ if s["split"] == "test"][::12]

    def art(s: dict[str, object], labelled: bool) -> Article:
        labels = s["labels"]
        assert isinstance(labels, list)
        return Article(
            str(s["title"]), str(s["text"]), "en", "crude" in labels if labelled else None
        )

    return [art(s, True) for s in train], [art(s, False) for s in test]


def _measure(topic: TopicConfig, arts: list[Article]) -> tuple[int, int, int]:
    clf = Classifier([topic], models={})
    tp = fp = fn = 0
    for a in arts:
        hit = clf.classify(a.title, a.text, a.language)[0].matched
        tp += int(hit and bool(a.label))
        fp += int(hit and not a.label)
        fn += int(bool(a.label) and not hit)
    return tp, fp, fn


@needs_corpus
def test_suggestions_are_measured_and_applied_with_a_version(
    stories: tuple[list[Article], list[Article]], tmp_path: Path
) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(TOPICS, encoding="utf-8")
    topic = load_yaml_model(path, TopicsFile).topics[0]
    labelled, stored = stories
    rep = suggest(topic, labelled, stored, limit=6)
    assert rep.labelled == len(labelled) and rep.relevant > 10
    assert rep.edits, "the blind topic misses most crude stories: something must help"
    # the edits that add a term come first in recall, each measured as claimed
    adds = [e for e in rep.edits if e.kind == ADD]
    assert adds and all(e.after.f1 > e.before.f1 for e in rep.edits)
    best = rep.edits[0]
    edited = TopicConfig.model_validate(variant(topic, best.kind, best.term, best.group))
    tp, fp, fn = _measure(edited, labelled)
    assert (tp, fp, fn) == (best.after.tp, best.after.fp, best.after.fn)
    assert _measure(topic, labelled) == (best.before.tp, best.before.fp, best.before.fn)
    # history: the hits gained and lost are those of the stored articles
    before_hits = sum(
        _measure(topic, [Article(a.title, a.text, a.language, True) for a in stored])[:2]
    )
    after = _measure(edited, [Article(a.title, a.text, a.language, True) for a in stored])
    assert best.history == len(stored)
    assert sum(after[:2]) - before_hits == best.gained - best.lost
    # applied: comments kept, the file loads, the topic has the term, a version was kept
    saved = apply_edit(path, topic, best)
    text = path.read_text(encoding="utf-8")
    assert "# the analyst's first try" in text and "# the commodity" in text
    now = load_yaml_model(path, TopicsFile).topics[0]
    assert now.model_dump() == edited.model_dump()
    assert versions(tmp_path, "crude") == [saved]
    changes = history(tmp_path, now)
    assert len(changes) == 1 and changes[0][1] == "current"
    added = [ln for ln in changes[0][2].splitlines() if ln.startswith("+ ")]
    assert added and all(best.term in ln for ln in added), changes[0][2]


@needs_corpus
def test_an_exclusion_and_a_block_list_edit_keep_the_file_valid(tmp_path: Path) -> None:
    from monitor.topics.evaluate import Scores
    from monitor.topics.suggest import Edit

    path = tmp_path / "topics.yaml"
    path.write_text(TOPICS, encoding="utf-8")
    topic = load_yaml_model(path, TopicsFile).topics[0]
    for kind, term, group in [
        (ADD, "opec", "market"),
        (EXCLUDE, "palm oil", None),
        (EXCLUDE, "gas", None),
    ]:
        e = Edit(kind, term, group, Scores(), Scores())
        apply_edit(path, topic, e)
        want = TopicConfig.model_validate(variant(topic, kind, term, group))
        topic = load_yaml_model(path, TopicsFile).topics[0]
        assert topic.model_dump() == want.model_dump()
    assert len(versions(tmp_path, "crude")) == 3
    assert [b for _, b, _ in history(tmp_path, topic)][-1] == "current"


def test_suggest_apply_and_history_from_the_cli(world: dict[str, Any]) -> None:  # noqa: F811
    """On a database with reviewed hits: the festival stories are false hits of the
    Caucasus topic, the suggestion to exclude what they share is applied, and the topic's
    history shows the change."""
    rep = json.loads(ok(world, "topics", "suggest", TOPIC, "--json"))
    assert rep["labelled"] == 7 and rep["relevant"] == 4
    assert rep["edits"], rep
    first = rep["edits"][0]
    assert first["labelled"]["after"]["f1"] > first["labelled"]["before"]["f1"]
    assert first["history"]["articles"] == world["n_articles"]
    assert "no saved versions" in ok(world, "topics", "history", TOPIC)
    out = ok(world, "topics", "suggest", TOPIC, "--apply", "1", "--yes")
    assert "written to" in out and "topics.history" in out
    topic = load_config(world["cfg"]).topic(TOPIC)
    if first["kind"] == "exclude":
        assert [first["term"]] in [e.terms for e in topic.exclude]
    else:
        assert first["term"] in topic.groups[first["group"]].terms
    text = ok(world, "topics", "history", TOPIC)
    assert "-> current" in text and first["term"] in text
    # the edit as measured: the labelled articles now decide as the suggestion said
    again = json.loads(ok(world, "topics", "suggest", TOPIC, "--json"))
    assert (
        again["edits"] == []
        or again["edits"][0]["labelled"]["before"] == first["labelled"]["after"]
    )


def test_train_keeps_what_the_labels_support(world: dict[str, Any]) -> None:  # noqa: F811
    """``topics train --learner estimate`` chooses between rules, calibrated rules and the
    model by F1 on the labels out of fold, and says so; ``prevalence`` keeps the model."""
    rep = json.loads(ok(world, "topics", "train", TOPIC, "--json", "--learner", "estimate"))
    cv = rep["cv_f1"]
    assert {"rules", "calibrated rules", "model"} <= set(cv)
    assert rep["kind"] in cv
    # the kept decision is never worse on the labels than the better rules by the tolerance
    assert cv[rep["kind"]] >= max(cv["rules"], cv["calibrated rules"]) - 0.02
    old = json.loads(ok(world, "topics", "train", TOPIC, "--json", "--learner", "prevalence"))
    assert old["kind"] == "model" and old["cv_f1"] is None
    assert "decides:" in ok(world, "topics", "train", TOPIC, "--learner", "estimate")
