"""Stories in the store and the pipeline: grouping under the store's lock, alerts by
story (real webhook receiver), two runs at once, recovery, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from monitor.alerts.routes import Escalate, Route
from monitor.alerts.send import deliver
from monitor.config import Config, FeedConfig, load_config
from monitor.demo.servers import WebhookReceiver
from monitor.pipeline.stories_step import group_stories, recover_stories
from monitor.store import Article, Delivery, NewArticle, Store, StoryArticle, utcnow
from monitor.store import Story as StoryRow

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "stories" / "caucasus.jsonl"
TOPICS = load_config(ROOT / "config").topics
TOPIC = "caucasus-realignment"
# One event (Pezeshkian in Baku, 28 April 2025) from three outlets, one in Russian; a
# fourth report of it; and an article about another event.
VISIT = ["c002", "c001", "c011"]
LATER = "c006"


def _records() -> dict[str, dict[str, Any]]:
    if not DATA.is_file():
        pytest.skip(f"{DATA} is absent")
    return {r["id"]: r for r in map(json.loads, DATA.read_text(encoding="utf-8").splitlines())}


def _other_event(recs: dict[str, dict[str, Any]]) -> str:
    visit = recs[VISIT[0]]["gold"]
    return next(
        i
        for i, r in recs.items()
        if r["gold"] != visit
        and r["published"]
        and r["published"] < "2025-04-28T18"
        and r["language"] == "en"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'newsmon.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.sync_feeds([FeedConfig(url="https://feeds.example/world.xml", name="World Desk")])
    yield s
    s.close()


def items(recs: dict[str, dict[str, Any]], ids: list[str], feed_id: int) -> list[NewArticle]:
    """The records as stored articles, each a hit of TOPIC, moved to the last hours
    (their spacing kept) so that they are news."""
    t0 = datetime.fromisoformat("2025-04-28T18:00:00+00:00")
    out = []
    for i in ids:
        r = recs[i]
        pub = datetime.fromisoformat(r["published"].replace("Z", "+00:00"))
        out.append(
            NewArticle(
                canonical_url=r["url"],
                url=r["url"],
                guid=None,
                title=r["title"],
                summary="",
                text=r["text"],
                author=None,
                published_at=utcnow() - (t0 - pub),
                published_source="feed",
                language=r["language"],
                fingerprint=None,
                extraction="ok",
                extraction_error=None,
                sources=[(feed_id, i, r["url"])],
                hits=[(TOPIC, 0.8, "v1", {"sentences": [{"text": r["text"][:80]}]})],
            )
        )
    return out


def store_and_group(store: Store, config: Config, arts: list[NewArticle]) -> Any:
    stored = store.store_articles(arts)  # no deliveries: the stories step decides them
    return group_stories(store, config, stored.article_ids or [], stored.hit_ids or [])


def rows(store: Store, model: Any) -> list[Any]:
    with store.session() as s:
        return list(s.exec(select(model)).all())


def test_one_event_from_three_outlets_is_one_story_and_one_alert(
    store: Store, webhook: WebhookReceiver
) -> None:
    recs = _records()
    feed = store.feeds()[0].id or 0
    config = Config(topics=TOPICS, routes=[Route(name="chat", urls=[webhook.apprise_url()])])

    out = store_and_group(store, config, items(recs, VISIT, feed))
    assert (out.articles_grouped, out.stories_new, out.alerts_queued) == (3, 1, 1)
    (story,) = rows(store, StoryRow)
    assert sorted(story.sources) == ["en.mehrnews.com", "jam-news.net", "vestikavkaza.ru"]
    assert set(story.languages) == {"en", "ru"} and story.topics == [TOPIC]
    assert story.headline in {recs[i]["title"] for i in VISIT}
    assert story.first_seen < story.last_seen and story.n_articles == 3
    assert {m.story_id for m in rows(store, StoryArticle)} == {story.id}

    # A fourth report later: it joins and updates the story, it does not alert.
    out2 = store_and_group(store, config, items(recs, [LATER], feed))
    assert (out2.stories_new, out2.alerts_queued, out2.alerts_folded) == (0, 0, 1)
    assert store.story(story.id).n_articles == 4
    assert len(rows(store, Delivery)) == 1

    # Another event starts its own story and alerts.
    (other,) = items(recs, [_other_event(recs)], feed)
    other.published_at = utcnow()
    out3 = store_and_group(store, config, [other])
    assert (out3.stories_new, out3.alerts_queued) == (1, 1)

    rep = deliver(store, config)
    assert rep.sent == 2 and len(webhook.received) == 2
    text = " ".join(r["message"] for r in webhook.received)
    assert "4 sources" in text and "first seen" in text and "latest" in text


def test_a_route_may_ask_for_an_escalation_when_a_story_grows(
    store: Store, webhook: WebhookReceiver
) -> None:
    recs = _records()
    feed = store.feeds()[0].id or 0
    config = Config(
        topics=TOPICS,
        routes=[
            Route(name="quiet", urls=[webhook.apprise_url("quiet")]),
            Route(
                name="loud",
                urls=[webhook.apprise_url("loud")],
                escalate=Escalate(sources=3, within_hours=24),
            ),
        ],
    )
    store_and_group(store, config, items(recs, VISIT[:2], feed))  # 2 sources: first alert
    assert sorted(d.route for d in rows(store, Delivery)) == ["loud", "quiet"]
    out = store_and_group(store, config, items(recs, VISIT[2:], feed))  # the 3rd source
    assert out.alerts_queued == 1
    deliver(store, config)
    out = store_and_group(store, config, items(recs, [LATER], feed))  # not again
    assert out.alerts_queued == 0
    assert sorted(d.route for d in rows(store, Delivery)) == ["loud", "loud", "quiet"]
    assert deliver(store, config).sent == 0
    titles = [r["title"] for r in webhook.received]
    assert len(titles) == 3
    assert sum("story grew to 3 sources" in t for t in titles) == 1


def _run_one(url: str, article: NewArticle, barrier: Any, conn: Any) -> None:
    """One run of the pipeline's store-then-group steps, in its own process."""
    store = Store(url)
    try:
        config = Config(topics=TOPICS, routes=[])
        stored = store.store_articles([article])
        barrier.wait(timeout=30)  # both runs group at the same moment
        out = group_stories(store, config, stored.article_ids or [], stored.hit_ids or [])
        conn.send(out.story_ids)
    finally:
        store.close()


