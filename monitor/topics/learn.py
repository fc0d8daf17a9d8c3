"""Learning from review: a per-topic model that re-scores what the rules see.

What the model is
    A logistic regression over two kinds of features of an article:
    the words and word pairs of its text (TF-IDF, sublinear, L2-normalised; numbers
    folded to ``<num>``; title words also as ``title:word``), and the rule's own
    evidence (the saturation of each group, the rule score, whether the rule passed).
    Its output is P(relevant); the article is a hit when P reaches the model's
    threshold, set at training so that the model flags as many pool articles as are
    expected to be relevant (the rules' hits, corrected by the reviews; see
    :func:`prevalence_threshold`), or the topic's ``model.threshold`` if given.

What it learns from
    Every article in the pool (the stored articles, or a dataset's train split)
    with the rules' decision as a *weak* label, plus the reviewed labels (``newsmon
    hits mark``, seed examples, or simulated review) which replace the weak label
    and weigh ``label_weight`` times more. The weak labels teach the model the
    vocabulary around what the analyst's rules find; the reviewed labels correct
    the rules where they are wrong. The model is therefore never worse informed
    than the rules, and a few dozen labels move it where the rules err.

Which stories to review (:func:`propose`)
    Uncertainty sampling in rounds: train on what is known, then propose the
    unreviewed stories whose probability is closest to the threshold, half from
    each side, skipping near-duplicates of stories already proposed.

The model itself and where it is kept: :mod:`monitor.topics.model`. ``newsmon topics
train`` writes a *candidate*; ``newsmon topics test`` shows what it would change;
``newsmon topics activate`` makes it the one used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from monitor.topics.language import TopicConfig
from monitor.topics.model import FeatureSpace, ModelError, TopicModel, rule_inputs

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix


# --- training --------------------------------------------------------------------------


@dataclass
class TrainSettings:
    """How a model is trained. The defaults were chosen on a development split carved
    out of Reuters-21578's *train* split (see benchmarks/topics_reuters.py --dev)."""

    label_weight: float = 50.0  # a reviewed label counts this many weak ones
    weak_weight: float = 1.0
    C: float = 4.0  # inverse regularisation of the logistic regression
    rule_features: bool = False
    prevalence: bool = True  # set the decision threshold from the expected share of hits
    balanced: bool = False  # weigh the two classes equally (rare topics)
    confidence: bool = True  # weigh weak labels by the rule's margin from its threshold
    threshold: float = 0.5


def weak_confidence(
    score: np.ndarray, passed: np.ndarray, threshold: float, margin: float = 0.3, floor: float = 0.1
) -> np.ndarray:
    """How much to trust each rule decision as a label: little near the threshold (where
    the rules err), fully far from it (a clear hit, or nothing matched at all)."""
    dist = np.abs(score - threshold) / margin
    conf = np.clip(dist, floor, 1.0)
    # the rule failed although the score is high: the rule's structure vetoed it
    conf = np.where(~passed & (score >= threshold), floor, conf)
    return conf


@dataclass
class LabelledPool:
    """What one topic learns from, shared by training (:func:`fit`), estimating and
    proposing (:mod:`monitor.topics.estimate`): the pool's word features ``X`` (in
    ``space``) and rule features ``rules`` (columns ``rule_names``, from
    :func:`rule_matrix`: the rule score and whether the rule passed first), ``weak`` the
    rules' decision on every row, and ``labels`` the reviewed rows (row -> relevant),
    whatever they come from: a reviewed hit, a labelled non-hit, a seed example.
    ``kinds`` says how a label was proposed (:mod:`monitor.topics.active`; optional)."""

    topic: TopicConfig
    space: FeatureSpace
    X: csr_matrix
    rules: np.ndarray
    rule_names: list[str]
    weak: np.ndarray
    labels: Mapping[int, bool] = field(default_factory=dict)
    kinds: Mapping[int, str] = field(default_factory=dict)
    weak_threshold: float | None = None  # the rule threshold ``weak`` is from (None: topic's)

    @property
    def score(self) -> np.ndarray:
        out: np.ndarray = self.rules[:, 0]
        return out

    @property
    def passed(self) -> np.ndarray:
        out: np.ndarray = self.rules[:, 1] > 0
        return out

    @property
    def threshold(self) -> float:
        return self.topic.threshold if self.weak_threshold is None else self.weak_threshold

    def with_labels(self, labels: Mapping[int, bool]) -> LabelledPool:
        return replace(self, labels=dict(labels))

    def rethreshold(self, threshold: float) -> LabelledPool:
        """The pool with the rules' decisions at another threshold (weak labels from rules
        that are as broad as the labels say, not as broad as written)."""
        weak = self.passed & (self.score >= threshold)
        return replace(self, weak=weak, weak_threshold=threshold)

    def confidence(self) -> np.ndarray:
        return weak_confidence(self.score, self.passed, self.threshold)


