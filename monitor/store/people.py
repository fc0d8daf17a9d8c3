"""The desk's people: user accounts with a role, their server-side login sessions,
their preferences, and the audit of every label change (who, when, from what to what)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from monitor.errors import NotFound, StoreError
from monitor.store.engine import StoreBase, utcnow
from monitor.store.models import Hit, UTCDateTime

ROLES = ("viewer", "analyst", "admin")


def _dt() -> datetime | None:
    return Field(default=None, sa_type=UTCDateTime)  # type: ignore[no-any-return]


class DeskUser(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("name"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str
    role: str = "analyst"  # viewer / analyst / admin
    password_hash: str
    created_at: datetime | None = _dt()


class DeskSession(SQLModel, table=True):
    """A login: the cookie's value is only ever stored hashed."""

    __table_args__ = (UniqueConstraint("token_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str
    user_name: str = ""  # "" for a login with the shared token
    role: str = "admin"
    created_at: datetime | None = _dt()
    expires_at: datetime | None = _dt()


class LabelEvent(SQLModel, table=True):
    """One label change on one hit, by one person (the audit)."""

    __table_args__ = (Index("ix_labelevent_hit", "hit_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    hit_id: int = Field(foreign_key="hit.id")
    user_name: str = ""
    label: str | None = None
    note: str | None = None
    previous_label: str | None = None
    previous_note: str | None = None
    at: datetime | None = _dt()
    # "non-hit": the label the article had for the topic before it became this hit,
    # moved onto it (its author and note kept; ``at`` is when it moved)
    origin: str | None = None


class ArticleLabelEvent(SQLModel, table=True):
    """One label change on an article for a topic it is no hit for ("teach as hit",
    "not a hit", clear), by one person: the audit of labels on non-hits, as
    :class:`LabelEvent` is of labels on hits."""

    __table_args__ = (Index("ix_articlelabelevent_article", "article_id", "topic_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id")
    topic_id: str
    user_name: str = ""
    label: str | None = None
    note: str | None = None
    previous_label: str | None = None
    previous_note: str | None = None
    at: datetime | None = _dt()


@dataclass
class LabelStep:
    """One step of an (article, topic)'s label trail: on the non-hit, on its hit, or
    the move of the non-hit's label onto the hit the article became (``moved``)."""

    at: datetime | None
    user_name: str
    label: str | None
    note: str | None
    previous_label: str | None
    previous_note: str | None
    hit_id: int | None  # None: given while the article was no hit for the topic
    moved: bool = False


class DeskPreference(SQLModel, table=True):
    """One user's desk preferences (sort, "next hit after labelling", ...), as JSON."""

    __table_args__ = (UniqueConstraint("user_name"),)
    id: int | None = Field(default=None, primary_key=True)
    user_name: str
    prefs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    updated_at: datetime | None = _dt()


@dataclass
class Login:
    user_name: str
    role: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PeopleStore(StoreBase):
    """Users, sessions and the label audit."""

    def add_user(self, name: str, role: str, password_hash: str) -> DeskUser:
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}")
        with self.session(write=True) as s:
            if s.exec(select(DeskUser).where(DeskUser.name == name)).first() is not None:
                raise StoreError(f"a user called {name!r} exists already")
            u = DeskUser(name=name, role=role, password_hash=password_hash, created_at=utcnow())
            s.add(u)
            s.flush()
            return u

    def users(self) -> list[DeskUser]:
        with self.session() as s:
            return list(s.exec(select(DeskUser).order_by(col(DeskUser.name))).all())

    def user(self, name: str) -> DeskUser | None:
        with self.session() as s:
            return s.exec(select(DeskUser).where(DeskUser.name == name)).first()

    def has_users(self) -> bool:
        with self.session() as s:
            return s.exec(select(DeskUser.id).limit(1)).first() is not None

    def remove_user(self, name: str) -> None:
        """Remove the account and end its sessions; its labels and audit stay."""
        with self.session(write=True) as s:
            u = s.exec(select(DeskUser).where(DeskUser.name == name)).first()
            if u is None:
                raise NotFound(f"no user called {name!r}")
            s.delete(u)
            s.execute(delete(DeskSession).where(col(DeskSession.user_name) == name))
            s.execute(delete(DeskPreference).where(col(DeskPreference.user_name) == name))

    # --- sessions -----------------------------------------------------------------------

    def start_session(self, user_name: str, role: str, ttl: timedelta) -> str:
        """A new login; returns the token for the cookie (stored only hashed)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.session(write=True) as s:
            s.add(
                DeskSession(
                    token_hash=_hash(token),
                    user_name=user_name,
                    role=role,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        return token

    def session_login(self, token: str) -> Login | None:
        """Whose live session ``token`` is (the user's current role), or None."""
        if not token:
            return None
        with self.session() as s:
            row = s.exec(select(DeskSession).where(DeskSession.token_hash == _hash(token))).first()
            if row is None or (row.expires_at is not None and row.expires_at < utcnow()):
                return None
            if not row.user_name:
                return Login("", row.role)
            u = s.exec(select(DeskUser).where(DeskUser.name == row.user_name)).first()
            return Login(u.name, u.role) if u is not None else None

    def end_session(self, token: str) -> None:
        with self.session(write=True) as s:
            s.execute(delete(DeskSession).where(col(DeskSession.token_hash) == _hash(token)))

    # --- preferences ------------------------------------------------------------------

    def preferences(self, user_name: str) -> dict[str, Any]:
        """``user_name``'s stored preferences ({} when none)."""
        with self.session() as s:
            row = s.exec(
                select(DeskPreference).where(DeskPreference.user_name == user_name)
            ).first()
            return dict(row.prefs or {}) if row is not None else {}

    def set_preferences(self, user_name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into ``user_name``'s preferences; the result. Two saves at
        once (two tabs) both land: the row is locked while merged (PostgreSQL), and a
        first save that lost the race to create it merges into the winner's row."""
        for attempt in (1, 2):
            try:
                with self.session(write=True) as s:
                    row = s.exec(
                        select(DeskPreference)
                        .where(DeskPreference.user_name == user_name)
                        .with_for_update()
                    ).first()
                    if row is None:
                        row = DeskPreference(user_name=user_name)
                    row.prefs = {**(row.prefs or {}), **changes}
                    row.updated_at = utcnow()
                    s.add(row)
                    return dict(row.prefs)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # --- the label audit ----------------------------------------------------------------

    def label_history(self, hit_id: int) -> list[LabelEvent]:
        """Every label change of the hit, newest first."""
        with self.session() as s:
            return list(
                s.exec(
                    select(LabelEvent)
                    .where(LabelEvent.hit_id == hit_id)
                    .order_by(col(LabelEvent.id).desc())
                ).all()
            )

    def label_trail(self, article_id: int, topic: str) -> list[LabelStep]:
        """Every label change of ``article_id`` for ``topic``, newest first: those given
        while it was no hit, the move of that label onto its hit, and those on the hit."""
        return self.label_trails(article_id, topic).get(topic, [])

    def label_trails(self, article_id: int, topic: str | None = None) -> dict[str, list[LabelStep]]:
        """:meth:`label_trail` of every topic the article was ever labelled for (or of
        ``topic`` only)."""
        with self.session() as s:
            q_off = select(ArticleLabelEvent).where(ArticleLabelEvent.article_id == article_id)
            q_on = (
                select(LabelEvent, Hit.topic_id)
                .join(Hit, col(Hit.id) == col(LabelEvent.hit_id))
                .where(Hit.article_id == article_id)
            )
            if topic is not None:
                q_off = q_off.where(ArticleLabelEvent.topic_id == topic)
                q_on = q_on.where(Hit.topic_id == topic)
            off = s.exec(q_off).all()
            on = s.exec(q_on).all()
        steps: dict[str, list[tuple[int, int, LabelStep]]] = {}
        for e in off:
            step = LabelStep(
                e.at, e.user_name, e.label, e.note, e.previous_label, e.previous_note, None
            )
            steps.setdefault(e.topic_id, []).append((0, e.id or 0, step))
        for ev, tid in on:
            moved = ev.origin == "non-hit"
            step = LabelStep(
                ev.at,
                ev.user_name,
                ev.label,
                ev.note,
                ev.previous_label,
                ev.previous_note,
                ev.hit_id,
                moved=moved,
            )
            steps.setdefault(tid, []).append((1, ev.id or 0, step))
        # a hit's changes come after the non-hit's (the hit is made later); each by id
        return {
            t: [st for _, _, st in sorted(v, key=lambda x: (x[0], x[1]), reverse=True)]
            for t, v in sorted(steps.items())
        }

    def label_events(self, hit_ids: Sequence[int]) -> dict[int, LabelEvent]:
        """The latest label change of each of these hits (who labelled it)."""
        out: dict[int, LabelEvent] = {}
        if not hit_ids:
            return out
        with self.session() as s:
            q = (
                select(LabelEvent)
                .where(col(LabelEvent.hit_id).in_(list(hit_ids)))
                .order_by(col(LabelEvent.id))
            )
            for e in s.exec(q).all():
                out[e.hit_id] = e
        return out
