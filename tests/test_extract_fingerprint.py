"""An article's fingerprint is trafilatura's simhash, bit for bit, without its cache.

Stored fingerprints are compared with new ones (a story republished under another URL
is merged by it), so :func:`monitor.extract.fingerprint.content_fingerprint` must give
exactly what ``trafilatura.deduplication.content_fingerprint`` gave: checked on the
bodies of the real articles in the shared corpora (English, and the news pages of 41
countries in their languages) and on texts with few or no tokens.
"""

from __future__ import annotations

import json

import pytest
from trafilatura.deduplication import content_fingerprint as trafilatura_fingerprint

from monitor.extract.fingerprint import content_fingerprint
from tests.support.hostile import CORPORA


def _bodies() -> list[str]:
    texts: list[str] = []
    gt = CORPORA / "article-extraction-benchmark" / "ground-truth.json"
    if gt.is_file():
        texts += [v["articleBody"] for v in json.loads(gt.read_text()).values()]
    for path in sorted((CORPORA / "news-pages").rglob("*.json")):
        for version in json.loads(path.read_text()).values():
            body = version.get("body") or {}
            parts = list(body.get("summary") or [])
            for section in body.get("sections") or []:
                parts += section.get("headline") or []
                parts += section.get("paragraphs") or []
            if parts:
                texts.append("\n".join(parts))
    return texts


def test_the_fingerprint_of_real_articles_is_trafilaturas() -> None:
    texts = _bodies()
    if len(texts) < 100:
        pytest.skip(f"the shared corpora are not at {CORPORA}")
    differ = [t[:80] for t in texts if content_fingerprint(t) != trafilatura_fingerprint(t)]
    assert differ == [], f"{len(differ)} of {len(texts)} differ"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  \n ",
        "!!! ... ??? ---",
        "a b c d e",  # no token longer than 1: every token is sampled
        "Baku Baku Baku Baku Baku",  # one token, repeated
        "伊朗总统抵达巴库，两国签署了多项合作协议。",  # no spaces, CJK punctuation
        "Ереван и Баку подписали соглашение о мире. " * 20,
    ],
)
def test_the_fingerprint_of_short_and_odd_texts_is_trafilaturas(text: str) -> None:
    assert content_fingerprint(text) == trafilatura_fingerprint(text)
