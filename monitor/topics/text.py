"""Article text as the matcher sees it: normalised words, spaCy's tokens, sentences.

Every token's text is normalised once (case folded, Turkish dotted I, Hebrew and
Arabic-script spelling variants; :func:`normalize`, :func:`forms`), tokenised by
spaCy's blank pipeline for the article's language, made lean (:func:`pipeline`: the
same tokens, fewer regexes run) and cut into sentences by the sentencizer's rule
(:func:`sentence_starts`). :class:`Tokens` is an analysed article: what the matcher
(:mod:`monitor.topics.match`) and the learned model (:mod:`monitor.topics.model`) read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import spacy
import spacy.tokenizer

try:  # the regex parser behind `re` (private, in Python 3.11-3.13): see _cannot_match
    import re._constants as _sre
    import re._parser as _sre_parser
except ImportError:  # a Python that moved them: every regex runs, as in stock spaCy
    _sre = _sre_parser = None
from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, ORTH
from spacy.pipeline import Sentencizer
from spacy.util import registry
from spacy.vocab import Vocab

from monitor.topics import spacy_cli
from monitor.topics.language import LANGUAGES

spacy_cli.forget()  # spaCy is imported: a later `import spacy.cli` gets the real one


class WordSpecs(Protocol):
    """The term index's view of token texts (``monitor.topics.match._Index``)."""

    @property
    def cached(self) -> Callable[[int], tuple[str, tuple[int, ...]] | None]: ...

    def token(self, h: int, strings: Any) -> tuple[str, tuple[int, ...]]: ...


MAX_TEXT_CHARS = 200_000  # a page bigger than this is cut: no article is that long
TOKENIZER_CACHE = 300_000  # chunks spaCy's tokenizer remembers per language (docs/topics.md)
PIECE_CHARS = 300  # an article is tokenised in pieces of about this size (see tokenize)


_DROP = dict.fromkeys(
    [0x0307, 0x0640, 0x200C, 0x200D, 0x00AD]
    + list(range(0x064B, 0x0653))
    + list(range(0x0591, 0x05C8))
)
_MAP = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "׳": "'",
        "ʼ": "'",
        "`": "'",
        "ي": "ی",
        "ى": "ی",
        "ك": "ک",
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ة": "ه",
        "ۀ": "ه",
    }
)
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


def forms(raw: str, norm: str) -> list[str]:
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
            out.add(v[: -len(last)] + plural(last))
    return sorted(out)


def plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def is_latin(word: str) -> bool:
    return all(c.isascii() for c in word)


# One pipeline per language spaCy can tokenise, never evicted: with a bound of 16, a
# worker reading a stream in more languages than that rebuilt pipelines (Japanese and
# Korean take seconds) and threw away their tokenizer caches, again and again.
@lru_cache(maxsize=len(LANGUAGES) + 1)
def pipeline(lang: str = "en") -> spacy.language.Language:
    """A blank spaCy pipeline for a language (its tokenizer; sentences are split by
    :func:`sentence_starts`, the sentencizer's rule without its per-token objects)."""
    code = lang if lang in LANGUAGES else "xx"
    nlp = None
    if _plain_tokenizer(code):
        try:  # the lean tokenizer built at once (see _lean_tokenizer)
            nlp = spacy.blank(code, config={"nlp": {"tokenizer": {"@tokenizers": _LEAN}}})
        except Exception:  # noqa: BLE001 - spaCy's own tokenizer, made lean below
            nlp = None
    if nlp is None:
        try:
            nlp = spacy.blank(code)
        except Exception:  # noqa: BLE001 - a language spaCy lists but cannot build here
            nlp = spacy.blank("xx")
    nlp.max_length = MAX_TEXT_CHARS + 10_000
    # spaCy remembers how each whitespace-separated chunk splits, but only 10,000 chunks
    # by default: a news stream in several languages fills that within minutes and every
    # later word is split again, affix regex by affix regex (the bulk of tokenising).
    tokenizer: Any = nlp.tokenizer
    tokenizer.max_cache_size = TOKENIZER_CACHE
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


_LEAN = "newsmon.lean_tokenizer.v1"


def _plain_tokenizer(code: str) -> bool:
    """Does the language use spaCy's rule-based Tokenizer (not ja, ko, th, vi, zh)?"""
    try:
        cfg = spacy.util.get_lang_class(code).default_config
        return bool(cfg["nlp"]["tokenizer"]["@tokenizers"] == "spacy.Tokenizer.v1")
    except Exception:  # noqa: BLE001 - unknown: spaCy's own path decides
        return False


