"""The stories step: every stored article joins an active story or starts one, and its
hits' alerts are decided by story (the first hit of a story alerts; later ones update
it), in one serialised transaction.

Runs after a batch's articles are stored (:func:`monitor.pipeline.cycle.process_articles`)
and takes the store's grouping lock (:meth:`monitor.store.Store.grouping`), so two
runs at once never split one event. The grouper lives on in this process between
steps and cycles; the lock's state row has a version, and a grouper older than it (an
other run grouped meanwhile, or a person merged or split) is rebuilt from the stories
active in the window - never from all the stories stored.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.alerts.stories import StoryFacts, story_targets
from monitor.config import Config
from monitor.store import GroupInput, Store, StoryTxn, utcnow
from monitor.store import Story as StoryRow
from monitor.stories import Article, Grouper, Story, StorySettings
from monitor.stories.cluster import load_topics_yaml
from monitor.stories.grouper import host_of
from monitor.stories.names import gazetteer_with_topics

log = logging.getLogger("newsmon.stories")
DF_SAVE_EVERY_S = 60.0  # the word statistics are written at most this often
RECOVER_HOURS = 24.0  # articles stored but left ungrouped (a crash) are taken this far back

# config directory -> (topics.yaml's mtime, its parsed data): parsed once, not per batch
_TOPICS: dict[str, tuple[float, dict[str, Any] | None]] = {}


def _topics_of(config: Config) -> dict[str, Any] | None:
    """The parsed topics file of the config (its per-language names help grouping)."""
    if not config.directory:
        return None
    path = config.directory / "topics.yaml"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    cached = _TOPICS.get(str(path))
    if cached is None or cached[0] != mtime:
        cached = (mtime, load_topics_yaml(path))
        _TOPICS[str(path)] = cached
    return cached[1]


# store URL -> (state version, grouper): a grouper is kept between steps and cycles
_CACHE: dict[str, tuple[int, Grouper, float]] = {}
_CACHE_LOCK = threading.Lock()


@dataclass
class StoryOutcome:
    articles_grouped: int = 0
    stories_new: int = 0
    stories_merged: int = 0
    alerts_queued: int = 0
    alerts_folded: int = 0  # later hits of a story that updated it instead of alerting
    story_ids: list[str] = field(default_factory=list)


def story_settings(config: Config) -> StorySettings:
    s = config.settings.stories
    return StorySettings(window_hours=s.window_hours)


def to_grouper_story(row: StoryRow) -> Story:
    st = row.state or {}
    return Story(
        id=row.id,
        headline=row.headline,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        articles=list(st.get("articles") or []),
        sources=list(row.sources or []),
        languages=list(row.languages or []),
        terms={k: dict(v) for k, v in (st.get("terms") or {}).items()},
        keys=dict(st.get("keys") or {}),
        headline_score=float(st.get("headline_score") or 0.0),
        tnorm=dict(st.get("tnorm") or {}),
        knorm=float(st.get("knorm") or 0.0),
        apart=list(st.get("apart") or []),
    )


def new_row(story_id: str) -> StoryRow:
    """An empty story row. Its list and dict columns are given: left to their default
    factories, pydantic inspects each factory's signature on every row (~0.5 ms a row,
    most of a new story's cost in the cycle's process)."""
    return StoryRow(id=story_id, sources=[], languages=[], topics=[], state={})


def update_row(row: StoryRow, st: Story) -> StoryRow:
    """The row takes the grouper's view of the story; what alerts decided stays."""
    row.headline, row.first_seen, row.last_seen = st.headline[:1000], st.first_seen, st.last_seen
    row.n_articles = len(st.articles)
    row.sources, row.languages = list(st.sources), list(st.languages)
    state = dict(row.state or {})
    state.update(
        articles=list(st.articles),
        terms=st.terms,
        keys=st.keys,
        headline_score=st.headline_score,
        tnorm=st.tnorm,
        knorm=st.knorm,
        apart=list(st.apart),
    )
    row.state = state
    return row


