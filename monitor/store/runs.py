"""Runs: one row per cycle with its summary; and what the database holds."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from monitor.store.engine import StoreBase, utcnow
from monitor.store.models import Article, Delivery, Feed, Hit, Run


class RunStore(StoreBase):
    """Cycle runs and counts."""

    def save_run(self, kind: str, started: datetime, summary: dict[str, Any]) -> int:
        with self.session(write=True) as s:
            run = Run(
                kind=kind,
                started_at=started,
                finished_at=utcnow(),
                summary=json.loads(json.dumps(summary, default=str)),
            )
            s.add(run)
            s.flush()
            assert run.id is not None
            return run.id

    def last_runs(self, n: int = 10) -> list[Run]:
        with self.session() as s:
            return list(s.exec(select(Run).order_by(Run.id.desc()).limit(n)).all())  # type: ignore[union-attr]

    def counts(self) -> dict[str, int]:
        with self.session() as s:
            out = {}
            for name, model in (
                ("feeds", Feed),
                ("articles", Article),
                ("hits", Hit),
                ("deliveries", Delivery),
            ):
                out[name] = s.exec(select(func.count()).select_from(model)).one()
            return out
