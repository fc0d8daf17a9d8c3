"""The learned re-scorer of a topic: features of an analysed article, the model, and
where models are kept.

A logistic regression over the words and word pairs of an article (TF-IDF) and the
rule's own evidence; its output is P(relevant). Training it is
:mod:`monitor.topics.learn`'s job; :class:`~monitor.topics.match.Classifier` loads the
active models (:func:`active_models`) and calls :meth:`TopicModel.predict`. Models are
plain JSON (no pickle): loading one runs no code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from monitor.errors import NewsmonError
from monitor.topics.language import TopicConfig
from monitor.topics.model_files import model_path as model_path
from monitor.topics.model_files import models_dir as models_dir
from monitor.topics.text import Tokens

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

FORMAT = 1


class ModelError(NewsmonError):
    """A model cannot be trained, saved or loaded."""


def word_counts(tokens: Tokens) -> Counter[str]:
    """Words, adjacent word pairs and title words of an analysed article."""
    words: list[str] = []
    title: list[str] = []
    for n, idx, punct in zip(tokens.norms, tokens.idx, tokens.punct, strict=True):
        if punct:
            continue
        w = "<num>" if any(c.isdigit() for c in n) else n
        words.append(w)
        if idx < tokens.title_end:
            title.append(w)
    c = Counter(words)
    c.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
    c.update(f"title:{w}" for w in title)
    return c


class FeatureSpace:
    """Vocabulary and idf fitted on a pool of articles (unlabelled is fine)."""

    def __init__(self, vocab: dict[str, int], idf: np.ndarray) -> None:
        self.vocab = vocab
        self.idf = idf

    @classmethod
    def fit(
        cls, counts: Sequence[Counter[str]], min_df: int = 2, max_features: int = 60_000
    ) -> FeatureSpace:
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        kept = [(f, n) for f, n in df.items() if n >= min_df]
        kept.sort(key=lambda fn: (-fn[1], fn[0]))
        kept = kept[:max_features]
        n_docs = len(counts)
        vocab = {f: i for i, (f, _) in enumerate(kept)}
        idf = np.array([math.log((1 + n_docs) / (1 + n)) + 1.0 for _, n in kept])
        return cls(vocab, idf)

    def transform(self, counts: Sequence[Counter[str]]) -> csr_matrix:
        from scipy.sparse import csr_matrix

        indptr, indices, data = [0], [], []
        for c in counts:
            cols, vals = [], []
            for f, n in c.items():
                j = self.vocab.get(f)
                if j is not None:
                    cols.append(j)
                    vals.append((1.0 + math.log(n)) * self.idf[j])
            norm = math.sqrt(sum(v * v for v in vals)) or 1.0
            indices += cols
            data += [v / norm for v in vals]
            indptr.append(len(indices))
        return csr_matrix(
            (np.array(data), np.array(indices, dtype=np.int64), np.array(indptr, dtype=np.int64)),
            shape=(len(counts), len(self.vocab)),
        )


@dataclass
class TopicModel:
    """A trained model for one topic, as stored (JSON)."""

    topic: str
    topic_version: str
    threshold: float
    intercept: float
    weights: dict[str, float]  # word feature -> coefficient (non-zero only)
    idf: dict[str, float]  # every feature of the vocabulary (for the L2 norm)
    rule_weights: dict[str, float]
    n_labels: int = 0
    n_positive: int = 0
    n_weak: int = 0
    trained_at: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    model_id: str = ""

    def __post_init__(self) -> None:
        if not self.model_id:
            # Everything that changes a decision: two models that differ only in their
            # threshold (or in the vocabulary that normalises the word features) are two
            # models, not "the same as the active one".
            blob = json.dumps(
                [
                    self.topic_version,
                    self.threshold,
                    self.intercept,
                    sorted(self.weights.items()),
                    sorted(self.rule_weights.items()),
                    sorted(self.idf.items()),
                ]
            ).encode()
            self.model_id = "m" + hashlib.sha256(blob).hexdigest()[:8]

    def with_threshold(self, threshold: float) -> TopicModel:
        """The same model deciding at ``threshold``: another model, with an id of its own."""
        return replace(self, threshold=threshold, model_id="")

    # -- use --
    def logit(
        self, counts: Counter[str], rule: Mapping[str, float], explain: bool = False
    ) -> tuple[float, list[dict[str, Any]]]:
        vals: dict[str, float] = {}
        for f, n in counts.items():
            idf = self.idf.get(f)
            if idf is not None:
                vals[f] = (1.0 + math.log(n)) * idf
        norm = math.sqrt(sum(v * v for v in vals.values())) or 1.0
        z = self.intercept
        parts: list[tuple[str, float]] = []
        for f, v in vals.items():
            w = self.weights.get(f)
            if w:
                c = w * v / norm
                z += c
                if explain:
                    parts.append((f, c))
        for f, v in rule.items():
            w = self.rule_weights.get(f, 0.0)
            if w and v:
                z += w * v
                if explain:
                    parts.append((f, w * v))
        if not explain:
            return z, []
        parts.sort(key=lambda p: -abs(p[1]))
        top = [{"feature": f, "contribution": round(c, 3)} for f, c in parts[:10]]
        return z, top

    def predict(
        self,
        tokens: Tokens,
        evidence: Mapping[str, Any],
        saturations: Mapping[str, float],
        topic: TopicConfig | None = None,
        explain: bool = False,
    ) -> tuple[float, list[dict[str, Any]]]:
        """P(relevant) for one analysed article, and the strongest features."""
        rule = {f: v for f, v in rule_inputs(evidence, saturations).items()}
        z, top = self.logit(word_counts(tokens), rule, explain)
        return _sigmoid(z), top

    # -- storage --
    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = FORMAT
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TopicModel:
        if d.get("format") != FORMAT:
            raise ModelError(f"model format {d.get('format')!r} is not {FORMAT}")
        d = {k: v for k, v in d.items() if k != "format"}
        return cls(**d)


def rule_inputs(evidence: Mapping[str, Any], saturations: Mapping[str, float]) -> dict[str, float]:
    feats = {
        "rule:score": float(evidence.get("rule_score", evidence.get("score", 0.0))),
        "rule:passed": 1.0 if evidence.get("rule_passed") else 0.0,
    }
    for g, v in saturations.items():
        feats[f"group:{g}"] = float(v)
    return feats


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def save_model(model: TopicModel, kind: str = "candidate", directory: Path | None = None) -> Path:
    path = model_path(model.topic, kind, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(model.to_json(), ensure_ascii=False, sort_keys=True), encoding="utf-8"
    )
    tmp.replace(path)
    return path


def save_candidate(model: TopicModel, directory: Path | None = None) -> Path | None:
    """Save a newly trained model as its topic's candidate - unless it is the active model
    again (the learner chose as it did on the labels before: the same weights, the same
    id), when there is nothing to activate: then no candidate is kept (an older one goes,
    as a training always replaces it) and None is returned, so that no one is offered an
    activation, and later a rollback, that change nothing."""
    # Under the topic's model lock: an activation moving the candidate into place at this
    # moment must not find it gone (and leave no active model).
    with model_lock(model.topic, directory):
        active = model_path(model.topic, "active", directory)
        if active.exists():
            try:
                same = load_model(active).model_id == model.model_id
            except ModelError:
                same = False
            if same:
                model_path(model.topic, "candidate", directory).unlink(missing_ok=True)
                return None
        return save_model(model, "candidate", directory)


SAME_AS_ACTIVE = "same as the active model, nothing to activate"


def load_model(path: Path) -> TopicModel:
    try:
        return TopicModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ModelError(f"no model at {path}") from None
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"cannot read model {path}: {exc}") from None


LOCK_WAIT = 30.0  # seconds an activation or rollback waits for another one to finish


@contextmanager
def model_lock(
    topic_id: str, directory: Path | None = None, wait: float = LOCK_WAIT
) -> Iterator[None]:
    """Hold the topic's model lock (an ``fcntl`` lock on ``<topic>.lock`` in the models
    directory): activations, rollbacks and deactivations of a topic take turns, whether
    they come from the desk's threads or another process (``newsmon topics activate``).
    :class:`ModelError` after ``wait`` seconds."""
    import fcntl

    directory = directory or models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"{topic_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ModelError(
                        f"{topic_id}: another activation or rollback of this topic's model "
                        f"is in progress (waited {wait:g} s): try again"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def activate(
    topic_id: str, directory: Path | None = None, expected: str | None = None
) -> TopicModel:
    """Make the candidate model of a topic the one used (the previous one is kept).

    ``expected``: the id of the candidate that was tested; when the candidate is another
    one now (retrained in between), nothing changes and :class:`ModelError` says so.
    Done under :func:`model_lock`: of two activations at once, the second finds no
    candidate (or another one) and refuses, and the active model is never lost."""
    with model_lock(topic_id, directory):
        cand = model_path(topic_id, "candidate", directory)
        if not cand.exists():
            raise ModelError(
                f"{topic_id}: there is no candidate model to activate"
                + (f" (was {expected} activated already?)" if expected else ": train one")
            )
        model = load_model(cand)
        if expected is not None and model.model_id != expected:
            raise ModelError(
                f"{topic_id}: the candidate is now {model.model_id}, not the tested "
                f"{expected} (retrained since?): test it, then activate"
            )
        active = model_path(topic_id, "active", directory)
        if active.exists() and load_model(active).model_id == model.model_id:
            # activating it would make the previous model this one too: a rollback lost
            cand.unlink(missing_ok=True)
            raise ModelError(f"{topic_id}: candidate {model.model_id} is the {SAME_AS_ACTIVE}")
        if active.exists():
            active.replace(model_path(topic_id, "previous", directory))
        cand.replace(active)
        return model


def deactivate(topic_id: str, directory: Path | None = None) -> bool:
    """Stop using a topic's model (rules alone decide); the file is kept as previous."""
    with model_lock(topic_id, directory):
        active = model_path(topic_id, "active", directory)
        if not active.exists():
            return False
        active.replace(model_path(topic_id, "previous", directory))
        return True


def active_models(
    topics: Sequence[TopicConfig], directory: Path | None = None
) -> dict[str, TopicModel]:
    """The activated models of these topics (unreadable ones are an error, not ignored)."""
    out = {}
    for t in topics:
        path = model_path(t.id, "active", directory)
        if path.exists():
            out[t.id] = load_model(path)
    return out
