"""Any script to Latin letters, and a name's consonant skeleton: the fallback that makes
Pezeshkian, Пезешкиан and پزشکیان one key (``N:bskn``) when no table knows the name.

:func:`fold` normalises a word (case, accents, Arabic letter variants); :func:`translit`
writes it in Latin letters; :func:`strip_ending` cuts Russian and Turkic case endings;
:func:`skeleton` keeps the consonant classes; :func:`strip_clitics` the prefixes Arabic
and Hebrew script glue onto a word.
"""

from __future__ import annotations

import unicodedata

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
# Languages in a Latin script whose j is the sound English writes y.
_J_IS_Y = frozenset(
    ("bs", "cs", "da", "de", "et", "fi", "hr", "hu", "is", "lt", "lv", "nl", "no", "nb", "nn")
    + ("pl", "sk", "sl", "sq", "sr", "sv")
)
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
    if word.isascii():  # most words of most texts: nothing below changes them but case
        return word.lower()
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
    if lang in _J_IS_Y and "j" in w[1:]:
        # Алиев is Alijev in Serbian, Alijew in Polish, Нетаньяху Netanjahu in German:
        # inside a word j is the English y there (and Serbo-Croatian dž its j). Not at
        # its start: Joe, Johnson, James keep their English spelling in these languages
        # more often than a Jelzin or a Jerewan comes along.
        w = w[0] + w[1:].replace("dž", "j\u0000").replace("j", "y").replace("y\u0000", "j")
    if not turkic and w.isascii():  # no letter below is changed (turkic: c, x, q are)
        return w
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
            # Turkish and Azerbaijani write a name's suffix after an apostrophe
            # (Nasirzade'nin): what precedes it is the whole name, endings and all.
            return w.split(sep, 1)[0]
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
