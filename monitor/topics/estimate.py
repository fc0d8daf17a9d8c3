"""What the labels say about the rules, and which decision to trust: rules, rules with a
calibrated threshold, or the learned model.

Why
    A model trained on the rules' decisions (weak labels) inherits their breadth: if
    its threshold is set to flag as many articles as the rules do, a rule that fires on
    three times too many articles teaches a model that does too. The labels tell how
    precise and how complete the rules really are; the threshold must come from them.

How
    1. The *calibrated rules*: the written threshold moved only as far as the labels
       require (among the thresholds whose F1 on the labels is within :data:`TOLERANCE`
       of the best, the closest to the written one; between
       two labelled scores the labels say nothing, so the threshold stops where the
       written one is closest: :func:`calibrated_threshold`, :func:`best_threshold`).
    2. The model (:func:`monitor.topics.learn.fit`) learns from weak labels of the rules
       at that threshold (:meth:`LabelledPool.rethreshold`), the reviewed labels 50 times
       stronger, and flags as many pool articles as the calibrated rules do, corrected by
       the labels (:func:`monitor.topics.learn.prevalence_threshold`): rules that fire on
       three times too many articles (or on a third of what they should) do not hand that
       breadth to the model, rules that are about right keep theirs.
    3. With the model's decisions on the pool (the labelled articles as labelled), the
       rules' precision and recall are estimated (:class:`RuleEstimate`): how many rule
       hits the model keeps, and how many of its hits the rules found. The labels of
       random hits, random non-hits and random near misses (:mod:`monitor.topics.active`,
       :func:`near_quota`) keep the boundary honest away from where the model is unsure.
    4. Rules, calibrated rules and model are compared out of fold on the labels: the
       calibrated rules by thresholds calibrated on the other folds
       (:func:`out_of_fold_calibrated`), the model by copies whose weak labels, weights
       and decision threshold all come from the other folds (:func:`out_of_fold`). The
       simplest of the three is kept unless a more complex one beats it (:func:`beats`:
       a higher F1, and no more labelled articles wrong than right where the two
       differ); ties go to the simpler one (:class:`Choice`). Without labels of both kinds there
       is no such evidence, and the model is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from monitor.topics.active import NEAR_MISS, RANDOM_HIT, RANDOM_MISS
from monitor.topics.language import TopicConfig
from monitor.topics.learn import (
    LabelledPool,
    TrainSettings,
    fit,
    predict,
    prevalence_threshold,
)
from monitor.topics.model import ModelError, TopicModel

RULES = "rules"
CALIBRATED = "calibrated rules"
MODEL = "model"
TOLERANCE = 0.02  # F1 on the labels within which thresholds count as equally good ...
MARGIN = 0  # labels a more complex decision must get right beyond a simpler one (net)
NEAR_PROBE = 3  # random near misses labelled before their share of relevant ones counts
MANY_LABELS = 300  # from this many labels on, three folds are enough


@dataclass
class RuleEstimate:
    """How good the rules are on the pool, estimated from the labels."""

    pool: int
    rule_hits: int
    expected_relevant: float
    precision: float
    recall: float
    labels: int
    labels_relevant: int
    random_hits: int = 0  # labels drawn at random among rule hits
    random_misses: int = 0  # ... and among non-hits

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Choice:
    """The decision kept for a topic and the evidence for it."""

    kind: str  # RULES, CALIBRATED or MODEL
    model: TopicModel | None  # what decides (calibrated rules are a tiny model too)
    threshold: float
    estimate: RuleEstimate
    rule_threshold: float  # the calibrated threshold on the rule score
    cv_f1: dict[str, float] = field(default_factory=dict)  # out of fold on the labels
    p: np.ndarray | None = None  # the model's P(relevant) on the pool
    correct: int | None = None  # labels the kept decision agrees with (the model: out of fold)
    metrics: dict[str, Any] = field(default_factory=dict)  # what a saved model keeps


def _f1(truth: np.ndarray, pred: np.ndarray) -> float:
    tp = float((truth & pred).sum())
    d = 2 * tp + float((truth & ~pred).sum()) + float((~truth & pred).sum())
    return 2 * tp / d if d else 1.0


def rule_model(topic: TopicConfig, threshold: float, kind: str = CALIBRATED) -> TopicModel:
    """The rules with another threshold, as a model the classifier can load: a hit when
    the rule passes and its score reaches ``threshold`` (``kind`` RULES: the topic's own
    threshold, what ``newsmon topics train`` saves when the rules are kept)."""
    steep = 40.0
    return TopicModel(
        topic=topic.id,
        topic_version=topic.version,
        threshold=0.5,
        intercept=-steep * threshold - steep + steep * 1e-3,
        weights={},
        idf={},
        rule_weights={"rule:score": steep, "rule:passed": steep},
        settings={"kind": kind, "rule_threshold": threshold},
    )


def choose(pool: LabelledPool, settings: TrainSettings | None = None, folds: int = 5) -> Choice:
    """Train, estimate and choose for one topic on a labelled pool (see the module
    docstring); ``pool.kinds`` says how each label was proposed (unknown: uncertain)."""
    s = settings or TrainSettings()
    topic, labels, kinds, weak = pool.topic, pool.labels, pool.kinds, pool.weak
    score, passed = pool.score, pool.passed
    idx = np.array(sorted(labels), dtype=int)
    y = np.array([labels[int(i)] for i in idx], dtype=bool)
    n_pos = int(y.sum())
    est = RuleEstimate(
        pool=len(weak),
        rule_hits=int(weak.sum()),
        expected_relevant=float(weak.sum()),
        precision=float("nan"),
        recall=float("nan"),
        labels=len(idx),
        labels_relevant=n_pos,
        random_hits=sum(1 for v in kinds.values() if v == RANDOM_HIT),
        random_misses=sum(1 for v in kinds.values() if v == RANDOM_MISS),
    )
    both = n_pos >= 2 and len(idx) - n_pos >= 2
    if len(idx) >= MANY_LABELS:
        folds = min(folds, 3)  # enough labels per fold; training stays within seconds
    hits = weak.astype(bool)
    rule_thr = calibrated_threshold(pool)
    # every option is scored out of fold on the labels: the rules need no fitting, the
    # calibrated rules and the model are fitted (threshold and all) on the other folds
    decisions: dict[str, np.ndarray] = {RULES: hits[idx]}
    if both:
        decisions[CALIBRATED] = out_of_fold_calibrated(pool, folds)
    model: TopicModel | None = None
    p: np.ndarray | None = None
    thr = 0.5
    decided = hits.copy()
    if topic.model.use:
        # weak labels from the rules at the threshold the labels support: rules three
        # times too broad (or narrow) do not hand that breadth to the model
        base = pool.rethreshold(rule_thr) if both else pool
        try:
            model = fit(base, s)
        except ModelError:
            model = None
        if model is not None:
            p = predict(model, base)
            # as many hits as the calibrated rules give, corrected by the labels
            thr = prevalence_threshold(p, base.weak, labels)
            model = model.with_threshold(thr)
            if both:
                decisions[MODEL] = out_of_fold(pool, s, folds)
            decided = p >= thr
            decided[idx] = y
    flagged = float(decided.sum())
    est.expected_relevant = flagged
    est.precision = float((decided & hits).sum() / hits.sum()) if hits.any() else 0.0
    est.recall = float((decided & hits).sum() / flagged) if flagged else 0.0
    cv = {k: _f1(y, d) for k, d in decisions.items()}
    # the simplest option that no more complex one beats by a margin the labels can show
    kind = RULES
    for option in (CALIBRATED, MODEL):
        if option in decisions and beats(y, decisions[option], decisions[kind]):
            kind = option
    if model is not None and not both:
        kind = MODEL  # without labels of both kinds there is no evidence against it
    model_ok = int((decisions[MODEL] == y).sum()) if MODEL in decisions else None
    metrics = {
        "estimate": _est_json(est),
        "rule_threshold": round(rule_thr, 4),
        "cv_f1": {k2: round(v, 4) for k2, v in cv.items()},
        "kind": kind,
    }
    chosen: TopicModel | None
    if kind == MODEL and model is not None:
        chosen, threshold, correct = model, thr, model_ok
    elif kind == CALIBRATED:
        chosen, threshold = rule_model(topic, rule_thr), 0.5
        correct = int(((passed[idx] & (score[idx] >= rule_thr)) == y).sum())
    else:
        chosen, threshold, correct = None, topic.threshold, int((hits[idx] == y).sum())
    if chosen is not None:
        chosen.metrics = metrics
    return Choice(kind, chosen, threshold, est, rule_thr, cv, p, correct, metrics)


def out_of_fold_calibrated(pool: LabelledPool, folds: int = 5) -> np.ndarray:
    """The calibrated rules' decision on every labelled row (in sorted row order), with a
    threshold calibrated on the other folds' labels (the folds of :func:`out_of_fold`)."""
    labels = pool.labels
    idx = np.array(sorted(labels), dtype=int)
    out = np.zeros(len(idx), dtype=bool)
    order = np.random.default_rng(0).permutation(len(idx))
    k = min(folds, len(idx))
    for f in range(k):
        held = order[f::k]
        skip = set(idx[held].tolist())
        t = calibrated_threshold(
            pool.with_labels({i: v for i, v in labels.items() if i not in skip})
        )
        sub = idx[held]
        out[held] = pool.passed[sub] & (pool.score[sub] >= t)
    return out


