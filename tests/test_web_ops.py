"""Operations in view: health banners on every page, the feeds page's facts and
actions, and the feeds commands that edit feeds.yaml (add, export as OPML)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from monitor.cli import app as cli_app
from monitor.desk import create_app
from monitor.desk.accounts import hash_password
from monitor.store import Store
from tests.support.deskdata import desk_db, desk_topics

BASE = "http://127.0.0.1:8080"
PAGES = ["/hits", "/topics", "/feeds", "/alerts", "/hits/1"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{desk_db(tmp_path)}")
    yield s
    s.close()


def client(store: Store) -> TestClient:
    return TestClient(create_app(store, desk_topics()), base_url=BASE, follow_redirects=False)


def test_banners_on_every_page_say_what_is_broken(store: Store) -> None:
    c = client(store)
    for path in PAGES:
        assert "banner error health" not in c.get(path).text
        assert "banner warn health" not in c.get(path).text
    feeds = store.feeds()
    feeds[0].consecutive_failures, feeds[0].last_error = 4, "HTTP 500"
    store.save_feeds([feeds[0]])
    store.record_send("analysts", "k1", "mailto://127.0.0.1/analyst", ok=False, error="refused")
    c = client(store)  # a new desk: the banners are looked up at most every 10 s
    name = feeds[0].name or feeds[0].title
    for path in PAGES:
        page = c.get(path).text
        assert "Alerting is failing: analysts (mailto://127.0.0.1/analyst)" in page, path
        assert f"1 feed failing: {name}" in page, path


def test_feeds_page_last_new_article_and_poll_now(store: Store) -> None:
    c = client(store)
    page = c.get("/feeds").text
    assert "Last new article" in page and "Poll now" in page  # no login: the desk's admin
    from datetime import timedelta

    from monitor.store import utcnow

    feed = store.feeds()[0]
    feed.next_poll_at = utcnow() + timedelta(days=1)
    store.save_feeds([feed])
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)  # type: ignore[union-attr]
    r = c.post(f"/feeds/{feed.id}/poll", data={"csrf": token})
    assert r.status_code == 303 and "is%20due%20now" in r.headers["location"]
    due = next(f for f in store.feeds() if f.id == feed.id).next_poll_at
    assert due is not None and due <= utcnow()
    assert c.post(f"/feeds/{10**30}/poll", data={"csrf": token}).status_code == 404
    # An analyst sees the facts but not the actions, and may not act.
    store.add_user("ana", "analyst", hash_password("a-long-enough-password"))
    ana = client(store)
    t = re.search(r'name="csrf" value="([0-9a-f]{64})"', ana.get("/login").text).group(1)  # type: ignore[union-attr]
    ana.post("/login", data={"csrf": t, "name": "ana", "password": "a-long-enough-password"})
    page = ana.get("/feeds").text
    assert "Last new article" in page and "Poll now" not in page
    t = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)  # type: ignore[union-attr]
    assert ana.post(f"/feeds/{feed.id}/poll", data={"csrf": t}).status_code == 403


def test_feeds_add_and_opml_export_round_trip(tmp_path: Path) -> None:
    import shutil

    from tests.support.deskdata import ROOT

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "feeds.yaml").write_text("# my feeds\nfeeds:\n  - url: https://a.example/rss\n")
    run = CliRunner()
    base = ["-c", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}"]
    r = run.invoke(
        cli_app,
        [*base, "feeds", "add", "https://b.example/feed", "--name", "B news", "--tags", "x, y"],
    )
    assert r.exit_code == 0 and "added" in r.output
    text = (config / "feeds.yaml").read_text()
    assert text.startswith("# my feeds") and '"B news"' in text and '["x", "y"]' in text
    again = run.invoke(cli_app, [*base, "feeds", "add", "https://b.example/feed"])
    assert "already there" in again.output
    out = tmp_path / "feeds.opml"
    r = run.invoke(cli_app, [*base, "feeds", "export", "--opml", "-o", str(out)])
    assert r.exit_code == 0 and 'xmlUrl="https://b.example/feed"' in out.read_text()
    # Round trip: importing the export into another config gives the same feeds.
    other = tmp_path / "other"
    shutil.copytree(ROOT / "config", other)
    (other / "feeds.yaml").write_text("feeds:\n  - url: https://c.example/rss\n")
    r = run.invoke(
        cli_app,
        ["-c", str(other), "--db", f"sqlite:///{tmp_path / 'y.db'}", "feeds", "import", str(out)],
    )
    assert r.exit_code == 0, r.output
    from monitor.config import load_config

    got = [(f.url, f.name) for f in load_config(other).feeds]
    assert got[0] == ("https://c.example/rss", None) and got[1:] == [
        ("https://a.example/rss", None),
        ("https://b.example/feed", "B news"),
    ]


FEEDS_YAML = """# feeds we watch
feeds:
  # the wires
  - url: https://a.example/rss
    name: A wire
  - url: "https://b.example/feed"
    tags: [x]
# end
"""


def _config(tmp_path: Path) -> Path:
    import shutil

    from tests.support.deskdata import ROOT

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "feeds.yaml").write_text(FEEDS_YAML)
    return config


def test_feeds_pause_resume_remove_from_the_cli(tmp_path: Path) -> None:
    from monitor.config import load_config

    config = _config(tmp_path)
    run = CliRunner()
    base = ["-c", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}"]
    assert run.invoke(cli_app, [*base, "feeds", "pause", "https://b.example/feed/"]).exit_code == 0
    assert [f.paused for f in load_config(config).feeds] == [False, True]
    assert run.invoke(cli_app, [*base, "feeds", "resume", "https://b.example/feed"]).exit_code == 0
    assert (config / "feeds.yaml").read_text() == FEEDS_YAML
    assert run.invoke(cli_app, [*base, "feeds", "remove", "https://a.example/rss"]).exit_code == 0
    text = (config / "feeds.yaml").read_text()
    assert "A wire" not in text and "# the wires" in text and "# end" in text
    assert [f.url for f in load_config(config).feeds] == ["https://b.example/feed"]
    r = run.invoke(cli_app, [*base, "feeds", "remove", "https://nope.example/"])
    assert r.exit_code != 0 and "no feed with the URL" in r.output + str(r.exception)


def test_feed_actions_on_the_desk_edit_feeds_yaml(tmp_path: Path) -> None:
    from monitor.config import load_config

    config_dir = _config(tmp_path)
    config = load_config(config_dir)
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    store.sync_feeds(config.feeds)
    c = TestClient(
        create_app(store, config.topics, config=config), base_url=BASE, follow_redirects=False
    )
    page = c.get("/feeds").text
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)  # type: ignore[union-attr]
    b = next(f for f in store.feeds() if f.url == "https://b.example/feed")
    r = c.post(f"/feeds/{b.id}/pause", data={"csrf": token})
    assert r.status_code == 303 and "paused" in r.headers["location"]
    assert [f.paused for f in load_config(config_dir).feeds] == [False, True]
    assert not next(f for f in store.feeds() if f.id == b.id).enabled  # not polled now
    assert "Resume" in c.get("/feeds").text
    c.post(f"/feeds/{b.id}/resume", data={"csrf": token})
    assert next(f for f in store.feeds() if f.id == b.id).enabled
    c.post(f"/feeds/{b.id}/remove", data={"csrf": token})
    assert [f.url for f in load_config(config_dir).feeds] == ["https://a.example/rss"]
    assert c.post(f"/feeds/{b.id}/explode", data={"csrf": token}).status_code == 404
    store.close()
