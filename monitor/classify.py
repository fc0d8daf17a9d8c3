"""Where we decide an article matches a topic, and why.

A topic (see ``config/topics.yaml``) is a set of named term groups, a boolean rule
over them, exclusions, field weights and a threshold. Matching uses spaCy's
tokenizer (``spacy.blank``, no downloaded model) and phrase matchers built once
for all topics, so one pass over an article serves every topic.

Score: each group's matches are weighted by field (title > lead > body) and term
weight, then saturated (``1 - exp(-count / saturation)``) so a word repeated 40
times does not dominate; the score is the weighted mean of the group
saturations, in [0, 1]. An article is a hit when the rule holds and the score
reaches the threshold. The evidence records the terms per group, their
contribution, the rule trace and the sentences where the groups meet.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import spacy
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from monitor.config import (
    AllOf,
    AnyOf,
    AtLeast,
    GroupRef,
    NoneOf,
    Sentence,
    Term,
    TermSpec,
    TopicConfig,
)

SEP = "\x1f"
EXCLUDE = "!exclude"
MAX_TEXT_CHARS = 200_000  # a page bigger than this is cut: no article is that long
MAX_SENTENCE_CHARS = 400


@dataclass
class TopicResult:
    topic: str
    name: str
    matched: bool
    score: float
    version: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "name": self.name, "matched": self.matched,
                "score": round(self.score, 4), "version": self.version,
                "evidence": self.evidence}


@dataclass
class _Match:
    group: str
    term: str
    start: int
    end: int
    field: str
    weight: float
    sent: int


def _term(spec: TermSpec) -> Term:
    return spec if isinstance(spec, Term) else Term(text=spec)


def variants(text: str) -> list[str]:
    """Spelling variants: hyphen/space, and plural of the last word."""
    out = {text}
    if "-" in text:
        out.add(text.replace("-", " "))
    if " " in text and len(text.split()) == 2:
        out.add(text.replace(" ", "-"))
    for v in list(out):
        last = v.split()[-1] if v.split() else ""
        if last.isalpha() and len(last) > 2 and not text.endswith("*"):
            if last.endswith("y") and not last[-2] in "aeiou":
                out.add(v[:-1] + "ies")
            elif last.endswith(("s", "x", "ch", "sh")):
                out.add(v + "es")
            else:
                out.add(v + "s")
    return sorted(out)


@lru_cache(maxsize=8)
def pipeline(lang: str = "en") -> spacy.language.Language:
    """A blank spaCy pipeline with a rule-based sentencizer."""
    try:
        nlp = spacy.blank(lang)
    except Exception:  # unknown language code: the multi-language tokenizer
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    nlp.max_length = MAX_TEXT_CHARS + 10_000
    return nlp


class Classifier:
    """Compiled topics. Build once (it is not cheap), call :meth:`classify` often."""

    def __init__(self, topics: Sequence[TopicConfig], lang: str = "en") -> None:
        self.topics = list(topics)
        self.nlp = pipeline(lang)
        vocab = self.nlp.vocab
        self._lower = PhraseMatcher(vocab, attr="LOWER")
        self._orth = PhraseMatcher(vocab, attr="ORTH")
        self._prefix = Matcher(vocab)
        self._weights: dict[str, float] = {}
        self._versions = {t.id: t.version for t in self.topics}
        for topic in self.topics:
            for gname, group in topic.groups.items():
                for spec in group.terms:
                    self._add(topic.id, gname, _term(spec))
            for i, excl in enumerate(topic.exclude):
                for spec in excl.terms:
                    self._add(topic.id, f"{EXCLUDE}{i}", _term(spec))

    def _add(self, topic: str, group: str, term: Term) -> None:
        key = SEP.join((topic, group, term.text))
        self._weights[key] = term.weight
        text = term.text.strip()
        if text.endswith("*"):
            # prefix match on the last word: "Azerbaijan*" finds Azerbaijani too
            words = [t.text for t in self.nlp.make_doc(text[:-1])]
            pattern: list[dict[str, Any]] = [{"LOWER": w.lower()} for w in words[:-1]]
            attr = "ORTH" if term.case_sensitive else "LOWER"
            last = words[-1] if term.case_sensitive else words[-1].lower()
            pattern.append({attr: {"REGEX": f"^{re.escape(last)}"}})
            self._prefix.add(key, [pattern])
            return
        docs = [self.nlp.make_doc(v) for v in variants(text)]
        (self._orth if term.case_sensitive else self._lower).add(key, docs)

    def doc(self, title: str, text: str) -> tuple[Doc, int]:
        title = (title or "").strip()
        body = (text or "")[:MAX_TEXT_CHARS]
        # Separate the title with a full stop so it is a sentence of its own.
        joined = f"{title}.\n\n{body}" if title else body
        return self.nlp(joined), (len(title) + 1 if title else 0)

    def classify(self, title: str, text: str) -> list[TopicResult]:
        """Every topic's decision for one article, with its evidence."""
        doc, title_end = self.doc(title, text)
        sent_starts = [s.start for s in doc.sents]
        raw: list[tuple[int, int, int]] = list(self._lower(doc)) + list(self._orth(doc))
        if len(self._prefix):
            raw += list(self._prefix(doc))
        strings = self.nlp.vocab.strings
        per_topic: dict[str, list[_Match]] = defaultdict(list)
        spans_by_key: dict[tuple[str, str], list[Span]] = defaultdict(list)
        for match_id, start, end in raw:
            key = strings[match_id]
            topic, group, term = key.split(SEP, 2)
            span = Span(doc, start, end, label=key)
            spans_by_key[(topic, group)].append(span)
        for (topic, group), spans in spans_by_key.items():
            for span in filter_spans(spans):  # longest wins inside a group
                key = span.label_
                term = key.split(SEP, 2)[2]
                per_topic[topic].append(_Match(
                    group=group, term=term, start=span.start, end=span.end,
                    field="", weight=self._weights.get(key, 1.0),
                    sent=_sent_index(sent_starts, span.start)))
        results = []
        for topic in self.topics:
            results.append(self._decide(topic, doc, title_end, per_topic.get(topic.id, []),
                                        sent_starts))
        return results

    def _decide(self, topic: TopicConfig, doc: Doc, title_end: int, matches: list[_Match],
                sent_starts: list[int]) -> TopicResult:
        w = topic.weights
        lead_end = title_end + w.lead_chars
        excl = [m for m in matches if m.group.startswith(EXCLUDE)]
        kept: list[_Match] = []
        cancelled: list[dict[str, Any]] = []
        for m in matches:
            if m.group.startswith(EXCLUDE):
                continue
            blocker = _blocked_by(m, excl, topic)
            if blocker is not None:
                cancelled.append({"group": m.group, "term": doc[m.start:m.end].text,
                                  "by": doc[blocker.start:blocker.end].text})
                continue
            idx = doc[m.start].idx
            m.field = "title" if idx < title_end else ("lead" if idx < lead_end else "body")
            kept.append(m)

        groups: dict[str, dict[str, Any]] = {}
        total_w = sum(g.weight for g in topic.groups.values()) or 1.0
        score = 0.0
        for gname, group in topic.groups.items():
            gm = [m for m in kept if m.group == gname]
            weighted = sum(getattr(w, m.field) * m.weight for m in gm)
            sat = 1.0 - math.exp(-weighted / topic.saturation)
            contribution = group.weight * sat / total_w
            score += contribution
            if gm:
                groups[gname] = {
                    "count": len(gm),
                    "weighted": round(weighted, 2),
                    "contribution": round(contribution, 4),
                    "terms": dict(Counter(m.term for m in gm).most_common()),
                    "fields": dict(Counter(m.field for m in gm)),
                }
        counts = Counter(m.group for m in kept)
        by_sent: dict[int, Counter[str]] = defaultdict(Counter)
        for m in kept:
            by_sent[m.sent][m.group] += 1
        if topic.rule is None:
            passed, trace = bool(kept), "any group matched" + (" ✓" if kept else " ✗")
        else:
            passed, trace = _evaluate(topic.rule, counts, by_sent)
        matched = passed and score >= topic.threshold
        sentences = _best_sentences(doc, kept, sent_starts)
        evidence = {
            "score": round(score, 4),
            "threshold": topic.threshold,
            "rule_passed": passed,
            "rule": trace,
            "groups": groups,
            "sentences": sentences,
        }
        if cancelled:
            evidence["cancelled"] = cancelled[:20]
        return TopicResult(topic=topic.id, name=topic.name, matched=matched, score=score,
                           version=self._versions[topic.id], evidence=evidence)


