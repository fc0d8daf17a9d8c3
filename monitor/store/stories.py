"""Stories in the store: the story rows, each article's story, and the one state row
the grouping step is serialised on.

Grouping runs inside :meth:`StoryStore.grouping`: one write transaction that first
locks the ``storystate`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` already admits one writer), so two runs never group at the same
time and cannot split one event into two stories. The row's ``version`` changes with
every step: a run whose grouper in memory is older reloads the active stories.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, true, update
from sqlmodel import Session, col, select

from monitor.errors import NotFound
from monitor.store.engine import StoreBase, chunks, utcnow
from monitor.store.models import Article, Delivery, Hit, Story, StoryArticle, StoryRule, StoryState

TEXT_CHARS = 1000  # what grouping reads of a text (the grouper reads no more)


@dataclass
class GroupInput:
    """An article to group, with its hits: (hit id, topic, score)."""

    id: int
    title: str
    text: str
    url: str
    published: datetime | None
    language: str | None
    hits: list[tuple[int, str, float]] = field(default_factory=list)


class StoryTxn:
    """What the grouping step may read and write while it holds the lock."""

    def __init__(self, s: Session, state: StoryState) -> None:
        self.s, self.state = s, state
        self.version = state.version

    def active_stories(self, since: datetime | None) -> list[Story]:
        q = select(Story).where(col(Story.merged_into).is_(None))
        if since is not None:
            q = q.where(col(Story.last_seen) >= since)
        return list(self.s.exec(q).all())

    def stories(self, ids: Sequence[str]) -> dict[str, Story]:
        out: dict[str, Story] = {}
        for chunk in chunks(list(set(ids)), 500):
            out.update(
                (st.id, st) for st in self.s.exec(select(Story).where(col(Story.id).in_(chunk)))
            )
        return out

    def inputs(self, article_ids: Sequence[int]) -> list[GroupInput]:
        """The given articles that have no story yet, with their hits."""
        return self._inputs(list(set(article_ids)), None)

    def ungrouped_since(self, since: datetime, limit: int = 5000) -> list[GroupInput]:
        """Articles stored since ``since`` that have no story (a run that stopped between
        storing and grouping them)."""
        return self._inputs(None, (since, limit))

    def story_inputs(self, story_id: str) -> list[GroupInput]:
        """The articles of a story, as grouping reads them (for a split by hand)."""
        ids = list(
            self.s.exec(select(StoryArticle.article_id).where(StoryArticle.story_id == story_id))
        )
        return self._inputs(ids, None, grouped=True)

    def _inputs(
        self, ids: list[int] | None, since: tuple[datetime, int] | None, grouped: bool = False
    ) -> list[GroupInput]:
        has_story = select(StoryArticle.article_id).where(
            col(StoryArticle.article_id) == col(Article.id)
        )
        # grouped: a story's own articles; otherwise only articles with no story yet
        cond: Any = true() if grouped else ~has_story.exists()
        cols: Any = (
            Article.id,
            Article.title,
            func.substr(Article.text, 1, TEXT_CHARS),
            func.substr(Article.summary, 1, TEXT_CHARS),
            Article.url,
            Article.published_at,
            Article.language,
        )
        rows: list[Any] = []
        if ids is not None:
            for chunk in chunks(ids, 500):
                rows += self.s.exec(
                    select(*cols).where(col(Article.id).in_(chunk)).where(cond)
                ).all()
        elif since is not None:
            rows = list(
                self.s.exec(
                    select(*cols)
                    .where(col(Article.first_seen_at) >= since[0])
                    .where(cond)
                    # in first_seen order: SQLite then reads the index's range; in id
                    # order it walked every article stored to keep the order
                    .order_by(col(Article.first_seen_at), col(Article.id))
                    .limit(since[1])
                ).all()
            )
        out = {
            r[0]: GroupInput(r[0], r[1] or "", r[2] or r[3] or "", r[4] or "", r[5], r[6])
            for r in rows
        }
        for chunk in chunks(list(out), 500):
            for hid, aid, topic, score in self.s.exec(
                select(Hit.id, Hit.article_id, Hit.topic_id, Hit.score).where(
                    col(Hit.article_id).in_(chunk)
                )
            ).all():
                if hid is not None:
                    out[aid].hits.append((hid, topic, score))
        return list(out.values())

    def hits_of(self, hit_ids: Sequence[int]) -> list[tuple[int, int, str, float]]:
        """(hit id, article id, topic, score) of the given hits."""
        out: list[tuple[int, int, str, float]] = []
        for chunk in chunks(list(set(hit_ids)), 500):
            out += [
                (h, a, t, sc)
                for h, a, t, sc in self.s.exec(
                    select(Hit.id, Hit.article_id, Hit.topic_id, Hit.score).where(
                        col(Hit.id).in_(chunk)
                    )
                ).all()
                if h is not None
            ]
        return out

    def not_hits(self, hit_ids: Sequence[int]) -> set[int]:
        """Those of the given hits an analyst labelled "not a hit" (never alerted)."""
        out: set[int] = set()
        for chunk in chunks(list(set(hit_ids)), 500):
            out.update(
                h
                for h in self.s.exec(
                    select(Hit.id).where(col(Hit.id).in_(chunk)).where(Hit.label == "irrelevant")
                ).all()
                if h is not None
            )
        return out

    def published_of(self, article_ids: Sequence[int]) -> dict[int, tuple[datetime | None, str]]:
        """(published, url) of the given articles."""
        out: dict[int, tuple[datetime | None, str]] = {}
        for chunk in chunks(list(set(article_ids)), 500):
            for aid, pub, url in self.s.exec(
                select(Article.id, Article.published_at, Article.url).where(
                    col(Article.id).in_(chunk)
                )
            ).all():
                if aid is not None:
                    out[aid] = (pub, url)
        return out

    def story_of_articles(self, article_ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in chunks(list(set(article_ids)), 500):
            out.update(
                self.s.exec(
                    select(StoryArticle.article_id, StoryArticle.story_id).where(
                        col(StoryArticle.article_id).in_(chunk)
                    )
                ).all()
            )
        return out

    def apart(self, article_ids: Sequence[int]) -> list[tuple[int, int]]:
        """The "keep apart" corrections that name any of the given articles."""
        out: list[tuple[int, int]] = []
        ids = list(set(article_ids))
        for chunk in chunks(ids, 500):
            out += list(
                self.s.exec(
                    select(StoryRule.a, StoryRule.b)
                    .where(StoryRule.kind == "apart")
                    .where(col(StoryRule.a).in_(chunk) | col(StoryRule.b).in_(chunk))
                ).all()
            )
        return sorted(set(out))

    def put_stories(self, stories: Sequence[Story]) -> None:
        now = utcnow()
        for st in stories:  # rows read in this transaction, or new ones
            st.updated_at = now
            st.created_at = st.created_at or now
            self.s.add(st)

    def join(self, rows: Sequence[tuple[int, str, float]]) -> None:
        """(article, story, score): the articles' stories, first decision wins."""
        now = utcnow()
        for chunk in chunks(list(rows), 500):
            self._insert_members(chunk, now)

    def _insert_members(self, chunk: list[tuple[int, str, float]], now: datetime) -> None:
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = sqlite if self.s.get_bind().dialect.name == "sqlite" else postgresql
        stmt = (
            dialect.insert(StoryArticle.__table__)  # type: ignore[attr-defined]
            .values(
                [dict(article_id=a, story_id=sid, score=sc, joined_at=now) for a, sid, sc in chunk]
            )
            .on_conflict_do_nothing(index_elements=["article_id"])
        )
        self.s.execute(stmt)

    def move(self, drop: str, keep: str, article_ids: Sequence[int] | None = None) -> None:
        """Every article of story ``drop`` (or only the given ones) now belongs to ``keep``."""
        stmt = update(StoryArticle).where(col(StoryArticle.story_id) == drop)
        if article_ids is not None:
            stmt = stmt.where(col(StoryArticle.article_id).in_(list(article_ids)))
        self.s.execute(stmt.values(story_id=keep))

    def keep_apart(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Record "these two articles are not one event" (a split by hand)."""
        now = utcnow()
        for a, b in pairs:
            if not self.s.exec(
                select(StoryRule.id).where(
                    StoryRule.kind == "apart", StoryRule.a == a, StoryRule.b == b
                )
            ).first():
                self.s.add(StoryRule(kind="apart", a=a, b=b, created_at=now))

    def enqueue(self, rows: Sequence[dict[str, Any]]) -> None:
        """Outbox rows (deliveries) decided with the stories: same transaction."""
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = sqlite if self.s.get_bind().dialect.name == "sqlite" else postgresql
        by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for r in rows:
            by_keys.setdefault(tuple(sorted(r)), []).append(r)
        for group in by_keys.values():
            for chunk in chunks(group, 500):
                self.s.execute(
                    dialect.insert(Delivery.__table__)  # type: ignore[attr-defined]
                    .values(chunk)
                    .on_conflict_do_nothing(index_elements=["hit_id", "route", "target"])
                )

    def finish(
        self,
        *,
        clock: datetime | None,
        n_docs: int,
        df: dict[str, int] | None,
    ) -> int:
        """Record the step: a new version (and the word statistics when given)."""
        st = self.state
        st.version += 1
        st.clock, st.n_docs = clock, n_docs
        if df is not None:
            st.df, st.df_saved_at = df, utcnow()
        self.s.add(st)
        self.version = st.version
        return st.version


class StoryStore(StoreBase):
    """Stories: grouped under a lock, listed, shown, merged and split by hand."""

    @contextmanager
    def grouping(self) -> Iterator[StoryTxn]:
        """One serialised grouping step (see the module's docstring)."""
        with self.session(write=True) as s:
            if self.dialect == "postgresql":
                from sqlalchemy.dialects import postgresql

                s.execute(
                    postgresql.insert(StoryState.__table__)  # type: ignore[attr-defined]
                    .values(id=1, version=0, n_docs=0, df={})
                    .on_conflict_do_nothing(index_elements=["id"])
                )
                state = s.exec(select(StoryState).where(StoryState.id == 1).with_for_update()).one()
            else:
                state = s.get(StoryState, 1) or StoryState(id=1, version=0, n_docs=0, df={})
                s.add(state)
                s.flush()
            yield StoryTxn(s, state)

    def story_version(self) -> int:
        with self.session() as s:
            st = s.get(StoryState, 1)
            return st.version if st else 0

    def story_df(self) -> tuple[int, dict[str, Any], datetime | None]:
        """(n_docs, document frequencies, clock) as last saved."""
        with self.session() as s:
            st = s.get(StoryState, 1)
            return (st.n_docs, dict(st.df or {}), st.clock) if st else (0, {}, None)

    # --- reading ------------------------------------------------------------------------

    def list_stories(
        self,
        *,
        topic: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[Story]:
        """Stories newest first (by latest article); merged-away ones are left out."""
        with self.session() as s:
            q = select(Story).where(col(Story.merged_into).is_(None))
            if since is not None:
                q = q.where(col(Story.last_seen) >= since)
            q = q.order_by(col(Story.last_seen).desc(), col(Story.id))
            if topic is None:
                return list(s.exec(q.limit(limit)).all())
            # topics is a JSON list: filtered here (a few pages of stories at most)
            out: list[Story] = []
            for st in s.exec(q.limit(limit * 20)).all():
                if topic in (st.topics or []):
                    out.append(st)
                    if len(out) >= limit:
                        break
            return out

    def story(self, story_id: str) -> Story:
        """A story by id; a merged-away id gives the story it joined."""
        with self.session() as s:
            for _ in range(100):
                st = s.get(Story, story_id)
                if st is None:
                    raise NotFound(f"no story with id {story_id}")
                if not st.merged_into:
                    return st
                story_id = st.merged_into
            raise NotFound(f"story {story_id}: merged in a circle")

    def story_articles(self, story_id: str) -> list[Article]:
        with self.session() as s:
            q = (
                select(Article)
                .join(StoryArticle, col(StoryArticle.article_id) == col(Article.id))
                .where(StoryArticle.story_id == story_id)
                .order_by(col(Article.published_at), col(Article.id))
            )
            return list(s.exec(q).all())

    def story_ids_of(self, article_ids: Sequence[int]) -> dict[int, str]:
        """Each given article's story id (articles not grouped are left out)."""
        out: dict[int, str] = {}
        with self.session() as s:
            for chunk in chunks(list(set(article_ids)), 500):
                out.update(
                    s.exec(
                        select(StoryArticle.article_id, StoryArticle.story_id).where(
                            col(StoryArticle.article_id).in_(chunk)
                        )
                    ).all()
                )
        return out

    def stories_of_articles(self, article_ids: Sequence[int]) -> dict[int, Story]:
        """Each given article's story (articles not grouped are left out)."""
        out: dict[int, Story] = {}
        with self.session() as s:
            for chunk in chunks(list(set(article_ids)), 500):
                for aid, st in s.exec(
                    select(StoryArticle.article_id, Story)
                    .join(Story, col(Story.id) == col(StoryArticle.story_id))
                    .where(col(StoryArticle.article_id).in_(chunk))
                ).all():
                    out[aid] = st
        return out
