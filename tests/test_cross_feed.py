"""What one feed does must never cost another feed its articles (issue #20).

A batch of good and hostile feeds in one cycle against the real loopback server:
feeds and article links that redirect to URLs no request can be made to (port 99999,
a port beyond any integer, an octal IPv4 host, a space or a newline in ``Location``).
Each failure stays with its own feed or article, in words, and is counted.
"""

from __future__ import annotations

from pathlib import Path

from monitor.config import load_config
from monitor.demo.servers import Fault, FixtureServer
from monitor.demo.world import DEMO_DATA, write_config
from monitor.pipeline.cycle import run_cycle
from monitor.store import Article, Store
from tests.support.hostile import FAST, TOPICS, item, rows, rss

# name -> (Location, phrase the recorded error must contain)
HOSTILE_REDIRECTS = {
    "port-99999": ("http://127.0.0.1:99999/feed.xml", "port is outside 0-65535"),
    "port-huge": ("http://127.0.0.1:99999999999999999999999/feed.xml", "port is outside 0-65535"),
    "port-negative": ("http://127.0.0.1:-1/feed.xml", "port is not a number"),
    "octal-host": ("http://0177.0.0.1/feed.xml", "not a valid IPv4 address"),
    "space-in-host": ("http://127.0.0 .1/feed.xml", "is not a host name"),
    "newline": ("http://127.0.0.1/\nfeed.xml", "malformed HTTP response"),
    "bad-ipv6": ("http://[::1/feed.xml", "invalid URL"),
}
GOOD_PAGES = ["caucasus-iran-azerbaijan-thaw.html", "f1metrics-a-new-f1metrics-model.html"]


def test_hostile_redirects_stay_with_their_own_feed_and_article(tmp_path: Path) -> None:
    srv = FixtureServer(DEMO_DATA).start()
    try:
        urls = []
        for i, page in enumerate(GOOD_PAGES):
            urls.append(
                srv.add(
                    f"good/{i}.xml",
                    rss([item(f"{{BASE}}/pages/{page}", title=f"good {i}", guid=f"good-{i}")]),
                    "application/rss+xml",
                )
            )
        for name, (location, _) in HOSTILE_REDIRECTS.items():
            urls.append(srv.url(f"bad/{name}.xml"))
            srv.faults[f"/bad/{name}.xml"] = Fault(status=302, headers={"Location": location})
            # the same hostile redirect behind an article link of a good feed
            srv.faults[f"/article/{name}"] = Fault(status=301, headers={"Location": location})
        urls.append(
            srv.add(
                "good/links.xml",
                rss(
                    [
                        item(f"{{BASE}}/article/{n}", title=f"link {n}", guid=f"l-{n}")
                        for n in HOSTILE_REDIRECTS
                    ]
                ),
                "application/rss+xml",
            )
        )
        cfg = write_config(
            tmp_path / "config", topics_from=TOPICS, feed_urls=urls, routes=[], settings=FAST
        )
        config = load_config(cfg)
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        s = run_cycle(store, config, feed_batch=50)  # one batch: good and hostile together
    finally:
        srv.stop()

    assert not [e for e in s.errors if e.startswith("batch")], s.errors
    feeds = {f.url.rsplit("/", 1)[-1]: f for f in store.feeds()}
    for name, (_, phrase) in HOSTILE_REDIRECTS.items():
        f = feeds[f"{name}.xml"]
        assert f.last_outcome == "error", (name, f.last_outcome)
        assert phrase in (f.last_error or ""), (name, f.last_error)
        assert "ExceptionGroup" not in (f.last_error or "")
        assert f.consecutive_failures == 1
    assert s.feeds_failed == len(HOSTILE_REDIRECTS)
    assert s.feeds_ok == len(GOOD_PAGES) + 1
    articles = {a.url.rsplit("/", 1)[-1]: a for a in rows(store, Article)}
    for page in GOOD_PAGES:  # the good feeds' articles, read from their pages
        assert articles[page].extraction == "ok", articles[page].extraction_error
    for name, (_, phrase) in HOSTILE_REDIRECTS.items():
        a = articles[name]  # stored from the feed summary, the reason in words
        assert a.extraction == "summary" and a.text
        err = a.extraction_error or ""
        assert err.startswith("page fetch failed") and phrase in err, (name, err)
        assert "ExceptionGroup" not in err
    assert s.pages_failed == len(HOSTILE_REDIRECTS)
