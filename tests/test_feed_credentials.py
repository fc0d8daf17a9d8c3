"""A feed configured as ``http://user:secret@host/feed``: the credentials go with the
feed's own fetch, to its own origin, and nowhere else - not into article URLs or guids
(relative ones are resolved against the feed), sources, the database, exports, alerts or
``newsmon feeds``; not to a redirect target on another origin, not to article pages."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlmodel import select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import load_config
from monitor.demo.servers import Fault, FixtureServer, SmtpReceiver, WebhookReceiver
from monitor.demo.world import DEMO_DATA, write_config
from monitor.export import hit_record, iter_hits, lines
from monitor.pipeline.cycle import run_cycle
from monitor.store import Article, HitFilter, Store

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cretpass"
USER = "reader"
BASIC = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
THAW = "Iran and Azerbaijan signal a thaw as Pezeshkian visits Baku"


def feed(other: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Private desk</title><link>/</link>
<item><title>{THAW}</title><link>/pages/caucasus-iran-azerbaijan-thaw.html</link>
<guid>story-1</guid><pubDate>Mon, 28 Apr 2025 16:00:00 GMT</pubDate>
<description>Iran and Azerbaijan signaled a thaw; seven agreements in Baku.</description></item>
<item><title>Elsewhere</title><link>{other}/pages/f1metrics-a-new-f1metrics-model.html</link>
<guid isPermaLink="false">x-2</guid><pubDate>Mon, 28 Apr 2025 16:00:00 GMT</pubDate>
<description>A model.</description></item>
</channel></rss>"""


def test_feed_credentials_stay_with_the_feeds_own_fetch(tmp_path: Path) -> None:
    with (
        FixtureServer(DEMO_DATA) as a,
        FixtureServer(DEMO_DATA) as b,
        WebhookReceiver() as hook,
        SmtpReceiver() as smtp,
    ):
        a.add("private.xml", feed(b.base), "application/rss+xml")
        b.add("elsewhere.xml", feed(b.base), "application/rss+xml")
        # a feed that moved to another origin: the credentials must not follow it
        a.faults["/moved.xml"] = Fault(status=301, headers={"Location": b.url("elsewhere.xml")})
        authed = a.base.replace("://", f"://{USER}:{SECRET}@")
        cfg_dir = write_config(
            tmp_path / "config",
            topics_from=ROOT / "config" / "topics.yaml",
            feed_urls=[f"{authed}/private.xml", f"{authed}/moved.xml"],
            routes=[
                {"name": "chat", "topics": ["*"], "urls": [hook.apprise_url()]},
                {"name": "mail", "topics": ["*"], "urls": [smtp.apprise_url()]},
            ],
        )
        config = load_config(cfg_dir)
        db = tmp_path / "newsmon.db"
        store = Store(f"sqlite:///{db}")
        summary = run_cycle(store, config)
        assert summary.feeds_ok == 2, summary

        # sent to the feed's own origin, for the feed only
        (feed_req,) = a.hits("private.xml")
        assert feed_req.headers.get("authorization") == BASIC
        assert a.hits("moved.xml")[0].headers.get("authorization") == BASIC
        for r in b.requests:
            assert "authorization" not in r.headers, r.path  # redirect target, other origin
        for r in a.requests:
            if r.path.startswith("/pages/"):
                assert "authorization" not in r.headers, r.path  # an article page

        # stored, exported, alerted and shown without them
        with store.session() as s:
            arts = list(s.exec(select(Article)).all())
        assert any(x.url.endswith("/pages/caucasus-iran-azerbaijan-thaw.html") for x in arts)
        assert any((x.guid or "").endswith("/story-1") for x in arts)  # resolved, but bare
        hits = list(iter_hits(store, HitFilter(), with_text=True))
        assert hits, "the thaw story should be a hit"
        records = [hit_record(h, x, full=True) for h, x in hits]
        exported = "".join(lines(records, "csv")) + "".join(lines(records, "jsonl"))
        assert a.base in exported
        assert hook.received and smtp.messages
        sent = str(hook.received) + "".join(SmtpReceiver.text_of(m) for m in smtp.messages)
        listed = CliRunner().invoke(
            app,
            ["feeds", "--json"],
            env={"NEWSMON_CONFIG": str(cfg_dir), "NEWSMON_DB": f"sqlite:///{db}"},
            catch_exceptions=False,
        )
        assert listed.exit_code == 0, listed.output
        assert a.base.split("//")[1] in listed.stdout
        store.close()
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("newsmon.db*"))
        for text in (exported, sent, listed.stdout, stored.decode("latin-1")):
            assert SECRET not in text and f"{USER}:" not in text


def test_importing_a_feed_with_credentials_again_adds_nothing(tmp_path: Path) -> None:
    from monitor.config.edit import add_feeds

    url = f"https://{USER}:{SECRET}@news.example/private"
    (tmp_path / "feeds.yaml").write_text(f'feeds:\n  - url: "{url}"\n')
    added, skipped = add_feeds(tmp_path, [{"url": url}, {"url": url + "/"}])
    assert added == [] and len(skipped) == 2
