"""Where we decide an article matches a topic, and why (:class:`Classifier`).

A topic (see ``config/topics.yaml`` and ``docs/topics.md``) is a set of named term
groups, a boolean rule over them, exclusions, field weights and a threshold; a
topic may also have a trained model (:mod:`monitor.topics.model`) that re-scores it.

Matching: the article is tokenised by spaCy's blank pipeline for its detected
language (``spacy.blank(lang)``: a tokenizer and a rule-based sentencizer, no
downloaded model; :mod:`monitor.topics.text`). Every token's text is normalised once
(case folded, Turkish dotted I, Hebrew and Arabic-script spelling variants) and looked
up in one index
built for all topics, so one pass over an article serves every topic and the
cost per article is close to the cost of tokenising it. A term matches a token
exactly, with its English plural, or as a prefix (``Azerbaijan*``: Azerbaijani,
Азербайджана); multi-word terms match across a hyphen (``Nagorno-Karabakh`` =
``Nagorno Karabakh``); Hebrew and Arabic proclitics (``ו``, ``ב``, ``ال`` ...)
and a Turkish apostrophe suffix (``İran'a``) are looked through.

Score: each group's matches are weighted by field (title > lead > body) and term
weight, then saturated (``1 - exp(-weighted / saturation)``) so a word repeated
40 times does not dominate; the rule score is the weighted mean of the group
saturations, in [0, 1]. Without a model an article is a hit when the rule holds
and the score reaches the threshold. With an active model the score is the
model's probability that the article is relevant (rules are among its inputs,
see :mod:`monitor.topics.model`) and the hit threshold is ``model.threshold``.
The evidence records the terms per group, their contribution, the rule trace,
the sentences where the groups meet and, with a model, its strongest features.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.topics.language import (
    LANGUAGES,
    Term,
    TermSpec,
    TopicConfig,
)
from monitor.topics.model import TopicModel, active_models
from monitor.topics.rules import (
    Match,
    RuleContext,
    best_sentences,
    evaluate_rule,
    rule_score,
    sentence_of,
)
from monitor.topics.text import (
    MAX_TEXT_CHARS,
    UNSPACED_LANGUAGES,
    Tokens,
    cut_unspaced,
    forms,
    has_unspaced,
    is_latin,
    normalize,
    pipeline,
    plural,
    tokenize,
    unspaced_pieces,
)

log = logging.getLogger("newsmon.classify")

EXCLUDE = "!exclude"
# Texts shorter than this many words (a headline, a lede, a feed summary) are scored as
# the opening of an article: see length_factor and docs/topics.md.
FULL_TEXT_WORDS = 120
MIN_LENGTH_FACTOR = 0.15
SHORT_TEXT_ROOM = 4  # groups a short text is expected to have room for, at least
_CACHE_LIMIT = 400_000  # token texts remembered per classifier (bounded memory)
# A title ending so needs no full stop (spaCy's sentencizer ends sentences on these; not
# on "…", which feeds use to cut titles short).
SENTENCE_ENDS = (".", "!", "?", "。", "؟", "।")


@dataclass
class TopicResult:
    topic: str
    name: str
    matched: bool
    score: float
    version: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "name": self.name,
            "matched": self.matched,
            "score": round(self.score, 4),
            "version": self.version,
            "evidence": self.evidence,
        }


def length_factor(n_words: int) -> float:
    """How much room a text of ``n_words`` words has for a topic's evidence, compared with
    a full article: 1 from ``FULL_TEXT_WORDS`` words on, down to ``MIN_LENGTH_FACTOR``
    for a bare headline. A group's saturation count shrinks with its square root (one
    mention in a headline is worth several in a long page) and, in the mean score, the
    groups a short text does not mention count with this weight (a headline names two
    or three groups, not nine; the mean is never over fewer than ``SHORT_TEXT_ROOM``
    average groups, so one group alone stays low): a headline with both countries and a
    relation scores
    like an article that develops them, and a long page scores exactly as before."""
    return max(MIN_LENGTH_FACTOR, min(1.0, n_words / FULL_TEXT_WORDS))


def _lead_sentences(tokens: Tokens) -> frozenset[int]:
    """The sentences of the headline and the first sentence after it: in a short text
    (a headline and a lede) a ``sentence`` condition may meet in them together."""
    starts = tokens.sent_starts
    title = [i for i, st in enumerate(starts) if tokens.idx[st] < tokens.title_end]
    first = (title[-1] + 1) if title else 0
    return frozenset([*title, first]) if first < len(starts) else frozenset(title)


# --- the term index ------------------------------------------------------------------


@dataclass(frozen=True)
class _TermInfo:
    topic: str
    group: str
    text: str  # as written in the topic: what the evidence shows
    weight: float


class _Index:
    """Every term of every topic, as patterns of word specs over normalised tokens.

    A word spec is one word of a term: exact forms (with plural), a prefix, or (for a
    case-sensitive term) the exact original text. A token's specs are computed once per
    distinct token text and cached; a pattern is a sequence of specs.
    """

    def __init__(self) -> None:
        self.terms: list[_TermInfo] = []
        self.patterns: list[tuple[int, tuple[int, ...]]] = []  # (term, word specs)
        self.starts: dict[int, list[int]] = defaultdict(list)  # first spec -> patterns
        self.n_specs = 0
        self._specs: dict[tuple[str, str, bool], int] = {}
        self.exact: dict[str, list[int]] = defaultdict(list)
        self.prefix: dict[str, list[int]] = defaultdict(list)
        self.orth: dict[str, list[int]] = defaultdict(list)
        self.orth_prefix: dict[str, list[int]] = defaultdict(list)
        self.prefix_lens: list[int] = []
        self.orth_prefix_lens: list[int] = []
        # the first characters (as many as the shortest prefix term has) of every prefix
        # term: a form that starts otherwise matches none of them (most tokens)
        self._heads: frozenset[str] = frozenset()
        self._orth_heads: frozenset[str] = frozenset()
        # tuples of str and ints: the garbage collector stops tracking them, so the cache
        # (hundreds of thousands of entries) does not make every full collection longer
        self._cache: dict[int, tuple[str, tuple[int, ...]]] = {}
        # what Tokens asks first (a bound method of the dict: fast)
        self.cached: Callable[[int], tuple[str, tuple[int, ...]] | None] = self._cache.get

    def _spec(self, kind: str, forms: Iterable[str]) -> int:
        forms = sorted(set(forms))
        key = (kind, "\x1f".join(forms), False)
        if key in self._specs:
            return self._specs[key]
        sid = self.n_specs
        self.n_specs += 1
        self._specs[key] = sid
        table = {
            "exact": self.exact,
            "prefix": self.prefix,
            "orth": self.orth,
            "orth_prefix": self.orth_prefix,
        }[kind]
        for f in forms:
            table[f].append(sid)
        return sid

    def add(self, info: _TermInfo, term: Term) -> None:
        tid = len(self.terms)
        self.terms.append(info)
        text = term.text.strip()
        star = text.endswith("*")
        if star:
            text = text[:-1].rstrip()
        words = [w for w in re.split(r"\s+", text) if w]
        if not words:
            return
        sequences = [[p for w in words for p in re.split(r"[-‐‑]", w) if p]]
        if has_unspaced(text):
            # Chinese and Japanese characters are words of their own (text.cut_unspaced)
            sequences = [[c for p in sequences[0] for c in unspaced_pieces(p)]]
        elif any(re.search(r"[-‐‑]", w) for w in words) or len(words) == 2:
            # "Nagorno-Karabakh" kept whole by some tokenizers (de); "peace-deal" for "peace deal"
            joined = [w for w in words]
            if len(words) == 2 and not re.search(r"[-‐‑]", text):
                joined = [f"{words[0]}-{words[1]}"]
            sequences.append(joined)
        for seq in sequences:
            specs = []
            for i, w in enumerate(seq):
                last = i == len(seq) - 1
                if term.case_sensitive:
                    kind = "orth_prefix" if (star and last) else "orth"
                    forms = [w]
                else:
                    kind = "prefix" if (star and last) else "exact"
                    n = normalize(w)
                    forms = [n]
                    if (
                        last
                        and not star
                        and term.plurals
                        and n.isalpha()
                        and len(n) > 2
                        and is_latin(n)
                    ):
                        forms.append(plural(n))
                specs.append(self._spec(kind, forms))
            pid = len(self.patterns)
            self.patterns.append((tid, tuple(specs)))
            self.starts[specs[0]].append(pid)
        self.prefix_lens = sorted({len(k) for k in self.prefix})
        self.orth_prefix_lens = sorted({len(k) for k in self.orth_prefix})
        if self.prefix_lens:
            self._heads = frozenset(k[: self.prefix_lens[0]] for k in self.prefix)
        if self.orth_prefix_lens:
            self._orth_heads = frozenset(k[: self.orth_prefix_lens[0]] for k in self.orth_prefix)
        self._cache.clear()

    def token(self, h: int, strings: Any) -> tuple[str, tuple[int, ...]]:
        """(normalised text, the word specs it satisfies) for one token text."""
        hit = self._cache.get(h)
        if hit is not None:
            return hit
        raw = strings[h]
        norm = normalize(raw)
        found: set[int] = set()
        lens, heads = self.prefix_lens, self._heads
        for f in forms(raw, norm):
            found.update(self.exact.get(f, ()))
            if lens and f[: lens[0]] in heads:
                for n in lens:
                    if n > len(f):
                        break
                    found.update(self.prefix.get(f[:n], ()))
        found.update(self.orth.get(raw, ()))
        lens = self.orth_prefix_lens
        if lens and raw[: lens[0]] in self._orth_heads:
            for n in lens:
                if n > len(raw):
                    break
                found.update(self.orth_prefix.get(raw[:n], ()))
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        out = (norm, tuple(sorted(found)))
        self._cache[h] = out
        return out


def _term(spec: TermSpec) -> Term:
    return spec if isinstance(spec, Term) else Term(text=spec)


class Classifier:
    """Compiled topics. Build once (it is not cheap), call :meth:`classify` often.

    ``models``: trained models by topic id; None loads the active ones
    (:func:`monitor.topics.model.active_models`), ``{}`` means rules only.
    """

    def __init__(
        self,
        topics: Sequence[TopicConfig],
        lang: str = "en",
        models: Mapping[str, TopicModel] | None = None,
    ) -> None:
        self.topics = list(topics)
        self.lang = lang
        self.nlp = pipeline(lang)
        self._index = _Index()
        self._versions = {t.id: t.version for t in self.topics}
        self._window: dict[tuple[str, str], int] = {}
        self._empty_rule: dict[str, tuple[bool, str]] = {}
        self._nothing: dict[str, tuple[TopicResult, dict[str, float]]] = {}
        for topic in self.topics:
            for gname, group in topic.groups.items():
                for _lang, spec in group.all_terms():
                    t = _term(spec)
                    self._index.add(_TermInfo(topic.id, gname, t.text, t.weight), t)
            for i, excl in enumerate(topic.exclude):
                self._window[(topic.id, f"{EXCLUDE}{i}")] = excl.window
                for spec in excl.terms:
                    t = _term(spec)
                    self._index.add(_TermInfo(topic.id, f"{EXCLUDE}{i}", t.text, t.weight), t)
        if models is None:
            models = active_models(self.topics)
        self.models: dict[str, TopicModel] = dict(models)
        self._stale: dict[str, str] = {}
        for topic in self.topics:
            m = self.models.get(topic.id)
            if m is not None and m.topic_version != topic.version:
                self._stale[topic.id] = (
                    f"model trained for version {m.topic_version}, the "
                    f"topic is now {topic.version}: retrain it "
                    f"(newsmon topics train {topic.id})"
                )
                log.warning("topic %s: %s; rules alone decide", topic.id, self._stale[topic.id])
                del self.models[topic.id]

    # --- analysis --------------------------------------------------------------------

    def analyse(self, title: str, text: str, language: str | None = None) -> Tokens:
        """Tokenise an article: the title as a sentence of its own, then the body."""
        lang = language if language in LANGUAGES else self.lang
        # zh, ja: words kept whole by the rule tokenizer, their characters cut below
        tok_lang = "xx" if lang in UNSPACED_LANGUAGES else lang
        nlp = pipeline(tok_lang) if tok_lang != self.lang else self.nlp
        title = (title or "").strip()
        body = (text or "")[:MAX_TEXT_CHARS]
        # A full stop ends the title's sentence, unless the title has its own ("visit.."
        # would glue the title to the body's first sentence).
        end = "" if title.endswith(SENTENCE_ENDS) else "."
        joined = f"{title}{end}\n\n{body}" if title else body
        arr = cut_unspaced(nlp, joined, tokenize(nlp, joined))
        return Tokens(
            nlp.vocab, joined, len(title) + len(end) if title else 0, lang, arr, self._index
        )

    def classify(self, title: str, text: str, language: str | None = None) -> list[TopicResult]:
        """Every topic's decision for one article, with its evidence.

        ``language``: ISO 639-1 code of the article (as detected at extraction); its
        tokenizer is used. None: the classifier's default (English).
        """
        tokens = self.analyse(title, text, language)
        per_topic = self._match(tokens)
        results = []
        for topic in self.topics:
            r, sats = self._decide(topic, tokens, per_topic.get(topic.id, []))
            r.evidence["language"] = tokens.language
            model = self.models.get(topic.id)
            if topic.id in self._stale:
                r.evidence["model"] = {"used": False, "reason": self._stale[topic.id]}
            elif model is not None:
                self._apply_model(topic, model, tokens, r, sats)
            results.append(r)
        return results

    def decide_all(self, tokens: Tokens) -> list[tuple[TopicResult, dict[str, float]]]:
        """Rule decisions (no model) and group saturations for analysed tokens."""
        per_topic = self._match(tokens)
        return [self._decide(t, tokens, per_topic.get(t.id, [])) for t in self.topics]

    def _match(self, tokens: Tokens) -> dict[str, list[Match]]:
        idx = self._index
        specs = tokens.specs
        n = len(tokens)
        found: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
        hyphen = tokens.hyphen
        for i in tokens.candidates:
            for sid in specs(i):
                for pid in idx.starts.get(sid, ()):
                    tid, pattern = idx.patterns[pid]
                    j = i + 1
                    ok = True
                    for s in pattern[1:]:
                        if j < n and hyphen[j]:
                            j += 1
                        if j >= n or s not in specs(j):
                            ok = False
                            break
                        j += 1
                    if ok:
                        t = idx.terms[tid]
                        found[(t.topic, t.group)].append((i, j, tid))
        per_topic: dict[str, list[Match]] = defaultdict(list)
        for (topic, group), spans in found.items():
            taken: set[int] = set()
            # longest wins inside a group, then the earliest, then the term written first
            for start, end, tid in sorted(set(spans), key=lambda s: (s[0] - s[1], s[0], s[2])):
                if any(k in taken for k in range(start, end)):
                    continue
                taken.update(range(start, end))
                t = idx.terms[tid]
                per_topic[topic].append(
                    Match(
                        group=group,
                        term=t.text,
                        start=start,
                        end=end,
                        field="",
                        weight=t.weight,
                        sent=sentence_of(tokens.sent_starts, start),
                    )
                )
        for ms in per_topic.values():
            ms.sort(key=lambda m: m.start)
        return per_topic

    # --- decision --------------------------------------------------------------------

    def _decide(
        self, topic: TopicConfig, tokens: Tokens, matches: list[Match]
    ) -> tuple[TopicResult, dict[str, float]]:
        if not matches:
            # Most articles match nothing of most topics: that decision is always the same.
            if topic.id not in self._nothing:
                self._nothing[topic.id] = self._decide_matches(topic, tokens, [])
            r, sats = self._nothing[topic.id]
            ev = dict(r.evidence, groups={}, sentences=[])
            return (TopicResult(r.topic, r.name, r.matched, r.score, r.version, ev), dict(sats))
        return self._decide_matches(topic, tokens, matches)

    def _decide_matches(
        self, topic: TopicConfig, tokens: Tokens, matches: list[Match]
    ) -> tuple[TopicResult, dict[str, float]]:
        w = topic.weights
        title_end = tokens.title_end
        lead_end = title_end + w.lead_chars
        excl = [m for m in matches if m.group.startswith(EXCLUDE)]
        kept: list[Match] = []
        cancelled: list[dict[str, Any]] = []
        for m in matches:
            if m.group.startswith(EXCLUDE):
                continue
            blocker = self._blocked_by(topic.id, m, excl)
            if blocker is not None:
                cancelled.append(
                    {
                        "group": m.group,
                        "term": tokens.span(m.start, m.end),
                        "by": tokens.span(blocker.start, blocker.end),
                    }
                )
                continue
            idx = tokens.idx[m.start]
            m.field = "title" if idx < title_end else ("lead" if idx < lead_end else "body")
            kept.append(m)

        sats: dict[str, float] = {}
        weighted_by: dict[str, float] = {}
        by_group: dict[str, list[Match]] = defaultdict(list)
        for m in kept:
            by_group[m.group].append(m)
        short = length_factor(tokens.n_words)
        for gname, group in topic.groups.items():
            weighted = sum(getattr(w, m.field) * m.weight for m in by_group.get(gname, ()))
            weighted_by[gname] = weighted
            saturation = (group.saturation or topic.saturation) * math.sqrt(short)
            sats[gname] = 1.0 - math.exp(-weighted / saturation)
        if topic.scoring == "rule" and topic.rule is not None:
            score, shares = rule_score(topic.rule, sats, topic)
        else:
            # absent groups weigh less in a short text: a headline has room for a few
            weights = {
                g: grp.weight * (1.0 if g in by_group else short) for g, grp in topic.groups.items()
            }
            # (never fewer than SHORT_TEXT_ROOM groups' worth: one group alone stays low)
            full = sum(g.weight for g in topic.groups.values())
            room = min(full, SHORT_TEXT_ROOM * full / max(1, len(topic.groups)))
            total_w = max(sum(weights.values()), room) or 1.0
            shares = {g: weights[g] / total_w for g in topic.groups}
            score = sum(shares[g] * sats[g] for g in topic.groups)
        groups: dict[str, dict[str, Any]] = {}
        for gname in topic.groups:
            gm = by_group.get(gname)
            if gm:
                groups[gname] = {
                    "count": len(gm),
                    "weighted": round(weighted_by[gname], 2),
                    "contribution": round(shares.get(gname, 0.0) * sats[gname], 4),
                    "terms": dict(Counter(m.term for m in gm).most_common()),
                    "fields": dict(Counter(m.field for m in gm)),
                }
        saturations = sats
        if topic.rule is None:
            passed, trace = bool(kept), "any group matched" + (" ✓" if kept else " ✗")
        elif not kept:
            # most articles match nothing of most topics: that trace is always the same
            key = topic.id
            if key not in self._empty_rule:
                self._empty_rule[key] = evaluate_rule(topic.rule, RuleContext([]))
            passed, trace = self._empty_rule[key]
        else:
            lead = _lead_sentences(tokens) if short < 1.0 else frozenset()
            passed, trace = evaluate_rule(topic.rule, RuleContext(kept, lead))
        score = min(1.0, score)
        matched = passed and score >= topic.threshold
        evidence: dict[str, Any] = {
            "score": round(score, 4),
            "threshold": topic.threshold,
            "rule_passed": passed,
            "rule": trace,
            "groups": groups,
            "sentences": best_sentences(tokens, kept),
        }
        if cancelled:
            evidence["cancelled"] = cancelled[:20]
        if kept and short < 1.0:  # scored as a short text (see length_factor)
            evidence["length"] = {"words": tokens.n_words, "factor": round(short, 3)}
        r = TopicResult(
            topic=topic.id,
            name=topic.name,
            matched=matched,
            score=score,
            version=self._versions[topic.id],
            evidence=evidence,
        )
        return r, saturations

    def _blocked_by(self, topic: str, m: Match, excl: list[Match]) -> Match | None:
        for e in excl:
            window = self._window[(topic, e.group)]
            if e.start <= m.start and m.end <= e.end:
                return e  # the term is part of the exclusion itself
            gap = max(e.start - m.end, m.start - e.end)
            if gap <= window:
                return e
        return None

    def _apply_model(
        self,
        topic: TopicConfig,
        model: TopicModel,
        tokens: Tokens,
        r: TopicResult,
        sats: dict[str, float],
    ) -> None:
        """Re-score with the topic's model: the score becomes P(relevant)."""
        p, contributions = model.predict(tokens, r.evidence, sats, explain=True)
        ev = r.evidence
        ev["rule_score"] = ev["score"]
        ev["rule_threshold"] = ev["threshold"]
        ev["rule_matched"] = r.matched
        r.score = p
        ev["score"] = round(p, 4)
        threshold = topic.model.threshold or model.threshold
        ev["threshold"] = round(threshold, 4) if topic.model.use else topic.threshold
        ev["model"] = {
            "used": topic.model.use,
            "id": model.model_id,
            "probability": round(p, 4),
            "labels": model.n_labels,
            "features": contributions,
        }
        if topic.model.use:
            r.matched = p >= threshold
            r.version = f"{r.version}+{model.model_id}"
        else:
            r.score = ev["rule_score"]
            ev["score"] = ev["rule_score"]