def calibrated_threshold(pool: LabelledPool) -> float:
    """The rule threshold that the labels support, as close to the written one as they
    allow (:func:`best_threshold`)."""
    idx = np.array(sorted(pool.labels), dtype=int)
    if not len(idx):
        return pool.topic.threshold
    y = np.array([pool.labels[int(i)] for i in idx], dtype=bool)
    score, passed = pool.score[idx], pool.passed[idx]
    cand = np.unique(np.round(score[passed], 4))
    return best_threshold(cand, lambda t: _f1(y, passed & (score >= t)), pool.topic.threshold)


def best_threshold(
    cand: np.ndarray,
    f1: Callable[[float], float],
    prior: float,
    tolerance: float = TOLERANCE,
) -> float:
    """Among the thresholds whose F1 on the labels is within ``tolerance`` of the best,
    the one closest to ``prior`` (the written threshold): a few labels move a threshold
    only as far as they must.

    ``cand`` are the labelled scores (sorted, unique). Every threshold in ``(c[k-1],
    c[k]]`` decides the labels as ``c[k]`` does, so within the best such intervals the
    threshold is the point closest to ``prior``, not the labelled score itself: when no
    label lies between the written threshold and 0.999, the labels say nothing for 0.999."""
    if not len(cand):
        return prior
    scores = np.array([f1(float(t)) for t in cand])
    best: tuple[float, float] | None = None
    for k in np.nonzero(scores >= scores.max() - tolerance)[0]:
        hi = float(cand[k])
        lo = float(cand[k - 1]) + 1e-4 if k else -math.inf
        t = min(max(prior, lo), hi)
        if best is None or abs(t - prior) < best[0]:
            best = (abs(t - prior), t)
    assert best is not None
    return best[1]


