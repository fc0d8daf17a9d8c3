"""Labels given on the desk: many hits at once, each change returned with what it
replaced (so the desk can undo it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from monitor.errors import NotFound
from monitor.store.engine import StoreBase, utcnow
from monitor.store.models import Hit
from monitor.store.people import LabelEvent

KEEP = object()  # "leave the note as it is"


@dataclass
class LabelChange:
    """One hit's label set to ``label`` (None clears), ``note`` (KEEP leaves it)."""

    hit_id: int
    label: str | None
    note: str | None | object = KEEP


@dataclass
class LabelResult:
    hit_id: int
    label: str | None
    note: str | None
    previous_label: str | None
    previous_note: str | None


class LabelStore(StoreBase):
    """Labelling several hits in one transaction."""

    def mark_hits(self, changes: Sequence[LabelChange], by: str = "") -> list[LabelResult]:
        """Apply ``changes`` at once (all or none), each recorded in the audit as ``by``'s
        (a desk user's name; "" for the shared token or the command line); NotFound
        names a missing hit."""
        with self.session(write=True) as s:
            return self._label_hits(s, changes, by)

    def _label_hits(self, s: Session, changes: Sequence[LabelChange], by: str) -> list[LabelResult]:
        """:meth:`mark_hits` in the caller's transaction."""
        ids = [c.hit_id for c in changes]
        out: list[LabelResult] = []
        hits = {h.id: h for h in s.exec(select(Hit).where(col(Hit.id).in_(ids))).all()}
        missing = [i for i in ids if i not in hits]
        if missing:
            raise NotFound(f"no hit with id {missing[0]}")
        now = utcnow()
        for c in changes:
            h = hits[c.hit_id]
            before = (h.label, h.label_note)
            h.label = c.label
            if c.label is None:
                h.label_note = None if c.note is KEEP else c.note  # type: ignore[assignment]
            elif c.note is not KEEP:
                h.label_note = c.note  # type: ignore[assignment]
            h.labeled_at = now if c.label else None
            s.add(h)
            out.append(LabelResult(c.hit_id, h.label, h.label_note, *before))
            s.add(
                LabelEvent(
                    hit_id=c.hit_id,
                    user_name=by,
                    label=h.label,
                    note=h.label_note,
                    previous_label=before[0],
                    previous_note=before[1],
                    at=now,
                )
            )
        return out