def test_two_runs_at_once_do_not_split_one_event(store: Store, db_url: str) -> None:
    recs = _records()
    feed = store.feeds()[0].id or 0
    a, b = items(recs, VISIT[:2], feed)
    # an earlier cycle made the state row: the runs below only contend for its lock
    store_and_group(store, Config(topics=TOPICS), items(recs, [_other_event(recs)], feed))
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    pipes = [ctx.Pipe(duplex=False) for _ in range(2)]
    procs = [
        ctx.Process(target=_run_one, args=(db_url, art, barrier, w))
        for art, (_, w) in zip((a, b), pipes, strict=True)
    ]
    for p in procs:
        p.start()
    got = [r.recv() for r, _ in pipes]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert got[0] == got[1]
    stories = [s for s in rows(store, StoryRow) if not s.merged_into and s.n_articles == 2]
    assert len(stories) == 1 and got[0] == [stories[0].id]
    assert len({m.story_id for m in rows(store, StoryArticle)}) == 2  # the visit, the other


def _left_ungrouped(store: Store, webhook: WebhookReceiver, age: timedelta) -> Config:
    """The visit's three reports stored ``age`` ago by a run that stopped before grouping
    them; the config of a chat route for every topic."""
    feed = store.feeds()[0].id or 0
    store.store_articles(items(_records(), VISIT, feed))
    if age:
        with store.session(write=True) as s:
            for a in s.exec(select(Article)).all():
                a.first_seen_at = a.first_seen_at - age
                s.add(a)
    return Config(topics=TOPICS, routes=[Route(name="chat", urls=[webhook.apprise_url()])])


def test_articles_left_ungrouped_by_a_stopped_run_are_grouped_and_alerted(
    store: Store, webhook: WebhookReceiver
) -> None:
    config = _left_ungrouped(store, webhook, timedelta(0))
    assert rows(store, StoryArticle) == [] and rows(store, Delivery) == []
    out = recover_stories(store, config)
    assert (out.articles_grouped, out.stories_new, out.alerts_queued) == (3, 1, 1)
    assert recover_stories(store, config).articles_grouped == 0
    deliver(store, config)
    assert len(webhook.received) == 1 and "3 sources" in webhook.received[0]["message"]


def test_a_stopped_run_days_before_the_next_run_still_gets_its_alerts(
    store: Store, webhook: WebhookReceiver
) -> None:
    """Recovery looks back a day, and further when the last finished run started earlier:
    a run killed before grouping, then no run for three days, loses no alert."""
    three_days = timedelta(days=3)
    config = _left_ungrouped(store, webhook, three_days)
    store.save_run("cycle", utcnow() - timedelta(hours=1), {})  # a run since: a day back
    assert recover_stories(store, config).articles_grouped == 0
    store.save_run("cycle", utcnow() - three_days - timedelta(hours=1), {})
    out = recover_stories(store, config)
    assert (out.articles_grouped, out.alerts_queued) == (3, 1)
    deliver(store, config)
    assert len(webhook.received) == 1


