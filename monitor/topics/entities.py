"""Named entities in example articles, for a topic proposed from them
(:mod:`monitor.topics.propose`): the world's countries beyond the shipped gazetteer's,
from Babel's CLDR data, in the gazetteer's languages; and capitalised names cleaned of
what is not part of a name (titles before a person's name, weekdays and months,
possessives, a capitalised stop word joining two names).

The shipped gazetteer knows the South Caucasus and its neighbours; a story elsewhere
(Ukraine, India and Pakistan, Nepal) still has its countries, and those are what a
topic about it is built on, not the words around them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from monitor.topics.gazetteer import Entry, Gazetteer
from monitor.topics.text import normalize

# the gazetteer's languages: a country proposed from CLDR is written in each of them
LANGUAGES = ("en", "ru", "uk", "az", "tr", "fa", "ar", "he", "hy", "ka", "de", "fr", "es", "it")
# scripts whose words inflect or take suffixes: a one-word name becomes a stem with *
_STEMMED = {"ru", "uk", "az", "tr", "hy", "ka", "de"}
_FINAL_VOWEL = re.compile(r"[aeiouyаяеёиыоуюіїєაიეოუաեէըիոօ]$", re.IGNORECASE)
_MIN_STEM = 5  # a shorter stem (Indi*, Chin*) would match other words

# Words that stand before a name without being part of it (English, as written in news)
TITLES = frozenset(
    """president vice prime minister ministers secretary general foreign defense defence
    interior finance mayor sir dame lord lady chancellor king queen prince princess pope
    governor senator sen rep representative dr mr mrs ms mx director chief ceo chairman
    chairwoman chair ambassador spokesman spokeswoman spokesperson justice judge
    commander gen lt col maj capt sgt adm leader deputy speaker supreme former acting
    state national regional officials official premier emir sheikh sultan crown
    archbishop bishop cardinal rabbi imam opposition""".split()
)


# English adjectives of countries that are not their name's stem (Indian, Chinese):
# an article names India as often as "Indian"
DEMONYMS = {
    "afghanistan": ["Afghan", "Afghans"],
    "argentina": ["Argentine", "Argentinian"],
    "belgium": ["Belgian"],
    "brazil": ["Brazilian"],
    "chile": ["Chilean"],
    "china": ["Chinese"],
    "denmark": ["Danish", "Dane", "Danes"],
    "egypt": ["Egyptian"],
    "finland": ["Finnish", "Finn", "Finns"],
    "france": ["French"],
    "greece": ["Greek"],
    "india": ["Indian", "Indians"],
    "iraq": ["Iraqi", "Iraqis"],
    "ireland": ["Irish"],
    "kuwait": ["Kuwaiti"],
    "lebanon": ["Lebanese"],
    "netherlands": ["Dutch"],
    "norway": ["Norwegian"],
    "peru": ["Peruvian"],
    "philippines": ["Filipino", "Philippine"],
    "poland": ["Polish", "Pole", "Poles"],
    "portugal": ["Portuguese"],
    "qatar": ["Qatari"],
    "saudi-arabia": ["Saudi", "Saudis"],
    "spain": ["Spanish", "Spaniard"],
    "sudan": ["Sudanese"],
    "sweden": ["Swedish", "Swede", "Swedes"],
    "switzerland": ["Swiss"],
    "thailand": ["Thai"],
    "united-kingdom": ["UK", "Britain", "British", "Briton"],
    "vietnam": ["Vietnamese"],
    "yemen": ["Yemeni"],
}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", normalize(name)).strip("-")


def _stem(name: str, lang: str) -> str:
    """A one-word name as a prefix term where its language inflects it (Украин* for
    Украина, Украины; Pakistan* for Pakistani), else as written."""
    if " " in name or "-" in name:
        return name
    if lang == "en" or lang in _STEMMED:
        stem = _FINAL_VOWEL.sub("", name) if lang != "tr" and lang != "az" else name
        if len(stem) >= _MIN_STEM:
            return stem + "*"
    return name


@lru_cache(maxsize=1)
def cldr_countries() -> dict[str, Entry]:
    """Every country CLDR names, by the slug of its English name, with its name in each
    of :data:`LANGUAGES` (a stem where the language inflects it)."""
    from babel import Locale

    names: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        for code, name in Locale.parse(lang).territories.items():
            if len(code) == 2 and code.isalpha() and code not in ("ZZ", "EU", "UN", "EZ", "QO"):
                names.setdefault(code, {})[lang] = name
    out: dict[str, Entry] = {}
    for by_lang in names.values():
        en = by_lang.get("en")
        if not en or "(" in en or "&" in en:
            continue
        per_lang: dict[str, list[str]] = {}
        for lang, name in by_lang.items():
            # "Congo - Kinshasa", "Папуа — Новая Гвинея": a dash alone is no word
            per_lang[lang] = [re.sub(r"\s+[-–—]\s+", " ", name)]
        out[_slug(en)] = Entry(kind="country", names=per_lang)
    # stems last: a stem that is the start of another country's name (Niger* of
    # Nigeria) stays the name as written
    every = {normalize(n[0]) for e in out.values() for n in e.names.values()}
    for e in out.values():
        for lang, ns in e.names.items():
            stem = _stem(ns[0], lang)
            if stem.endswith("*"):
                key = normalize(stem[:-1])
                if any(o.startswith(key) and o != normalize(ns[0]) for o in every):
                    continue
                keep_exact = lang == "en" and stem[:-1] != ns[0]  # Ukraine, Ukrain*
                e.names[lang] = [ns[0], stem] if keep_exact else [stem]
    for eid, e in out.items():
        english = e.names.get("en", [])
        if eid in DEMONYMS:
            english += [d for d in DEMONYMS[eid] if d not in english]
        elif english and english[0].endswith("a") and " " not in english[0]:
            english += [english[0] + "n", english[0] + "ns"]  # Cuba: Cuban, Syria: Syrians
    return out


def with_world_countries(gaz: Gazetteer) -> Gazetteer:
    """``gaz`` and the countries of :func:`cldr_countries` it does not have (a country
    it has, by any of its English names, keeps the gazetteer's richer entry)."""
    known = {
        normalize(n.rstrip("*"))
        for e in gaz.entries.values()
        if e.kind == "country"
        for n in e.names.get("en", [])
    }
    out = Gazetteer(dict(gaz.entries), list(gaz.sources))
    for eid, e in cldr_countries().items():
        en = e.names.get("en", [""])[0]
        if eid not in out.entries and normalize(en) not in known:
            out.entries[eid] = e
    return out


@lru_cache(maxsize=32)
def calendar_words(language: str | None) -> frozenset[str]:
    """Weekday and month names in ``language`` and English, normalised: capitalised,
    yet never a name of the story."""
    from babel import Locale
    from babel.core import UnknownLocaleError

    words: set[str] = set()
    for lang in {"en", language or "en"}:
        try:
            loc = Locale.parse(lang)
        except (UnknownLocaleError, ValueError, TypeError):
            continue
        for ctx in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for table in (loc.days, loc.months):
                    try:
                        words |= {normalize(x.strip(".")) for x in table[ctx][width].values()}
                    except KeyError:
                        continue
    return frozenset(w for w in words if len(w) >= 3)


_POSSESSIVE = re.compile(r"^(.+?)['’]s$")


def name_parts(tokens: list[str], stop: set[str], calendar: frozenset[str]) -> list[str]:
    """The names in a run of capitalised tokens: split at a possessive (France's
    Emmanuel Macron: France, Emmanuel Macron), a stop word (Standards The Thomson
    Reuters) or a weekday or month; a title before a name left out (Prime Minister
    Narendra Modi: Narendra Modi)."""
    parts: list[list[str]] = [[]]
    for tok in tokens:
        low = normalize(tok)
        m = _POSSESSIVE.match(tok)
        if low in stop or low in calendar:
            parts.append([])
            continue
        if m:
            parts[-1].append(m.group(1))
            parts.append([])
            continue
        parts[-1].append(tok)
    out = []
    for p in parts:
        # a title before a person's name goes; a run of titles alone is no name
        i = 0
        while i < len(p) and p[i].lower().strip(".") in TITLES:
            i += 1
        if i and i < len(p):
            p = p[i:]
        elif i:
            continue
        if p and not (len(p) == 1 and p[0].lower() in TITLES):
            out.append(" ".join(p))
    return out


# words around a name that make a phrase no part of the story's vocabulary
REPORTING = frozenset("said says say told tells added adds according reported including".split())
CONTRACTION = re.compile(r"['’](?:t|s|m|ve|re|ll|d)\b", re.IGNORECASE)


def clean_name(name: str, gaz_keys: set[str], gaz_stems: set[str]) -> str | None:
    """A capitalised name as a term, or None: the gazetteer's names and titles before
    it stripped (Iranian President ...), a name that ends in one of the gazetteer's
    (Masoud Pezeshkian: the gazetteer's Pezeshkian), a run of capitals or of initials
    (CITY AP, U S) and contractions dropped."""

    def known(w: str) -> bool:
        k = normalize(w)
        return k in gaz_keys or k in TITLES or any(k.startswith(x) for x in gaz_stems)

    words = name.split()
    while words and known(words[0]):
        words.pop(0)
    if not words or known(words[-1]) or CONTRACTION.search(name):
        return None  # a known name with its first names (Masoud Pezeshkian), or none
    if all(len(w) == 1 for w in words) or (len(words) > 1 and all(w.isupper() for w in words)):
        return None
    return " ".join(words)


__all__ = [
    "CONTRACTION",
    "LANGUAGES",
    "REPORTING",
    "TITLES",
    "calendar_words",
    "clean_name",
    "cldr_countries",
    "name_parts",
    "with_world_countries",
]
