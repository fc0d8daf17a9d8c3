"""Reuters-21578 (ModApte split) as newsmon's labelled JSON lines (the tests' topic
samples and benchmarks/topics_reuters.py read it).

``convert(corpus_dir, out)`` reads the 22 SGML files and writes one JSON object per
story with ``TOPICS="YES"`` and ``LEWISSPLIT`` TRAIN or TEST (9,603 / 3,299 stories):
``{"id", "title", "text", "labels", "split"}``. Stories whose only labels are outside
the evaluated topics keep them (they are negatives for every evaluated topic).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "reuters21578"
TOP10 = ["earn", "acq", "money-fx", "grain", "crude", "trade", "interest", "wheat", "ship", "corn"]

_DOC = re.compile(r"<REUTERS(?P<attrs>[^>]*)>(?P<body>.*?)</REUTERS>", re.S)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def _tag(body: str, name: str) -> str:
    m = re.search(rf"<{name}(?:\s[^>]*)?>(.*?)</{name}>", body, re.S)
    return m.group(1) if m else ""


def _clean(text: str) -> str:
    text = html.unescape(re.sub(r"&#\d+;", " ", text))
    text = text.replace("\x03", " ").strip()
    text = re.sub(r"\s*\bReuter\s*$", "", text)
    return text


def stories(corpus_dir: Path = CORPUS) -> Iterator[dict[str, Any]]:
    """The ModApte stories, in file order."""
    files = sorted(Path(corpus_dir).rglob("reut2-*.sgm"))
    if not files:
        raise FileNotFoundError(f"no reut2-*.sgm under {corpus_dir}")
    for f in files:
        raw = f.read_bytes().decode("latin-1")
        for m in _DOC.finditer(raw):
            attrs = dict(_ATTR.findall(m.group("attrs")))
            split = attrs.get("LEWISSPLIT")
            if attrs.get("TOPICS") != "YES" or split not in {"TRAIN", "TEST"}:
                continue
            body = m.group("body")
            labels = re.findall(r"<D>(.*?)</D>", _tag(body, "TOPICS"))
            text_block = _tag(body, "TEXT")
            title = _clean(_tag(text_block, "TITLE"))
            text = _clean(_tag(text_block, "BODY"))
            if not text and not title:
                text = _clean(re.sub(r"<[^>]+>", " ", text_block))
            yield {
                "id": f"reuters-{attrs['NEWID']}",
                "title": title,
                "text": text,
                "labels": labels,
                "split": split.lower(),
            }


def convert(corpus_dir: Path, out: Path) -> int:
    """Write the ModApte stories as JSON lines; return how many."""
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for s in stories(corpus_dir):
            fh.write(json.dumps(s, ensure_ascii=False) + "\n")
            n += 1
    return n
