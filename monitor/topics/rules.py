"""A topic's rule over the matches found in an article: whether it holds (with a trace
for the evidence), the score that follows it, and the sentences where the groups meet.
The matches themselves are found in :mod:`monitor.topics.match`."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.topics.language import (
    AllOf,
    AnyOf,
    AtLeast,
    GroupRef,
    Near,
    NoneOf,
    Sentence,
    TopicConfig,
)
from monitor.topics.text import Tokens

MAX_SENTENCE_CHARS = 400


@dataclass
class Match:
    group: str
    term: str
    start: int
    end: int
    field: str
    weight: float
    sent: int


def sentence_of(starts: list[int], token: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= token:
            lo = mid
        else:
            hi = mid - 1
    return lo


class RuleContext:
    """What a rule is evaluated on: counts and token positions per group. ``lead``: the
    sentences of a short text's headline and the first sentence after it, which a
    ``sentence`` condition may also meet in together (see :func:`evaluate_rule`)."""

    def __init__(self, matches: list[Match], lead: frozenset[int] = frozenset()) -> None:
        self.counts: Counter[str] = Counter(m.group for m in matches)
        self.positions: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for m in matches:
            self.positions[m.group].append((m.start, m.end))
        self._matches = matches
        self._sents: dict[int, RuleContext] | None = None
        self.lead = lead

    def lead_unit(self) -> RuleContext | None:
        """The headline and its lede as one unit, if the matches span more than one of
        its sentences (else the sentences themselves already decide)."""
        ms = [m for m in self._matches if m.sent in self.lead]
        if len({m.sent for m in ms}) < 2:
            return None
        return RuleContext(ms)

    def sentences(self) -> dict[int, RuleContext]:
        if self._sents is None:
            by: dict[int, list[Match]] = defaultdict(list)
            for m in self._matches:
                by[m.sent].append(m)
            self._sents = {i: RuleContext(ms) for i, ms in sorted(by.items())}
        return self._sents


def _near(groups: list[str], within: int, ctx: RuleContext) -> tuple[bool, int | None]:
    """Smallest number of tokens between matches of every listed group (None: one absent)."""
    need = set(groups)
    events = sorted((s, e, g) for g in need for s, e in ctx.positions.get(g, []))
    if not need <= {g for _, _, g in events}:
        return False, None
    best: int | None = None
    for i, (_, end_i, g_i) in enumerate(events):
        seen = {g_i}
        for s2, _, g2 in events[i + 1 :]:
            seen.add(g2)
            if seen == need:
                gap = max(0, s2 - end_i)
                best = gap if best is None else min(best, gap)
                break
    return best is not None and best <= within, best


def rule_score(
    rule: Any, sats: Mapping[str, float], topic: TopicConfig
) -> tuple[float, dict[str, float]]:
    """Score that follows the rule: a group is its saturation; ``all`` the weighted mean
    of its parts; ``any`` its best part; ``at_least N`` the mean of its N best parts;
    ``none`` only gates (no score). Returns the score and each group's share of it
    (share x saturation = the group's contribution; contributions add up to the score)."""

    def walk(r: Any) -> tuple[float, dict[str, float], float] | None:
        if isinstance(r, str):
            r = GroupRef(group=r)
        if isinstance(r, GroupRef):
            return sats.get(r.group, 0.0), {r.group: 1.0}, topic.groups[r.group].weight
        if isinstance(r, Sentence):
            return walk(r.sentence)
        if isinstance(r, Near):
            near = [walk(g) for g in r.near]
            return _mean([p for p in near if p is not None])
        if isinstance(r, NoneOf):
            return None
        children = r.all if isinstance(r, AllOf) else (r.any if isinstance(r, AnyOf) else r.of)
        parts = [p for p in (walk(c) for c in children) if p is not None]
        if not parts:
            return None
        if isinstance(r, AnyOf):
            return max(parts, key=lambda p: p[0])
        if isinstance(r, AtLeast):
            parts = sorted(parts, key=lambda p: -p[0])[: r.at_least]
        return _mean(parts)

    out = walk(rule)
    if out is None:
        return 0.0, {}
    score, shares, _ = out
    return score, shares


def _mean(
    parts: list[tuple[float, dict[str, float], float]],
) -> tuple[float, dict[str, float], float] | None:
    total = sum(w for _, _, w in parts)
    if not parts or total <= 0:
        return None
    shares: dict[str, float] = defaultdict(float)
    for _, sh, w in parts:
        for g, v in sh.items():
            shares[g] += v * w / total
    return sum(s * w for s, _, w in parts) / total, dict(shares), total / len(parts)


def evaluate_rule(rule: Any, ctx: RuleContext) -> tuple[bool, str]:
    if isinstance(rule, str):
        rule = GroupRef(group=rule)
    if isinstance(rule, GroupRef):
        n = ctx.counts.get(rule.group, 0)
        ok = n >= rule.min
        need = f"≥{rule.min}" if rule.min > 1 else ""
        return ok, f"{rule.group}{need}:{n}{' ✓' if ok else ' ✗'}"
    if isinstance(rule, AllOf):
        parts = [evaluate_rule(r, ctx) for r in rule.all]
        ok = all(p for p, _ in parts)
        return ok, f"all({', '.join(t for _, t in parts)}){' ✓' if ok else ' ✗'}"
    if isinstance(rule, AnyOf):
        parts = [evaluate_rule(r, ctx) for r in rule.any]
        ok = any(p for p, _ in parts)
        return ok, f"any({', '.join(t for _, t in parts)}){' ✓' if ok else ' ✗'}"
    if isinstance(rule, NoneOf):
        parts = [evaluate_rule(r, ctx) for r in rule.none]
        ok = not any(p for p, _ in parts)
        return ok, f"none({', '.join(t for _, t in parts)}){' ✓' if ok else ' ✗'}"
    if isinstance(rule, AtLeast):
        parts = [evaluate_rule(r, ctx) for r in rule.of]
        n = sum(1 for p, _ in parts if p)
        ok = n >= rule.at_least
        return ok, (
            f"at_least {rule.at_least} of({', '.join(t for _, t in parts)}):{n}"
            f"{' ✓' if ok else ' ✗'}"
        )
    if isinstance(rule, Sentence):
        for idx, sub in ctx.sentences().items():
            ok, trace = evaluate_rule(rule.sentence, sub)
            if ok:
                return True, f"sentence#{idx}[{trace}] ✓"
        # a headline and the sentence after it report one event: in a short text (a feed
        # summary, a wire alert) they count as one sentence ("$1.6b." ends no thought)
        unit = ctx.lead_unit()
        if unit is not None:
            ok, trace = evaluate_rule(rule.sentence, unit)
            if ok:
                return True, f"headline+lede[{trace}] ✓"
        _, trace = evaluate_rule(rule.sentence, RuleContext([]))
        return False, f"sentence[no sentence satisfies {trace.rstrip(' ✗')}] ✗"
    if isinstance(rule, Near):
        ok, gap = _near(rule.near, rule.within, ctx)
        what = "absent" if gap is None else f"gap {gap}"
        return ok, f"near({', '.join(rule.near)} within {rule.within}):{what}{' ✓' if ok else ' ✗'}"
    raise TypeError(f"unknown rule node {rule!r}")


def best_sentences(tokens: Tokens, kept: list[Match], limit: int = 5) -> list[dict[str, Any]]:
    by_sent: dict[int, list[Match]] = defaultdict(list)
    for m in kept:
        by_sent[m.sent].append(m)
    ranked = sorted(
        by_sent.items(), key=lambda kv: (-len({m.group for m in kv[1]}), -len(kv[1]), kv[0])
    )
    starts = tokens.sent_starts
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for idx, ms in ranked:
        if len(out) >= limit:
            break
        end = starts[idx + 1] if idx + 1 < len(starts) else len(tokens.idx)
        text = re.sub(r"\s+", " ", tokens.span(starts[idx], end)).strip()
        if text in seen:  # a body that repeats its title (common in feeds): shown once
            continue
        seen.add(text)
        if len(text) > MAX_SENTENCE_CHARS:
            text = text[: MAX_SENTENCE_CHARS - 1] + "…"
        out.append(
            {
                "index": idx,
                "text": text,
                "groups": sorted({m.group for m in ms}),
                "terms": sorted({tokens.span(m.start, m.end) for m in ms}),
                "field": ms[0].field,
            }
        )
    return out
