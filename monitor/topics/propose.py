"""A new topic from a few example articles: a definition in the rule language, proposed
and explained, to edit and to test on the stored history (``newsmon topics new``).

What is proposed, and why:

- **one group per country** the examples name: the gazetteer's
  (:mod:`monitor.topics.gazetteer`) and every other country CLDR knows
  (:mod:`monitor.topics.entities`), found by the matcher itself in any language and
  script, with the country's names in every language the gazetteer has: the actors of
  the story (from a single example, a country in its title or named at least a quarter
  as often as the most named one: not one mentioned in passing);
- **places and people**: the gazetteer's cities, leaders, places and routes that occur;
- **names**: capitalised names of one to four words that recur in the examples and are
  rare in the background (the stored articles, when there are some), most repeated
  first, cleaned of what is no name (titles before a person, weekdays and months,
  possessives, Title Case headings, single words also written in lower case);
- **phrases**: word pairs and triples (and, with a background, single words) that recur
  in the examples and are rare in the background: the vocabulary of the story, after
  its names (half as many without a background);
- **a rule**: the strictest of "two actors and the story's vocabulary", "one actor and
  the vocabulary" and "any group" that every example passes;
- **a threshold**: four fifths of the lowest example score, so each example is a hit.

The result is YAML ready to paste (or append with ``--write``), validated by loading it
through the same model as ``topics.yaml``.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from monitor.config import FetchSettings
from monitor.errors import ConfigError, NewsmonError
from monitor.topics.entities import (
    CONTRACTION,
    REPORTING,
    calendar_words,
    clean_name,
    name_parts,
    with_world_countries,
)
from monitor.topics.gazetteer import Gazetteer, _flow, _scalar
from monitor.topics.language import TopicConfig, TopicsFile
from monitor.topics.match import Classifier
from monitor.topics.text import normalize

MAX_NAMES = 12
MAX_PHRASES = 12
BACKGROUND_RATE = 0.02  # in more than 2 % of the background articles: not distinctive

_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?…]\s+|\n")


@dataclass
class Example:
    title: str
    text: str
    language: str | None
    ref: str = ""


@dataclass
class ProposedGroup:
    name: str
    why: str
    terms: list[str] = field(default_factory=list)
    languages: dict[str, list[str]] = field(default_factory=dict)
    weight: float = 1.0


@dataclass
class Proposal:
    topic_id: str
    groups: list[ProposedGroup]
    rule: dict[str, Any] | None
    rule_why: str
    threshold: float
    scores: list[tuple[str, float, bool]]  # (example, score, hit) under the proposal
    background: int  # articles the distinctiveness was measured against
    background_hits: int | None = None  # of those, hits under the proposal
    examples: int = 0
    yaml: str = ""

    def topic(self) -> TopicConfig:
        return load_proposal(self.yaml)


def _stopwords(language: str | None) -> set[str]:
    try:
        import spacy

        return {w.lower() for w in spacy.blank(language or "en").Defaults.stop_words}
    except Exception:  # noqa: BLE001 - a language spaCy lacks: no stop words
        return set()


def _sentences(ex: Example) -> list[list[str]]:
    return [_WORD.findall(s) for s in _SENTENCE_END.split(f"{ex.title}.\n{ex.text}") if s.strip()]


def _grams(
    sentences: list[list[str]], stop: set[str], calendar: frozenset[str] = frozenset()
) -> tuple[set[str], set[str], set[str], Counter[str], Counter[str]]:
    """An article's capitalised names (cleaned: :func:`entities.name_parts`), phrases
    (2-3 words) and words, normalised; how often each name was written each way; and
    how often each name and phrase occurs."""
    names: set[str] = set()
    phrases: set[str] = set()
    words: set[str] = set()
    written: Counter[str] = Counter()
    often: Counter[str] = Counter()
    for toks in sentences:
        low = [t.lower() for t in toks]
        content = [t for t, w in zip(toks, low, strict=True) if w not in stop]
        # A Title Case Heading names nothing: its capitals are the style's
        heading = len(content) >= 2 and all(t[:1].isupper() for t in content)
        for i, t in enumerate(toks):
            if low[i] not in stop and len(t) > 3:
                words.add(normalize(t))
            for n in (2, 3):
                part = low[i : i + n]
                if len(part) == n and part[0] not in stop and part[-1] not in stop:
                    key = normalize(" ".join(toks[i : i + n]))
                    phrases.add(key)
                    often[key] += 1
        i = len(toks) if heading else 1  # a sentence's first word is capitalised anyway
        while i < len(toks):
            if toks[i][:1].isupper() and low[i] not in stop:
                j = i
                while j + 1 < len(toks) and j - i < 5 and toks[j + 1][:1].isupper():
                    j += 1
                for name in name_parts(toks[i : j + 1], stop, calendar):
                    key = normalize(name)
                    if len(name) > 2 and len(name.split()) <= 4 and key not in calendar:
                        names.add(key)
                        written[f"{key}\t{name}"] += 1
                        often[key] += 1
                i = j + 1
            else:
                i += 1
    return names, phrases, words, written, often


def _gazetteer_topic(gaz: Gazetteer) -> TopicConfig:
    """Every gazetteer entry as a group, to find the entries an article names with the
    matcher itself (normalisation, prefixes, proclitics, every script)."""
    groups = {
        eid: {("terms" if lang == "en" else lang): names for lang, names in e.names.items()}
        for eid, e in gaz.entries.items()
        if any(e.names.values())
    }
    return TopicConfig.model_validate(
        {"id": "gazetteer", "name": "gazetteer", "groups": groups, "threshold": 1.0}
    )


def _gazetteer_classifier(gaz: Gazetteer) -> Classifier:
    """The matcher over every entry of ``gaz`` (kept for the shipped one: the world's
    countries make it a few hundred groups)."""
    key = tuple(sorted((k, repr(e.names)) for k, e in gaz.entries.items()))
    with _CLF_LOCK:
        if _CLF_CACHE and _CLF_CACHE[0][0] == key:
            return _CLF_CACHE[0][1]
    clf = Classifier([_gazetteer_topic(gaz)], models={})
    with _CLF_LOCK:
        _CLF_CACHE[:] = [(key, clf)]
    return clf


_CLF_CACHE: list[tuple[Any, Classifier]] = []
_CLF_LOCK = threading.Lock()


def _named(
    clf: Classifier, gaz: Gazetteer, ex: Example, strict: bool = True
) -> tuple[dict[str, int], set[str]]:
    """The gazetteer entries an example names, with how often, and those in its title.
    ``strict`` (a proposal from one example, where no other example tells an actor from
    a country mentioned in passing): a country only in the title or named twice."""
    groups = clf.classify(ex.title, ex.text, ex.language)[0].evidence.get("groups") or {}
    tg = clf.classify(ex.title, "", ex.language)[0].evidence.get("groups") or {}
    in_title = {g for g, i in tg.items() if i.get("count")}
    out = {}
    for eid, info in groups.items():
        count = int(info.get("count") or 0)
        country = gaz.entries[eid].kind == "country"
        if count and (not strict or not country or count >= 2 or eid in in_title):
            out[eid] = count
    return out, in_title


def _entry_group(eid: str, gaz: Gazetteer, why: str) -> ProposedGroup:
    names = gaz.entries[eid].names
    return ProposedGroup(
        name=eid,
        why=why,
        terms=list(names.get("en", [])),
        languages={k: list(v) for k, v in names.items() if k != "en" and v},
    )


def _distinctive(
    per_example: list[set[str]],
    background: list[set[str]],
    min_examples: int,
    limit: int,
    often: Counter[str] | None = None,
) -> list[str]:
    """The terms in at least ``min_examples`` examples and rare in the background: in
    most examples first, then (``often``) the most repeated, then the longest."""
    often = often or Counter()
    df = Counter(t for s in per_example for t in s)
    bg = Counter(t for s in background for t in s) if background else Counter()
    n_bg = len(background)
    scored = []
    for t, n in df.items():
        if n < min_examples:
            continue
        rate = bg[t] / n_bg if n_bg else 0.0
        if rate > BACKGROUND_RATE:
            continue
        idf = math.log((n_bg + 1) / (bg[t] + 1)) + 1 if n_bg else 1.0
        scored.append((-(n * idf), -often[t], -len(t), t))
    return [t for *_, t in sorted(scored)[:limit]]


def propose_topic(
    topic_id: str,
    examples: Sequence[Example],
    gazetteer: Gazetteer,
    background: Sequence[Example] = (),
    name: str | None = None,
) -> Proposal:
    """A definition for ``topic_id`` from ``examples`` (see the module's docstring)."""
    if not examples:
        raise ConfigError("topics new", "--example", "give at least one example article")
    n = len(examples)
    min_ex = 1 if n == 1 else max(2, math.ceil(n / 2))
    gazetteer = with_world_countries(gazetteer)
    gclf = _gazetteer_classifier(gazetteer)
    found: Counter[str] = Counter()
    gaz_keys: set[str] = set()
    gaz_stems: set[str] = set()
    for e in gazetteer.entries.values():
        for names_ in e.names.values():
            gaz_keys.update(normalize(x.rstrip("*")) for x in names_)
            gaz_stems.update(normalize(x[:-1]) for x in names_ if x.endswith("*"))
    mentions: Counter[str] = Counter()
    titled: set[str] = set()
    for ex in examples:
        named, in_title = _named(gclf, gazetteer, ex, strict=n == 1)
        found.update(named.keys())  # examples naming it
        mentions.update(named)  # times named
        titled |= in_title
    # the actors: countries most examples name; from one example, those in its title or
    # not far less often than the most named one (not those mentioned in passing)
    top = max((k for e, k in mentions.items() if gazetteer.entries[e].kind == "country"), default=0)
    top = top if n == 1 else 0
    countries = [
        eid
        for eid, k in found.most_common()
        if k >= min_ex
        and gazetteer.entries[eid].kind == "country"
        and (eid in titled or mentions[eid] >= top / 4)
    ]
    others = [
        eid
        for eid, k in found.most_common()
        if k >= min_ex and gazetteer.entries[eid].kind != "country"
    ]

    stop: set[str] = set()
    calendar: frozenset[str] = frozenset()
    for lang in {ex.language or "en" for ex in [*examples, *background]}:
        stop |= _stopwords(lang)
        calendar |= calendar_words(lang)
    ex_grams = [_grams(_sentences(ex), stop, calendar) for ex in examples]
    bg_grams = [_grams(_sentences(ex), stop, calendar) for ex in background]
    written: Counter[str] = Counter()
    often: Counter[str] = Counter()
    for *_, w, o in ex_grams:
        written.update(w)
        often.update(o)
    spelled: dict[str, str] = {}
    for kw, _ in written.most_common():
        key, name_as = kw.split("\t", 1)
        spelled.setdefault(key, name_as)

    # a single capitalised word the examples also write in lower case is a word
    # (Control, Ministry, Western), not a name (Kyiv, Kashmir)
    lowered = {w for ex in examples for toks in _sentences(ex) for w in toks if w.islower()}
    names: list[str] = []
    for t in _distinctive(
        [g[0] for g in ex_grams], [g[0] for g in bg_grams], min_ex, MAX_NAMES * 4, often
    ):
        clean = clean_name(spelled.get(t, t), gaz_keys, gaz_stems)
        if clean is None or normalize(clean) in gaz_keys:
            continue
        if " " not in clean and clean.lower() in lowered:
            continue
        if normalize(clean) not in {normalize(x) for x in names}:
            names.append(clean)
    names = names[:MAX_NAMES]
    name_keys = {normalize(x) for x in names}
    # the story's vocabulary after its names: fewer phrases when nothing tells which
    # are distinctive (no background), none with a weekday or month in it
    phrases = [
        t
        for t in _distinctive(
            [g[1] for g in ex_grams], [g[1] for g in bg_grams], min_ex, MAX_PHRASES * 3, often
        )
        if t not in name_keys
        and not any(t in k or k in t for k in gaz_keys if len(k) > 3)
        and not calendar.intersection(t.split())
        and not REPORTING.intersection(t.split())
        and not CONTRACTION.search(t)
        and len(t.split()[0]) > 2
    ][: MAX_PHRASES if background else MAX_PHRASES // 2]
    if background:  # single words are only distinctive against something
        words = _distinctive(
            [g[2] for g in ex_grams], [g[2] for g in bg_grams], min_ex, MAX_PHRASES
        )
        phrases += [
            w
            for w in words
            if w not in gaz_keys and w not in name_keys and not any(w in p for p in phrases)
        ][: MAX_PHRASES // 2]

    groups = [
        _entry_group(
            c,
            gazetteer,
            f"the examples name {c} ({found[c]} of {n}); its names in every language "
            f"the gazetteer has",
        )
        for c in countries
    ]
    context: list[str] = []
    if others:
        g = ProposedGroup(
            "places",
            f"cities, people, places and routes of the gazetteer the examples name: "
            f"{', '.join(others)}",
        )
        for eid in others:
            eg = _entry_group(eid, gazetteer, "")
            g.terms += [t for t in eg.terms if t not in g.terms]
            for lang, ts in eg.languages.items():
                have = g.languages.setdefault(lang, [])
                have += [t for t in ts if t not in have]
        groups.append(g)
        context.append("places")
    if names:
        groups.append(
            ProposedGroup(
                "names",
                f"capitalised names in at least {min_ex} of the {n} examples"
                + (", rare in the stored articles" if background else ""),
                names,
                weight=1.5,
            )
        )
        context.append("names")
    if phrases:
        groups.append(
            ProposedGroup(
                "phrases",
                f"word pairs and triples{' and words' if background else ''} in at least "
                f"{min_ex} of the {n} examples"
                + (", rare in the stored articles" if background else ""),
                phrases,
            )
        )
        context.append("phrases")
    if not groups:
        raise ConfigError(
            "topics new",
            "--example",
            "no names, places or recurring phrases found in the examples: give more or longer "
            "examples",
        )

    rules = _rules(countries, context)
    base = {"id": topic_id, "name": name or topic_id.replace("-", " ").capitalize()}
    base["description"] = "Proposed from: " + ", ".join(ex.ref or ex.title for ex in examples)
    chosen = rules[-1]
    for rule, why in rules:
        topic = _topic(base, groups, rule, 0.0)
        clf = Classifier([topic], models={})
        if all(
            clf.classify(e.title, e.text, e.language)[0].evidence["rule_passed"] for e in examples
        ):
            chosen = (rule, why)
            break
    rule, rule_why = chosen
    topic = _topic(base, groups, rule, 0.0)
    clf = Classifier([topic], models={})
    raw = [clf.classify(e.title, e.text, e.language)[0].score for e in examples]
    threshold = max(0.1, min(0.6, math.floor(min(raw) * 0.8 * 100) / 100))
    prop = Proposal(topic_id, groups, rule, rule_why, threshold, [], len(background), None, n)
    prop.yaml = proposal_yaml(base, prop)
    topic = prop.topic()
    clf = Classifier([topic], models={})
    prop.scores = [
        (e.ref or e.title, r.score, r.matched)
        for e in examples
        for r in [clf.classify(e.title, e.text, e.language)[0]]
    ]
    if background:
        prop.background_hits = sum(
            clf.classify(e.title, e.text, e.language)[0].matched for e in background
        )
    return prop


def _rules(countries: list[str], context: list[str]) -> list[tuple[dict[str, Any] | None, str]]:
    """Candidate rules, strictest first."""
    out: list[tuple[dict[str, Any] | None, str]] = []
    ctx: dict[str, Any] | None = None
    if context:
        ctx = {"any": list(context)} if len(context) > 1 else {"group": context[0]}
    if len(countries) >= 2 and ctx:
        out.append(
            (
                {"all": [{"at_least": 2, "of": list(countries)}, ctx]},
                "two of the actors and the story's own names or vocabulary, as in the examples",
            )
        )
    if countries and ctx:
        out.append(
            (
                {"all": [{"any": list(countries)}, ctx]},
                "one of the actors and the story's own names or vocabulary (the examples do "
                "not all name two actors)",
            )
        )
    if len(context) + len(countries) >= 2:
        out.append(
            (
                {"at_least": 2, "of": [*countries, *context]},
                "any two of the groups (the examples share no stricter pattern)",
            )
        )
    out.append((None, "any group (the examples share no stricter pattern)"))
    return out


def _topic(
    base: dict[str, Any], groups: list[ProposedGroup], rule: Any, threshold: float
) -> TopicConfig:
    data: dict[str, Any] = dict(base, threshold=threshold, groups={})
    for g in groups:
        d: dict[str, Any] = {"weight": g.weight}
        if g.terms:
            d["terms"] = g.terms
        d.update(g.languages)
        data["groups"][g.name] = d
    if rule is not None:
        data["rule"] = rule
    return TopicConfig.model_validate(data)


def _rule_yaml(rule: Any, indent: int) -> list[str]:
    text = yaml.safe_dump(rule, allow_unicode=True, default_flow_style=None, sort_keys=False)
    return [" " * indent + ln for ln in text.rstrip().splitlines()]


def proposal_yaml(base: dict[str, Any], prop: Proposal) -> str:
    """The proposal as a ``topics:`` list item, with the reasons as comments."""
    lines = [
        f"  # proposed by `newsmon topics new` from {prop.examples} examples: edit it, then "
        f"`newsmon topics test {prop.topic_id}`",
        f"  - id: {prop.topic_id}",
        f"    name: {_scalar(base['name'])}",
        f"    description: {_scalar(base['description'][:300])}",
        "    groups:",
    ]
    for g in prop.groups:
        lines.append(f"      # {g.why}")
        lines.append(f"      {g.name}:")
        if g.weight != 1:
            lines.append(f"        weight: {g.weight:g}")
        if g.terms:
            lines.append(f"        terms: {_flow(g.terms)}")
        for lang, ts in g.languages.items():
            lines.append(f"        {lang}: {_flow(ts)}")
    lines.append(f"    # rule: {prop.rule_why}")
    if prop.rule is not None:
        lines.append("    rule:")
        lines += _rule_yaml(prop.rule, 6)
    lines.append("    # threshold: four fifths of the lowest score of an example")
    lines.append(f"    threshold: {prop.threshold:g}")
    return "\n".join(lines) + "\n"


_EXTRACTING = threading.Lock()  # trafilatura is not safe from several threads at once


def fetch_examples(urls: Sequence[str], settings: FetchSettings) -> list[Example]:
    """Example articles from ``urls``, fetched (with the address checks and size cap of
    ``settings``) and extracted as the pipeline does; a URL that gives no article text
    is an error naming it."""
    import asyncio

    from monitor.extract.article import extract_html
    from monitor.fetch.http import PAGE_ACCEPT, Fetcher

    async def get() -> list[Any]:
        async with Fetcher(settings) as f:
            return await asyncio.gather(
                *(f.fetch(u, accept=PAGE_ACCEPT) for u in urls), return_exceptions=True
            )

    out = []
    for url, res in zip(urls, asyncio.run(get()), strict=True):
        if isinstance(res, BaseException):
            raise NewsmonError(f"example {url[:200]}: {res}") from None
        try:
            with _EXTRACTING:
                ex = extract_html(res.body or b"", res.url, settings.max_bytes)
        except NewsmonError as exc:
            raise NewsmonError(f"example {url[:200]}: {exc}") from None
        out.append(Example(ex.title, ex.text, ex.language, url))
    return out


def load_proposal(text: str) -> TopicConfig:
    """The proposed topic, loaded by the model ``topics.yaml`` is loaded with."""
    data = yaml.safe_load("topics:\n" + text)
    try:
        return TopicsFile.model_validate(data).topics[0]
    except ValueError as exc:
        raise ConfigError("proposed topic", "", str(exc)) from None


__all__ = [
    "Example",
    "Proposal",
    "ProposedGroup",
    "fetch_examples",
    "load_proposal",
    "propose_topic",
]