def test_a_first_run_killed_before_grouping_is_recovered_whenever_the_next_comes(
    store: Store, webhook: WebhookReceiver
) -> None:
    config = _left_ungrouped(store, webhook, timedelta(days=5))
    assert store.last_runs(1) == []  # no run ever finished
    out = recover_stories(store, config)
    assert (out.articles_grouped, out.alerts_queued) == (3, 1)


def test_a_grouper_kept_in_memory_is_rebuilt_when_another_run_grouped(store: Store) -> None:
    """The second store stands for another process: its grouping bumps the state's
    version, and this process's cached grouper must see the story it started."""
    recs = _records()
    feed = store.feeds()[0].id or 0
    config = Config(topics=TOPICS, routes=[])
    a, b, c = items(recs, VISIT, feed)
    first = store_and_group(store, config, [a])
    other = Store(store.url)
    try:
        # the other run's grouping, as if from a process that shares no memory with us
        from monitor.pipeline import stories_step

        mine = stories_step._CACHE.pop(store.url)
        second = store_and_group(other, config, [b])
        stories_step._CACHE[store.url] = (mine[0], mine[1], mine[2])  # ours is now stale
        third = store_and_group(store, config, [c])
    finally:
        other.close()
    assert first.story_ids == second.story_ids == third.story_ids
    assert store.story(first.story_ids[0]).n_articles == 3


def test_old_news_joins_its_story_without_alerting(store: Store, webhook: WebhookReceiver) -> None:
    recs = _records()
    feed = store.feeds()[0].id or 0
    config = Config(topics=TOPICS, routes=[Route(name="chat", urls=[webhook.apprise_url()])])
    arts = items(recs, VISIT, feed)
    for art in arts:
        art.published_at = (art.published_at or utcnow()) - timedelta(days=30)
    out = store_and_group(store, config, arts)
    assert out.stories_new == 1 and out.alerts_queued == 0


# --- by hand: the CLI, merge and split, exports ------------------------------------------


