"""The classifier's lean tokenizer (monitor.topics.text.pipeline) must give exactly the tokens
of spaCy's stock blank pipeline, and every topic decision (score, rule trace, groups,
sentences) must be the same whichever of the two tokenised the article.

The lean pipeline computes only the lexical attributes classify reads and skips an affix
regex on a chunk made only of letters (or letters and digits) when the regex provably
cannot match there (``_cannot_match``). Real pages in many languages (shared corpora, when
present), the demo pages, reversed words (as the pipeline harness makes them) and crafted
cases are compared."""

from __future__ import annotations

import gzip
import random
import re
import string
import unicodedata
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import spacy

from monitor.config import load_config, load_yaml_model
from monitor.extract.article import extract_html
from monitor.topics import match
from monitor.topics import text as classify
from monitor.topics.language import LANGUAGES, TopicConfig, TopicsFile
from monitor.topics.match import Classifier
from monitor.topics.text import _ARRAY_ATTRS, _cannot_match, normalize, pipeline, tokenize
from tests.support.texts import reversed_words  # as the harness copies its pages

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "monitor" / "demo" / "data" / "pages"
CORPORA = ROOT.parent / "shared" / "corpora"
NEWS_PAGES = CORPORA / "news-pages"
REUTERS = CORPORA / "reuters21578"
FIXTURES = ROOT / "tests" / "fixtures" / "topics"

CRAFTED = (
    "We don't think the U.S. can't :) \n \n  Mr. Aliyev's visit  \r\n\t"
    "İran'a  Türkiye'nin İRAN'A Азербайджана, Азербайджан-Иран.\n\nואזרבייג'ן ובאקו "
    "לאיראן end\nایران‌ها و آذربایجان، تهران‌باکو؛ الهام علی‌اف\n"
    "The IRGC and the irgc, Nagorno-Karabakh and Nagorno Karabakh, peace-deal, "
    '5km 10kg 3.5% $40 e.g. etc. (Baku) "Tehran" Baku-Tehran http://x.org/a?b=c '
    "user@example.com #tag @who 1990s 2nd ½ x² naïve café ﬁnd ǅemal Ǆ ﬀ ß "
    "Azerbaijan Grand Prix in Baku, pole position. "
)


@cache
def stock(lang: str) -> spacy.language.Language:
    """spaCy's blank pipeline as it comes (all lexical attributes, the plain regexes)."""
    try:
        nlp = spacy.blank(lang if lang in LANGUAGES else "xx")
    except Exception:  # noqa: BLE001 - as monitor.topics.text.pipeline
        nlp = spacy.blank("xx")
    nlp.max_length = 10_000_000
    return nlp


def news_pages(every: int = 5) -> list[tuple[str, str, str | None]]:
    pages = sorted(NEWS_PAGES.rglob("*.html.gz"))[::every]
    out = []
    for p in pages:
        try:
            ex = extract_html(gzip.decompress(p.read_bytes()))
        except Exception:  # noqa: BLE001 - a page trafilatura cannot read
            continue
        out.append((ex.title, ex.text, ex.language))
    return out


def demo_pages() -> list[tuple[str, str, str | None]]:
    out = []
    for p in sorted(DEMO.glob("*.html")):
        ex = extract_html(p.read_bytes())
        out.append((ex.title, ex.text, ex.language))
    return out


