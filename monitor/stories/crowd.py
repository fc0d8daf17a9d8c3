"""The aggregator's grain: headlines without text and the subject of the moment.

An aggregator's headline-only stream groups by subject (a star's deposition, the video
and the song dedication around it; a campaign and the columns about it), not by the
one occasion an article with a lede reports. A headline alone is too short for the
event-level bar: two headlines of one subject share its name and little else. What
tells the subject of the moment is the crowd: a story that at least ``crowd_sources``
publishers carry. A headline without text joins such a story at the lower bar
``crowd_threshold``, and the headline-only stories a batch started that clear that bar
against a crowded story are merged into it (the first headlines of a burst came before
its story was crowded).

Articles with text, stories fewer sources carry, and the comparison across languages
keep the event-level bars: a feed set's largest story (ten feeds) is below the crowd.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol


class _Settings(Protocol):
    threshold: float
    bridge_margin: float
    crowd_sources: int
    crowd_threshold: float


class _Story(Protocol):
    """What this module reads of a grouper.Story (which it does not import: the grouper
    imports this module)."""

    id: str
    articles: list[str]
    sources: list[str]
    languages: list[str]
    last_seen: datetime | None
    terms: dict[str, dict[str, float]]
    keys: dict[str, float]
    tnorm: dict[str, float]
    knorm: float


class _Article(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...


def crowded(settings: _Settings, story: _Story) -> bool:
    """Whether the story is the subject of the moment: carried by enough sources."""
    return 0 < settings.crowd_sources <= len(story.sources)


def crowd_bar(settings: _Settings, story: _Story, bar: float) -> float:
    """The bar for a headline without text against a story (``bar`` its event-level one,
    time penalty included): lowered by ``threshold - crowd_threshold`` for a crowded
    story."""
    if crowded(settings, story):
        return bar - max(0.0, settings.threshold - settings.crowd_threshold)
    return bar


def bridges(
    settings: _Settings,
    best: tuple[float, _Story],
    other: tuple[float, _Story],
    headline_only: bool,
) -> bool:
    """Whether an article that cleared two stories' bars (each by its margin) shows they
    are one: by ``bridge_margin`` over both event-level bars. The crowd's lower bar lets a
    headline join a subject; it is no evidence that two subjects are one (a roundup,
    "Stocks drop; Men's Wearhouse acquiring Jos. A. Bank; Libya fires on oil tanker",
    clears both crowds' bars and merged the two)."""
    for margin, story in (best, other):
        if headline_only and crowded(settings, story):
            margin -= max(0.0, settings.threshold - settings.crowd_threshold)
        if margin < settings.bridge_margin:
            return False
    return True


class _Grouper(Protocol):
    """What this module uses of a grouper.Grouper."""

    @property
    def settings(self) -> _Settings: ...
    @property
    def stories(self) -> Mapping[str, _Story]: ...
    def resolve(self, story_id: str) -> str: ...
    def merge(self, keep: str, drop: str) -> _Story: ...
    def _candidates(
        self, tvec: dict[str, float], kvec: dict[str, float], when: datetime | None
    ) -> Sequence[_Story]: ...
    def _similarity(
        self,
        tvec: dict[str, float],
        kvec: dict[str, float],
        lang: str,
        st: Any,
        when: datetime | None,
        dates: frozenset[tuple[int, int]] = ...,
        *,
        headline_only: bool = ...,
    ) -> tuple[float, float]: ...


def absorb_fragments(
    g: _Grouper, started: Iterable[str], batch: Iterable[_Article]
) -> list[tuple[str, str]]:
    """Merge each story a batch started, made only of headlines without text and not
    crowded itself, into the crowded story it clears the crowd's bar against by the
    widest margin. Smallest first; returns the (kept, dropped) pairs."""
    settings, stories = g.settings, g.stories
    if settings.crowd_sources <= 0:
        return []
    headline_only = {a.id for a in batch if not a.text.strip()}
    merged: list[tuple[str, str]] = []
    live = [sid for sid in started if sid in stories]
    for sid in sorted(live, key=lambda s: (len(stories[s].articles), s)):
        sid = g.resolve(sid)
        st = stories.get(sid)
        if st is None or crowded(settings, st):
            continue
        if not all(a in headline_only for a in st.articles):
            continue
        lang = st.languages[0] if st.languages else ""
        tn = st.tnorm.get(lang)
        if not tn:
            continue
        tvec = {t: w / tn for t, w in st.terms.get(lang, {}).items()}
        kvec = {k: w / st.knorm for k, w in st.keys.items()} if st.knorm else {}
        best: _Story | None = None
        best_margin = 0.0
        for other in g._candidates(tvec, kvec, st.last_seen):
            if other.id == sid or not crowded(settings, other):
                continue
            score, bar = g._similarity(tvec, kvec, lang, other, st.last_seen, headline_only=True)
            if score >= bar and (best is None or score - bar > best_margin):
                best, best_margin = other, score - bar
        if best is not None:
            kept = g.merge(best.id, sid)
            if sid not in stories:  # not two stories a person split apart
                merged.append((kept.id, sid))
    return merged
