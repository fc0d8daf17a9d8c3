"""The aggregator's grain: headlines without text and the subject of the moment.

An aggregator's headline-only stream groups by subject (a star's deposition, the video
and the song dedication around it; a campaign and the columns about it), not by the
one occasion an article with a lede reports. A headline alone is too short for the
event-level bar: two headlines of one subject share its name and little else. What
tells the subject of the moment is the crowd: a story that at least ``crowd_sources``
publishers carry. A headline without text joins such a story at the lower bar
``crowd_threshold``, and the headline-only stories a batch started that clear that bar
against a crowded story are merged into it (the first headlines of a burst came before
its story was crowded). There one shared word is enough when it is the crowd's subject
(Cosmos, Comcast, Twitter: a word at least ``subject_share`` as heavy in the crowd as its
heaviest): "A Pagan Watches Cosmos" shares nothing else with the show's crowd. A word
two crowds have as subject ("bank") names neither. Only a batch's leftover fragments
get that: online, a headline of a new subject that names a crowd's word (Bieber "at
SXSW" while SXSW's film crowd is the larger) would join the wrong crowd before its own
story forms. The merging goes round again (``crowd_passes``)
while it merges: a fragment passed over may clear the bar once the crowd has taken in
those merged after it.

Articles with text, stories fewer sources carry, and the comparison across languages
keep the event-level bars: a feed set's largest story (ten feeds) is below the crowd.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol


class _Settings(Protocol):
    threshold: float
    bridge_margin: float
    crowd_sources: int
    crowd_threshold: float
    subject_share: float
    crowd_passes: int


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


def event_margin(settings: _Settings, story: _Story, margin: float, headline_only: bool) -> float:
    """An article's margin over a story's event-level bar, from its margin over the bar it
    was held to. An article bridges two stories only by ``bridge_margin`` over both
    event-level bars: the crowd's lower bar lets a headline join a subject, it is no
    evidence that two subjects are one (a roundup, "Stocks drop; Men's Wearhouse
    acquiring Jos. A. Bank; Libya fires on oil tanker", clears both crowds' bars and
    merged the two). Taken when the story is scored: the article's join, or a first
    bridge, may crowd it, and the margin it cleared did not change."""
    if headline_only and crowded(settings, story):
        return margin - max(0.0, settings.threshold - settings.crowd_threshold)
    return margin


def subject_words(
    settings: _Settings, story: _Story, terms: Mapping[str, float], words: Iterable[str]
) -> set[str]:
    """Which of ``words`` are the crowded story's subject: each at least
    ``subject_share`` of the weight of the heaviest of its words ``terms`` (one
    language's centroid)."""
    if not terms or settings.subject_share <= 0 or not crowded(settings, story):
        return set()
    least = settings.subject_share * max(terms.values())
    return {t for t in words if terms.get(t, 0.0) >= least}


def names_subject(
    settings: _Settings, story: _Story, terms: Mapping[str, float], words: Iterable[str]
) -> bool:
    """Whether one of ``words`` is the crowded story's subject."""
    return bool(subject_words(settings, story, terms, words))


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
        subject: frozenset[str] = ...,
    ) -> tuple[float, float]: ...


def absorb_fragments(
    g: _Grouper, started: Iterable[str], batch: Iterable[_Article]
) -> list[tuple[str, str]]:
    """Merge each story a batch started, made only of headlines without text and not
    crowded itself, into the crowded story it clears the crowd's bar against by the
    widest margin (one shared word enough when it is the crowd's subject). Smallest
    first, again while a round merges; returns the (kept, dropped) pairs."""
    settings = g.settings
    if settings.crowd_sources <= 0:
        return []
    headline_only = {a.id for a in batch if not a.text.strip()}
    merged: list[tuple[str, str]] = []
    started = list(started)
    for _ in range(max(1, settings.crowd_passes)):
        done = len(merged)
        merged += _absorb_round(g, started, headline_only)
        if len(merged) == done:
            break
    return merged


def _absorb_round(
    g: _Grouper, started: list[str], headline_only: set[str]
) -> list[tuple[str, str]]:
    settings, stories = g.settings, g.stories
    merged: list[tuple[str, str]] = []
    live = {g.resolve(sid) for sid in started}
    for sid in sorted(
        (s for s in live if s in stories), key=lambda s: (len(stories[s].articles), s)
    ):
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
        crowds = [
            o
            for o in g._candidates(tvec, kvec, st.last_seen)
            if o.id != sid and crowded(settings, o)
        ]
        # A word that is the subject of two crowds ("bank": Jos. A. Bank's deal and the
        # Bank of England's hearing) names neither.
        named = Counter(
            t for o in crowds for t in subject_words(settings, o, o.terms.get(lang, {}), tvec)
        )
        subject = frozenset(t for t, n in named.items() if n == 1)
        best: _Story | None = None
        best_margin = 0.0
        for other in crowds:
            score, bar = g._similarity(
                tvec, kvec, lang, other, st.last_seen, headline_only=True, subject=subject
            )
            if score >= bar and (best is None or score - bar > best_margin):
                best, best_margin = other, score - bar
        if best is not None:
            kept = g.merge(best.id, sid)
            if sid not in stories:  # not two stories a person split apart
                merged.append((kept.id, sid))
    return merged