# --- the regex analysis --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "alpha", "alnum"),
    [
        (r"'s$", True, True),  # needs an apostrophe
        (r"(?<=[0-9])(?:km|kg)$", True, False),  # units after a digit: "5km" splits
        (r"(?<=[a-z])\.(?=[A-Z])", True, True),  # needs a full stop
        (r"[a-z]+$", False, False),  # letters alone can match
        (r"x?y*$", False, False),  # can match the empty string
        (r"[^,]", False, False),  # a negated class
        (r"(?i)'s", False, False),  # flags not analysed: may match
        (r"\d", True, False),
        (r"(?:ab|,)", False, False),  # one alternative can match
        (r"(?:a,|,b)", True, True),  # every alternative needs a comma
        (r"(?=[0-9])", True, False),  # a positive lookahead needs a digit
        (r"(?![0-9])", False, False),  # a negative one needs nothing
        (r"[\u0400-\u04ff]", False, False),  # Cyrillic letters
        (r"[\u2000-\u206f]+", True, True),  # general punctuation
    ],
)
def test_cannot_match_is_proved_only_when_true(pattern: str, alpha: bool, alnum: bool) -> None:
    rx = re.compile(pattern)
    assert _cannot_match(rx, str.isalpha) is alpha
    assert _cannot_match(rx, str.isalnum) is alnum


@pytest.mark.parametrize("lang", ["en", "ru", "tr", "he", "fa", "az", "de", "fr", "id", "ar"])
def test_skipped_regexes_really_cannot_match_letters(lang: str) -> None:
    """Where the lean tokenizer skips a regex, the regex finds nothing on random strings
    of the class it was skipped for (letters of many scripts, digits, odd letters)."""
    tok = pipeline(lang).tokenizer
    rnd = random.Random(7)
    letters = [chr(c) for c in range(0x20, 0x3000) if chr(c).isalpha()]
    digits = [chr(c) for c in range(0x20, 0x3000) if chr(c).isnumeric()]
    skipped = 0
    for name in ("prefix_search", "suffix_search", "infix_finditer", "url_match", "token_match"):
        fn = getattr(tok, name)
        if fn is None or not hasattr(fn, "pattern") or hasattr(fn, "__self__"):
            continue  # not wrapped: the regex itself runs
        skipped += 1
        rx = re.compile(fn.pattern)
        for _ in range(3000):
            n = rnd.randint(1, 12)
            pool = letters if rnd.random() < 0.5 else letters + digits + list(string.digits)
            s = "".join(rnd.choice(pool) for _ in range(n))
            if s.isalnum() and (fn(s) is None or fn(s) == ()):
                assert rx.search(s) is None, (name, s)
    assert skipped >= 3  # prefix, infix and URL at least


# --- tokens ------------------------------------------------------------------------------


def _texts(lang: str) -> list[str]:
    texts = [f"{t}.\n\n{x}" for t, x, _ in demo_pages()]
    texts.append(CRAFTED)
    for f in sorted(FIXTURES.glob("caucasus-*.txt")):
        texts.append(f.read_text(encoding="utf-8"))
    texts += [reversed_words(t, k) for k, t in enumerate(list(texts))]
    return texts


@pytest.mark.parametrize("lang", ["en", "ru", "tr", "he", "fa", "az", "de", "fr", "id", "ar", "xx"])
def test_lean_pipeline_gives_the_stock_tokens(lang: str) -> None:
    nlp = pipeline(lang)
    assert set(nlp.vocab.lex_attr_getters) < set(stock(lang).vocab.lex_attr_getters)
    for text in _texts(lang):
        mine = tokenize(nlp, text)
        ref = stock(lang).make_doc(text).to_array(_ARRAY_ATTRS)
        assert mine.shape == ref.shape
        assert np.array_equal(mine, ref)


@pytest.mark.skipif(not NEWS_PAGES.exists(), reason="shared corpora absent")
def test_lean_pipeline_gives_the_stock_tokens_on_news_pages() -> None:
    n = 0
    for k, (title, text, lang) in enumerate(news_pages(every=2)):
        lang = lang or "en"
        for t in (f"{title}.\n\n{text}", reversed_words(f"{title}.\n\n{text}", k)):
            mine = tokenize(pipeline(lang), t)
            ref = stock(lang).make_doc(t).to_array(_ARRAY_ATTRS)
            assert np.array_equal(mine, ref), (k, lang)
            n += 1
    assert n > 100