def fit(pool: LabelledPool, settings: TrainSettings | None = None) -> TopicModel:
    """Train on a pool: the rules' decisions as weak labels (weighed by
    :func:`weak_confidence`), the reviewed labels ``label_weight`` times stronger."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression

    s = settings or TrainSettings()
    topic, space, X, rules, labels = pool.topic, pool.space, pool.X, pool.rules, pool.labels
    weak = pool.weak
    y = weak.astype(int).copy()
    w = np.full(len(y), s.weak_weight, dtype=float)
    if s.confidence:
        w = w * pool.confidence()
    for i, lab in labels.items():
        y[i] = int(lab)
        w[i] = s.label_weight
    if s.weak_weight == 0:
        keep = np.array(sorted(labels), dtype=int)
        X, rules, y, w = X[keep], rules[keep], y[keep], w[keep]
    if len(set(y.tolist())) < 2:
        raise ModelError(
            f"topic {topic.id}: need both relevant and irrelevant examples "
            f"(have only {'relevant' if y.any() else 'irrelevant'} ones)"
        )
    M = hstack([X, csr_matrix(rules)]).tocsr() if s.rule_features else X
    clf = LogisticRegression(
        C=s.C,
        solver="liblinear",
        # the dual problem: many more features than articles, ten times faster
        dual=True,
        max_iter=200,
        random_state=0,
        class_weight="balanced" if s.balanced else None,
    )
    clf.fit(M, y, sample_weight=w)
    coef = clf.coef_[0]
    n_words = X.shape[1]
    inv = {j: f for f, j in space.vocab.items()}
    kept = np.nonzero(np.abs(coef[:n_words]) > 1e-4)[0]
    weights = {inv[int(j)]: round(float(coef[j]), 5) for j in kept}
    rule_w = (
        {name: round(float(coef[n_words + k]), 5) for k, name in enumerate(pool.rule_names)}
        if s.rule_features
        else {}
    )
    idf = {inv[j]: round(float(space.idf[j]), 4) for j in range(n_words)}
    n_pos = sum(1 for v in labels.values() if v)
    return TopicModel(
        topic=topic.id,
        topic_version=topic.version,
        threshold=s.threshold,
        intercept=float(clf.intercept_[0]),
        weights=weights,
        idf=idf,
        rule_weights=rule_w,
        n_labels=len(labels),
        n_positive=n_pos,
        n_weak=int(len(weak) - len(labels)) if s.weak_weight else 0,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        settings=asdict(s),
    )


def predict(model: TopicModel, pool: LabelledPool) -> np.ndarray:
    """P(relevant) for every row of the pool."""
    return predict_matrix(model, pool.space, pool.X, pool.rules, pool.rule_names)


def train(
    pool: LabelledPool, settings: TrainSettings | None = None
) -> tuple[TopicModel, np.ndarray]:
    """:func:`fit` and the decision threshold (:func:`prevalence_threshold`): the
    previous learner, kept for comparison (``learner="prevalence"``). Returns the model
    and its probabilities on the pool."""
    s = settings or TrainSettings()
    model = fit(pool, s)
    p = predict(model, pool)
    if s.prevalence:
        model = model.with_threshold(prevalence_threshold(p, pool.weak, pool.labels))
    return model, p


def prevalence_threshold(
    p: np.ndarray,
    weak: np.ndarray,
    labels: Mapping[int, bool],
    floor: float = 0.05,
    ceiling: float = 0.95,
) -> float:
    """The decision threshold at which the model flags as many pool articles as are
    expected to be relevant: the rules' hits, corrected by what review found (rule hits
    marked irrelevant are taken out, misses marked relevant added)."""
    expected = int(weak.sum())
    for i, lab in labels.items():
        expected += int(lab) - int(bool(weak[i]))
    if expected <= 0:
        return ceiling
    expected = min(expected, len(p))
    thr = float(np.sort(p)[::-1][expected - 1])
    return min(ceiling, max(floor, thr))


def rule_matrix(
    topic: TopicConfig, rows: Sequence[tuple[Mapping[str, Any], Mapping[str, float]]]
) -> tuple[np.ndarray, list[str]]:
    """Rule features for many articles: (evidence, saturations) per row."""
    names = ["rule:score", "rule:passed"] + [f"group:{g}" for g in topic.groups]
    out = np.zeros((len(rows), len(names)))
    for i, (ev, sats) in enumerate(rows):
        f = rule_inputs(ev, sats)
        out[i] = [f.get(n, 0.0) for n in names]
    return out, names


def predict_matrix(
    model: TopicModel, space: FeatureSpace, X: csr_matrix, rules: np.ndarray, rule_names: list[str]
) -> np.ndarray:
    """P(relevant) for every row (the fast path of :meth:`TopicModel.predict`)."""
    coef = np.zeros(len(space.vocab))
    for f, wt in model.weights.items():
        j = space.vocab.get(f)
        if j is not None:
            coef[j] = wt
    z = X @ coef + model.intercept
    if model.rule_weights:
        z = z + rules @ np.array([model.rule_weights.get(n, 0.0) for n in rule_names])
    p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return p


def propose(
    p: np.ndarray,
    threshold: float,
    exclude: set[int],
    k: int,
    X: csr_matrix | None = None,
    max_similarity: float = 0.9,
) -> list[int]:
    """The ``k`` unreviewed rows most worth a reviewer's time: closest to the decision
    threshold, alternating from above and below it, no near-duplicates (cosine of the
    word features above ``max_similarity``) of rows already picked."""
    order_above = [i for i in np.argsort(p - threshold) if p[i] >= threshold and i not in exclude]
    order_below = [i for i in np.argsort(threshold - p) if p[i] < threshold and i not in exclude]
    picked: list[int] = []
    ia = ib = 0
    turn = 0
    while len(picked) < k and (ia < len(order_above) or ib < len(order_below)):
        take_above = (turn % 2 == 0 and ia < len(order_above)) or ib >= len(order_below)
        if take_above:
            i = int(order_above[ia])
            ia += 1
        else:
            i = int(order_below[ib])
            ib += 1
        turn += 1
        if X is not None and picked:
            sims = (X[picked] @ X[i].T).toarray().ravel()
            if sims.size and sims.max() > max_similarity:
                continue
        picked.append(i)
    return picked


# --- storage ---------------------------------------------------------------------------
