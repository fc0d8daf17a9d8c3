"""Corrections by hand: merge two stories the machine kept apart, split articles off a
story that joined two events. Both take the grouping lock and bump its version, so
every run's grouper reloads and carries on from the correction; a split is kept as
"never merge these two again" (the stories' ``apart`` lists, and a ``storyrule`` row per
article pair for learning later).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from monitor.config import Config
from monitor.errors import NewsmonError, NotFound
from monitor.pipeline.stories_step import (
    _topics_of,
    group_input,
    story_settings,
    to_grouper_story,
    update_row,
)
from monitor.pipeline.stories_step import new_row as empty_row
from monitor.store import Store, utcnow
from monitor.store import Story as StoryRow
from monitor.stories import Grouper
from monitor.stories.names import gazetteer_with_topics


class StoryEditError(NewsmonError):
    """A merge or split that cannot be done as asked."""


def merge_stories(store: Store, config: Config, keep: str, drop: str) -> StoryRow:
    """Merge story ``drop`` into ``keep``: its articles move, ``drop`` stays as an alias
    (``merged_into``). Undoes an earlier split between the two."""
    keep_id, drop_id = store.story(keep).id, store.story(drop).id
    if keep_id == drop_id:
        raise StoryEditError(f"{keep} and {drop} are the same story")
    with store.grouping() as tx:
        rows = tx.stories([keep_id, drop_id])
        a, b = to_grouper_story(rows[keep_id]), to_grouper_story(rows[drop_id])
        a.apart = [x for x in a.apart if x != drop_id]
        b.apart = [x for x in b.apart if x != keep_id]
        g = Grouper(story_settings(config), gazetteer=gazetteer_with_topics(None))
        g.stories = {a.id: a, b.id: b}
        merged = g.merge(keep_id, drop_id)
        row = update_row(rows[keep_id], merged)
        row.topics = sorted(set(row.topics or []) | set(rows[drop_id].topics or []))
        state = dict(row.state or {})
        other = rows[drop_id].state or {}
        state["alerted"] = {**(other.get("alerted") or {}), **(state.get("alerted") or {})}
        row.state = state
        rows[drop_id].merged_into = keep_id
        tx.move(drop_id, keep_id)
        tx.put_stories([row, rows[drop_id]])
        tx.finish(clock=tx.state.clock, n_docs=tx.state.n_docs, df=None)
    return store.story(keep_id)


def split_story(
    store: Store, config: Config, story_id: str, article_ids: Sequence[int]
) -> tuple[StoryRow, StoryRow]:
    """Move the given articles of a story into a new story of their own; the two are
    never merged again. Returns (the story, the new one)."""
    sid = store.story(story_id).id
    moved = sorted(set(article_ids))
    with store.grouping() as tx:
        inputs = tx.story_inputs(sid)
        have = {i.id for i in inputs}
        if missing := [a for a in moved if a not in have]:
            raise NotFound(f"story {sid} has no article {', '.join(map(str, missing))}")
        rest = [i for i in inputs if i.id not in moved]
        if not moved or not rest:
            raise StoryEditError("a split moves some of the story's articles, not none or all")
        new_id = "s" + hashlib.sha1(f"split:{sid}:{moved}".encode()).hexdigest()[:15]
        g = Grouper.from_state(
            {
                "version": 1,
                "n_docs": tx.state.n_docs,
                "df": dict(tx.state.df or {}),
                "clock": None,
            },
            gazetteer=gazetteer_with_topics(_topics_of(config)),
            settings=story_settings(config),
        )
        now = utcnow()
        old = g.story_from([group_input(i, now) for i in rest], sid)
        new = g.story_from([group_input(i, now) for i in inputs if i.id in moved], new_id)
        rows = tx.stories([sid])
        old_row = rows[sid]
        old.apart = sorted({*(to_grouper_story(old_row).apart), new_id})
        new.apart = [sid]
        old_row = update_row(old_row, old)
        new_row = update_row(empty_row(new_id), new)
        new_row.topics = sorted({t for i in inputs if i.id in moved for _, t, _ in i.hits})
        old_row.topics = sorted({t for i in rest for _, t, _ in i.hits})
        tx.move(sid, new_id, moved)
        tx.keep_apart([(m, r.id) for m in moved for r in rest][:1000])
        tx.put_stories([old_row, new_row])
        tx.finish(clock=tx.state.clock, n_docs=tx.state.n_docs, df=None)
    return store.story(sid), store.story(new_id)
