"""Names across languages and scripts mapped to one key.

"Azerbaijan", "Азербайджана", "آذربایجان", "אזרבייג'ן" and "Azərbaycan" must meet in
one key for two articles in different languages to be seen as sharing a name. Three
sources, most trusted first:

1. Babel's CLDR data: country names, time-zone cities, month and weekday names in every
   locale (``C:AZ``, ``T:Asia/Baku``, ``M:4``, ``D:0``).
2. The topics' per-language term lists (config/topics.yaml): within one group, a term
   in another language is paired with the English term it transliterates to.
3. Transliteration to Latin letters and a consonant skeleton (``N:bskn`` for
   Pezeshkian, Пезешкиан and پزشکیان alike): the fallback for any other name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

# Languages whose CLDR names are loaded: the flagship topic's languages and their
# neighbours (the grouper still works for any language; unknown names fall back to
# transliteration).
CLDR_LOCALES = (
    "en",
    "ru",
    "uk",
    "fa",
    "ar",
    "he",
    "az",
    "tr",
    "hy",
    "ka",
    "de",
    "fr",
    "es",
    "it",
    "pt",
    "zh",
    "ja",
    "ko",
    "hi",
    "ur",
    "kk",
    "uz",
    "el",
    "pl",
    "nl",
)

# Prefixes that Arabic script glues onto a word (and, by, for, the...).
_AR_PREFIXES = ("وال", "بال", "فال", "لل", "ال", "و", "ب", "ل", "ف")
_HE_PREFIXES = ("וה", "שה", "מה", "לה", "בה", "ה", "ו", "ב", "ל", "מ", "ש")

_CYRILLIC = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґәғқңөұүһ",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
            "i",
            "yi",
            "ye",
            "g",
            "a",
            "gh",
            "q",
            "ng",
            "o",
            "u",
            "u",
            "h",
        ],
        strict=True,
    )
)
_ARMENIAN = dict(
    zip(
        "աբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆ",
        [
            "a",
            "b",
            "g",
            "d",
            "e",
            "z",
            "e",
            "y",
            "t",
            "zh",
            "i",
            "l",
            "kh",
            "ts",
            "k",
            "h",
            "dz",
            "gh",
            "ch",
            "m",
            "y",
            "n",
            "sh",
            "o",
            "ch",
            "p",
            "j",
            "r",
            "s",
            "v",
            "t",
            "r",
            "ts",
            "v",
            "p",
            "k",
            "o",
            "f",
        ],
        strict=True,
    )
)
_ARMENIAN["և"] = "ev"
_GEORGIAN = dict(
    zip(
        "აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ",
        [
            "a",
            "b",
            "g",
            "d",
            "e",
            "v",
            "z",
            "t",
            "i",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "zh",
            "r",
            "s",
            "t",
            "u",
            "p",
            "k",
            "gh",
            "q",
            "sh",
            "ch",
            "ts",
            "dz",
            "ts",
            "ch",
            "kh",
            "j",
            "h",
        ],
        strict=True,
    )
)
_ARABIC = dict(
    zip(
        "اآأإبپتثجچحخدذرزژسشصضطظعغفقکكگلمنوهةیيىءئؤ",
        [
            "a",
            "a",
            "a",
            "i",
            "b",
            "p",
            "t",
            "s",
            "j",
            "ch",
            "h",
            "kh",
            "d",
            "z",
            "r",
            "z",
            "zh",
            "s",
            "sh",
            "s",
            "z",
            "t",
            "z",
            "'",
            "gh",
            "f",
            "q",
            "k",
            "k",
            "g",
            "l",
            "m",
            "n",
            "v",
            "h",
            "h",
            "y",
            "y",
            "a",
            "'",
            "y",
            "v",
        ],
        strict=True,
    )
)
_HEBREW = dict(
    zip(
        "אבגדהוזחטיכךלמםנןסעפףצץקרשת",
        [
            "'",
            "b",
            "g",
            "d",
            "h",
            "v",
            "z",
            "kh",
            "t",
            "y",
            "k",
            "k",
            "l",
            "m",
            "m",
            "n",
            "n",
            "s",
            "'",
            "p",
            "f",
            "ts",
            "ts",
            "k",
            "r",
            "sh",
            "t",
        ],
        strict=True,
    )
)
_GREEK = dict(
    zip(
        "αβγδεζηθικλμνξοπρσςτυφχψω",
        [
            "a",
            "v",
            "g",
            "d",
            "e",
            "z",
            "i",
            "th",
            "i",
            "k",
            "l",
            "m",
            "n",
            "x",
            "o",
            "p",
            "r",
            "s",
            "s",
            "t",
            "i",
            "f",
            "kh",
            "ps",
            "o",
        ],
        strict=True,
    )
)
_LATIN_SPECIAL = {
    "ə": "a",
    "ı": "i",
    "ş": "sh",
    "ç": "ch",
    "ğ": "gh",
    "ß": "ss",
    "ø": "o",
    "æ": "ae",
    "œ": "oe",
    "ł": "l",
    "đ": "d",
    "þ": "th",
    "ʼ": "'",
    "ʻ": "'",
}
_TRANSLIT: dict[str, str] = {
    **_CYRILLIC,
    **_ARMENIAN,
    **_GEORGIAN,
    **_ARABIC,
    **_HEBREW,
    **_GREEK,
    **_LATIN_SPECIAL,
}
# Turkish and Azerbaijani spell j as c and kh as x.
_TURKIC = {"c": "j", "x": "kh", "q": "g"}

# Consonant classes that survive a trip through another script (Persian writes no short
# vowels, Arabic has no p, Russian renders h as g, Hebrew b and v are one letter...).
_DIGRAPHS = (
    ("shch", "s"),
    ("dzh", "c"),
    ("tch", "c"),
    ("kh", "h"),
    ("gh", "k"),
    ("sh", "s"),
    ("ch", "c"),
    ("zh", "c"),
    ("ts", "s"),
    ("th", "t"),
    ("ph", "f"),
    ("dj", "c"),
    ("dz", "s"),
    ("ck", "k"),
)
_CLASS = {
    "b": "b",
    "p": "b",
    "f": "f",
    "v": "f",
    "w": "f",
    "k": "k",
    "q": "k",
    "g": "k",
    "x": "k",
    "c": "c",
    "j": "c",
    "s": "s",
    "z": "s",
    "t": "t",
    "d": "t",
    "l": "l",
    "m": "m",
    "n": "n",
    "r": "r",
}
_VOWELS = set("aeiouy'h")


def fold(word: str) -> str:
    """Lower case, no diacritics, Arabic/Hebrew letter variants unified: the form that
    names are looked up by."""
    w = word.lower().replace("\u200c", "").replace("\u0640", "")
    w = w.replace("׳", "'").replace("’", "'").replace("ʼ", "'")
    w = w.translate(_ARABIC_UNIFY)
    if w.isascii():
        return w
    out = []
    for ch in unicodedata.normalize("NFD", w):
        if unicodedata.category(ch) == "Mn" and not ("\u0600" <= ch <= "\u06ff"):
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


_ARABIC_UNIFY = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ك": "ک",
        "ي": "ی",
        "ى": "ی",
        "ة": "ه",
        "\u064b": None,
        "\u064c": None,
        "\u064d": None,
        "\u064e": None,
        "\u064f": None,
        "\u0650": None,
        "\u0651": None,
        "\u0652": None,
    }
)


def translit(word: str, lang: str | None = None) -> str:
    """A word in any supported script as lower-case Latin letters."""
    w = word.lower()
    # Hebrew geresh: ג' = j, צ' = ch, ז' = zh.
    w = w.replace("ג'", "j").replace("צ'", "ch").replace("ז'", "zh")
    w = w.replace("ג׳", "j").replace("צ׳", "ch").replace("ז׳", "zh")
    turkic = lang in ("tr", "az")
    out = []
    for ch in w:
        if turkic and ch in _TURKIC:
            out.append(_TURKIC[ch])
            continue
        t = _TRANSLIT.get(ch)
        if t is not None:
            out.append(t)
            continue
        if ch.isascii():
            out.append(ch)
            continue
        base = unicodedata.normalize("NFD", ch)[0]
        out.append(base if base.isascii() else "")
    return "".join(out)


# Case endings that hide a name: Russian instrumental/locative (Пашиняном, Алиевым),
# Turkish and Azerbaijani genitive and locative (Pezeşkianın, Bakıda).
_RU_ENDINGS = ("ами", "ями", "ом", "ем", "ым", "им", "ой", "ей", "ах", "ях")
# (The -nın form follows a vowel, but "Pezeşkia|nın" cannot be told from "Pezeşkian|ın":
# names of people mostly end in a consonant; places come from the gazetteer.)
_TR_ENDINGS = ("dan", "dən", "den", "ın", "in", "un", "ün", "da", "də", "de", "ya", "yə", "ye")


def strip_ending(word: str, lang: str | None) -> str:
    """A name without its case ending, for the languages that inflect names."""
    w = word.lower()
    for sep in ("'", "’", "׳"):
        if sep in w:
            w = w.split(sep, 1)[0]
    endings = (
        _RU_ENDINGS if lang in ("ru", "uk", "be") else _TR_ENDINGS if lang in ("tr", "az") else ()
    )
    for e in endings:
        if w.endswith(e) and len(w) - len(e) >= 4:
            return w[: -len(e)]
    return w


def skeleton(word: str, lang: str | None = None) -> str:
    """The consonant skeleton of a name: what stays the same across scripts.
    An initial vowel is kept as ``V`` (Persian and Hebrew write it as a letter too)."""
    t = translit(strip_ending(word, lang), lang)
    t = "".join(c for c in t if c.isalpha() or c == "'")
    if not t:
        return ""
    head = "V" if t[0] in "aeiou'" or (t[0] == "y" and len(t) > 1 and t[1] not in "aeiou") else ""
    for a, b in _DIGRAPHS:
        if a in t:
            t = t.replace(a, b)
    out: list[str] = []
    for ch in t:
        if ch in _VOWELS:
            continue
        c = _CLASS.get(ch)
        if c is None or (out and out[-1] == c):
            continue
        out.append(c)
    return head + "".join(out)


def _edit(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def strip_clitics(word: str) -> list[str]:
    """The word and, for Arabic and Hebrew script, the word without a glued prefix."""
    if not word:
        return [word]
    first = word[0]
    prefixes: tuple[str, ...] = ()
    if "\u0600" <= first <= "\u06ff":
        prefixes = _AR_PREFIXES
    elif "\u0590" <= first <= "\u05ff":
        prefixes = _HE_PREFIXES
    out = [word]
    for p in prefixes:
        if word.startswith(p) and len(word) - len(p) >= 3:
            out.append(word[len(p) :])
    return out


class Gazetteer:
    """Folded name (or name stem) -> key, with prefix matching for inflected forms."""

    MIN_STEM = 4  # a stem shorter than this matches only whole words
    MAX_SUFFIX = 4  # Азербайджан|ского is too far; Азербайджан|а, Iran|ian are not

    def __init__(self) -> None:
        self.exact: dict[str, str] = {}
        self.stems: dict[str, str] = {}
        self.phrases: dict[tuple[str, ...], str] = {}
        self._prefix4: set[str] = set()

    def add(self, name: str, key: str, *, stem: bool = True, overwrite: bool = False) -> None:
        words = [fold(w) for w in _WORD.findall(name)]
        if not words:
            return
        if len(words) > 1:
            t = tuple(words)
            if overwrite or t not in self.phrases:
                self.phrases[t] = key
            return
        w = words[0]
        if overwrite or w not in self.exact:
            self.exact[w] = key
        if stem and len(w) >= self.MIN_STEM and (overwrite or w not in self.stems):
            self.stems[w] = key
            self._prefix4.add(w[:4])

    def lookup(self, folded: str) -> str | None:
        """The key of a folded word, trying glued prefixes and inflection suffixes."""
        for w in strip_clitics(folded):
            k = self.exact.get(w)
            if k is not None:
                return k
            if len(w) > self.MIN_STEM and w[:4] in self._prefix4:
                for cut in range(1, min(self.MAX_SUFFIX, len(w) - self.MIN_STEM) + 1):
                    k = self.stems.get(w[:-cut])
                    if k is not None:
                        return k
        return None

    def has_phrases(self) -> bool:
        return bool(self.phrases)


_WORD = re.compile(r"[^\W\d_]+(?:['’׳][^\W\d_]+)*", re.UNICODE)

# Generic words in country names that are not the name ("Republic of", "جمهوری").
_GENERIC = {
    "republic",
    "republique",
    "republik",
    "республика",
    "جمهوری",
    "جمهورية",
    "the",
    "of",
    "islamic",
    "исламская",
    "state",
    "democratic",
    "people's",
    "united",
}


@lru_cache(maxsize=1)
def cldr_gazetteer() -> Gazetteer:
    """Country names, time-zone cities, months and weekdays from Babel's CLDR data."""
    from babel import Locale
    from babel.core import UnknownLocaleError
    from babel.dates import get_timezone_location

    g = Gazetteer()
    try:
        import zoneinfo

        zones = sorted(
            z
            for z in zoneinfo.available_timezones()
            if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/"))
        )
    except (OSError, ValueError):  # no tz database: cities are a bonus
        zones = []
    for code in CLDR_LOCALES:
        try:
            loc = Locale.parse(code)
        except (UnknownLocaleError, ValueError):
            continue
        for terr, name in loc.territories.items():
            if not terr.isalpha() or len(terr) != 2 or terr in ("ZZ", "EU", "UN", "EZ", "QO"):
                continue
            key = f"C:{terr}"
            g.add(name, key)
            words = [w for w in _WORD.findall(name) if fold(w) not in _GENERIC]
            if len(words) == 1 and len(_WORD.findall(name)) > 1:
                g.add(words[0], key)
        for ctx in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                try:
                    months = loc.months[ctx][width]
                    days = loc.days[ctx][width]
                except KeyError:
                    continue
                for m, name in months.items():
                    if len(name.strip(".")) >= 3:
                        g.add(name.strip("."), f"M:{m}", stem=width == "wide")
                for d, name in days.items():
                    if len(name.strip(".")) >= 3 and width == "wide":
                        g.add(name, f"D:{d}")
        for zone in zones:
            try:
                city = get_timezone_location(zone, locale=loc, return_city=True)
            except (LookupError, ValueError):
                continue
            if city and len(city) >= 3:
                g.add(city, f"T:{zone}")
    return g


