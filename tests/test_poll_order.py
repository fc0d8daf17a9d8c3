"""Articles are numbered in the feeds' order, not in the order the servers answered.

The cycle reads each feed as soon as its answer arrives (monitor.pipeline.poll) and
stores pages as they are done (monitor.pipeline.pages). The order articles are stored in,
and so their numbers, their first source and the story ids made from them, must still
follow the feeds: the same feeds give the same ids however fast each server was.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from monitor.config import load_config
from monitor.demo.servers import Fault, FixtureServer
from monitor.demo.world import DEMO_DATA, write_config
from monitor.pipeline.cycle import run_cycle
from monitor.store import Article, Store
from tests.support.hostile import FAST, TOPICS, item, rss

PAGES = ["caucasus-iran-azerbaijan-thaw.html", "f1metrics-a-new-f1metrics-model.html"]


def _cycle(tmp_path: Path, slow: str) -> tuple[list[str], dict[str, int]]:
    srv = FixtureServer(DEMO_DATA).start()
    try:
        first = srv.add(
            "first.xml",
            rss(
                [
                    item(f"{{BASE}}/pages/{PAGES[0]}", title="first a", guid="fa"),
                    item(f"{{BASE}}/pages/{PAGES[1]}", title="first b", guid="fb"),
                ]
            ),
            "application/rss+xml",
        )
        second = srv.add(
            "second.xml",
            rss(
                [
                    item(f"{{BASE}}/pages/{PAGES[1]}", title="second b", guid="sb"),
                    item("{BASE}/pages/missing-page.html", title="second c", guid="sc"),
                ]
            ),
            "application/rss+xml",
        )
        srv.faults[f"/{slow}.xml"] = Fault(delay_s=0.6)
        cfg = write_config(
            tmp_path / slow / "config",
            topics_from=TOPICS,
            feed_urls=[first, second],
            routes=[],
            settings=FAST,
        )
        store = Store(f"sqlite:///{tmp_path / slow / 'db.sqlite'}")
        run_cycle(store, load_config(cfg), feed_batch=50)
    finally:
        srv.stop()
    with store.session() as s:
        arts = s.exec(select(Article).order_by(col(Article.id))).all()
    order = [a.url.rsplit("/", 1)[-1] for a in arts]
    first_source = {}
    for a in arts:
        assert a.id is not None
        src, feed = min(store.article_sources(a.id), key=lambda sf: sf[0].id or 0)
        first_source[a.url.rsplit("/", 1)[-1]] = feed.url.rsplit("/", 1)[-1]
    store.close()
    return order, first_source


def test_the_order_of_answers_does_not_change_the_order_articles_are_stored_in(
    tmp_path: Path,
) -> None:
    runs = [_cycle(tmp_path, slow) for slow in ("first", "second")]
    assert runs[0] == runs[1]
    order, first_source = runs[0]
    assert order == [PAGES[0], PAGES[1], "missing-page.html"]
    assert first_source[PAGES[1]] == "first.xml"