def out_of_fold(pool: LabelledPool, settings: TrainSettings, folds: int = 5) -> np.ndarray:
    """The model's decision on every labelled row (in sorted row order) as :func:`choose`
    would make it without that label: the rule threshold of the weak labels, the model
    and its decision threshold all from the other folds' labels (a threshold set on the
    labels it is scored on flatters the model)."""
    labels = pool.labels
    idx = np.array(sorted(labels), dtype=int)
    out = np.zeros(len(idx), dtype=bool)
    order = np.random.default_rng(0).permutation(len(idx))
    k = min(folds, len(idx))
    for f in range(k):
        held = order[f::k]
        skip = set(idx[held].tolist())
        known = {i: v for i, v in labels.items() if i not in skip}
        sub = idx[held]
        part = pool.with_labels(known)
        n_pos = sum(known.values())
        if n_pos >= 2 and len(known) - n_pos >= 2:
            part = part.rethreshold(calibrated_threshold(part))
        try:
            m = fit(part, settings)
        except ModelError:
            out[held] = part.weak[sub]  # one class only: the weak labels decide
            continue
        p = predict(m, part)
        out[held] = p[sub] >= prevalence_threshold(p, part.weak, known)
    return out


def beats(y: np.ndarray, new: np.ndarray, old: np.ndarray, margin: int = MARGIN) -> bool:
    """Whether decisions ``new`` are better than ``old`` on the labels ``y``: a higher F1,
    and right on at least ``margin`` more of the labelled articles where the two disagree
    than wrong (a higher F1 bought by more errors than fixes is no win). Ties go to
    ``old``, the simpler decision."""
    right_new = int(((new == y) & (old != y)).sum())
    right_old = int(((old == y) & (new != y)).sum())
    return _f1(y, new) > _f1(y, old) and right_new - right_old >= margin