def topic_groups(topics_yaml: Mapping[str, Any]) -> list[dict[str, list[str]]]:
    """The per-language term lists of each group of each topic in a parsed topics.yaml:
    ``[{"en": [...], "ru": [...], ...}, ...]``."""
    out: list[dict[str, list[str]]] = []
    for topic in (topics_yaml or {}).get("topics") or []:
        if not isinstance(topic, Mapping):
            continue
        for group in (topic.get("groups") or {}).values():
            if not isinstance(group, Mapping):
                continue
            langs: dict[str, list[str]] = {}
            for k, v in group.items():
                if k in ("weight", "description", "min") or not isinstance(v, list):
                    continue
                lang = "en" if k == "terms" else str(k)
                langs[lang] = [
                    t if isinstance(t, str) else str((t or {}).get("text", "")) for t in v
                ]
            if langs:
                out.append(langs)
    return out


def add_topic_terms(g: Gazetteer, groups: Iterable[Mapping[str, list[str]]], key_of: Any) -> int:
    """Pair every single-word term in another language with the English term of the same
    group it transliterates to, and give it that term's key. Returns how many paired."""
    paired = 0
    for group in groups:
        english = [t.rstrip("*") for t in group.get("en", []) if t and " " not in t.strip()]
        eng = [(t, skeleton(t), key_of(t)) for t in english if len(t) >= 3]
        for lang, terms in group.items():
            if lang == "en":
                continue
            for term in terms:
                term = term.strip()
                if not term or " " in term:
                    continue
                stem = term.endswith("*")
                word = term.rstrip("*")
                sk = skeleton(word, lang)
                if len(sk) < 2:
                    continue
                best, best_d = None, 99
                for _t, esk, ekey in eng:
                    d = _edit(sk, esk)
                    if d < best_d:
                        best, best_d = ekey, d
                # A close skeleton within one small group of names is the same name.
                if best is not None and best_d <= max(1, len(sk) // 4):
                    g.add(word, best, stem=stem or len(word) >= 6)
                    paired += 1
    return paired
