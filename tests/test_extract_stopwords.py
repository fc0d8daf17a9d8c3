"""justext's stoplist of every language, as hashes: the same answers as justext's set."""

from __future__ import annotations

import lxml.html
from justext.core import ParagraphMaker, classify_paragraphs
from justext.utils import get_stoplist, get_stoplists
from trafilatura import external

import monitor.extract.article  # noqa: F401 - installs the stoplist as hashes
from monitor.extract.stopwords import StopHashes, every_language


def _justexts_own() -> frozenset[str]:
    """What trafilatura and justext build without monitor.extract.stopwords."""
    words = tuple({w for lang in get_stoplists() for w in get_stoplist(lang)})
    return frozenset(w.lower() for w in words)


def test_the_hashes_answer_as_justexts_set_does() -> None:
    words = _justexts_own()
    hashes = every_language()
    assert len(hashes) == len(words)
    assert all(w in hashes for w in words)
    others = [w + "x" for w in words] + [w.upper() for w in words] + ["", "LÅ", "DÌ"]
    assert [w in hashes for w in others] == [w in words for w in others]


def test_a_string_of_one_byte_letters_is_not_one_of_two_byte_letters() -> None:
    # CPython's hash("LÅ") == hash("알"): the same internal bytes, one byte a letter
    # against two. The stoplist hashes UTF-8, where the two differ.
    assert "LÅ" not in StopHashes(["알"])
    assert "알" in StopHashes(["알"])


PAGE = (
    "<html><body><p>The minister said that the new road would be opened in the spring"
    " of next year, and that it was built with money from the regional budget. He added"
    " that the works had been delayed by the weather and by a dispute with the firm.</p>"
    "<p>Home | News | Sport | Weather | Contact</p>"
    "<p>Le ministre a dit que la nouvelle route serait ouverte au printemps prochain,"
    " et qu'elle avait été construite avec l'argent de la région. Il a ajouté que les"
    " travaux avaient été retardés par le temps et par un différend avec l'entreprise.</p>"
    "<p>Zxq vbn wrt plk mnb zxq vbn wrt plk mnb zxq vbn wrt plk mnb zxq vbn wrt plk"
    " mnb zxq vbn wrt plk mnb zxq vbn wrt plk mnb zxq vbn wrt plk mnb.</p></body></html>"
)


def test_trafilaturas_fallback_uses_the_hashes_and_justext_classifies_alike() -> None:
    external.JT_STOPLIST = None
    body = external.try_justext(lxml.html.fromstring(PAGE), None, None)
    assert isinstance(external.JT_STOPLIST, StopHashes)
    kept = " ".join(p.text or "" for p in body)
    assert "minister" in kept and "ministre" in kept
    assert "Zxq" not in kept  # long, without a stopword of any language

    def classes(stoplist: object) -> list[tuple[str, str]]:
        paragraphs = ParagraphMaker.make_paragraphs(lxml.html.fromstring(PAGE))
        classify_paragraphs(paragraphs, stoplist, 50, 150, 0.1, 0.2, 0.25, True)
        return [(p.text, p.cf_class) for p in paragraphs]

    assert classes(external.JT_STOPLIST) == classes(tuple(_justexts_own()))
