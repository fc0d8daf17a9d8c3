"""Figures of one topic on a labelled set of short texts (headline + lede or feed
summary), per split and per language: what ``benchmarks/topics_multilingual.py``
prints and what the regression test holds the committed topic to.

A labelled set is JSON lines, one text each: ``id``, ``language`` (ISO 639-1),
``title``, ``text``, ``relevant`` (true/false for the topic), ``event`` and ``split``
(``dev`` or ``test``; the test part is split by event and never tuned on). See
``benchmarks/data/topics/README.md``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.topics.language import TopicConfig
from monitor.topics.match import Classifier


@dataclass
class LabelledText:
    id: str
    language: str
    title: str
    text: str
    relevant: bool
    event: str
    split: str
    url: str = ""


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, hit: bool) -> None:
        if truth and hit:
            self.tp += 1
        elif hit:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def relevant(self) -> int:
        return self.tp + self.fn

    @property
    def recall(self) -> float:
        return self.tp / self.relevant if self.relevant else 0.0

    @property
    def precision(self) -> float:
        hits = self.tp + self.fp
        return self.tp / hits if hits else 1.0


@dataclass
class SplitFigures:
    overall: Counts = field(default_factory=Counts)
    by_language: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    misses: list[tuple[LabelledText, float]] = field(default_factory=list)
    false_hits: list[tuple[LabelledText, float]] = field(default_factory=list)


def load_labelled(path: Path) -> list[LabelledText]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r: dict[str, Any] = json.loads(line)
        out.append(
            LabelledText(
                id=str(r["id"]),
                language=str(r.get("language") or "xx"),
                title=str(r.get("title") or ""),
                text=str(r.get("text") or ""),
                relevant=bool(r["relevant"]),
                event=str(r.get("event") or ""),
                split=str(r.get("split") or "dev"),
                url=str(r.get("url") or ""),
            )
        )
    return out


def evaluate_topic(
    topic: TopicConfig, items: list[LabelledText], classifier: Classifier | None = None
) -> dict[str, SplitFigures]:
    """Rule decisions (no trained model) of ``topic`` on every text, counted per split."""
    clf = classifier or Classifier([topic], models={})
    figures: dict[str, SplitFigures] = defaultdict(SplitFigures)
    for it in items:
        r = next(x for x in clf.classify(it.title, it.text, it.language) if x.topic == topic.id)
        f = figures[it.split]
        f.overall.add(it.relevant, r.matched)
        f.by_language[it.language].add(it.relevant, r.matched)
        if it.relevant and not r.matched:
            f.misses.append((it, r.score))
        elif r.matched and not it.relevant:
            f.false_hits.append((it, r.score))
    return dict(figures)
