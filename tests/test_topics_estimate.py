"""Learning that corrects the rules both ways: proposals across hits and non-hits, the
rules' precision and recall estimated from labels, and the model's threshold set from the
labels rather than from the rules' hit count. Real Reuters-21578 text (skips without it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.config import load_yaml_model
from monitor.topics.active import ACTIVE, NEAR_MISS, RANDOM_HIT, RANDOM_MISS, propose_round
from monitor.topics.estimate import MARGIN, beats, best_threshold, out_of_fold
from monitor.topics.evaluate import Item, Prepared, feedback_run, prepare, rules_run
from monitor.topics.language import TopicConfig, TopicsFile
from monitor.topics.learn import LabelledPool, TrainSettings, rule_matrix
from monitor.topics.model import FeatureSpace

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "reuters21578"
TOPICS = ROOT / "benchmarks" / "reuters_topics.yaml"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not present: {CORPUS}")


def test_proposals_mix_random_hits_random_misses_and_uncertain_rows() -> None:
    p = np.array([0.05, 0.4, 0.55, 0.9, 0.02, 0.42, 0.7, 0.3, 0.01, 0.6])
    hits = np.array([0, 1, 1, 1, 0, 0, 1, 0, 0, 1], dtype=bool)
    got = propose_round(p, 0.5, hits, set(), 5, seed="t")
    kinds = [pr.kind for pr in got]
    assert kinds.count(RANDOM_HIT) == 1 and kinds.count(RANDOM_MISS) == 1
    assert all(hits[pr.row] for pr in got if pr.kind == RANDOM_HIT)
    assert all(not hits[pr.row] for pr in got if pr.kind == RANDOM_MISS)
    assert len({pr.row for pr in got}) == 5
    # uncertain rows alternate above and below the threshold; below it, row 1 (0.40, a rule
    # hit: rules and model disagree) counts as twice as close, before row 5 (0.42, agreement)
    only = propose_round(p, 0.5, hits, set(), 3, seed="t", random_hits=0, random_misses=0)
    assert [pr.row for pr in only] == [2, 1, 9]
    # the same seed and labels give the same proposals; labelled rows are never proposed
    assert propose_round(p, 0.5, hits, set(), 5, seed="t") == got
    again = propose_round(p, 0.5, hits, {pr.row for pr in got}, 5, seed="t")
    assert not {pr.row for pr in again} & {pr.row for pr in got}
    # once enough labels are in, every proposal is an uncertain one
    late = propose_round(np.tile(p, 4), 0.5, np.tile(hits, 4), set(range(30)), 3, seed="t")
    assert [pr.kind for pr in late] == [ACTIVE] * 3


def test_every_round_draws_a_near_miss() -> None:
    """Non-hits whose rule holds under the threshold: where a threshold set too high hides
    its misses. One of them is drawn at random in every round, also late."""
    p = np.array([0.05, 0.4, 0.55, 0.9, 0.02, 0.42, 0.7, 0.3, 0.01, 0.6])
    hits = np.array([0, 1, 1, 1, 0, 0, 1, 0, 0, 1], dtype=bool)
    near = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    got = propose_round(p, 0.5, hits, set(), 5, seed="t", near_misses=near)
    drawn = [pr.row for pr in got if pr.kind == NEAR_MISS]
    assert len(drawn) == 1 and near[drawn[0]] and not hits[drawn[0]]
    late = propose_round(
        np.tile(p, 4),
        0.5,
        np.tile(hits, 4),
        set(range(30)),
        3,
        seed="t",
        near_misses=np.tile(near, 4),
    )
    assert [pr.kind for pr in late].count(NEAR_MISS) == 1
    # without near misses to draw from, nothing changes
    assert propose_round(p, 0.5, hits, set(), 5, seed="t") == propose_round(
        p, 0.5, hits, set(), 5, seed="t", near_misses=np.zeros(10, dtype=bool)
    )


def _sample() -> list[Item]:
    from tests.support.reuters import stories

    all_ = list(stories(CORPUS))
    train = [s for s in all_ if s["split"] == "train"][::3]
    test = [s for s in all_ if s["split"] == "test"][::3]
    return [Item(s["id"], s["title"], s["text"], s["labels"], s["split"]) for s in train + test]


@pytest.fixture(scope="module")
def acq_doubled() -> tuple[TopicConfig, Prepared]:
    """The committed ``acq`` topic with its threshold doubled: rules that miss most
    takeovers (a blind topic's typical error), on a third of Reuters."""
    acq = next(t for t in load_yaml_model(TOPICS, TopicsFile).topics if t.id == "acq")
    spoiled = TopicConfig.model_validate(
        {**acq.model_dump(exclude_defaults=True), "threshold": min(0.95, 2 * acq.threshold)}
    )
    return spoiled, prepare([spoiled], _sample())


@needs_corpus
def test_labels_widen_a_model_whose_rules_are_too_narrow(
    acq_doubled: tuple[TopicConfig, Prepared],
) -> None:
    """Rules that miss a third of the takeovers: 50 labels make up for it with the default
    learner, where the previous one (the rules' hit count as the prior) stays narrow."""
    topic, data = acq_doubled
    truth = data.truth("acq")
    train = data.split("train")
    rules = rules_run([topic], data).per_topic["acq"]
    calibrated = rules_run([topic], data, calibrate=True).per_topic["acq"]
    goal = max(rules.f1, calibrated.f1) - 0.01
    run = feedback_run([topic], data, 50)
    got = run.per_topic["acq"]
    choice = run.choices["acq"]
    assert run.labels_used == {"acq": 50}
    # the labels move the rule threshold down, and the model flags many more stories of
    # the pool than the rules do, about as many as are relevant
    assert choice.rule_threshold < topic.threshold
    hits = data.matched["acq"][train]
    assert choice.kind == "model" and choice.p is not None
    flagged = int((choice.p >= choice.threshold).sum())
    assert flagged > 1.3 * hits.sum()
    assert abs(flagged - truth[train].sum()) < 0.25 * truth[train].sum()
    # so 50 labels do at least as well as the rules and the rules calibrated on every label
    assert got.f1 >= goal, (rules, calibrated, got)
    # ... which the previous learner, thresholded by the rules' hit count, does not
    old = feedback_run([topic], data, 50, learner="prevalence").per_topic["acq"]
    assert old.f1 < goal, (old, goal)


def test_a_simpler_decision_keeps_ties() -> None:
    """A more complex decision (calibrated rules over rules, the model over either) is
    kept only when its F1 on the labels is higher and it is wrong on no more of the
    labelled articles where the two disagree than it is right: a tie keeps the simpler."""
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    old = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0], dtype=bool)  # 2 misses, 1 false hit
    one = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)  # one label better
    swap = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0], dtype=bool)  # one fixed, one broken
    assert not beats(y, old.copy(), old)
    assert beats(y, swap, old) == (MARGIN <= 0)  # F1 4/7 -> 2/3, one fixed, one broken
    assert beats(y, one, old) == (MARGIN <= 1)
    assert not beats(y, old, one)
    # a higher F1 bought with more wrong labels than right ones is no win either
    y2 = np.array([1, 0, 0, 0, 0, 0], dtype=bool)
    assert not beats(y2, np.array([1, 1, 1, 0, 0, 0], dtype=bool), np.zeros(6, dtype=bool))