def _sent_index(starts: list[int], token: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= token:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _blocked_by(m: _Match, excl: list[_Match], topic: TopicConfig) -> _Match | None:
    for e in excl:
        window = topic.exclude[int(e.group.removeprefix(EXCLUDE))].window
        if e.start <= m.start and m.end <= e.end:
            return e  # the term is part of the exclusion itself
        gap = max(e.start - m.end, m.start - e.end)
        if gap <= window:
            return e
    return None


def _evaluate(rule: Any, counts: Counter[str], by_sent: dict[int, Counter[str]]
              ) -> tuple[bool, str]:
    if isinstance(rule, str):
        rule = GroupRef(group=rule)
    if isinstance(rule, GroupRef):
        n = counts.get(rule.group, 0)
        ok = n >= rule.min
        need = f"≥{rule.min}" if rule.min > 1 else ""
        return ok, f"{rule.group}{need}:{n}{' ✓' if ok else ' ✗'}"
    if isinstance(rule, AllOf):
        parts = [_evaluate(r, counts, by_sent) for r in rule.all]
        ok = all(p for p, _ in parts)
        return ok, f"all({', '.join(t for _, t in parts)}){' ✓' if ok else ' ✗'}"
    if isinstance(rule, AnyOf):
        parts = [_evaluate(r, counts, by_sent) for r in rule.any]
        ok = any(p for p, _ in parts)
        return ok, f"any({', '.join(t for _, t in parts)}){' ✓' if ok else ' ✗'}"
    if isinstance(rule, NoneOf):
        parts = [_evaluate(r, counts, by_sent) for r in rule.none]
        ok = not any(p for p, _ in parts)
        return ok, f"none({', '.join(t for _, t in parts)}){' ✓' if ok else ' ✗'}"
    if isinstance(rule, AtLeast):
        parts = [_evaluate(r, counts, by_sent) for r in rule.of]
        n = sum(1 for p, _ in parts if p)
        ok = n >= rule.at_least
        return ok, (f"at_least {rule.at_least} of({', '.join(t for _, t in parts)}):{n}"
                    f"{' ✓' if ok else ' ✗'}")
    if isinstance(rule, Sentence):
        for idx in sorted(by_sent):
            ok, trace = _evaluate(rule.sentence, by_sent[idx], {})
            if ok:
                return True, f"sentence#{idx}[{trace}] ✓"
        _, trace = _evaluate(rule.sentence, Counter(), {})
        return False, f"sentence[no sentence satisfies {trace.rstrip(' ✗')}] ✗"
    raise TypeError(f"unknown rule node {rule!r}")


def _best_sentences(doc: Doc, kept: list[_Match], sent_starts: list[int],
                    limit: int = 5) -> list[dict[str, Any]]:
    by_sent: dict[int, list[_Match]] = defaultdict(list)
    for m in kept:
        by_sent[m.sent].append(m)
    ranked = sorted(by_sent.items(),
                    key=lambda kv: (-len({m.group for m in kv[1]}), -len(kv[1]), kv[0]))
    sents = list(doc.sents)
    out = []
    for idx, ms in ranked[:limit]:
        text = re.sub(r"\s+", " ", sents[idx].text).strip()
        if len(text) > MAX_SENTENCE_CHARS:
            text = text[:MAX_SENTENCE_CHARS - 1] + "…"
        out.append({
            "index": idx,
            "text": text,
            "groups": sorted({m.group for m in ms}),
            "terms": sorted({doc[m.start:m.end].text for m in ms}),
            "field": ms[0].field,
        })
    return out
