"""The committed Caucasus topic on real multilingual headlines and ledes (dev part).

The figures and the goals: ``benchmarks/topics_multilingual.py``; the labelled set and
its labelling rule: ``benchmarks/data/topics/README.md``. The held-out test part is
never asserted here (it is not tuned on); the dev part holds a floor so that a change
to the topic, the gazetteer or the score that loses recall or precision fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_yaml_model
from monitor.topics.labelled import evaluate_topic, load_labelled
from monitor.topics.language import TopicsFile

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "topics" / "caucasus-realignment.jsonl"
TOPICS = ROOT / "config" / "topics.yaml"

pytestmark = pytest.mark.skipif(not DATA.is_file(), reason=f"labelled set absent: {DATA}")

# Floors on the dev part: a little below what the committed topic reaches (recall 0.95,
# precision 0.97), far above what it reached before scores were calibrated for short
# texts and the gazetteer's names were added (recall 0.16).
DEV_RECALL = 0.90
DEV_PRECISION = 0.95
DEV_LANGUAGE_RECALL = 0.70  # every language with at least five relevant texts


def test_caucasus_topic_on_dev_headlines() -> None:
    topic = next(
        t for t in load_yaml_model(TOPICS, TopicsFile).topics if t.id == "caucasus-realignment"
    )
    items = [it for it in load_labelled(DATA) if it.split == "dev"]
    assert sum(it.relevant for it in items) >= 100
    dev = evaluate_topic(topic, items)["dev"]
    missed = [f"{it.language} {sc:.3f} {it.title[:60]}" for it, sc in dev.misses]
    assert dev.overall.recall >= DEV_RECALL, "\n".join(missed)
    assert dev.overall.precision >= DEV_PRECISION, [it.title for it, _ in dev.false_hits]
    weak = {
        lang: round(c.recall, 2)
        for lang, c in dev.by_language.items()
        if c.relevant >= 5 and c.recall < DEV_LANGUAGE_RECALL
    }
    assert not weak, weak
