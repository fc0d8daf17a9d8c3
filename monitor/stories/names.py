"""Names across languages and scripts mapped to one key.

"Azerbaijan", "Азербайджана", "آذربایجان", "אזרבייג'ן" and "Azərbaycan" must meet in
one key for two articles in different languages to be seen as sharing a name. Three
sources, most trusted first:

1. Babel's CLDR data: country names, time-zone cities, month and weekday names in every
   locale (``C:AZ``, ``T:Asia/Baku``, ``M:4``, ``D:0``).
2. The gazetteer newsmon ships (monitor/topics/gazetteer.yaml): the region's countries,
   cities, leaders and places, written per language and script (``علی‌اف``, ``Алиев*``,
   ``Əliyev*``), each mapped to one key.
3. The topics' per-language term lists (config/topics.yaml): within one group, a term
   in another language is paired with the English term it transliterates to.
4. Transliteration to Latin letters and a consonant skeleton (``N:bskn`` for
   Pezeshkian, Пезешкиан and پزشکیان alike): the fallback for any other name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from monitor.stories.translit import (
    _edit,
    fold,
    skeleton,
    strip_clitics,
    strip_ending,
    translit,
)

__all__ = [  # the transliteration helpers are re-exported: names' callers use them
    "Gazetteer",
    "add_topic_terms",
    "cldr_gazetteer",
    "entries_gazetteer",
    "fold",
    "gazetteer_with_topics",
    "skeleton",
    "strip_clitics",
    "strip_ending",
    "topic_groups",
    "translit",
]

log = logging.getLogger("newsmon.stories")

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
        # Persian writes a name's parts joined by a zero-width non-joiner (علی‌اف): one
        # word, as the articles' tokens are read.
        words = [fold(w) for w in _WORD.findall(name.replace("\u200c", ""))]
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

    def tables(self) -> dict[str, Any]:
        """The tables as plain JSON types (:meth:`from_tables` reads them back)."""
        return {
            "exact": self.exact,
            "stems": self.stems,
            "phrases": [[list(k), v] for k, v in self.phrases.items()],
        }

    @classmethod
    def from_tables(cls, tables: Mapping[str, Any]) -> Gazetteer:
        g = cls()
        g.exact = dict(tables["exact"])
        g.stems = dict(tables["stems"])
        g.phrases = {tuple(k): v for k, v in tables["phrases"]}
        g._prefix4 = {w[:4] for w in g.stems}
        return g


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
    """Country names, time-zone cities, months and weekdays from Babel's CLDR data.

    Built in a child process: reading these locales loads ~37 MB of Babel's data, which
    stays in the heap that built the tables even once Babel's caches are cleared (freed
    in fragments between the tables' own objects, never returned to the system), and the
    pipeline's process groups stories for its whole life. Built here if the child fails."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _CLDR_CHILD],
            capture_output=True,
            check=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_SRC, _PYPATH]))},
        )
        return Gazetteer.from_tables(json.loads(out.stdout))
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        log.warning("building CLDR names in a child process failed (%s): building here", exc)
        return build_cldr_gazetteer()


_CLDR_CHILD = (
    "import json, sys; from monitor.stories.names import build_cldr_gazetteer; "
    "sys.stdout.write(json.dumps(build_cldr_gazetteer().tables(), ensure_ascii=False))"
)
_SRC = str(Path(__file__).resolve().parents[2])  # the folder the monitor package is in
_PYPATH = os.environ.get("PYTHONPATH", "")


def build_cldr_gazetteer() -> Gazetteer:
    """:func:`cldr_gazetteer`'s tables, built in this process."""
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
    """Pair every single-word term in another language with the English name (a
    capitalised term) of the same group it transliterates to, and give it that name's
    key. Returns how many paired."""
    paired = 0
    for group in groups:
        english = [t.rstrip("*") for t in group.get("en", []) if t and " " not in t.strip()]
        # Names only: a group also holds relation words ("visit", "border"), and a
        # skeleton is too coarse for them - граница met "drones", سفر "ceasefire",
        # Korridor "border" - keys that linked unrelated reports across languages.
        eng = [(t, skeleton(t), key_of(t)) for t in english if len(t) >= 3 and t[0].isupper()]
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


