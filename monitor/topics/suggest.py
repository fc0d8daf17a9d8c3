"""Suggested rule edits: what the labels say the topic's definition should add or exclude.

From the labelled articles of a topic (reviewed hits, labelled non-hits, seeds):

- **terms to add**: words and word pairs frequent in the relevant articles the rules
  miss and rare in the irrelevant ones; each is tried in every scoring group of the
  topic and proposed for the group where it helps most;
- **terms to exclude**: words and word pairs frequent in the rules' false hits and rare
  in their true hits, proposed as an ``exclude:`` entry (it cancels the topic's matches
  within :data:`EXCLUDE_WINDOW` tokens);
- **the groups behind the false hits**: for each group, how many false and true hits it
  took part in.

Every proposed edit is measured, not guessed: the topic with the edit is run on the
labelled set (precision and recall before and after) and on the stored history (hits
gained and lost). The figures on the labelled set are in-sample (the terms were found on
the same labels): the history figures say how far the edit reaches. Applying an edit
(:mod:`monitor.topics.edit`) keeps the previous definition as a version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.topics.evaluate import Scores
from monitor.topics.language import TopicConfig
from monitor.topics.match import Classifier
from monitor.topics.model import word_counts

ADD = "add"
EXCLUDE = "exclude"
EXCLUDE_WINDOW = 20  # tokens around an exclusion in which the topic's matches are cancelled
CANDIDATES = 8  # terms of each kind tried


@dataclass
class Article:
    """A labelled (``label`` True/False) or unlabelled (history) article."""

    title: str
    text: str
    language: str | None = None
    label: bool | None = None


@dataclass
class Edit:
    """One proposed change of the topic and what it does."""

    kind: str  # ADD or EXCLUDE
    term: str
    group: str | None  # the group a term is added to (ADD)
    before: Scores  # on the labelled set
    after: Scores
    history: int = 0  # articles of the stored history
    gained: int = 0  # history articles that become hits
    lost: int = 0  # ... and that stop being hits
    evidence: str = ""  # why it was proposed

    def describe(self) -> str:
        if self.kind == ADD:
            return f"add {self.term!r} to group {self.group}"
        return f"exclude {self.term!r} (cancels matches within {EXCLUDE_WINDOW} tokens)"

    def as_dict(self) -> dict[str, Any]:
        def c(x: Scores) -> dict[str, Any]:
            return {
                "precision": round(x.precision, 3),
                "recall": round(x.recall, 3),
                "f1": round(x.f1, 3),
            }

        return {
            "edit": self.describe(),
            "kind": self.kind,
            "term": self.term,
            "group": self.group,
            "evidence": self.evidence,
            "labelled": {"before": c(self.before), "after": c(self.after)},
            "history": {"articles": self.history, "gained": self.gained, "lost": self.lost},
        }


@dataclass
class GroupBlame:
    group: str
    false_hits: int
    true_hits: int


@dataclass
class Suggestions:
    topic: str
    labelled: int
    relevant: int
    before: Scores
    edits: list[Edit] = field(default_factory=list)
    blame: list[GroupBlame] = field(default_factory=list)
    history: int = 0


def variant(topic: TopicConfig, kind: str, term: str, group: str | None) -> dict[str, Any]:
    """The topic's definition (as a dict) with one edit applied."""
    d = topic.model_dump(exclude_defaults=True, by_alias=True)
    if kind == ADD:
        assert group is not None
        g = d["groups"][group]
        g["terms"] = [*g.get("terms", []), term]
    else:
        d["exclude"] = [*d.get("exclude", []), {"terms": [term], "window": EXCLUDE_WINDOW}]
    return d


def _candidate(feature: str) -> bool:
    if feature.startswith("title:") or "<num>" in feature:
        return False
    words = feature.split(" ")
    return all(w.isalpha() for w in words) and len(feature) >= 4


def _ranked(pro: Counter[str], con: Counter[str], k: int) -> list[str]:
    """Features in at least two ``pro`` articles, by how much more often they are in
    ``pro`` than in ``con`` articles."""
    scored = [(n / (con.get(f, 0) + 1), n, f) for f, n in pro.items() if n >= 2 and _candidate(f)]
    scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
    out: list[str] = []
    for _, _, f in scored:
        # a word pair whose words are both proposed already adds nothing new
        if any(f != g and (f in g.split(" ") or g in f.split(" ")) for g in out):
            continue
        out.append(f)
        if len(out) == k:
            break
    return out


