"""Learning from review, against the stored articles: train a topic's model, test a
definition or model before it is used.

``train_topic``: the pool is every stored article with text (the rules' decision
is its weak label), plus the topic's seed examples; the labels are the hits marked
with ``newsmon hits mark``, the articles marked for the topic although it did not hit
them (``newsmon articles mark``, "Teach as hit" on the desk: a rule miss), and the
seeds. The new model is written as a *candidate*: nothing changes until ``newsmon
topics activate``.

``compare_topic``: re-scores the stored articles with the current definition and the
candidate (or active) model and compares with the hits stored so far: new hits,
lost hits, and what that does to the hits analysts labelled.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from monitor.errors import ExtractError, NewsmonError
from monitor.store import FoundNearMiss, Store
from monitor.topics.estimate import RULES, choose, rule_model
from monitor.topics.language import TopicConfig
from monitor.topics.learn import LabelledPool, TrainSettings, predict, rule_matrix, train
from monitor.topics.match import Classifier
from monitor.topics.model import FeatureSpace, ModelError, TopicModel, word_counts
from monitor.topics.nearmiss import near_miss


class ReviewError(NewsmonError):
    """Training or testing a topic cannot go on (the message says why)."""


@dataclass
class PoolArticle:
    key: str  # "article:<id>" or "seed:<path or url>"
    title: str
    text: str
    language: str | None
    label: bool | None = None
    url: str = ""


def load_seed(ref: str, base: Path | None) -> PoolArticle:
    """A seed example: a path (relative to the topics file's directory) or a URL."""
    from monitor.extract.article import extract_file, extract_html

    try:
        if re.match(r"^https?://", ref, re.I):
            from monitor.config import FetchSettings
            from monitor.fetch.http import PAGE_ACCEPT, Fetcher

            async def get() -> Any:
                async with Fetcher(FetchSettings()) as f:
                    return await f.fetch(ref, accept=PAGE_ACCEPT)

            res = asyncio.run(get())
            ex = extract_html(res.body or b"", res.url)
        else:
            path = Path(ref)
            if not path.is_absolute() and base is not None:
                path = base / path
            ex = extract_file(path)
    except (ExtractError, NewsmonError) as exc:
        raise ReviewError(f"seed example {ref}: {exc}") from None
    return PoolArticle(
        key=f"seed:{ref}", title=ex.title, text=ex.text, language=ex.language, url=ref
    )


def load_pool(
    store: Store,
    topic: TopicConfig,
    *,
    config_dir: Path | None = None,
    limit: int = 20_000,
    with_seeds: bool = True,
) -> list[PoolArticle]:
    """Stored articles (newest first, at most ``limit``, and every labelled one) with
    their labels for the topic (on hits and on non-hits), then the topic's seed
    examples (labelled)."""
    labels = store.topic_labels(topic.id)
    rows = store.recent_articles(limit)
    # a labelled article older than the window still teaches (a hit's or a near miss's)
    seen = {a.id for a in rows}
    rows += store.articles_by_id([i for i in labels if i not in seen])
    pool = []
    for a in rows:
        text = a.text or a.summary or ""
        if not (text or a.title):
            continue
        lab = labels.get(a.id or 0)
        pool.append(
            PoolArticle(
                key=f"article:{a.id}",
                title=a.title,
                text=text,
                language=a.language,
                label=None if lab is None else lab == "relevant",
                url=a.url,
            )
        )
    if with_seeds:
        for ref in topic.seeds.hits:
            pool.append(_labelled(load_seed(ref, config_dir), True))
        for ref in topic.seeds.misses:
            pool.append(_labelled(load_seed(ref, config_dir), False))
    return pool


def _labelled(p: PoolArticle, label: bool) -> PoolArticle:
    p.label = label
    return p


@dataclass
class Analysed:
    """A pool run through the topic's rules once."""

    pool: list[PoolArticle]
    counts: list[Any]
    rows: list[tuple[dict[str, Any], dict[str, float]]]
    matched: np.ndarray
    score: np.ndarray
    passed: np.ndarray


def analyse_pool(topic: TopicConfig, pool: Sequence[PoolArticle]) -> Analysed:
    clf = Classifier([topic], models={})
    counts, rows, matched = [], [], []
    for p in pool:
        tokens = clf.analyse(p.title, p.text, p.language)
        counts.append(word_counts(tokens))
        r, sats = clf.decide_all(tokens)[0]
        rows.append((r.evidence, sats))
        matched.append(r.matched)
    return Analysed(
        list(pool),
        counts,
        rows,
        np.array(matched, dtype=bool),
        np.array([ev["score"] for ev, _ in rows]),
        np.array([bool(ev["rule_passed"]) for ev, _ in rows], dtype=bool),
    )


@dataclass
class LabelCheck:
    """Agreement with the reviewed labels: rules alone vs the model (cross-validated)."""

    n: int
    rules_correct: int
    model_correct: int | None  # None: too few labels to cross-validate
    folds: int = 0


@dataclass
class TrainReport:
    model: TopicModel
    pool: int
    labels_relevant: int
    labels_irrelevant: int
    rule_hits: int
    model_hits: int
    check: LabelCheck
    top_positive: list[tuple[str, float]] = field(default_factory=list)
    top_negative: list[tuple[str, float]] = field(default_factory=list)
    kind: str = "model"  # what decides: model, calibrated rules or rules


def train_topic(
    topic: TopicConfig,
    pool: Sequence[PoolArticle],
    settings: TrainSettings | None = None,
    progress: Callable[[str], None] | None = None,
    learner: str = "estimate",
) -> TrainReport:
    """Train a model for ``topic`` on an unsaved pool; the caller saves it. ``learner``
    "estimate" (the default) keeps what the labels support best
    (:func:`monitor.topics.estimate.choose`: the model, or the rules with a calibrated or
    their own threshold, saved as a tiny model); "prevalence", the previous learner,
    always keeps the model, thresholded by the rules' hit count."""
    s = settings or TrainSettings()
    labels = {i: bool(p.label) for i, p in enumerate(pool) if p.label is not None}
    if not labels:
        raise ReviewError(
            f"topic {topic.id}: no reviewed examples yet - mark hits with "
            f"`newsmon hits mark ID relevant|irrelevant`, articles it missed with "
            f"`newsmon articles mark ID --topic {topic.id} relevant`, or add seeds to the topic"
        )
    if progress:
        progress(f"analysing {len(pool)} articles with the rules of {topic.id}")
    data = analyse_pool(topic, pool)
    space = FeatureSpace.fit(data.counts, min_df=2 if len(pool) >= 50 else 1)
    X = space.transform(data.counts)
    R, names = rule_matrix(topic, data.rows)
    lp = LabelledPool(topic, space, X, R, names, data.matched, labels)
    kind = "model"
    if learner == "estimate":
        # rules, rules with a calibrated threshold, or the model: whichever does best
        # on the labels out of fold (monitor.topics.estimate)
        choice = choose(lp, s)
        kind = choice.kind
        model = choice.model or rule_model(topic, topic.threshold, RULES)
        model.n_labels, model.n_positive = len(labels), sum(labels.values())
        p = predict(model, lp)
        rules_ok = sum(1 for i in labels if bool(lp.weak[i]) == labels[i])
        check = LabelCheck(len(labels), rules_ok, choice.correct, 5 if choice.correct else 0)
        metrics = dict(choice.metrics)
    else:
        try:
            model, p = train(lp, s)
        except ModelError as exc:
            raise ReviewError(str(exc)) from None
        check = _cross_check(lp, s)
        metrics = {}
    model.metrics = {
        **metrics,
        "pool": len(pool),
        "labels": len(labels),
        "labels_rules_correct": check.rules_correct,
        "labels_model_correct_cv": check.model_correct,
        "folds": check.folds,
    }
    ranked = sorted(model.weights.items(), key=lambda fw: -fw[1])
    return TrainReport(
        model=model,
        pool=len(pool),
        labels_relevant=sum(labels.values()),
        labels_irrelevant=len(labels) - sum(labels.values()),
        rule_hits=int(data.matched.sum()),
        model_hits=int((p >= model.threshold).sum()),
        check=check,
        top_positive=ranked[:12],
        top_negative=ranked[::-1][:8],
        kind=kind,
    )


def _cross_check(lp: LabelledPool, s: TrainSettings) -> LabelCheck:
    """k-fold over the labels: would the model have decided each reviewed article as the
    reviewer did without having seen that label? Compared with the rules alone."""
    labels = lp.labels
    idx = sorted(labels)
    rules_ok = sum(1 for i in idx if bool(lp.weak[i]) == labels[i])
    folds = min(5, len(idx))
    if len(idx) < 6 or len(set(labels.values())) < 2:
        return LabelCheck(len(idx), rules_ok, None)
    ok = 0
    for k in range(folds):
        held = idx[k::folds]
        known = {i: labels[i] for i in idx if i not in held}
        try:
            m, p = train(lp.with_labels(known), s)
        except ModelError:
            return LabelCheck(len(idx), rules_ok, None)
        ok += sum(1 for i in held if bool(p[i] >= m.threshold) == labels[i])
    return LabelCheck(len(idx), rules_ok, ok, folds)


# --- testing a definition or model before it is used -------------------------------------


@dataclass
class Change:
    key: str
    title: str
    url: str
    label: bool | None
    score: float
    old_score: float | None = None
    language: str | None = None
    version: str = ""  # the definition (and model) version that decided it
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChangeReport:
    topic: str
    version: str
    model: str | None  # model id used, or None for rules alone
    articles: int
    stored_hits: int
    hits_now: int
    new_hits: list[Change]
    lost_hits: list[Change]
    kept: int
    seeds: list[tuple[str, bool, bool, float]]  # (ref, expected hit, is hit, score)
    labels_by_language: dict[str, int] = field(default_factory=dict)  # "" = unknown

    @property
    def lost_relevant(self) -> int:
        return sum(1 for c in self.lost_hits if c.label is True)

    @property
    def dropped_irrelevant(self) -> int:
        return sum(1 for c in self.lost_hits if c.label is False)


def compare_topic(
    store: Store,
    topic: TopicConfig,
    model: TopicModel | None,
    *,
    config_dir: Path | None = None,
    limit: int = 20_000,
) -> ChangeReport:
    """What the current definition (and ``model``) would change on the stored articles."""
    pool = load_pool(store, topic, config_dir=config_dir, limit=limit, with_seeds=False)
    stored = store.topic_hit_scores(topic.id)
    clf = Classifier([topic], models={topic.id: model} if model else {})
    new, lost = [], []
    kept = hits = 0
    for p in pool:
        r = clf.classify(p.title, p.text, p.language)[0]
        aid = int(p.key.split(":", 1)[1])
        was = aid in stored
        hits += r.matched
        if r.matched and not was:
            new.append(
                Change(
                    p.key, p.title, p.url, p.label, r.score, None, p.language, r.version, r.evidence
                )
            )
        elif was and not r.matched:
            lost.append(
                Change(
                    p.key,
                    p.title,
                    p.url,
                    p.label,
                    r.score,
                    stored[aid],
                    p.language,
                    r.version,
                    r.evidence,
                )
            )
        elif was:
            kept += 1
    seeds = []
    for ref, expected in [(x, True) for x in topic.seeds.hits] + [
        (x, False) for x in topic.seeds.misses
    ]:
        sp = load_seed(ref, config_dir)
        r = clf.classify(sp.title, sp.text, sp.language)[0]
        seeds.append((ref, expected, r.matched, r.score))
    new.sort(key=lambda c: -c.score)
    lost.sort(key=lambda c: (c.label is not True, c.score))
    return ChangeReport(
        topic=topic.id,
        version=topic.version,
        model=model.model_id if model else None,
        articles=len(pool),
        stored_hits=len(stored),
        hits_now=hits,
        new_hits=new,
        lost_hits=lost,
        kept=kept,
        seeds=seeds,
        labels_by_language=dict(
            Counter(p.language or "" for p in pool if p.label is not None).most_common()
        ),
    )


# --- near misses of the stored articles ---------------------------------------------------


@dataclass
class NearMissScan:
    topic: str
    articles: int
    near_misses: int
    added: int
    updated: int
    removed: int


def rescan_near_misses(
    store: Store,
    topic: TopicConfig,
    *,
    limit: int = 20_000,
    classifier: Classifier | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> NearMissScan:
    """Re-score the stored articles (the newest ``limit``, and every labelled one) with
    the topic's current definition and active model, as the pipeline would, and keep
    their near misses (:mod:`monitor.topics.nearmiss`): what a database stored before
    near misses were kept, or a topic just edited, needs. Hits are left as they are.
    ``progress(done, total)`` is told how far the scoring got, every 200 articles."""
    clf = classifier or Classifier([topic])
    # articles whose page is still to be read: scored on their summary here, and if the
    # page is read meanwhile, the page retry's near misses stand (refresh_near_misses)
    unsettled = {r.article_id for r in store.page_retries()}
    pool = load_pool(store, topic, limit=limit, with_seeds=False)
    stored = store.topic_hit_scores(topic.id)
    scanned: list[int] = []
    found: list[tuple[int, FoundNearMiss]] = []
    for i, p in enumerate(pool):
        if progress is not None and i % 200 == 0:
            progress(i, len(pool))
        aid = int(p.key.split(":", 1)[1])
        if aid in stored:
            continue
        scanned.append(aid)
        r = next(x for x in clf.classify(p.title, p.text, p.language) if x.topic == topic.id)
        v = near_miss(r.matched, r.score, r.evidence)
        if v is not None:
            found.append(
                (
                    aid,
                    FoundNearMiss(
                        topic.id,
                        round(r.score, 4),
                        v.threshold,
                        v.reason,
                        v.priority,
                        r.version,
                        r.evidence,
                    ),
                )
            )
    if progress is not None:
        progress(len(pool), len(pool))
    added, updated, removed = store.refresh_near_misses(
        topic.id, scanned, found, unsettled=unsettled
    )
    return NearMissScan(topic.id, len(pool), len(found), added, updated, removed)