def _est_json(e: RuleEstimate) -> dict[str, Any]:
    return {
        "pool": e.pool,
        "rule_hits": e.rule_hits,
        "expected_relevant": round(e.expected_relevant, 1),
        "rule_precision": round(e.precision, 3) if not math.isnan(e.precision) else None,
        "rule_recall": round(e.recall, 3) if not math.isnan(e.recall) else None,
        "labels": e.labels,
    }


def simulate_review(
    pool: LabelledPool,
    truth: np.ndarray,
    n_labels: int,
    settings: TrainSettings | None = None,
    round_size: int = 10,
) -> tuple[Choice, LabelledPool]:
    """A reviewer who labels, round after round, exactly what the engine proposes
    (:func:`monitor.topics.active.propose_round`), answering from ``truth``; then
    :func:`choose` on the labels. Returns the choice and the pool with its labels."""
    from monitor.topics.active import propose_round

    s = settings or TrainSettings()
    labels: dict[int, bool] = dict(pool.labels)
    kinds: dict[int, str] = dict(pool.kinds)
    while len(labels) < n_labels:
        k = min(round_size, n_labels - len(labels))
        cur, thr = proposal_scores(pool.with_labels(labels), s)
        near = pool.passed & ~pool.weak
        for pr in propose_round(
            cur,
            thr,
            pool.weak,
            set(labels),
            k,
            seed=pool.topic.id,
            X=pool.X,
            near_misses=near,
            near=near_quota(labels, kinds),
        ):
            labels[pr.row] = bool(truth[pr.row])
            kinds[pr.row] = pr.kind
    done = replace(pool, labels=labels, kinds=kinds)
    return choose(done, s), done


def near_quota(labels: Mapping[int, bool], kinds: Mapping[int, str]) -> int:
    """How many random near misses to ask for in the next round: one while fewer than
    :data:`NEAR_PROBE` were labelled or while at least a third of them are relevant (the
    threshold hides relevant articles), none once they show that it does not."""
    got = [labels[i] for i, k in kinds.items() if k == NEAR_MISS and i in labels]
    return int(len(got) < NEAR_PROBE or sum(got) >= len(got) / 3)


def proposal_scores(pool: LabelledPool, settings: TrainSettings) -> tuple[np.ndarray, float]:
    """The scores and threshold that proposals are made around: the current model's
    P(relevant) around 0.5 (where the weak and reviewed labels balance), or the rule
    score around the topic's threshold while no model can be trained."""
    if pool.topic.model.use:
        if len(set(pool.labels.values())) == 2:
            # weak labels from the rules at the threshold the labels support so far
            pool = pool.rethreshold(calibrated_threshold(pool))
        try:
            return predict(fit(pool, settings), pool), settings.threshold
        except ModelError:
            pass
    return np.where(pool.passed, pool.score, 0.0), max(pool.topic.threshold, 1e-6)