def _cli(store: Store, *args: str) -> Any:
    from typer.testing import CliRunner

    from monitor.cli import app

    result = CliRunner().invoke(app, ["--db", store.url, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_stories_list_show_and_the_story_id_in_exports(store: Store) -> None:
    recs = _records()
    feed = store.feeds()[0].id or 0
    config = Config(topics=TOPICS)
    out = store_and_group(store, config, items(recs, VISIT, feed))
    (sid,) = out.story_ids
    listed = json.loads(_cli(store, "stories", "list", "--json"))
    assert [s["id"] for s in listed] == [sid]
    assert listed[0]["n_sources"] == 3 and listed[0]["topics"] == [TOPIC]
    assert sid in _cli(store, "stories", "list")
    shown = json.loads(_cli(store, "stories", "show", sid, "--json"))
    assert {a["url"] for a in shown["articles"]} == {recs[i]["url"] for i in VISIT}
    assert "3 sources" in _cli(store, "stories", "show", sid)
    exported = [json.loads(line) for line in _cli(store, "hits", "export").splitlines()]
    assert len(exported) == 3 and {r["story"] for r in exported} == {sid}
    assert {r["story"] for r in json.loads(_cli(store, "hits", "--json"))} == {sid}


def test_split_by_hand_is_kept_and_merge_undoes_it(store: Store) -> None:
    from monitor.pipeline.story_edits import merge_stories

    recs = _records()
    feed = store.feeds()[0].id or 0
    config = Config(topics=TOPICS)
    (sid,) = store_and_group(store, config, items(recs, VISIT, feed)).story_ids
    arts = store.story_articles(sid)
    russian = [a.id or 0 for a in arts if a.language == "ru"]
    out = _cli(store, "stories", "split", sid, *map(str, russian))
    assert "1 articles moved" in out
    (new,) = [s for s in store.list_stories() if s.id != sid]
    assert new.languages == ["ru"] and store.story(sid).n_articles == 2
    assert {m.story_id for m in rows(store, StoryArticle)} == {sid, new.id}

    # A later report that matches both does not bridge them again: the split is kept.
    later = store_and_group(store, config, items(recs, ["c005", LATER], feed))
    assert later.stories_merged == 0
    assert len(store.list_stories()) == 2

    merged = merge_stories(store, config, sid, new.id)
    assert merged.id == sid and store.story(new.id).id == sid  # the old id is an alias
    assert {m.story_id for m in rows(store, StoryArticle)} == {sid}
    assert set(merged.languages) >= {"en", "ru"}
    with pytest.raises(Exception, match="same story"):
        merge_stories(store, config, sid, new.id)


# --- the offline demo ----------------------------------------------------------------------


def test_the_demo_shows_one_story_from_three_outlets_as_one_alert(tmp_path: Path) -> None:
    from monitor.demo.world import world
    from monitor.pipeline.cycle import run_cycle

    with world(ROOT / "config" / "topics.yaml", directory=tmp_path, outlets=True) as w:
        config = load_config(w.config_dir)
        store = Store(f"sqlite:///{tmp_path / 'newsmon.db'}")
        try:
            s = run_cycle(store, config)
            assert s.feeds_polled == 5 and s.feeds_failed == 0, s.errors
            visit = [st for st in store.list_stories() if TOPIC in (st.topics or [])]
            assert len(visit) == 1, [(st.headline, st.sources) for st in visit]
            assert len(visit[0].sources) == 3 and "ru" in visit[0].languages
            assert s.hits_new >= 2 and s.alerts_folded >= 1
        finally:
            store.close()
        # one email, one chat message - each saying "3 sources"
        assert len(w.smtp.messages) == 1 and len(w.webhook.received) == 1
        assert "3 sources" in w.webhook.received[0]["message"]
        assert "3 sources" in w.smtp.text_of(w.smtp.messages[0])


# --- spikes -----------------------------------------------------------------------------


def _stories_at(store: Store, topic: str, times: list[datetime], tag: str) -> None:
    with store.grouping() as tx:
        tx.put_stories(
            [
                StoryRow(
                    id=f"s{tag}{i}",
                    headline=f"{tag} event {i}",
                    first_seen=t,
                    last_seen=t,
                    topics=[topic],
                )
                for i, t in enumerate(times)
            ]
        )


def test_a_spike_of_new_stories_alerts_once_against_the_topics_own_hours(
    store: Store, webhook: WebhookReceiver
) -> None:
    from monitor.alerts.routes import Spikes
    from monitor.alerts.spikes import check_spikes

    now = utcnow().replace(minute=30, second=0, microsecond=0)
    quiet, busy = TOPIC, "iran-nuclear"
    config = Config(
        topics=TOPICS,
        routes=[Route(name="chat", topics=[quiet], urls=[webhook.apprise_url()])],
        spikes=Spikes(route="chat", min_stories=3, factor=3.0),
    )
    # Usually: the quiet topic has one new story in this hour of the day; the busy one
    # has five in this hour every day (its rush hour), and none at other hours.
    days = [now - timedelta(days=d, minutes=20) for d in range(1, 8)]
    _stories_at(store, quiet, days, "q")
    _stories_at(store, busy, [t - timedelta(minutes=k) for t in days for k in range(5)], "b")
    # This hour: 4 new stories for each: a spike for the quiet topic only.
    _stories_at(store, quiet, [now - timedelta(minutes=k + 1) for k in range(4)], "qn")
    _stories_at(store, busy, [now - timedelta(minutes=k + 1) for k in range(4)], "bn")

    rep = check_spikes(store, config, now=now)
    assert rep.started == [quiet] and rep.sent == 1
    (msg,) = webhook.received
    assert "spike: 4 new stories in the last hour, usually 0.7" in msg["title"]
    assert "qn event 0" in msg["message"]

    # Still spiking ten minutes later: not repeated.
    rep = check_spikes(store, config, now=now + timedelta(minutes=10))
    assert rep.started == [] and rep.sent == 0 and len(webhook.received) == 1
    # Two hours on, the hour is quiet again: the spike ends; the next one alerts anew.
    rep = check_spikes(store, config, now=now + timedelta(hours=2))
    assert rep.ended == [quiet]
    later = now + timedelta(hours=5)
    _stories_at(store, quiet, [later - timedelta(minutes=k + 1) for k in range(3)], "ql")
    rep = check_spikes(store, config, now=later)
    assert rep.started == [quiet] and len(webhook.received) == 2


def test_a_digest_lists_each_story_once_with_its_sources(
    store: Store, webhook: WebhookReceiver
) -> None:
    recs = _records()
    feed = store.feeds()[0].id or 0
    config = Config(
        topics=TOPICS, routes=[Route(name="daily", mode="digest", urls=[webhook.apprise_url()])]
    )
    store_and_group(store, config, items(recs, VISIT, feed))
    (other,) = items(recs, [_other_event(recs)], feed)
    other.published_at = utcnow()
    store_and_group(store, config, [other])
    rep = deliver(store, config, mode="digest")
    assert rep.sent == 2 and len(webhook.received) == 1
    body = webhook.received[0]["message"]
    assert "3 sources" in body and "1 source" in body and "first seen" in body


def test_spikes_route_must_be_a_route(tmp_path: Path) -> None:
    from monitor.demo.world import write_config
    from monitor.errors import ConfigError

    cfg = write_config(
        tmp_path / "config",
        topics_from=ROOT / "config" / "topics.yaml",
        feed_urls=[],
        routes=[{"name": "chat", "urls": []}],
    )
    (cfg / "alerts.yaml").write_text(
        "routes:\n  - name: chat\n    urls: []\nspikes:\n  route: nowhere\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="spikes.route"):
        load_config(cfg)
