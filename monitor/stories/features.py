"""An article as the grouper sees it: its words (for articles in one language) and its
language-independent keys - names, numbers, months, weekdays (for any two languages)."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from monitor.stories.events import NOT_A_NAME
from monitor.stories.names import Gazetteer
from monitor.stories.translit import fold, skeleton

_TOKEN = re.compile(r"[^\W_]+(?:['’׳][^\W\d_]+)?", re.UNICODE)
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
STEM_CHARS = 6  # words are cut to this many letters: a cheap stemmer for every language


@dataclass(frozen=True, slots=True)
class Article:
    """One article to group. ``published`` None means "when it arrived"."""

    id: str
    title: str
    text: str = ""
    url: str = ""
    published: datetime | None = None
    language: str | None = None


@dataclass(slots=True)
class Features:
    terms: Counter[str]  # stemmed words, title counted twice
    keys: Counter[str]  # names (C:, T:, N:), numbers (#), months (M:), weekdays (D:)
    title_terms: Counter[str]
    language: str
    # Skeletons of words in scripts without capitals (Persian, Arabic, Hebrew, Georgian):
    # any word there may be a name, so they count only when a capitalised name somewhere
    # else has the same skeleton (the grouper decides, it has seen the other articles).
    weak_keys: Counter[str]
    # Days the text names, (month, day): "18 августа", "July 10", "10 Temmuz". They place
    # an undated article in time (the grouper's bar for it).
    dates: frozenset[tuple[int, int]] = frozenset()


@lru_cache(maxsize=64)
def stop_words(lang: str | None) -> frozenset[str]:
    """spaCy's stop words for the language, plus English's (every feed quotes English)."""
    words: set[str] = set()
    for code in {lang or "en", "en"}:
        words |= {fold(w) for w in _spacy_stop_words(code)}
    return frozenset(words | _EXTRA_STOP)


def _spacy_stop_words(code: str) -> set[str]:
    """``spacy/lang/<code>/stop_words.py`` read as a file: importing it would import all of
    spaCy (half a second, 160 modules) into the process that runs the story step, which
    otherwise needs none of it. The files define one set and import nothing."""
    spec = importlib.util.find_spec("spacy")
    if spec is None or not spec.submodule_search_locations or not code.isalpha():
        return set()
    path = Path(spec.submodule_search_locations[0]) / "lang" / code / "stop_words.py"
    try:
        ns: dict[str, Any] = {}
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), ns)
        return set(ns.get("STOP_WORDS") or ())
    except (OSError, SyntaxError, NameError, TypeError):
        return set()


# Words of every news feed that say nothing about the event.
_EXTRA_STOP = {
    "said",
    "says",
    "say",
    "told",
    "news",
    "reuters",
    "ap",
    "afp",
    "according",
    "reported",
    "report",
    "reports",
    "new",
    "year",
    "years",
    "week",
    "day",
    "time",
    "people",
    "also",
    "would",
    "could",
    "will",
    "one",
    "two",
    "first",
    "last",
    "photo",
    "video",
    "watch",
    "live",
    "updates",
    "update",
    "read",
    "more",
    "post",
    "appeared",
    "continue",
    "reading",
}

_NO_CASE = re.compile(r"[\u0590-\u06ff\u0750-\u077f\u10a0-\u10ff\u3040-\u9fff]")


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text (py3langid), for articles that do not say."""
    import py3langid

    lang, _ = py3langid.classify(text[:400])
    return str(lang)


def number_key(token: str) -> str | None:
    t = token.translate(_DIGITS)
    m = _NUMBER.fullmatch(t)
    if not m:
        return None
    digits = (
        t.replace(",", "").replace(".", "")
        if re.fullmatch(r"\d{1,3}([.,]\d{3})+", t)
        else t.replace(",", ".")
    )
    return "#" + digits.lstrip("0") if digits.strip("0") else "#0"


_SENTENCE_END = frozenset('.!?:;"«»“”„—–|')


