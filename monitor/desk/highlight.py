"""Matched terms marked up in the article, coloured by the topic group they belong to.

The stored evidence lists, per group, the topic's terms that matched (as written in
the topic definition) and the sentences where groups met. Here those terms become
one regular expression with the same spelling variants the classifier allows
(hyphen or space, plural, ``prefix*``), applied to the stored text: the marks show
the evidence of the topic version that made the hit, without re-running the
classifier. All text is escaped before it is wrapped in ``<mark>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

PALETTE_SIZE = 12  # desk.css has g0..g11: the Caucasus topic has eleven groups
_ACRONYM = re.compile(r"^[A-Z0-9]{2,6}$")


def group_order(evidence: dict[str, Any], topic_groups: Sequence[str] | None = None) -> list[str]:
    """Groups in a stable order (the topic's own when known): their colour is their index."""
    found = list((evidence or {}).get("groups") or {})
    if topic_groups:
        return [g for g in topic_groups] + [g for g in found if g not in topic_groups]
    return found


def term_pattern(term: str) -> str:
    """A regex for a topic term and the variants the classifier matches."""
    t = term.strip()
    prefix = t.endswith("*")
    words = [w for w in re.split(r"[\s\-]+", t.rstrip("*")) if w]
    if not words:
        return ""
    parts = [re.escape(w) for w in words]
    last = words[-1]
    if prefix:
        parts[-1] += r"\w*"
    elif last.isalpha() and len(last) > 2:
        if last.endswith("y") and last[-2:-1] not in "aeiou":
            parts[-1] = re.escape(last[:-1]) + r"(?:y|ies)"
        else:
            parts[-1] += r"(?:e?s)?"
    body = r"[\s\-]+".join(parts)
    if _ACRONYM.match(t):
        body = f"(?-i:{body})"  # IRGC, TAP: an acronym matches only as written
    return rf"(?<!\w){body}(?!\w)"


@dataclass
class Highlighter:
    """Built once per hit; :meth:`mark` escapes text and wraps the matched terms."""

    pattern: re.Pattern[str] | None
    terms: list[tuple[re.Pattern[str], str, int]]  # (pattern, group, colour index)

    @classmethod
    def for_evidence(
        cls, evidence: dict[str, Any], topic_groups: Sequence[str] | None = None
    ) -> Highlighter:
        order = group_order(evidence, topic_groups)
        entries: list[tuple[str, str, str, int]] = []
        for gname, info in ((evidence or {}).get("groups") or {}).items():
            if not info.get("count"):
                continue
            colour = order.index(gname) % PALETTE_SIZE
            for term in info.get("terms") or {}:
                pat = term_pattern(str(term))
                if pat:
                    entries.append((str(term), pat, gname, colour))
        # Longest first: "Ilham Aliyev" wins over "Aliyev", "Zangezur corridor" over "corridor".
        entries.sort(key=lambda e: -len(e[0]))
        if not entries:
            return cls(None, [])
        big = re.compile("|".join(f"(?:{p})" for _, p, _, _ in entries), re.IGNORECASE)
        terms = [(re.compile(p, re.IGNORECASE), g, c) for _, p, g, c in entries]
        return cls(big, terms)

    def _group_of(self, matched: str) -> tuple[str, int]:
        for pat, group, colour in self.terms:
            if pat.fullmatch(matched):
                return group, colour
        return "", 0

    def mark(self, text: str | None) -> Markup:
        """``text`` escaped, each matched term in ``<mark class="hl gN" title=group>``."""
        text = text or ""
        if self.pattern is None:
            return Markup(escape(text))
        out: list[str] = []
        pos = 0
        for m in self.pattern.finditer(text):
            group, colour = self._group_of(m.group(0))
            out.append(str(escape(text[pos : m.start()])))
            out.append(
                f'<mark class="hl g{colour}" title="{escape(group)}">{escape(m.group(0))}</mark>'
            )
            pos = m.end()
        out.append(str(escape(text[pos:])))
        return Markup("".join(out))

    def paragraphs(self, text: str | None) -> list[Markup]:
        """The text split into paragraphs (blank lines or single newlines), each marked."""
        return [self.mark(p.strip()) for p in re.split(r"\n\s*\n|\n", text or "") if p.strip()]

    def count(self, text: str | None) -> int:
        return 0 if self.pattern is None else sum(1 for _ in self.pattern.finditer(text or ""))


def legend(
    evidence: dict[str, Any], topic_groups: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The groups of a hit for display: name, colour, contribution, count, top terms."""
    order = group_order(evidence, topic_groups)
    groups = (evidence or {}).get("groups") or {}
    rows = []
    for gname, info in groups.items():
        rows.append(
            {
                "name": gname,
                "colour": order.index(gname) % PALETTE_SIZE,
                "count": info.get("count", 0),
                "weighted": info.get("weighted", 0),
                "contribution": float(info.get("contribution", 0) or 0),
                "terms": list((info.get("terms") or {}).items()),
                "fields": info.get("fields") or {},
            }
        )
    rows.sort(key=lambda r: -r["contribution"])
    return rows


def sentence_groups(sentence: dict[str, Any], order: Iterable[str]) -> list[tuple[str, int]]:
    order = list(order)
    return [
        (g, order.index(g) % PALETTE_SIZE if g in order else 0)
        for g in sentence.get("groups") or []
    ]
