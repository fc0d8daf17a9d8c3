"""The outbox: alert deliveries (one per hit, route and target), each target's health
and the health alerts about failing targets; claimed, sent once, retried, given up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, update
from sqlalchemy.orm import aliased, defer
from sqlmodel import col, select

from monitor.store.engine import StoreBase, utcnow
from monitor.store.models import Article, Delivery, HealthAlert, Hit, RouteHealth


def _due(model: Any, now: datetime, stale_after: timedelta) -> Any:
    """Outbox rows to send now: pending, failed and past their retry time, or left
    'sending' by a crashed run for longer than ``stale_after`` (the crash may have
    fallen inside the send, so it may go out once more, but it is never lost)."""
    return or_(
        model.status == "pending",
        (model.status == "failed") & (model.next_attempt_at <= now),
        (model.status == "sending") & (model.next_attempt_at <= now - stale_after),
    )


_b = aliased(HealthAlert, name="b")
_r = aliased(HealthAlert, name="r")


# Built once: SQLAlchemy then caches its compiled form (it runs every cycle).
_UNRECOVERED = (
    select(_b)
    .where(_b.kind == "broken")
    .where(
        ~select(_r.id)
        .where(_r.kind == "recovered")
        .where(_r.about_route == _b.about_route)
        .where(_r.about_target == _b.about_target)
        .where(_r.episode == _b.episode)
        .where(_r.route == _b.route)
        .where(_r.target == _b.target)
        .exists()
    )
    .order_by(col(_b.id))
)


class OutboxStore(StoreBase):
    """Deliveries, route health and health alerts."""

    def enqueue_deliveries(self, rows: Sequence[dict[str, Any]]) -> int:
        with self.session(write=True) as s:
            return len(self._insert_ignore(s, Delivery, list(rows), ["hit_id", "route", "target"]))

    def claim_deliveries(
        self,
        *,
        mode: str,
        now: datetime | None = None,
        routes: Sequence[str] | None = None,
        stale_after: timedelta = timedelta(minutes=15),
    ) -> list[tuple[Delivery, Hit, Article]]:
        """Mark due deliveries 'sending' and return them (with their hit and article).

        A delivery left 'sending' by a crashed run for longer than ``stale_after`` is
        due again: the crash may have fallen inside the send, so it may go out once
        more, but it is never silently lost.
        """
        now = now or utcnow()
        with self.session(write=True) as s:
            due = _due(Delivery, now, stale_after)
            q = (
                select(Delivery, Hit, Article)
                .join(Hit, col(Hit.id) == col(Delivery.hit_id))
                .join(Article, col(Article.id) == col(Hit.article_id))
                .where(Delivery.mode == mode)
                .where(due)
            )
            if routes is not None:
                q = q.where(Delivery.route.in_(list(routes)))  # type: ignore[attr-defined]
            if self.dialect == "postgresql":
                q = q.with_for_update(of=Delivery, skip_locked=True)
            rows = list(s.exec(q.order_by(col(Delivery.id))).all())
            for d, _, _ in rows:
                d.status, d.next_attempt_at = "sending", now
                s.add(d)
            return [(d, h, a) for d, h, a in rows]

    def renew_deliveries(self, ids: Sequence[int], now: datetime) -> None:
        """Renew this run's claim on rows it still holds 'sending' (not yet sent)."""
        if not ids:
            return
        t = Delivery.__table__  # type: ignore[attr-defined]
        with self.session(write=True) as s:
            s.execute(
                update(t)
                .where(t.c.id.in_(list(ids)))
                .where(t.c.status == "sending")
                .values(next_attempt_at=now)
            )

    def finish_deliveries(
        self,
        ids: Sequence[int],
        *,
        ok: bool,
        error: str | None = None,
        retry_at: datetime | None = None,
        dead: bool = False,
    ) -> None:
        self._finish(Delivery, ids, ok=ok, error=error, retry_at=retry_at, dead=dead)

    def _finish(
        self,
        model: Any,
        ids: Sequence[int],
        *,
        ok: bool,
        error: str | None,
        retry_at: datetime | None,
        dead: bool,
        now: datetime | None = None,
    ) -> None:
        """Record the outcome of sends (deliveries and health alerts share the outbox rules)."""
        now = now or utcnow()
        with self.session(write=True) as s:
            for row in s.exec(select(model).where(col(model.id).in_(list(ids)))).all():
                row.attempts += 1
                if ok:
                    row.status, row.sent_at, row.last_error = "sent", now, None
                else:
                    row.status = "dead" if dead else "failed"
                    row.last_error, row.next_attempt_at = error, retry_at
                s.add(row)

    def deliveries(self, status: str | None = None, limit: int = 100) -> list[Delivery]:
        with self.session() as s:
            q = select(Delivery)
            if status:
                q = q.where(Delivery.status == status)
            return list(s.exec(q.order_by(Delivery.id.desc()).limit(limit)).all())  # type: ignore[union-attr]

    def deliveries_for_hit(self, hit_id: int) -> list[Delivery]:
        with self.session() as s:
            return list(s.exec(select(Delivery).where(Delivery.hit_id == hit_id)).all())

    def record_send(
        self,
        route: str,
        target: str,
        display: str,
        *,
        ok: bool,
        error: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Record one send attempt to a target on its health row (one row per target).

        One UPDATE whose values are computed by the database from the row itself, so
        concurrent runs count every attempt and open a failure episode only once.
        """
        now = now or utcnow()
        t = RouteHealth.__table__  # type: ignore[attr-defined]
        with self.session(write=True) as s:
            self._insert_ignore(
                s,
                RouteHealth,
                [
                    dict(
                        route=route,
                        target=target,
                        target_display=display,
                        consecutive_failures=0,
                        episode=0,
                    )
                ],
                ["route", "target"],
            )
            stmt = update(t).where(t.c.route == route).where(t.c.target == target)
            if ok:
                stmt = stmt.values(
                    target_display=display,
                    last_attempt_at=now,
                    last_success_at=now,
                    failing_since=None,
                    consecutive_failures=0,
                )
            else:
                stmt = stmt.values(
                    target_display=display,
                    last_attempt_at=now,
                    last_failure_at=now,
                    last_error=error,
                    episode=case((t.c.failing_since.is_(None), t.c.episode + 1), else_=t.c.episode),
                    failing_since=func.coalesce(t.c.failing_since, now),
                    consecutive_failures=t.c.consecutive_failures + 1,
                )
            s.execute(stmt)

    def route_health(self) -> list[RouteHealth]:
        with self.session() as s:
            return list(s.exec(select(RouteHealth).order_by(col(RouteHealth.id))).all())

    def outbox_counts(
        self, route: str | None = None, target: str | None = None
    ) -> dict[tuple[str, str], dict[str, int]]:
        """Per (route, target): how many outbox rows (deliveries and health alerts
        addressed to it) are in each status; for one target if given."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        with self.session() as s:
            for model in (Delivery, HealthAlert):
                m: Any = model
                q = select(m.route, m.target, m.status, func.count())
                if route is not None and target is not None:
                    q = q.where(m.route == route).where(m.target == target)
                for r, t, status, n in s.exec(q.group_by(m.route, m.target, m.status)).all():
                    by = out.setdefault((r, t), {})
                    by[status] = by.get(status, 0) + int(n)
        return out

    def target_display(self, route: str, target: str) -> str | None:
        """The masked URL the outbox keeps for a target (for one no longer configured)."""
        with self.session() as s:
            for m in (Delivery, HealthAlert):
                found = s.exec(
                    select(m.target_display)
                    .where(m.route == route)
                    .where(m.target == target)
                    .limit(1)
                ).first()
                if found:
                    return str(found)
        return None

    def health_alert_recipients(
        self, about_route: str, about_target: str, episode: int, kind: str
    ) -> set[tuple[str, str]]:
        """The (route, target) pairs already holding this health alert."""
        with self.session() as s:
            q = (
                select(HealthAlert.route, HealthAlert.target)
                .where(HealthAlert.about_route == about_route)
                .where(HealthAlert.about_target == about_target)
                .where(HealthAlert.episode == episode)
                .where(HealthAlert.kind == kind)
            )
            return {(r, t) for r, t in s.exec(q).all()}

    def add_health_alerts(self, rows: Sequence[dict[str, Any]]) -> int:
        """Queue health alerts; one that exists (same episode, kind, target) is left alone."""
        if not rows:
            return 0
        with self.session(write=True) as s:
            return len(
                self._insert_ignore(
                    s,
                    HealthAlert,
                    list(rows),
                    ["about_route", "about_target", "episode", "kind", "route", "target"],
                )
            )

    def health_alerts_about(self, about_route: str) -> list[HealthAlert]:
        """Every health alert about ``about_route`` (e.g. "feed": feed health), oldest first."""
        with self.session() as s:
            q = select(HealthAlert).where(HealthAlert.about_route == about_route)
            return list(s.exec(q.order_by(col(HealthAlert.id))).all())

    def unrecovered_health_alerts(self) -> list[HealthAlert]:
        """ "Broken" alerts whose episode has no "recovered" alert to the same target yet."""
        with self.session() as s:
            return list(s.exec(_UNRECOVERED).all())

    def claim_health_alerts(
        self, *, now: datetime | None = None, stale_after: timedelta = timedelta(minutes=15)
    ) -> list[HealthAlert]:
        """Mark due health alerts 'sending' and return them (as claim_deliveries)."""
        now = now or utcnow()
        with self.session(write=True) as s:
            q = select(HealthAlert).where(_due(HealthAlert, now, stale_after))
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(s.exec(q.order_by(col(HealthAlert.id))).all())
            for a in rows:
                a.status, a.next_attempt_at = "sending", now
                s.add(a)
            return rows

    def finish_health_alerts(
        self,
        ids: Sequence[int],
        *,
        ok: bool,
        error: str | None = None,
        retry_at: datetime | None = None,
        dead: bool = False,
        now: datetime | None = None,
    ) -> None:
        self._finish(HealthAlert, ids, ok=ok, error=error, retry_at=retry_at, dead=dead, now=now)

    def health_alerts(self, status: str | None = None, *, limit: int = 100) -> list[HealthAlert]:
        """Health alerts newest first."""
        with self.session() as s:
            q = select(HealthAlert)
            if status:
                q = q.where(HealthAlert.status == status)
            return list(s.exec(q.order_by(col(HealthAlert.id).desc()).limit(limit)).all())

    def delivery_counts(self) -> dict[str, int]:
        with self.session() as s:
            return {
                st: int(n)
                for st, n in s.exec(
                    select(Delivery.status, func.count()).group_by(Delivery.status)
                ).all()
            }

    def outbox(
        self, status: str | None = None, *, limit: int = 100, before: int | None = None
    ) -> list[tuple[Delivery, Hit, Article]]:
        """Deliveries newest first, with their hit and article (text not loaded)."""
        with self.session() as s:
            q = (
                select(Delivery, Hit, Article)
                .join(Hit, col(Hit.id) == col(Delivery.hit_id))
                .join(Article, col(Article.id) == col(Hit.article_id))
                .options(defer(Article.text))  # type: ignore[arg-type]
            )
            if status:
                q = q.where(Delivery.status == status)
            if before is not None:
                q = q.where(col(Delivery.id) < before)
            q = q.order_by(col(Delivery.id).desc()).limit(limit)
            return [(d, h, a) for d, h, a in s.exec(q).all()]
