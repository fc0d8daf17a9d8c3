"""Topics' spikes of new stories: the stories first seen in given hours, and one row
per spike, so that its message is sent once however long it lasts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import col, select

from monitor.store.engine import StoreBase, utcnow
from monitor.store.models import Story, TopicSpike


class SpikeStore(StoreBase):
    """New stories per hour, and the spikes they made."""

    def new_stories_in(
        self, windows: Sequence[tuple[datetime, datetime]]
    ) -> list[tuple[datetime, list[str], str]]:
        """(first seen, topics, headline) of the stories first seen in any of the
        windows ([start, end)); merged-away stories are not counted twice."""
        if not windows:
            return []
        with self.session() as s:
            q = (
                select(Story.first_seen, Story.topics, Story.headline)
                .where(col(Story.merged_into).is_(None))
                .where(
                    or_(
                        *(
                            and_(col(Story.first_seen) >= a, col(Story.first_seen) < b)
                            for a, b in windows
                        )
                    )
                )
            )
            return [(t, list(tp or []), h) for t, tp, h in s.exec(q).all() if t is not None]

    def open_spike(self, topic: str) -> TopicSpike | None:
        with self.session() as s:
            q = select(TopicSpike).where(TopicSpike.topic == topic)
            return s.exec(q.where(col(TopicSpike.ended_at).is_(None))).first()

    def start_spike(
        self, topic: str, started_at: datetime, stories: int, usual: float
    ) -> TopicSpike | None:
        """A new spike of ``topic``, unless one is open (another run started it)."""
        with self.session(write=True) as s:
            q = select(TopicSpike).where(TopicSpike.topic == topic)
            if s.exec(q.where(col(TopicSpike.ended_at).is_(None))).first() is not None:
                return None
            row = TopicSpike(topic=topic, started_at=started_at, stories=stories, usual=usual)
            s.add(row)
            s.flush()
            return row

    def end_spike(self, spike_id: int, at: datetime) -> None:
        with self.session(write=True) as s:
            row = s.get(TopicSpike, spike_id)
            if row is not None and row.ended_at is None:
                row.ended_at = at
                s.add(row)

    def due_spikes(self, max_attempts: int = 5) -> list[TopicSpike]:
        with self.session() as s:
            q = (
                select(TopicSpike)
                .where(col(TopicSpike.status).in_(["pending", "failed"]))
                .where(TopicSpike.attempts < max_attempts)
                .order_by(col(TopicSpike.id))
            )
            return list(s.exec(q).all())

    def finish_spike(self, spike_id: int, *, ok: bool, error: str | None = None) -> None:
        with self.session(write=True) as s:
            row = s.get(TopicSpike, spike_id)
            if row is None:
                return
            row.attempts += 1
            row.status, row.last_error = ("sent", None) if ok else ("failed", error)
            if ok:
                row.sent_at = utcnow()
            s.add(row)

    def spikes(self, limit: int = 50) -> list[TopicSpike]:
        with self.session() as s:
            q = select(TopicSpike).order_by(col(TopicSpike.id).desc()).limit(limit)
            return list(s.exec(q).all())
