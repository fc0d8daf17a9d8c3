"""Where an undated article stands in a story's time: the days its text names."""

from __future__ import annotations

from datetime import datetime, timedelta


def names_a_day_of(
    dates: frozenset[tuple[int, int]], first: datetime | None, last: datetime | None
) -> bool:
    """Whether one of the (month, day) pairs falls within a day of a story's span, from
    ``first`` to ``last`` seen (at most a month of it)."""
    if first is None or last is None:
        return False
    day = first.date() - timedelta(days=1)
    end = min(last.date(), day + timedelta(days=30)) + timedelta(days=1)
    while day <= end:
        if (day.month, day.day) in dates:
            return True
        day += timedelta(days=1)
    return False
