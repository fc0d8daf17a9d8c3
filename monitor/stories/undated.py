"""Articles without a date: where they stand in a batch, and which story they may join.

An undated article cannot tell this year's visit from last year's, nor one phone call
from the next between the same two leaders. It is held to the bar of days away (the
grouper's ``undated_gap_days``), and besides:

- it meets only stories that have a time: two undated reports have nothing to place
  either, and are as likely two calls of different years as one - unless it is a copy
  of the same report in the same language (score at least ``undated_copy_bar``: the
  same wire text at two addresses);
- it joins the story it matches clearly best - its score over its bar at least
  ``undated_lead`` times the runner-up's - and none when two stories match it alike
  (the runner-up is usually the same people's other occasion). Only a story further
  from the best one than the window is a rival: two stories within it may be one event
  met from two sides, as a bridge takes them;
- unless its text names a day of the story ("on August 18"): that places it as a date
  line would, and the runner-up does not matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from monitor.stories.dates import names_a_day_of


class _Dated(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def published(self) -> datetime | None: ...


class _Story(Protocol):
    id: str
    first_seen: datetime | None
    last_seen: datetime | None
    languages: list[str]


A = TypeVar("A", bound=_Dated)
S = TypeVar("S", bound=_Story)


def batch_order(articles: Iterable[A]) -> list[A]:
    """Publication order; equal times by id; articles without a date after them, by id:
    the input's order never matters."""
    arts = list(articles)
    dated = sorted(
        (a for a in arts if a.published is not None),
        key=lambda a: (a.published, a.id),
    )
    return dated + sorted((a for a in arts if a.published is None), key=lambda a: a.id)


def within_window(a: _Story, b: _Story, hours: float) -> bool:
    """Whether two stories' times are no further apart than ``hours``."""
    if not (a.first_seen and a.last_seen and b.first_seen and b.last_seen):
        return False
    gap = max(a.first_seen - b.last_seen, b.first_seen - a.last_seen, timedelta(0))
    return gap <= timedelta(hours=hours)


def undated_pick(
    scored: Sequence[tuple[float, float, S]],
    dates: frozenset[tuple[int, int]],
    lead: float,
    window_hours: float,
    copy_bar: float,
    language: str,
) -> list[tuple[float, float, S]]:
    """The story an undated article joins, as ``[(margin, score, story)]``, or ``[]``:
    ``scored`` holds (score, bar, story) for every candidate. A story without a time is
    met only at ``copy_bar`` in its own language (a copy of the same report: across
    languages the score is of names alone, and names alone do not make a copy)."""
    ranked = sorted(
        ((score / bar if bar > 0 else 0.0, score, bar, st) for score, bar, st in scored),
        key=lambda x: (-x[0], x[3].id),
    )
    ranked = [
        r
        for r in ranked
        if r[3].first_seen is not None or (r[1] >= copy_bar and language in r[3].languages)
    ]
    if not ranked or ranked[0][0] < 1.0:
        return []
    ratio, score, bar, best = ranked[0]
    rivals = [r[0] for r in ranked[1:] if not within_window(r[3], best, window_hours)]
    runner_up = rivals[0] if rivals else 0.0
    if ratio >= lead * runner_up or (
        dates and names_a_day_of(dates, best.first_seen, best.last_seen)
    ):
        return [(score - bar, score, best)]
    return []