def suggest(
    topic: TopicConfig,
    labelled: Sequence[Article],
    history: Sequence[Article] = (),
    *,
    limit: int = 10,
    candidates: int = CANDIDATES,
) -> Suggestions:
    """Proposed edits of ``topic`` from ``labelled`` articles, each measured on them and
    on ``history`` (see the module docstring); the best first, only edits that raise F1
    on the labelled set."""
    labelled = [a for a in labelled if a.label is not None]
    base = Classifier([topic], models={})
    toks = [base.analyse(a.title, a.text, a.language) for a in labelled]
    decided = [base.decide_all(t)[0] for t in toks]
    hits = [r.matched for r, _ in decided]
    before = _count([bool(a.label) for a in labelled], hits)
    out = Suggestions(topic.id, len(labelled), sum(bool(a.label) for a in labelled), before)
    # the groups behind the false hits
    for g in topic.groups:
        fh = sum(
            1
            for a, (r, s) in zip(labelled, decided, strict=True)
            if r.matched and not a.label and s.get(g, 0) > 0
        )
        th = sum(
            1
            for a, (r, s) in zip(labelled, decided, strict=True)
            if r.matched and a.label and s.get(g, 0) > 0
        )
        if fh:
            out.blame.append(GroupBlame(g, fh, th))
    out.blame.sort(key=lambda b: (-b.false_hits, b.true_hits))
    # candidate terms
    miss, irrelevant, false_hit, true_hit = (
        Counter[str](),
        Counter[str](),
        Counter[str](),
        Counter[str](),
    )
    for a, t, hit in zip(labelled, toks, hits, strict=True):
        feats = set(word_counts(t))
        if a.label and not hit:
            miss.update(feats)
        if not a.label:
            irrelevant.update(feats)
        if hit and not a.label:
            false_hit.update(feats)
        if hit and a.label:
            true_hit.update(feats)
    groups = [g for g, grp in topic.groups.items() if grp.weight > 0]
    tries: list[tuple[str, str, str | None, str]] = []
    for f in _ranked(miss, irrelevant, candidates):
        why = f"in {miss[f]} missed relevant, {irrelevant[f]} irrelevant"
        tries += [(ADD, f, g, why) for g in groups]
    for f in _ranked(false_hit, true_hit, candidates):
        why = f"in {false_hit[f]} false hits, {true_hit[f]} true hits"
        tries.append((EXCLUDE, f, None, why))
    if not tries:
        return out
    variants: list[TopicConfig] = []
    for n, (kind, term, group, _) in enumerate(tries):
        d = variant(topic, kind, term, group)
        d["id"] = f"{topic.id}--{n}"
        try:
            variants.append(TopicConfig.model_validate(d))
        except ValueError:
            variants.append(topic.model_copy(update={"id": f"{topic.id}--{n}"}))
    clf = Classifier([topic, *variants], models={})
    truth = [bool(a.label) for a in labelled]
    per: list[list[bool]] = [[] for _ in tries]
    for a in labelled:
        res = clf.decide_all(clf.analyse(a.title, a.text, a.language))
        for n in range(len(tries)):
            per[n].append(res[n + 1][0].matched)
    best: dict[tuple[str, str], Edit] = {}
    for n, (kind, term, group, why) in enumerate(tries):
        after = _count(truth, per[n])
        if after.f1 <= before.f1:
            continue
        e = Edit(kind, term, group, before, after, evidence=why)
        cur = best.get((kind, term))
        if cur is None or after.f1 > cur.after.f1:
            best[(kind, term)] = e
    edits = sorted(best.values(), key=lambda e: (-e.after.f1, e.term))[:limit]
    if history and edits:
        keep = [tries.index((e.kind, e.term, e.group, e.evidence)) for e in edits]
        out.history = len(history)
        for a in history:
            res = clf.decide_all(clf.analyse(a.title, a.text, a.language))
            was = res[0][0].matched
            for e, n in zip(edits, keep, strict=True):
                now = res[n + 1][0].matched
                e.gained += int(now and not was)
                e.lost += int(was and not now)
        for e in edits:
            e.history = len(history)
    out.edits = edits
    return out


def _count(truth: Sequence[bool], pred: Sequence[bool]) -> Scores:
    c = Scores()
    for t, p in zip(truth, pred, strict=True):
        c.tp += int(t and p)
        c.fp += int(p and not t)
        c.fn += int(t and not p)
    return c
