"""The vector arithmetic of story grouping: norms, the heaviest entries, the cosine of
key vectors without kinds of event, the terms a story is found by."""

from __future__ import annotations

import heapq
import math


def norm(vec: dict[str, float]) -> float:
    return math.sqrt(sum(v * v for v in vec.values()))


def top(vec: dict[str, float], n: int) -> dict[str, float]:
    if len(vec) <= n:
        return vec
    return dict(heapq.nlargest(n, vec.items(), key=lambda kv: kv[1]))


def cosine_without_kinds(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two key vectors over their names, numbers and dates (``W:`` kinds of
    event left out)."""
    dot = na = nb = 0.0
    for k, w in a.items():
        if k[:2] != "W:":
            na += w * w
            dot += w * b.get(k, 0.0)
    if not dot:
        return 0.0
    for k, w in b.items():
        if k[:2] != "W:":
            nb += w * w
    return dot / math.sqrt(na * nb)


def index_terms(tvec: dict[str, float], kvec: dict[str, float], n: int) -> list[str]:
    """The words and keys a story is found by: its heaviest ones."""
    out = [t for t, _ in heapq.nlargest(n * 2, tvec.items(), key=lambda kv: kv[1])]
    out += [k for k, _ in heapq.nlargest(n, kvec.items(), key=lambda kv: kv[1])]
    return out
