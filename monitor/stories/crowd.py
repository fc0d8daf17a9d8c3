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

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol, TypeVar


class _Settings(Protocol):
    threshold: float
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


S = TypeVar("S", bound=_Story)


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


def absorb_fragments(
    settings: _Settings,
    stories: dict[str, S],
    started: Iterable[str],
    headline_only: set[str],
    *,
    resolve: Callable[[str], str],
    candidates: Callable[[dict[str, float], dict[str, float], datetime | None], list[S]],
    similarity: Callable[
        [dict[str, float], dict[str, float], str, S, datetime | None, bool], tuple[float, float]
    ],
    merge: Callable[[str, str], S],
) -> list[tuple[str, str]]:
    """Merge each story a batch started, made only of headlines without text and not
    crowded itself, into the crowded story it clears the crowd's bar against by the
    widest margin. Smallest first; returns the (kept, dropped) pairs."""
    if settings.crowd_sources <= 0:
        return []
    merged: list[tuple[str, str]] = []
    live = [sid for sid in started if sid in stories]
    for sid in sorted(live, key=lambda s: (len(stories[s].articles), s)):
        sid = resolve(sid)
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
        best: S | None = None
        best_margin = 0.0
        for other in candidates(tvec, kvec, st.last_seen):
            if other.id == sid or not crowded(settings, other):
                continue
            score, bar = similarity(tvec, kvec, lang, other, st.last_seen, True)
            if score >= bar and (best is None or score - bar > best_margin):
                best, best_margin = other, score - bar
        if best is not None:
            kept = merge(best.id, sid)
            if sid not in stories:  # not two stories a person split apart
                merged.append((kept.id, sid))
    return merged
