"""Which articles to ask the analyst about: active learning across hits and non-hits.

A label teaches most where the current decision is unsure or contested, and the
estimates of :mod:`monitor.topics.estimate` need a few labels that were *not* chosen
for being unsure. Every round of proposals therefore mixes:

- **random rule hits** (how precise the rules really are) and **random non-hits**
  (how many relevant articles the rules miss), drawn without regard to any score, so
  that they stand for their whole stratum (:data:`RANDOM_HIT`, :data:`RANDOM_MISS`);
- a **random near miss** in every round: a non-hit whose rule holds but whose score is
  under the threshold (:data:`NEAR_MISS`). A threshold set too high hides its misses
  there, where neither the model trained on the rules nor a random non-hit finds them;
- **uncertain** articles, closest to the decision threshold on either side, those where
  the rules and the model disagree first (:data:`ACTIVE`); no near-duplicates of an
  article already proposed.

``newsmon topics eval --feedback N`` simulates a reviewer who labels exactly what
:func:`propose_round` proposes, round after round; the desk asks the same function.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

RANDOM_HIT = "random-hit"
RANDOM_MISS = "random-miss"
NEAR_MISS = "near-miss"
ACTIVE = "active"


@dataclass(frozen=True)
class Proposal:
    """One article to label and why it was proposed (one of the three kinds above)."""

    row: int
    kind: str


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    out: np.ndarray = np.log(q / (1 - q))
    return out


def propose_round(
    p: np.ndarray,
    threshold: float,
    rule_hits: np.ndarray,
    known: set[int],
    k: int,
    *,
    seed: int | str = 0,
    random_hits: int = 1,
    random_misses: int = 1,
    random_until: int = 30,
    X: csr_matrix | None = None,
    max_similarity: float = 0.9,
    near_misses: np.ndarray | None = None,
    near: int = 1,
) -> list[Proposal]:
    """``k`` unlabelled rows to label next: ``random_hits`` rule hits and
    ``random_misses`` non-hits drawn at random (while fewer than ``random_until`` rows
    are labelled), the rest the most uncertain rows.

    ``p`` is the current P(relevant) (or the rule score when no model can be trained yet)
    and ``threshold`` its decision threshold; rows where ``p >= threshold`` disagrees
    with ``rule_hits`` count as twice as close to the threshold. ``seed`` makes the
    random draws repeatable (a topic id is a good seed); ``known`` rows are skipped.
    ``near_misses`` marks the near misses (the rule holds, the score is under the
    threshold): ``near`` of them are drawn at random in every round."""
    n = len(p)
    key = seed if isinstance(seed, int) else zlib.crc32(seed.encode())
    rng = np.random.default_rng([key, len(known)])
    free = np.ones(n, dtype=bool)
    free[list(known)] = False
    out: list[Proposal] = []
    if len(known) >= random_until:
        random_hits = random_misses = 0
    strata = [
        (random_hits, rule_hits & free, RANDOM_HIT),
        (random_misses, ~rule_hits & free, RANDOM_MISS),
    ]
    if near_misses is not None:
        strata.append((near, near_misses & ~rule_hits & free, NEAR_MISS))
    for want, pool, kind in strata:
        cand = np.nonzero(pool)[0]
        take = min(want, len(cand), k - len(out))
        if take > 0:
            for i in rng.choice(cand, size=take, replace=False):
                out.append(Proposal(int(i), kind))
                free[int(i)] = False
    dist = np.abs(_logit(p) - float(_logit(np.array([threshold]))[0]))
    dist = np.where((p >= threshold) != rule_hits, dist / 2, dist)
    above = [int(i) for i in np.argsort(dist) if free[i] and p[i] >= threshold]
    below = [int(i) for i in np.argsort(dist) if free[i] and p[i] < threshold]
    picked = [pr.row for pr in out]
    ia = ib = 0
    turn = 0
    while len(out) < k and (ia < len(above) or ib < len(below)):
        take_above = (turn % 2 == 0 and ia < len(above)) or ib >= len(below)
        if take_above:
            i = above[ia]
            ia += 1
        else:
            i = below[ib]
            ib += 1
        turn += 1
        if X is not None and picked:
            sims = (X[picked] @ X[i].T).toarray().ravel()
            if sims.size and sims.max() > max_similarity:
                continue
        picked.append(i)
        out.append(Proposal(i, ACTIVE))
    return out