def test_a_threshold_moves_no_further_than_a_label_says() -> None:
    """Thresholds between two labelled scores decide the labels alike, so the calibrated
    threshold is the one of them closest to the written threshold: with labelled scores
    0.3, 0.5 and 0.999 and the best F1 at or above 0.999, a written 0.95 stays 0.95
    (no label says anything between them); a written 0.2 with the best F1 at 0.5 moves
    just above 0.3, not to 0.5."""
    cand = np.array([0.3, 0.5, 0.999])
    up = {0.3: 0.5, 0.5: 0.6, 0.999: 1.0}
    assert best_threshold(cand, lambda t: up[t], 0.95) == 0.95
    mid = {0.3: 0.5, 0.5: 1.0, 0.999: 0.5}
    assert best_threshold(cand, lambda t: mid[t], 0.2) == pytest.approx(0.3001)
    assert best_threshold(cand, lambda t: mid[t], 0.45) == 0.45
    # within the tolerance of the best, the interval closest to the written threshold
    near = {0.3: 0.99, 0.5: 1.0, 0.999: 0.5}
    assert best_threshold(cand, lambda t: near[t], 0.1, tolerance=0.02) == 0.1


@needs_corpus
def test_out_of_fold_decisions_never_see_their_own_label(
    acq_doubled: tuple[TopicConfig, Prepared],
) -> None:
    """The model's out-of-fold decision on a labelled article comes from a rule threshold,
    a model and a decision threshold all set without its label: flipping the label of
    one article leaves its own decision as it was (the labels of other folds may move)."""
    topic, data = acq_doubled
    train = np.nonzero(data.split("train"))[0]
    truth = data.truth("acq")[train]
    space = FeatureSpace.fit([data.counts[i] for i in train])
    X = space.transform([data.counts[i] for i in train])
    R, names = rule_matrix(topic, [data.rule_rows["acq"][i] for i in train])
    rows = np.random.default_rng(1).choice(len(train), size=40, replace=False)
    labels = {int(i): bool(truth[i]) for i in rows}
    pool = LabelledPool(topic, space, X, R, names, data.matched["acq"][train], labels)
    s = TrainSettings()
    before = out_of_fold(pool, s)
    idx = sorted(labels)
    for k in (0, 7, 23):
        flipped = dict(labels)
        flipped[idx[k]] = not flipped[idx[k]]
        after = out_of_fold(pool.with_labels(flipped), s)
        assert after[k] == before[k]
