"""Where we decide an article matches a topic, and why.

A topic (see ``config/topics.yaml`` and ``docs/topics.md``) is a set of named term
groups, a boolean rule over them, exclusions, field weights and a threshold; a
topic may also have a trained model (:mod:`monitor.topics.learn`) that re-scores it.

Matching: the article is tokenised by spaCy's blank pipeline for its detected
language (``spacy.blank(lang)``: a tokenizer and a rule-based sentencizer, no
downloaded model). Every token's text is normalised once (case folded, Turkish
dotted I, Hebrew and Arabic-script spelling variants) and looked up in one index
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
see :mod:`monitor.topics.learn`) and the hit threshold is ``model.threshold``.
The evidence records the terms per group, their contribution, the rule trace,
the sentences where the groups meet and, with a model, its strongest features.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import spacy
import spacy.tokenizer

try:  # the regex parser behind `re` (private, in Python 3.11-3.13): see _cannot_match
    import re._constants as _sre
    import re._parser as _sre_parser
except ImportError:  # a Python that moved them: every regex runs, as in stock spaCy
    _sre = _sre_parser = None  # type: ignore[assignment]
from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, ORTH
from spacy.pipeline import Sentencizer
from spacy.vocab import Vocab

from monitor.topics.language import (
    LANGUAGES,
    AllOf,
    AnyOf,
    AtLeast,
    GroupRef,
    Near,
    NoneOf,
    Sentence,
    Term,
    TermSpec,
    TopicConfig,
)

if TYPE_CHECKING:
    from monitor.topics.learn import TopicModel

log = logging.getLogger("newsmon.classify")

EXCLUDE = "!exclude"
MAX_TEXT_CHARS = 200_000  # a page bigger than this is cut: no article is that long
MAX_SENTENCE_CHARS = 400
_CACHE_LIMIT = 400_000  # token texts remembered per classifier (bounded memory)
TOKENIZER_CACHE = 300_000  # chunks spaCy's tokenizer remembers per language (docs/topics.md)
PIECE_CHARS = 300  # an article is tokenised in pieces of about this size (see tokenize)


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


# --- normalisation ----------------------------------------------------------------------

_DROP = dict.fromkeys([0x0307, 0x0640, 0x200C, 0x200D, 0x00AD]
                      + list(range(0x064B, 0x0653)) + list(range(0x0591, 0x05C8)))
_MAP = str.maketrans({"’": "'", "‘": "'", "׳": "'", "ʼ": "'", "`": "'",
                      "ي": "ی", "ى": "ی", "ك": "ک", "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",
                      "ة": "ه", "ۀ": "ه"})
_HEBREW_PROCLITICS = "והבלמשכ"
_ARABIC_PROCLITICS = "وفبلک"  # after normalisation (ك -> ک)


def _strip_proclitics(word: str, letters: str, times: int) -> list[str]:
    """The word with up to ``times`` one-letter proclitics (and, the, to...) taken off."""
    out = []
    for _ in range(times):
        if len(word) > 3 and word[0] in letters:
            word = word[1:]
            out.append(word)
    return out


def normalize(text: str) -> str:
    """The form terms and tokens are compared in: case folded, diacritics that vary
    between writers dropped (Turkish dotted İ, Arabic tashkil, Hebrew niqqud, ZWNJ),
    Arabic/Persian letter variants unified, typographic apostrophes made plain."""
    if text.isascii():  # NFC and casefold are lower() there, and of _MAP only ` applies
        s = text.lower()
        return s.replace("`", "'") if "`" in s else s
    s = unicodedata.normalize("NFC", text).casefold().translate(_MAP)
    s = s.translate(_DROP) if any(ord(c) > 0x2FF for c in s) else s
    return s


def _forms(raw: str, norm: str) -> list[str]:
    """The normalised token and what it may be once a clitic or suffix is taken off."""
    out = [norm]
    if "'" in norm[1:]:
        out.append(norm.split("'", 1)[0])  # Türkiye'nin, İran'a: proper noun + suffix
    if "\u200c" in raw:
        out.append(normalize(raw.split("\u200c", 1)[0]))  # Persian ایران‌ها
    first = norm[:1]
    if first and "\u0590" <= first <= "\u05ff":
        out += _strip_proclitics(norm, _HEBREW_PROCLITICS, 3)
    elif first and "\u0600" <= first <= "\u06ff":
        out += _strip_proclitics(norm, _ARABIC_PROCLITICS, 2)
        out += [f[2:] for f in list(out) if f.startswith("ال") and len(f) > 4]
    return out


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
            out.add(v[:-len(last)] + _plural(last))
    return sorted(out)


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _is_latin(word: str) -> bool:
    return all(c.isascii() for c in word)


# --- the term index ------------------------------------------------------------------


@dataclass(frozen=True)
class _TermInfo:
    topic: str
    group: str
    text: str  # as written in the topic: what the evidence shows
    weight: float


@dataclass
class _Match:
    group: str
    term: str
    start: int
    end: int
    field: str
    weight: float
    sent: int


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

    def _spec(self, kind: str, forms: Iterable[str]) -> int:
        forms = sorted(set(forms))
        key = (kind, "\x1f".join(forms), False)
        if key in self._specs:
            return self._specs[key]
        sid = self.n_specs
        self.n_specs += 1
        self._specs[key] = sid
        table = {"exact": self.exact, "prefix": self.prefix, "orth": self.orth,
                 "orth_prefix": self.orth_prefix}[kind]
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
        if any(re.search(r"[-‐‑]", w) for w in words) or len(words) == 2:
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
                    if last and not star and term.plurals and n.isalpha() and len(n) > 2 \
                            and _is_latin(n):
                        forms.append(_plural(n))
                specs.append(self._spec(kind, forms))
            pid = len(self.patterns)
            self.patterns.append((tid, tuple(specs)))
            self.starts[specs[0]].append(pid)
        self.prefix_lens = sorted({len(k) for k in self.prefix})
        self.orth_prefix_lens = sorted({len(k) for k in self.orth_prefix})
        if self.prefix_lens:
            self._heads = frozenset(k[:self.prefix_lens[0]] for k in self.prefix)
        if self.orth_prefix_lens:
            self._orth_heads = frozenset(k[:self.orth_prefix_lens[0]] for k in self.orth_prefix)
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
        for f in _forms(raw, norm):
            found.update(self.exact.get(f, ()))
            if lens and f[:lens[0]] in heads:
                for n in lens:
                    if n > len(f):
                        break
                    found.update(self.prefix.get(f[:n], ()))
        found.update(self.orth.get(raw, ()))
        lens = self.orth_prefix_lens
        if lens and raw[:lens[0]] in self._orth_heads:
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


# One pipeline per language spaCy can tokenise, never evicted: with a bound of 16, a
# worker reading a stream in more languages than that rebuilt pipelines (Japanese and
# Korean take seconds) and threw away their tokenizer caches, again and again.
@lru_cache(maxsize=len(LANGUAGES) + 1)
def pipeline(lang: str = "en") -> spacy.language.Language:
    """A blank spaCy pipeline for a language (its tokenizer; sentences are split by
    :func:`sentence_starts`, the sentencizer's rule without its per-token objects)."""
    try:
        nlp = spacy.blank(lang if lang in LANGUAGES else "xx")
    except Exception:  # noqa: BLE001 - a language spaCy lists but cannot build here
        nlp = spacy.blank("xx")
    nlp.max_length = MAX_TEXT_CHARS + 10_000
    # spaCy remembers how each whitespace-separated chunk splits, but only 10,000 chunks
    # by default: a news stream in several languages fills that within minutes and every
    # later word is split again, affix regex by affix regex (the bulk of tokenising).
    nlp.tokenizer.max_cache_size = TOKENIZER_CACHE
    _lean(nlp)
    return nlp


# --- a leaner tokenizer, with exactly the same tokens -------------------------------------
#
# Most of the cost of tokenising text never seen before is per new chunk (a word with
# its punctuation): four affix regexes (prefix, suffix, infix, URL; the suffix and infix
# ones are alternations of hundreds of patterns, 5-7 us each) and a new lexeme whose ~20
# lexical attributes (shape, norm, like_num...) are computed by Python functions (~17 us).
# classify reads only ORTH, IDX, LENGTH, IS_PUNCT and IS_SPACE, so the pipelines built
# here compute only the two lexical attributes it reads, with spaCy's own functions; and
# a regex that provably cannot match inside a string made only of letters (or letters
# and digits) is not run on such a string: its answer is known ("no match").


def _lean(nlp: spacy.language.Language) -> None:
    getters = nlp.vocab.lex_attr_getters
    nlp.vocab.lex_attr_getters = {a: getters[a] for a in (IS_PUNCT, IS_SPACE) if a in getters}
    tok = nlp.tokenizer
    if type(tok) is not spacy.tokenizer.Tokenizer:
        return  # zh, ja, ko, th, vi...: their own tokenizers
    fns: dict[str, Any] = {}
    changed = False
    for name, empty in (("prefix_search", None), ("suffix_search", None),
                        ("infix_finditer", ()), ("url_match", None), ("token_match", None)):
        fn = fns[name] = getattr(tok, name)
        pattern = getattr(fn, "__self__", None)
        if fn is None or not isinstance(pattern, re.Pattern):
            continue
        for test in (str.isalnum, str.isalpha):  # the wider class first
            if _cannot_match(pattern, test):
                fns[name] = _skipping(fn, test, empty)
                changed = True
                break
    if changed:
        # One new tokenizer rather than five assignments: each assignment re-tokenises
        # every special case of the language (Indonesian has thousands: 5 s more to build)
        lean = spacy.tokenizer.Tokenizer(nlp.vocab, rules=tok.rules,
                                         faster_heuristics=tok.faster_heuristics, **fns)
        lean.max_cache_size = tok.max_cache_size
        nlp.tokenizer = lean


def _skipping(fn: Any, test: Any, empty: Any) -> Any:
    def call(s: str) -> Any:
        return empty if test(s) else fn(s)
    call.pattern = fn.__self__.pattern  # type: ignore[attr-defined] - as a regex has
    return call


def _cannot_match(pattern: re.Pattern[str], test: Any) -> bool:
    """True when ``pattern`` provably matches nowhere in a string whose every character
    passes ``test`` (str.isalpha or str.isalnum): every alternative has a part it cannot
    do without (a character, a class, a repeat of at least one, a positive lookaround)
    that no such character satisfies. Anything not understood counts as "may match"."""
    if _sre_parser is None or pattern.flags & (re.IGNORECASE | re.VERBOSE):
        return False
    try:
        tree = _sre_parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # noqa: BLE001 - a pattern this Python cannot re-parse: keep it
        return False
    return _blocked(list(tree), test)


def _blocked(seq: Iterable[Any], test: Any) -> bool:
    c = _sre
    for op, av in seq:
        if op is c.LITERAL:
            if not test(chr(av)):
                return True
        elif op is c.IN:
            if not _class_hits(av, test):
                return True
        elif op is c.BRANCH:
            if all(_blocked(b, test) for b in av[1]):
                return True
        elif op is c.SUBPATTERN:
            if not av[1] & re.IGNORECASE and _blocked(av[3], test):
                return True
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            if av[0] >= 1 and _blocked(av[2], test):
                return True
        elif op is c.ATOMIC_GROUP:
            if _blocked(av, test):
                return True
        elif op is c.ASSERT:  # a positive lookahead/lookbehind must see such characters
            if _blocked(av[1], test):
                return True
        # ANY, NOT_LITERAL, ASSERT_NOT, AT, GROUPREF...: no requirement that helps
    return False


def _class_hits(items: Iterable[Any], test: Any) -> bool:
    """Can a character class ([...]) match some character passing ``test``?"""
    c = _sre
    for op, av in items:
        if op is c.LITERAL:
            if test(chr(av)):
                return True
        elif op is c.RANGE:
            if _range_hits(av[0], av[1], test):
                return True
        elif op is c.CATEGORY:
            if av is c.CATEGORY_SPACE or (av is c.CATEGORY_DIGIT and test is str.isalpha):
                continue  # whitespace is neither; decimal digits are not letters
            return True
        else:  # NEGATE and anything else
            return True
    return False


@lru_cache(maxsize=4096)
def _range_hits(lo: int, hi: int, test: Any) -> bool:
    return any(test(chr(x)) for x in range(lo, hi + 1))


_PIECE_END = re.compile(r"[^\S\n]*\n\s*")
_ARRAY_ATTRS = [ORTH, IDX, LENGTH, IS_PUNCT, IS_SPACE]


def tokenize(nlp: spacy.language.Language, text: str, piece_chars: int = PIECE_CHARS
             ) -> np.ndarray:
    """Token array (orth, offset, length, is_punct, is_space) of ``text``, identical to
    ``nlp.make_doc(text)``'s, tokenised in pieces of about ``piece_chars`` cut after a
    line break.

    Why pieces: spaCy's tokenizer stops adding a document's chunks to its cache once the
    document has met one special case ("don't", "U.S.", ":)"), so in a long article most
    words were split afresh every time they were seen. No special case spans a line
    break, so cutting there changes no token."""
    if len(text) <= piece_chars:
        return nlp.make_doc(text).to_array(_ARRAY_ATTRS)
    arrays = []
    start = 0
    n = len(text)
    while start < n:
        cut = n
        if n - start > piece_chars:
            m = _PIECE_END.search(text, start + piece_chars)
            if m is not None:
                cut = m.end()
        arr = nlp.make_doc(text[start:cut]).to_array(_ARRAY_ATTRS)
        if start and len(arr):
            arr[:, 1] += start
        arrays.append(arr)
        start = cut
    return np.concatenate(arrays) if len(arrays) > 1 else arrays[0]


_SENT_END = np.array(sorted(spacy.strings.hash_string(c)  # type: ignore[attr-defined]
                             for c in Sentencizer.default_punct_chars), dtype=np.uint64)
_HYPHEN_HASHES = np.array(sorted(spacy.strings.hash_string(h)  # type: ignore[attr-defined]
                                 for h in ("-", "‐", "‑")), dtype=np.uint64)


def sentence_starts(orths: np.ndarray, punct: np.ndarray, end: np.ndarray | None = None
                    ) -> list[int]:
    """Token indices where sentences start: spaCy's sentencizer rule (after sentence-final
    punctuation, the next token that is not punctuation starts a sentence), on arrays.
    ``end``: which tokens are sentence-final punctuation, when the caller knows."""
    if not len(orths):
        return []
    if end is None:
        end = np.isin(orths, _SENT_END)
    cand = np.nonzero(~punct.astype(bool) & ~end)[0]
    cum = np.cumsum(end)
    prev = np.concatenate(([0], cum[cand][:-1])) if len(cand) else cand
    starts = cand[(cum[cand] - prev) > 0] if len(cand) else cand
    out = starts.tolist()
    return out if out and out[0] == 0 else [0, *out]


class Tokens:
    """An analysed article: tokens (their normalised text and the term index's word specs,
    looked up once per distinct token text), character offsets and sentences."""

    def __init__(self, vocab: Vocab, text: str, title_end: int, language: str,
                 arr: np.ndarray, index: _Index) -> None:
        self.text = text
        self.title_end = title_end
        self.language = language
        n = len(arr)
        if n:
            orths = arr[:, 0]
            uniq, inv = np.unique(orths, return_inverse=True)
            strings = vocab.strings
            get, token = index._cache.get, index.token
            self._info = [get(h) or token(h, strings) for h in uniq.tolist()]
            has = np.array([bool(sp) for _, sp in self._info], dtype=bool)
            self._inv = inv.tolist()
            self.candidates: list[int] = np.nonzero(has[inv])[0].tolist()
            # per distinct token (a few hundred), not per token
            self.hyphen = np.isin(uniq, _HYPHEN_HASHES)[inv].tolist()
            self.idx: list[int] = arr[:, 1].tolist()
            self.ends: list[int] = (arr[:, 1] + arr[:, 2]).tolist()
            self.punct: list[int] = (arr[:, 3] | arr[:, 4]).tolist()
            self.sent_starts = sentence_starts(orths, arr[:, 3], np.isin(uniq, _SENT_END)[inv])
        else:
            self._info, self._inv, self.candidates, self.hyphen = [], [], [], []
            self.idx, self.ends, self.punct, self.sent_starts = [], [], [], []
        self._norms: list[str] | None = None

    def __len__(self) -> int:
        return len(self._inv)

    def specs(self, i: int) -> tuple[int, ...]:
        """The word specs token ``i`` satisfies."""
        return self._info[self._inv[i]][1]

    @property
    def norms(self) -> list[str]:
        """The normalised text of every token."""
        if self._norms is None:
            info = self._info
            self._norms = [info[k][0] for k in self._inv]
        return self._norms

    def span(self, start: int, end: int) -> str:
        """The text of tokens ``start`` to ``end`` (exclusive)."""
        return self.text[self.idx[start]:self.ends[end - 1]] if end > start else ""

    def words(self, start_char: int = 0, end_char: int | None = None) -> list[str]:
        """Normalised tokens (punctuation kept out) in a character range."""
        return [n for n, i, p in zip(self.norms, self.idx, self.punct, strict=True)
                if not p and i >= start_char and (end_char is None or i < end_char)]


class Classifier:
    """Compiled topics. Build once (it is not cheap), call :meth:`classify` often.

    ``models``: trained models by topic id; None loads the active ones
    (:func:`monitor.topics.learn.active_models`), ``{}`` means rules only.
    """

    def __init__(self, topics: Sequence[TopicConfig], lang: str = "en",
                 models: Mapping[str, TopicModel] | None = None) -> None:
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
            from monitor.topics.learn import active_models

            models = active_models(self.topics)
        self.models: dict[str, TopicModel] = dict(models)
        self._stale: dict[str, str] = {}
        for topic in self.topics:
            m = self.models.get(topic.id)
            if m is not None and m.topic_version != topic.version:
                self._stale[topic.id] = (f"model trained for version {m.topic_version}, the "
                                         f"topic is now {topic.version}: retrain it "
                                         f"(newsmon topics train {topic.id})")
                log.warning("topic %s: %s; rules alone decide", topic.id, self._stale[topic.id])
                del self.models[topic.id]

    # --- analysis --------------------------------------------------------------------

    def analyse(self, title: str, text: str, language: str | None = None) -> Tokens:
        """Tokenise an article: the title as a sentence of its own, then the body."""
        lang = language if language in LANGUAGES else self.lang
        nlp = pipeline(lang) if lang != self.lang else self.nlp
        title = (title or "").strip()
        body = (text or "")[:MAX_TEXT_CHARS]
        joined = f"{title}.\n\n{body}" if title else body
        arr = tokenize(nlp, joined)
        return Tokens(nlp.vocab, joined, len(title) + 1 if title else 0, lang, arr, self._index)

    def classify(self, title: str, text: str, language: str | None = None
                 ) -> list[TopicResult]:
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

    def _match(self, tokens: Tokens) -> dict[str, list[_Match]]:
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
        per_topic: dict[str, list[_Match]] = defaultdict(list)
        for (topic, group), spans in found.items():
            taken: set[int] = set()
            # longest wins inside a group, then the earliest, then the term written first
            for start, end, tid in sorted(set(spans), key=lambda s: (s[0] - s[1], s[0], s[2])):
                if any(k in taken for k in range(start, end)):
                    continue
                taken.update(range(start, end))
                t = idx.terms[tid]
                per_topic[topic].append(_Match(group=group, term=t.text, start=start, end=end,
                                               field="", weight=t.weight,
                                               sent=_sent_index(tokens.sent_starts, start)))
        for ms in per_topic.values():
            ms.sort(key=lambda m: m.start)
        return per_topic

    # --- decision --------------------------------------------------------------------

    def _decide(self, topic: TopicConfig, tokens: Tokens, matches: list[_Match]
                ) -> tuple[TopicResult, dict[str, float]]:
        if not matches:
            # Most articles match nothing of most topics: that decision is always the same.
            if topic.id not in self._nothing:
                self._nothing[topic.id] = self._decide_matches(topic, tokens, [])
            r, sats = self._nothing[topic.id]
            ev = dict(r.evidence, groups={}, sentences=[])
            return (TopicResult(r.topic, r.name, r.matched, r.score, r.version, ev), dict(sats))
        return self._decide_matches(topic, tokens, matches)

    def _decide_matches(self, topic: TopicConfig, tokens: Tokens, matches: list[_Match]
                        ) -> tuple[TopicResult, dict[str, float]]:
        w = topic.weights
        title_end = tokens.title_end
        lead_end = title_end + w.lead_chars
        excl = [m for m in matches if m.group.startswith(EXCLUDE)]
        kept: list[_Match] = []
        cancelled: list[dict[str, Any]] = []
        for m in matches:
            if m.group.startswith(EXCLUDE):
                continue
            blocker = self._blocked_by(topic.id, m, excl)
            if blocker is not None:
                cancelled.append({"group": m.group, "term": tokens.span(m.start, m.end),
                                  "by": tokens.span(blocker.start, blocker.end)})
                continue
            idx = tokens.idx[m.start]
            m.field = "title" if idx < title_end else ("lead" if idx < lead_end else "body")
            kept.append(m)

        sats: dict[str, float] = {}
        weighted_by: dict[str, float] = {}
        by_group: dict[str, list[_Match]] = defaultdict(list)
        for m in kept:
            by_group[m.group].append(m)
        for gname, group in topic.groups.items():
            weighted = sum(getattr(w, m.field) * m.weight for m in by_group.get(gname, ()))
            weighted_by[gname] = weighted
            sats[gname] = 1.0 - math.exp(-weighted / (group.saturation or topic.saturation))
        if topic.scoring == "rule" and topic.rule is not None:
            score, shares = _rule_score(topic.rule, sats, topic)
        else:
            total_w = sum(g.weight for g in topic.groups.values()) or 1.0
            shares = {g: topic.groups[g].weight / total_w for g in topic.groups}
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
                self._empty_rule[key] = _evaluate(topic.rule, _RuleCtx([]))
            passed, trace = self._empty_rule[key]
        else:
            passed, trace = _evaluate(topic.rule, _RuleCtx(kept))
        score = min(1.0, score)
        matched = passed and score >= topic.threshold
        evidence: dict[str, Any] = {
            "score": round(score, 4),
            "threshold": topic.threshold,
            "rule_passed": passed,
            "rule": trace,
            "groups": groups,
            "sentences": _best_sentences(tokens, kept),
        }
        if cancelled:
            evidence["cancelled"] = cancelled[:20]
        r = TopicResult(topic=topic.id, name=topic.name, matched=matched, score=score,
                        version=self._versions[topic.id], evidence=evidence)
        return r, saturations

    def _blocked_by(self, topic: str, m: _Match, excl: list[_Match]) -> _Match | None:
        for e in excl:
            window = self._window[(topic, e.group)]
            if e.start <= m.start and m.end <= e.end:
                return e  # the term is part of the exclusion itself
            gap = max(e.start - m.end, m.start - e.end)
            if gap <= window:
                return e
        return None

    def _apply_model(self, topic: TopicConfig, model: TopicModel, tokens: Tokens,
                     r: TopicResult, sats: dict[str, float]) -> None:
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
        ev["model"] = {"used": topic.model.use, "id": model.model_id,
                       "probability": round(p, 4), "labels": model.n_labels,
                       "features": contributions}
        if topic.model.use:
            r.matched = p >= threshold
            r.version = f"{r.version}+{model.model_id}"
        else:
            r.score = ev["rule_score"]
            ev["score"] = ev["rule_score"]


def _sent_index(starts: list[int], token: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= token:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _RuleCtx:
    """What a rule is evaluated on: counts and token positions per group."""

    def __init__(self, matches: list[_Match]) -> None:
        self.counts: Counter[str] = Counter(m.group for m in matches)
        self.positions: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for m in matches:
            self.positions[m.group].append((m.start, m.end))
        self._matches = matches
        self._sents: dict[int, _RuleCtx] | None = None

    def sentences(self) -> dict[int, _RuleCtx]:
        if self._sents is None:
            by: dict[int, list[_Match]] = defaultdict(list)
            for m in self._matches:
                by[m.sent].append(m)
            self._sents = {i: _RuleCtx(ms) for i, ms in sorted(by.items())}
        return self._sents


def _near(groups: list[str], within: int, ctx: _RuleCtx) -> tuple[bool, int | None]:
    """Smallest number of tokens between matches of every listed group (None: one absent)."""
    need = set(groups)
    events = sorted((s, e, g) for g in need for s, e in ctx.positions.get(g, []))
    if not need <= {g for _, _, g in events}:
        return False, None
    best: int | None = None
    for i, (_, end_i, g_i) in enumerate(events):
        seen = {g_i}
        for s2, _, g2 in events[i + 1:]:
            seen.add(g2)
            if seen == need:
                gap = max(0, s2 - end_i)
                best = gap if best is None else min(best, gap)
                break
    return best is not None and best <= within, best


def _rule_score(rule: Any, sats: Mapping[str, float], topic: TopicConfig
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
            parts = [walk(g) for g in r.near]
            return _mean([p for p in parts if p is not None])
        if isinstance(r, NoneOf):
            return None
        children = r.all if isinstance(r, AllOf) else (r.any if isinstance(r, AnyOf) else r.of)
        parts = [p for p in (walk(c) for c in children) if p is not None]
        if not parts:
            return None
        if isinstance(r, AnyOf):
            return max(parts, key=lambda p: p[0])
        if isinstance(r, AtLeast):
            parts = sorted(parts, key=lambda p: -p[0])[:r.at_least]
        return _mean(parts)

    out = walk(rule)
    if out is None:
        return 0.0, {}
    score, shares, _ = out
    return score, shares


def _mean(parts: list[tuple[float, dict[str, float], float]]
          ) -> tuple[float, dict[str, float], float] | None:
    total = sum(w for _, _, w in parts)
    if not parts or total <= 0:
        return None
    shares: dict[str, float] = defaultdict(float)
    for _, sh, w in parts:
        for g, v in sh.items():
            shares[g] += v * w / total
    return sum(s * w for s, _, w in parts) / total, dict(shares), total / len(parts)


def _evaluate(rule: Any, ctx: _RuleCtx) -> tuple[bool, str]:
    if isinstance(rule, str):
        rule = GroupRef(group=rule)
    if isinstance(rule, GroupRef):
        n = ctx.counts.get(rule.group, 0)
        ok = n >= rule.min
        need = f"≥{rule.min}" if rule.min > 1 else ""
        return ok, f"{rule.group}{need}:{n}{' ✓' if ok else ' ✗'}"
    if isinstance(rule, AllOf):
        parts = [_evaluate(r, ctx) for r in rule.all]
        ok = all(p for p, _ in parts)
        return ok, f"all({', '.join(t for _, t in parts)}){' ✓' if ok else ' ✗'}"
    if isinstance(rule, AnyOf):
        parts = [_evaluate(r, ctx) for r in rule.any]
        ok = any(p for p, _ in parts)
        return ok, f"any({', '.join(t for _, t in parts)}){' ✓' if ok else ' ✗'}"
    if isinstance(rule, NoneOf):
        parts = [_evaluate(r, ctx) for r in rule.none]
        ok = not any(p for p, _ in parts)
        return ok, f"none({', '.join(t for _, t in parts)}){' ✓' if ok else ' ✗'}"
    if isinstance(rule, AtLeast):
        parts = [_evaluate(r, ctx) for r in rule.of]
        n = sum(1 for p, _ in parts if p)
        ok = n >= rule.at_least
        return ok, (f"at_least {rule.at_least} of({', '.join(t for _, t in parts)}):{n}"
                    f"{' ✓' if ok else ' ✗'}")
    if isinstance(rule, Sentence):
        for idx, sub in ctx.sentences().items():
            ok, trace = _evaluate(rule.sentence, sub)
            if ok:
                return True, f"sentence#{idx}[{trace}] ✓"
        _, trace = _evaluate(rule.sentence, _RuleCtx([]))
        return False, f"sentence[no sentence satisfies {trace.rstrip(' ✗')}] ✗"
    if isinstance(rule, Near):
        ok, gap = _near(rule.near, rule.within, ctx)
        what = "absent" if gap is None else f"gap {gap}"
        return ok, f"near({', '.join(rule.near)} within {rule.within}):{what}{' ✓' if ok else ' ✗'}"
    raise TypeError(f"unknown rule node {rule!r}")


def _best_sentences(tokens: Tokens, kept: list[_Match], limit: int = 5
                    ) -> list[dict[str, Any]]:
    by_sent: dict[int, list[_Match]] = defaultdict(list)
    for m in kept:
        by_sent[m.sent].append(m)
    ranked = sorted(by_sent.items(),
                    key=lambda kv: (-len({m.group for m in kv[1]}), -len(kv[1]), kv[0]))
    starts = tokens.sent_starts
    out = []
    for idx, ms in ranked[:limit]:
        end = starts[idx + 1] if idx + 1 < len(starts) else len(tokens.idx)
        text = re.sub(r"\s+", " ", tokens.span(starts[idx], end)).strip()
        if len(text) > MAX_SENTENCE_CHARS:
            text = text[:MAX_SENTENCE_CHARS - 1] + "…"
        out.append({
            "index": idx,
            "text": text,
            "groups": sorted({m.group for m in ms}),
            "terms": sorted({tokens.span(m.start, m.end) for m in ms}),
            "field": ms[0].field,
        })
    return out