def _elide(word: str) -> str:
    """A Latin-script word without what an apostrophe glues to it: the suffix of a name in
    Turkish, Azerbaijani and English (Aliyev'den, İran'a, Trump's) or the article before
    it in French and Italian (l'Iran, d'Azerbaïdjan). Hebrew's geresh (ג'ורג') is a
    letter, not a joint, and stays."""
    if "'" not in word or "\u0590" <= word[0] <= "\u05ff":
        return word
    head, _, tail = word.partition("'")
    if len(head) <= 2 and len(tail) >= 2:
        return tail
    return head if len(head) >= 2 else word


def featurize(
    article: Article, gazetteer: Gazetteer, *, text_chars: int = 1000, language: str | None = None
) -> Features:
    """Words and keys of an article's title and the first ``text_chars`` of its text: the
    lede carries the event; the rest of a long article only adds noise and cost."""
    title = article.title or ""
    text = (article.text or "")[:text_chars]
    if text and title and text.startswith(title):
        text = text[len(title) :]
    lang = (language or article.language or "").lower()[:2] or detect_language(f"{title}. {text}")
    stops = stop_words(lang)
    terms: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    title_terms: Counter[str] = Counter()
    weak: Counter[str] = Counter()
    phrases = gazetteer.phrases
    lookup = gazetteer.lookup
    dates: set[tuple[int, int]] = set()
    for part, weight in ((title, 2), (text, 1)):
        prev = ""
        # The last day number (1-31) and month seen, by token position: a month next to
        # a day number (one word may stand between: "July 10", "10 de julio") is a date.
        day_at, month_at = (-9, 0), (-9, 0)
        pos = 0
        part = part.replace("\u200c", "")
        # A capital that only starts a sentence says nothing about a name: such a word
        # counts as a name only when some other article has it as one (a weak key, like
        # the words of scripts without capitals). (Title Case headlines likewise cost
        # more precision than they gave recall on the dev parts.)
        last_end = 0
        for m in _TOKEN.finditer(part):
            tok = m.group()
            # What stands between the previous word and this one: a sentence starts
            # after . ! ? : and quotes, or at the start of the part.
            gap = part[last_end : m.start()].rstrip()
            initial = gap[-1] in _SENTENCE_END if gap else last_end == 0
            last_end = m.end()
            pos += 1
            if tok[0].isdigit() or tok[0] in "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩":
                k = number_key(tok)
                if k:
                    keys[k] += weight
                    day = int(k[1:]) if k[1:].isdigit() and len(k) <= 3 else 0
                    if 1 <= day <= 31:
                        day_at = (pos, day)
                        if pos - month_at[0] <= 2:
                            dates.add((month_at[1], day))
                prev = ""
                continue
            raw = fold(tok)
            f = _elide(raw)
            if phrases and prev:
                pk = phrases.get((prev, f))
                if pk:
                    keys[pk] += weight
            prev = f
            if len(f) < 2 or f in stops:
                continue
            term = f[:STEM_CHARS]
            terms[term] += weight
            if weight == 2:
                title_terms[term] += 1
            key = lookup(f) if len(f) >= 3 else None
            if key is None and len(f) >= 3:
                cased = tok[0].isupper()
                if cased and initial:
                    sk = skeleton(raw if raw.startswith(f + "'") else f, lang)
                    if len(sk) >= 3:
                        weak["N:" + sk] += weight
                elif cased or _NO_CASE.match(tok):
                    # After a cut suffix (Nasirzade'nin) no case ending is cut again.
                    sk = skeleton(raw if raw.startswith(f + "'") else f, lang)
                    # Two consonants match too many unrelated words in another script.
                    if cased and len(sk) >= 3:
                        key = "N:" + sk
                    elif not cased and len(sk) >= 4:
                        weak["N:" + sk] += weight
            if key and key != NOT_A_NAME:
                keys[key] += weight
                if key.startswith("M:"):
                    month_at = (pos, int(key[2:]))
                    if pos - day_at[0] <= 2:
                        dates.add((month_at[1], day_at[1]))
    return Features(terms, keys, title_terms, lang, weak, frozenset(dates))