def load_grouper(tx: StoryTxn, settings: StorySettings, topics: dict[str, Any] | None) -> Grouper:
    """A grouper holding the stories active in the window and the saved word statistics."""
    clock = tx.state.clock
    since = clock - timedelta(hours=settings.window_hours) if clock else None
    return Grouper.from_state(
        {
            "version": 1,
            "n_docs": tx.state.n_docs,
            "df": dict(tx.state.df or {}),
            "clock": clock.isoformat() if clock else None,
            "stories": [to_grouper_story(r).to_dict() for r in tx.active_stories(since)],
        },
        gazetteer=gazetteer_with_topics(topics),
        settings=settings,
    )


class StoryStep:
    """Groups a batch's articles and queues their hits' alerts by story."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store, self.config = store, config
        self.settings = story_settings(config)
        self.topics = _topics_of(config)
        self.targets = story_targets(config)

    def run(self, article_ids: list[int], hit_ids: list[int]) -> StoryOutcome:
        """Group these articles (those without a story) and decide these hits' alerts."""
        with _CACHE_LOCK:  # one step at a time in this process: the grouper is shared
            try:
                return self._run(article_ids, hit_ids, recover=False)
            except BaseException:
                _CACHE.pop(self.store.url, None)  # its state may be half-changed: rebuild
                raise

    def recover(self) -> StoryOutcome:
        """Group articles a stopped run stored but left without a story (and queue
        their alerts): called once per cycle."""
        with _CACHE_LOCK:
            try:
                return self._run([], [], recover=True)
            except BaseException:
                _CACHE.pop(self.store.url, None)
                raise

    def _recover_since(self) -> datetime:
        """How far back the recovery pass looks: a day, and further when the last run
        that finished started longer ago (a run killed, then no run for days: its
        articles still get their story and their alerts); all the way when no run has
        finished yet (the first run was killed)."""
        since = utcnow() - timedelta(hours=RECOVER_HOURS)
        last = self.store.last_runs(1)
        if not last:  # no run ever finished here: everything stored is this database's
            return datetime(1970, 1, 1, tzinfo=UTC)
        started = last[0].started_at
        if started is not None:
            if started.tzinfo is None:
                started = started.replace(tzinfo=UTC)
            since = min(since, started - timedelta(hours=RECOVER_HOURS))
        return since

    def _run(self, article_ids: list[int], hit_ids: list[int], *, recover: bool) -> StoryOutcome:
        out = StoryOutcome()
        with self.store.grouping() as tx:
            cached = _CACHE.get(self.store.url)
            if cached is not None and cached[0] == tx.version:
                g, df_saved = cached[1], cached[2]
            else:
                g, df_saved = load_grouper(tx, self.settings, self.topics), time.monotonic()
            if recover:
                inputs = tx.ungrouped_since(self._recover_since())
            else:
                hits = tx.hits_of(hit_ids) if hit_ids else []
                inputs = tx.inputs(list(article_ids) + [a for _, a, _, _ in hits])
            if not inputs:
                if hit_ids:
                    rows: dict[str, StoryRow] = {}
                    self._alerts(tx, [], hit_ids, out, rows)
                    tx.put_stories(list(rows.values()))
                return out
            before = dict(g.aliases)
            now = utcnow()
            assignments = g.add_batch([group_input(i, now) for i in inputs])
            merges = {d: k for d, k in g.aliases.items() if before.get(d) != k}
            out.articles_grouped = len(assignments)
            out.stories_new = sum(a.new_story for a in assignments)
            out.stories_merged = len(merges)
            touched = {g.resolve(a.story_id) for a in assignments} | set(merges)
            rows = tx.stories(list(touched) + list(set(merges.values())))
            for sid in touched:
                st = g.story_of(sid)
                if sid in merges:
                    row = rows.get(sid)
                    if row is not None:
                        row.merged_into = g.resolve(sid)
                    tx.move(sid, g.resolve(sid))
                    continue
                if st is None:
                    continue
                rows[sid] = update_row(rows.get(sid) or new_row(sid), st)
            tx.join([(int(a.article_id), g.resolve(a.story_id), a.score) for a in assignments])
            grouped_hits = {hid for i in inputs for hid, _, _ in i.hits}
            self._alerts(
                tx,
                [(hid, i.id, t, sc, i.published, i.url) for i in inputs for hid, t, sc in i.hits],
                [h for h in hit_ids if h not in grouped_hits],
                out,
                rows,
            )
            tx.put_stories(list(rows.values()))
            g.expire()
            g.retired = []
            df: dict[str, int] | None = None
            if time.monotonic() - df_saved > DF_SAVE_EVERY_S or g.n_docs <= len(assignments):
                df = {t: c for t, c in g.df.items() if c >= 2}
                g.df.clear()
                g.df.update(df)
                df_saved = time.monotonic()
            version = tx.finish(clock=g.clock, n_docs=g.n_docs, df=df)
            out.story_ids = sorted({g.resolve(a.story_id) for a in assignments})
        _CACHE[self.store.url] = (version, g, df_saved)
        return out

    def _alerts(
        self,
        tx: StoryTxn,
        hits: list[tuple[int, int, str, float, datetime | None, str]],
        other_hit_ids: list[int],
        out: StoryOutcome,
        rows: dict[str, StoryRow],
    ) -> None:
        """Queue each hit's deliveries: the first hit of a story on a topic alerts,
        later ones only update the story (unless a route asks for every one, or for an
        escalation when the story grows)."""
        if other_hit_ids:  # new hits on articles grouped earlier (a new topic matched)
            extra = tx.hits_of(other_hit_ids)
            pubs = tx.published_of([a for _, a, _, _ in extra])
            hits = hits + [(h, a, t, sc, *pubs.get(a, (None, ""))) for h, a, t, sc in extra]
        if hits:  # one an analyst labelled "not a hit" (a near miss) is never alerted
            muted = tx.not_hits([h[0] for h in hits])
            hits = [h for h in hits if h[0] not in muted]
        if not hits:
            return
        story_of = tx.story_of_articles([a for _, a, _, _, _, _ in hits])
        need = [s for s in set(story_of.values()) if s not in rows]
        rows.update(tx.stories(need))
        queued: list[dict[str, Any]] = []
        for hid, aid, topic, score, published, url in sorted(hits):
            sid = story_of.get(aid)
            row = rows.get(sid) if sid else None
            if row is None:
                continue
            state = dict(row.state or {})
            alerted: dict[str, int] = dict(state.get("alerted") or {})
            escalated: dict[str, list[str]] = {
                k: list(v) for k, v in (state.get("escalated") or {}).items()
            }
            first = topic not in alerted or alerted[topic] == hid
            facts = StoryFacts(
                sources=list(row.sources or []),
                first_seen=row.first_seen,
                when=published,
                host=host_of(url),
                escalated=set(escalated.get(topic, [])),
            )
            new_rows, routes_escalated = self.targets(topic, score, published, first, facts)
            if first:
                alerted[topic] = hid
            elif not new_rows:
                out.alerts_folded += 1
            if routes_escalated:
                escalated[topic] = sorted(set(escalated.get(topic, [])) | set(routes_escalated))
            queued += [dict(r, hit_id=hid) for r in new_rows]
            topics = list(row.topics or [])
            if topic not in topics:
                topics.append(topic)
            row.topics = topics
            state.update(alerted=alerted, escalated=escalated)
            row.state = state
        tx.enqueue(queued)
        out.alerts_queued += len(queued)


def group_input(i: GroupInput, now: datetime) -> Article:
    """The article as the grouper reads it. A date in the future (a feed's time zone
    bug) counts as now: it must not move the grouper's clock past the real one, which
    would retire every active story."""
    return Article(
        id=str(i.id),
        title=i.title,
        text=i.text,
        url=i.url,
        published=min(i.published, now) if i.published else None,
        language=i.language,
    )


def group_stories(
    store: Store, config: Config, article_ids: list[int], hit_ids: list[int]
) -> StoryOutcome:
    """The step as the cycle calls it, after a batch's articles are stored."""
    return StoryStep(store, config).run(article_ids, hit_ids)


def recover_stories(store: Store, config: Config) -> StoryOutcome:
    """Once a cycle: group what a stopped run stored but did not group."""
    return StoryStep(store, config).recover()