def _lean_tokenizer() -> Callable[[spacy.language.Language], Any]:
    """spaCy's default tokenizer factory (``spacy.Tokenizer.v1``: the language's rules,
    affixes, token and URL matches), built lean at once. Building spaCy's first and then
    the lean one (each construction tokenises every special case of the language) cost
    twice the CPU, and the first one's freed memory stayed as fragments in the heap:
    Indonesian, with ~16,000 special cases, 3.4 s and 86 MB, against 1.7 s and 56."""

    def make(nlp: spacy.language.Language) -> Any:
        _lean_vocab(nlp.vocab)
        d: Any = nlp.Defaults
        fns, _ = _lean_fns(
            {
                "prefix_search": spacy.util.compile_prefix_regex(d.prefixes).search
                if d.prefixes
                else None,
                "suffix_search": spacy.util.compile_suffix_regex(d.suffixes).search
                if d.suffixes
                else None,
                "infix_finditer": spacy.util.compile_infix_regex(d.infixes).finditer
                if d.infixes
                else None,
                "url_match": d.url_match,
                "token_match": d.token_match,
            }
        )
        return spacy.tokenizer.Tokenizer(nlp.vocab, rules=d.tokenizer_exceptions, **fns)

    return make


registry.tokenizers.register(_LEAN, func=_lean_tokenizer)


def _lean_vocab(vocab: Any) -> None:  # spaCy's Cython attributes, unknown to its hints
    getters = vocab.lex_attr_getters
    vocab.lex_attr_getters = {a: getters[a] for a in (IS_PUNCT, IS_SPACE) if a in getters}