def _copy(base: Gazetteer) -> Gazetteer:
    g = Gazetteer()
    g.exact, g.stems, g.phrases = dict(base.exact), dict(base.stems), dict(base.phrases)
    g._prefix4 = set(base._prefix4)
    return g


def entry_key(base: Gazetteer, names: Mapping[str, list[str]]) -> str | None:
    """The one key of a gazetteer entry: the CLDR key one of its names already has
    (``C:AZ``, ``T:Asia/Baku``, a phrase such as ``united states``), else the skeleton of
    its English one-word name - the key transliteration gives that name anyway, so a
    spelling the entry does not list still meets it - else that of its English name of
    several words, written as one."""
    words = [n.strip().rstrip("*") for ns in names.values() for n in ns if n]
    english = [n.strip().rstrip("*") for n in names.get("en", []) if n]
    for w in english + words:
        if " " not in w:
            k = base.lookup(fold(w))
            if k is not None:
                return k
    for w in english + words:  # a name of several words CLDR knows (United States)
        parts = tuple(fold(p) for p in _WORD.findall(w))
        if len(parts) > 1 and parts in base.phrases:
            return base.phrases[parts]
    for w in english:
        if " " not in w and len(skeleton(w)) >= 3:
            return "N:" + skeleton(w)
    for w in english:  # else the skeleton of its English name of several words (Abu Dhabi)
        if len(skeleton(w.replace(" ", ""))) >= 3:
            return "N:" + skeleton(w.replace(" ", ""))
    return None


def add_entries(g: Gazetteer, entries: Mapping[str, Any]) -> int:
    """Every name of every entry (``{id: {"names": {lang: [...]}}}``, the format of
    monitor/topics/gazetteer.yaml) under its entry's key; a trailing ``*`` is a stem.
    A name CLDR already knows keeps CLDR's key. Returns how many names were added."""
    added = 0
    for entry in entries.values():
        names = (entry or {}).get("names") if isinstance(entry, Mapping) else None
        if not isinstance(names, Mapping):
            continue
        key = entry_key(g, names)
        if key is None:
            continue
        for lang_names in names.values():
            for name in lang_names or []:
                word = str(name).strip()
                stem = word.endswith("*")
                word = word.rstrip("*").strip()
                if len(fold(word)) < 3:
                    continue
                g.add(word, key, stem=stem or len(word) >= 6)
                added += 1
    return added


@lru_cache(maxsize=1)
def entries_gazetteer() -> Gazetteer:
    """Babel's names plus the gazetteer newsmon ships (monitor/topics/gazetteer.yaml)."""
    import importlib.resources

    import yaml

    # Read as a file: importing monitor.topics.gazetteer would load spaCy into the
    # pipeline's main process, which never tokenises (tests/test_main_process_light.py).
    shipped = importlib.resources.files("monitor.topics") / "gazetteer.yaml"
    g = _copy(cldr_gazetteer())
    try:
        data = yaml.safe_load(shipped.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):  # a broken install: CLDR and transliteration remain
        data = {}
    add_entries(g, data.get("entries") or {})
    _add_event_words(g)
    return g


def _add_event_words(g: Gazetteer) -> None:
    """The kinds of event (monitor/stories/events.py) under ``W:`` keys; a name already
    known keeps its key."""
    from monitor.stories.events import event_words

    for word, key, stem in event_words():
        g.add(word, key, stem=stem)


def gazetteer_with_topics(topics_yaml: dict[str, Any] | None) -> Gazetteer:
    """Babel's names and the shipped gazetteer, plus the topics' per-language terms paired
    with their English term (built once per distinct set of term lists: it copies the
    tables)."""
    if not topics_yaml:
        return entries_gazetteer()
    return _gazetteer_for(json.dumps(topic_groups(topics_yaml), sort_keys=True, ensure_ascii=False))


@lru_cache(maxsize=8)
def _gazetteer_for(groups_json: str) -> Gazetteer:
    base = entries_gazetteer()
    g = _copy(base)

    def key_of(term: str) -> str:
        return base.lookup(fold(term)) or "N:" + skeleton(term)

    add_topic_terms(g, json.loads(groups_json), key_of)
    return g
