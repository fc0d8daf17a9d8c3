"""The whole cycle against real local parts: loopback feeds and pages, SMTP, webhook, SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from monitor.alerts import send as alert
from monitor.config import load_config
from monitor.demo.servers import Fault
from monitor.demo.world import world
from monitor.pipeline.cycle import run_cycle
from monitor.pipeline.workers import WorkerPool
from monitor.store import Article, ArticleSource, Delivery, Feed, Hit, Store, utcnow

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ROOT / "config" / "topics.yaml"
CAUCASUS = "caucasus-iran-azerbaijan-thaw.html"


@pytest.fixture
def demo(tmp_path):
    with world(TOPICS, directory=tmp_path) as w:
        config = load_config(w.config_dir)
        store = Store(f"sqlite:///{tmp_path / 'newsmon.db'}")
        yield w, config, store


def _rows(store: Store, model):
    with store.session() as s:
        return list(s.exec(select(model)).all())


def test_cycle_finds_the_caucasus_story_and_alerts_each_channel_once(demo):
    w, config, store = demo
    s = run_cycle(store, config)
    assert s.feeds_polled == 3 and s.feeds_ok == 3 and s.feeds_failed == 0
    assert s.articles_new == 10
    hits = store.hits()
    assert [(h.topic_id, a.url.rsplit("/", 1)[1]) for h, a in hits] == [
        ("caucasus-realignment", CAUCASUS)
    ]
    hit, article = hits[0]
    assert article.extraction == "ok" and "Pezeshkian" in article.text
    ev = hit.evidence
    assert ev["rule_passed"] and ev["score"] >= ev["threshold"]
    assert {"azerbaijan", "iran", "israel"} <= {g for g, v in ev["groups"].items() if v["count"]}
    assert ev["sentences"] and all(s["text"] for s in ev["sentences"])
    assert hit.topic_version == config.topic("caucasus-realignment").version

    # One email and one chat message, each carrying the link and an evidence sentence.
    assert len(w.smtp.messages) == 1 and len(w.webhook.received) == 1
    mail = w.smtp.text_of(w.smtp.messages[0])
    chat = w.webhook.received[0]
    assert "Pezeshkian visits Baku" in w.smtp.messages[0]["Subject"]
    for body in (mail, chat["message"]):
        assert article.url in body
        assert ev["sentences"][0]["text"][:60] in body.replace("\n", " ")
    assert {d.status for d in _rows(store, Delivery)} == {"sent"}

    # Second cycle: validators give 304s, nothing new, nothing sent twice.
    s2 = run_cycle(store, config, force=True)
    assert s2.feeds_not_modified == 3 and s2.articles_new == 0 and s2.alerts_sent == 0
    assert len(w.smtp.messages) == 1 and len(w.webhook.received) == 1
    assert [r.headers.get("if-none-match") for r in w.server.hits("feeds/world.xml")][1]


def test_near_misses_are_stored_but_not_hits(demo):
    _, config, store = demo
    run_cycle(store, config)
    titles = {a.url.rsplit("/", 1)[1]: a for a in _rows(store, Article)}
    for page in (
        "euronews-2024-04-30.html.gz",
        "cbcnews-2024-08-08.html.gz",
        "globalnews-2026-05-24.html.gz",
        "f1metrics-a-new-f1metrics-model.html",
    ):
        assert page in titles, page
    hit_articles = {h.article_id for h in _rows(store, Hit)}
    assert hit_articles == {titles[CAUCASUS].id}


def test_same_story_in_two_feeds_is_one_article_with_two_sources(demo):
    _, config, store = demo
    run_cycle(store, config)
    article = next(a for a in _rows(store, Article) if a.url.endswith(CAUCASUS))
    sources = store.article_sources(article.id)
    assert sorted(f.name for _, f in sources) == ["regional", "world"]
    assert len(_rows(store, Hit)) == 1


def test_feed_identical_body_without_validators_is_skipped(tmp_path):
    with world(TOPICS, directory=tmp_path) as w:
        w.server.validators = False
        config = load_config(w.config_dir)
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        run_cycle(store, config)
        s = run_cycle(store, config, force=True)
        assert s.feeds_unchanged == 3 and s.feeds_not_modified == 0 and s.entries_new == 0


def test_broken_feeds_are_recorded_backed_off_and_never_dropped(demo):
    w, config, store = demo
    w.server.faults["/feeds/world.xml"] = Fault(status=500)
    w.server.add("feeds/regional.xml", "<html><body>not a feed</body></html>", "text/html")
    s = run_cycle(store, config)
    assert s.feeds_failed == 2 and s.feeds_ok == 1  # the F1 feed still went through
    assert len(s.errors) == 2
    feeds = {f.name: f for f in store.feeds()}
    world_feed, regional = feeds["world"], feeds["regional"]
    assert world_feed.last_status == 500 and "HTTP 500" in world_feed.last_error
    assert world_feed.consecutive_failures == 1 and world_feed.enabled
    assert "feed" in regional.last_error.lower()
    first_delay = world_feed.next_poll_at - world_feed.last_polled_at
    assert first_delay >= timedelta(minutes=config.settings.fetch.backoff_base_minutes)

    run_cycle(store, config, force=True)
    world_feed = {f.name: f for f in store.feeds()}["world"]
    assert world_feed.consecutive_failures == 2
    assert world_feed.next_poll_at - world_feed.last_polled_at == 2 * first_delay

    # The server recovers: the feed is read again and its articles arrive.
    del w.server.faults["/feeds/world.xml"]
    s = run_cycle(store, config, force=True)
    world_feed = {f.name: f for f in store.feeds()}["world"]
    assert world_feed.consecutive_failures == 0 and world_feed.last_error is None
    assert s.hits_new == 1


def test_gone_and_moved_feeds_are_shown_as_such(demo):
    w, config, store = demo
    w.server.faults["/feeds/f1metrics.xml"] = Fault(status=410)
    w.server.faults["/feeds/regional.xml"] = Fault(
        status=301, headers={"Location": w.server.url("feeds/regional-new.xml")}
    )
    w.server.add(
        "feeds/regional-new.xml",
        (ROOT / "monitor/demo/data/feeds/regional.xml")
        .read_text()
        .replace("{BASE}", w.server.base),
        "application/atom+xml",
    )
    s = run_cycle(store, config)
    assert s.feeds_gone == 1
    feeds = {f.name: f for f in store.feeds()}
    assert feeds["f1metrics"].gone and "410 Gone" in feeds["f1metrics"].last_error
    assert feeds["f1metrics"].enabled  # still polled, rarely
    moved = feeds["regional"]
    assert moved.fetch_url.endswith("/feeds/regional-new.xml")
    assert "moved permanently" in moved.notice
    run_cycle(store, config, force=True)
    assert w.server.hits("feeds/regional.xml").__len__() == 1  # next poll goes to the new URL


def test_page_that_times_out_falls_back_to_the_feed_summary(tmp_path):
    with world(
        TOPICS, directory=tmp_path, settings={"fetch": {"timeout_s": 1, "connect_timeout_s": 1}}
    ) as w:
        w.server.faults["/pages/" + CAUCASUS] = Fault(delay_s=5)
        config = load_config(w.config_dir)
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        s = run_cycle(store, config)
        assert s.extraction_fallbacks == 1
        a = next(a for a in _rows(store, Article) if a.url.endswith(CAUCASUS))
        assert a.extraction == "summary" and "timed out" in a.extraction_error
        assert a.text.startswith("Iran and Azerbaijan signaled a notable thaw")


def test_alert_channel_down_then_delivered_exactly_once(demo):
    w, config, store = demo
    w.webhook.fail_with = 500
    s = run_cycle(store, config)
    assert s.hits_new == 1 and s.alerts_sent == 1 and s.alerts_failed == 1
    (failed,) = [d for d in _rows(store, Delivery) if d.route == "caucasus-chat"]
    assert failed.status == "failed" and "500" in (failed.last_error or "")
    assert failed.next_attempt_at > utcnow()

    # Still down and not yet due: nothing is tried.
    before = len(w.webhook.requests)
    alert.deliver(store, config)
    assert len(w.webhook.requests) == before

    # Back up; at the retry time the alert goes out once, and never again.
    w.webhook.fail_with = None
    later = failed.next_attempt_at + timedelta(seconds=1)
    rep = alert.deliver(store, config, now=later)
    assert rep.sent == 1
    assert len(w.webhook.received) == 1 and len(w.smtp.messages) == 1
    assert alert.deliver(store, config, now=later + timedelta(hours=1)).sent == 0
    assert len(w.webhook.received) == 1
    (d,) = [d for d in _rows(store, Delivery) if d.route == "caucasus-chat"]
    assert d.status == "sent" and d.attempts == 2


def test_undeliverable_alert_goes_dead_and_is_reported(demo):
    w, config, store = demo
    w.webhook.fail_with = 503
    run_cycle(store, config)
    later = utcnow() + timedelta(hours=config.settings.alerts.dead_after_hours + 1)
    rep = alert.deliver(store, config, now=later)
    assert rep.dead == 1 and rep.errors
    (d,) = [d for d in _rows(store, Delivery) if d.route == "caucasus-chat"]
    assert d.status == "dead"
    assert len(w.webhook.received) == 0


def test_worker_pool_gives_the_same_result_as_inline(demo):
    _, config, store = demo
    with WorkerPool.for_config(config) as pool:
        s = run_cycle(store, config, pool=pool)
    assert s.articles_new == 10 and s.hits_new == 1 and s.extraction_fallbacks == 0


def test_feed_sources_unique_across_cycles(demo):
    _, config, store = demo
    run_cycle(store, config)
    run_cycle(store, config, force=True)
    srcs = _rows(store, ArticleSource)
    assert len(srcs) == len({(s.feed_id, s.entry_key) for s in srcs}) == 11
    assert len(_rows(store, Feed)) == 3


@pytest.mark.slow
def test_cycle_on_postgresql(pg_url, tmp_path):
    with world(TOPICS, directory=tmp_path) as w:
        config = load_config(w.config_dir)
        store = Store(pg_url)
        s = run_cycle(store, config)
        assert s.hits_new == 1 and s.alerts_sent == 2
        s = run_cycle(store, config, force=True)
        assert s.feeds_not_modified == 3 and s.alerts_sent == 0
        assert len(w.webhook.received) == 1