def _lean_fns(fns: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The tokenizer's functions, each regex that cannot match a word of letters (or of
    letters and digits) skipped on such a word; and whether any was."""
    out = dict(fns)
    changed = False
    for name, empty in (
        ("prefix_search", None),
        ("suffix_search", None),
        ("infix_finditer", ()),
        ("url_match", None),
        ("token_match", None),
    ):
        fn = fns.get(name)
        pattern = getattr(fn, "__self__", None)
        if fn is None or not isinstance(pattern, re.Pattern):
            continue
        for test in (str.isalnum, str.isalpha):  # the wider class first
            if _cannot_match(pattern, test):
                out[name] = _skipping(fn, test, empty)
                changed = True
                break
    return out, changed


def _lean(nlp: spacy.language.Language) -> None:
    """Make a pipeline built by spaCy lean (one built with :func:`_lean_tokenizer` is)."""
    _lean_vocab(nlp.vocab)
    tok: Any = nlp.tokenizer
    if type(tok) is not spacy.tokenizer.Tokenizer:
        return  # zh, ja, ko, th, vi...: their own tokenizers
    names = ("prefix_search", "suffix_search", "infix_finditer", "url_match", "token_match")
    fns, changed = _lean_fns({name: getattr(tok, name) for name in names})
    if changed:
        # One new tokenizer rather than five assignments: each assignment re-tokenises
        # every special case of the language (Indonesian has thousands: 5 s more to build)
        lean = spacy.tokenizer.Tokenizer(
            nlp.vocab, rules=tok.rules, faster_heuristics=tok.faster_heuristics, **fns
        )
        lean.max_cache_size = tok.max_cache_size
        nlp.tokenizer = lean


def _skipping(fn: Any, test: Any, empty: Any) -> Any:
    def call(s: str) -> Any:
        return empty if test(s) else fn(s)

    call.pattern = fn.__self__.pattern  # type: ignore[attr-defined]  # as a regex has
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


def tokenize(nlp: spacy.language.Language, text: str, piece_chars: int = PIECE_CHARS) -> np.ndarray:
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


# --- scripts written without spaces ------------------------------------------------------
#
# Chinese and Japanese put no space between words, and a word segmenter needs a model
# (spaCy's blank zh cuts every character - Latin words too, "Baku" into B a k u; its ja
# needs SudachiPy). So their characters are matched one by one: a term's CJK characters
# are a sequence of one-character words (monitor.topics.match), and any token of the
# text holding such characters is cut into them (cut_unspaced), whatever the tokenizer.
# "伊朗" then matches in "伊朗总统抵达巴库" - as a substring would, which is how these
# scripts are searched. Hangul is written with spaces and is not cut.

_UNSPACED = re.compile(
    "[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]"
)
# languages tokenised by the rule tokenizer of "xx", then cut (see above)
UNSPACED_LANGUAGES = frozenset({"zh", "ja"})


def has_unspaced(text: str) -> bool:
    """Does ``text`` hold characters of a script written without spaces?"""
    return _UNSPACED.search(text) is not None


def unspaced_pieces(word: str) -> list[str]:
    """``word`` cut before and after each character of a script written without spaces
    (Chinese, Japanese kana); a run of other characters stays whole: "G20峰会" ->
    G20, 峰, 会."""
    if not _UNSPACED.search(word):
        return [word]
    out: list[str] = []
    start = 0
    for m in _UNSPACED.finditer(word):
        if m.start() > start:
            out.append(word[start : m.start()])
        out.append(m.group())
        start = m.end()
    if start < len(word):
        out.append(word[start:])
    return out


def cut_unspaced(nlp: spacy.language.Language, text: str, arr: np.ndarray) -> np.ndarray:
    """The token array of ``text`` (as :func:`tokenize` gives it) with every token that
    holds Chinese or Japanese characters cut into them (:func:`unspaced_pieces`), the
    other runs in it tokenised as words ("向(SOCAR)供应": 向 ( SOCAR ) 供 应); ``arr``
    itself when the text has none (one regex scan: next to nothing)."""
    if not len(arr) or not _UNSPACED.search(text):
        return arr
    parts: list[np.ndarray] = []  # token rows, each with the offset to add to its IDX
    offsets: list[int] = []
    for k, row in enumerate(arr):
        start, length = int(row[1]), int(row[2])
        pieces = unspaced_pieces(text[start : start + length]) if length > 1 else []
        if len(pieces) < 2:
            parts.append(arr[k : k + 1])
            offsets.append(0)
            continue
        at = start
        for piece in pieces:
            sub = _piece_rows(nlp, piece)
            if len(sub):
                parts.append(sub)
                offsets.append(at)
            at += len(piece)
    out = np.concatenate(parts).astype(arr.dtype, copy=True)
    out[:, 1] += np.repeat(np.array(offsets, dtype=arr.dtype), [len(p) for p in parts])
    return out


# A piece's token rows (offsets from 0), kept: a Chinese text is thousands of pieces of
# a few thousand distinct characters, and a tokenizer call per character cost 20 times
# the text's own tokenising. Bounded; cleared when full.
_PIECES: dict[tuple[int, str], np.ndarray] = {}
_PIECES_MAX = 50_000


def _piece_rows(nlp: spacy.language.Language, piece: str) -> np.ndarray:
    key = (id(nlp), piece)
    rows = _PIECES.get(key)
    if rows is None:
        if len(_PIECES) >= _PIECES_MAX:
            _PIECES.clear()
        rows = _PIECES[key] = nlp.make_doc(piece).to_array(_ARRAY_ATTRS)
    return rows


_SENT_END = np.array(
    sorted(
        spacy.strings.hash_string(c)  # type: ignore[attr-defined]
        for c in Sentencizer.default_punct_chars
    ),
    dtype=np.uint64,
)
_HYPHEN_HASHES = np.array(
    sorted(
        spacy.strings.hash_string(h)  # type: ignore[attr-defined]
        for h in ("-", "‐", "‑")
    ),
    dtype=np.uint64,
)


def sentence_starts(
    orths: np.ndarray, punct: np.ndarray, end: np.ndarray | None = None
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

    def __init__(
        self,
        vocab: Vocab,
        text: str,
        title_end: int,
        language: str,
        arr: np.ndarray,
        index: WordSpecs,
    ) -> None:
        self.text = text
        self.title_end = title_end
        self.language = language
        n = len(arr)
        if n:
            orths = arr[:, 0]
            uniq, inv = np.unique(orths, return_inverse=True)
            strings = vocab.strings
            get, token = index.cached, index.token
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
        self._n_words: int | None = None

    @property
    def n_words(self) -> int:
        """Tokens that are not punctuation or space: the length scores are calibrated on."""
        if self._n_words is None:
            self._n_words = len(self.punct) - sum(1 for p in self.punct if p)
        return self._n_words

    def __len__(self) -> int:
        return len(self._inv)

    def specs(self, i: int) -> tuple[int, ...]:
        """The word specs token ``i`` satisfies."""
        specs: tuple[int, ...] = self._info[self._inv[i]][1]
        return specs

    @property
    def norms(self) -> list[str]:
        """The normalised text of every token."""
        if self._norms is None:
            info = self._info
            self._norms = [info[k][0] for k in self._inv]
        return self._norms

    def span(self, start: int, end: int) -> str:
        """The text of tokens ``start`` to ``end`` (exclusive)."""
        return self.text[self.idx[start] : self.ends[end - 1]] if end > start else ""

    def words(self, start_char: int = 0, end_char: int | None = None) -> list[str]:
        """Normalised tokens (punctuation kept out) in a character range."""
        return [
            n
            for n, i, p in zip(self.norms, self.idx, self.punct, strict=True)
            if not p and i >= start_char and (end_char is None or i < end_char)
        ]