def test_ascii_normalize_shortcut_is_the_full_rule() -> None:
    def full(text: str) -> str:
        s = unicodedata.normalize("NFC", text).casefold().translate(classify._MAP)
        return s.translate(classify._DROP) if any(ord(c) > 0x2FF for c in s) else s

    rnd = random.Random(3)
    samples = [chr(c) for c in range(128)]
    samples += [
        "".join(rnd.choice(string.printable) for _ in range(rnd.randint(0, 9))) for _ in range(5000)
    ]
    samples += ["Don`t", "IRAN'S", "İran", "ǅ", "ß"]
    for s in samples:
        assert normalize(s) == full(s), s


# --- decisions ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def topics() -> list[TopicConfig]:
    extra = TopicsFile.model_validate(
        {
            "topics": [
                {
                    "id": "crafted",
                    "name": "Crafted",
                    "groups": {
                        "iran": {
                            "terms": ["Iran", {"text": "IRGC", "case_sensitive": True}, "Tehran"],
                            "fa": ["ایران", "تهران"],
                            "tr": ["İran*"],
                            "he": ["איראן"],
                        },
                        "azerbaijan": {
                            "terms": ["Azerbaijan*", "Baku"],
                            "he": ["אזרבייג'ן", "באקו"],
                            "fa": ["آذربایجان", "الهام علی‌اف"],
                        },
                        "region": {"terms": ["Nagorno-Karabakh", "peace deal"]},
                    },
                    "rule": {
                        "any": [
                            {"near": ["iran", "azerbaijan"], "within": 3},
                            {"sentence": {"all": ["iran", "region"]}},
                        ]
                    },
                    "exclude": [{"window": 2, "terms": ["Grand Prix", "pole position"]}],
                    "threshold": 0.1,
                }
            ]
        }
    ).topics
    return (
        load_config(ROOT / "config").topics
        + load_yaml_model(ROOT / "benchmarks" / "reuters_topics.yaml", TopicsFile).topics
        + extra
    )


def _articles() -> list[tuple[str, str, str | None]]:
    arts = demo_pages()
    arts.append(("Crafted", CRAFTED, "en"))
    arts.append(("İran'a ziyaret", CRAFTED, "tr"))
    arts.append(("איראן ואזרבייג'ן", CRAFTED, "he"))
    arts.append(("ایران‌ها", CRAFTED, "fa"))
    for f in sorted(FIXTURES.glob("caucasus-*.txt")):
        lang = f.stem.split("-")[1]
        text = f.read_text(encoding="utf-8")
        arts.append(("", text, lang))
    if NEWS_PAGES.exists():
        arts += news_pages(every=5)
    if REUTERS.exists():
        from tests.support.reuters import stories

        for i, st in enumerate(stories(REUTERS)):
            if i >= 1200:
                break
            if i % 4 == 0:
                arts.append((st["title"], st["text"], "en"))
    arts += [(t, reversed_words(x, k), lang) for k, (t, x, lang) in enumerate(list(arts))]
    return arts


def test_decisions_are_those_of_the_stock_tokenizer(
    topics: list[TopicConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    articles = _articles()
    lean = Classifier(topics, models={})
    mine = [[r.as_dict() for r in lean.classify(*a)] for a in articles]
    monkeypatch.setattr(match, "pipeline", stock)  # the pipelines the Classifier builds
    ref_clf = Classifier(topics, models={})
    assert not hasattr(ref_clf.nlp.tokenizer.suffix_search, "pattern")  # the plain regex
    ref = [[r.as_dict() for r in ref_clf.classify(*a)] for a in articles]
    hits = sum(r["matched"] for rs in mine for r in rs)
    matched_any = sum(bool(r["evidence"]["groups"]) for rs in mine for r in rs)
    assert hits > 5 and matched_any > 50  # the sample exercises matching, not only misses
    for a, m, r in zip(articles, mine, ref, strict=True):
        assert m == r, a[0]
