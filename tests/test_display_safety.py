"""Nothing unsafe in a feed reaches an alert, the CLI or an export.

feedparser's HTML sanitiser is off (it is most of feedparser's cost, and the fast lxml
path has none): every title and summary becomes plain text in ``monitor.feeds.plain_text``
(nh3). This test feeds hostile markup - raw in CDATA, escaped once, escaped twice,
event handlers, javascript: links, svg, style, comments - through both parser paths
(``application/rss+xml`` takes the lxml path, ``text/xml`` feedparser's) and the whole
cycle, then reads every place a human sees it: the chat webhook (markdown), the email
(HTML), ``newsmon hits`` / ``hits show`` / ``alerts``, and the CSV and JSON-lines exports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import load_config
from monitor.demo.servers import FixtureServer, SmtpReceiver, WebhookReceiver
from monitor.demo.world import write_config
from monitor.feeds.parse import parse_feed, plain_text, plain_title
from monitor.pipeline.cycle import run_cycle
from monitor.store import Store

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ROOT / "config" / "topics.yaml"

# A summary the Caucasus topic matches (so each item is a hit and is alerted).
STORY = (
    "Azerbaijan and Iran signed a cooperation agreement in Baku as Armenia and "
    "Russia held talks on the border."
)
HOSTILE_TITLES = [
    "<![CDATA[<script>alert('t1')</script>Baku summit <img src=x onerror=alert('t1')>]]>",
    "&lt;iframe src=&quot;javascript:alert('t2')&quot;&gt;&lt;/iframe&gt;Aliyev in Tehran",
    "&amp;lt;script&amp;gt;alert('t3')&amp;lt;/script&amp;gt;Armenia talks",
    "<![CDATA[<svg/onload=alert('t4')>Karabakh <a href=\"javascript:alert('t4')\">peace</a>]]>",
]
HOSTILE_SUMMARIES = [
    f"<![CDATA[<style>body{{display:none}}</style><p onclick=\"alert('s1')\">{STORY}</p>"
    "<object data=\"javascript:alert('s1')\"></object>]]>",
    f"&lt;img src=x onerror=alert('s2')&gt;{STORY}&lt;!-- &lt;script&gt;alert('s2')"
    "&lt;/script&gt; --&gt;",
    f"&amp;lt;script&amp;gt;alert('s3')&amp;lt;/script&amp;gt;{STORY}",
    f'<![CDATA[<a href="javascript:alert(\'s4\')">{STORY}</a><iframe srcdoc="x"></iframe>]]>',
]
# Nothing of these may be found anywhere a human or a mail client reads.
FORBIDDEN = re.compile(
    r"<\s*/?\s*(script|img|iframe|svg|object|style|embed)\b|"
    r"\bon(error|load|click)\s*=|javascript:|alert\(",
    re.I,
)


def rss(tag: str, base: str) -> str:
    items = "".join(
        f"<item><title>{t}</title><description>{d}</description>"
        f'<link>{base}/gone/{tag}/{i}</link><guid isPermaLink="false">{tag}-{i}</guid></item>'
        for i, (t, d) in enumerate(zip(HOSTILE_TITLES, HOSTILE_SUMMARIES, strict=True))
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>&lt;script&gt;alert('feed')&lt;/script&gt;Hostile {tag}</title>"
        f"<link>{base}/</link>{items}</channel></rss>"
    )


def test_plain_text_leaves_no_markup() -> None:
    for value in HOSTILE_TITLES + HOSTILE_SUMMARIES:
        # what the XML parser hands over: CDATA as is, one level of escaping undone
        decoded = value.replace("<![CDATA[", "").replace("]]>", "")
        decoded = (
            decoded.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", '"')
            .replace("&amp;", "&")
        )
        for clean in (plain_text, plain_title):
            out = clean(decoded, 4000)
            assert not FORBIDDEN.search(out), (value, out)
    assert plain_text("1 < 2 and 3 > 2, AT&amp;T", 100) == "1 < 2 and 3 > 2, AT&T"


def test_titles_keep_angle_bracket_tokens_that_are_no_tags() -> None:
    # An RSS title "BP &lt;BP&gt; may..." is the text "BP <BP> may...": <BP> opens no
    # HTML element, so it is the headline's own text (a ticker), not markup.
    assert plain_title("BP <BP> may cut 3 <b>more</b> jobs", 300) == "BP <BP> may cut 3 more jobs"
    assert plain_title("x <y and <Ticker:ABC>", 300) == "x <y and <Ticker:ABC>"
    assert plain_title("<script>alert(1)</script>BP <BP>", 300) == "BP <BP>"
    parsed = parse_feed(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        b"<title>BP &lt;BP&gt; may sell assets</title><link>http://127.0.0.1:9/a</link>"
        b"</item></channel></rss>",
        url="http://127.0.0.1:9/f",
        headers={"content-type": "application/rss+xml"},
    )
    assert parsed.entries[0].title == "BP <BP> may sell assets"


@pytest.mark.parametrize("ctype", ["application/rss+xml", "text/xml"])
def test_both_parser_paths_give_plain_text(ctype: str) -> None:
    parsed = parse_feed(
        rss("p", "http://127.0.0.1:9").encode(),
        url="http://127.0.0.1:9/f",
        headers={"content-type": ctype},
    )
    assert len(parsed.entries) == 4
    for e in parsed.entries:
        for text in (e.title, e.summary):
            assert not FORBIDDEN.search(text), (ctype, text)
        assert "Azerbaijan and Iran signed" in e.summary
    assert parsed.title and not FORBIDDEN.search(parsed.title)


def test_hostile_feeds_reach_alerts_cli_and_exports_as_plain_text(tmp_path: Path) -> None:
    with FixtureServer() as server, WebhookReceiver() as hook, SmtpReceiver() as smtp:
        fast = server.add("feeds/fast.xml", rss("fast", server.base), "application/rss+xml")
        slow = server.add("feeds/slow.xml", rss("slow", server.base), "text/xml")
        cfg = write_config(
            tmp_path / "config",
            topics_from=TOPICS,
            feed_urls=[fast, slow],
            # Every hit alerts: the four items share one story text (so one story), and
            # each hostile title must be seen rendered in its own message.
            routes=[
                {"name": "chat", "topics": ["*"], "urls": [hook.apprise_url()], "stories": "every"},
                {"name": "mail", "topics": ["*"], "urls": [smtp.apprise_url()], "stories": "every"},
            ],
        )
        db = f"sqlite:///{tmp_path / 'newsmon.db'}"
        config = load_config(cfg)
        # One feed per cycle: 4 hits per target, so each goes out as its own message
        # (titled with the article's title); more would be batched into one.
        for url in (fast, slow):
            s = run_cycle(Store(db), config, only_urls=[url])
            assert s.articles_new == 4 and s.extraction_fallbacks == 4  # pages 404: summaries
            assert s.hits_new == 4 and s.alerts_sent == 8, s

        seen: list[str] = []
        for p in hook.received:
            seen += [str(p.get("title")), str(p.get("message"))]
        assert len(hook.received) == 8
        assert any("Baku summit" in str(p.get("title")) for p in hook.received)
        for m in smtp.messages:
            seen += [str(m["Subject"]), SmtpReceiver.text_of(m)]
        assert smtp.messages
        assert any("Azerbaijan and Iran signed" in t for t in seen)

        runner = CliRunner()
        env = {"NEWSMON_CONFIG": None, "NEWSMON_DB": None}
        base = ["--config", str(cfg), "--db", db]
        outputs = [
            runner.invoke(app, base + args, env=env, catch_exceptions=False)
            for args in (
                ["hits"],
                ["hits", "--json"],
                ["hits", "show", "1"],
                ["hits", "show", "1", "--json"],
                ["alerts"],
            )
        ]
        for r in outputs:
            assert r.exit_code == 0, r.output
            seen.append(r.output)
        for fmt in ("csv", "jsonl"):
            out = tmp_path / f"hits.{fmt}"
            r = runner.invoke(
                app,
                base + ["hits", "export", "--full", "-f", fmt, "-o", str(out)],
                env=env,
                catch_exceptions=False,
            )
            assert r.exit_code == 0, r.output
            seen.append(out.read_text())
        rows = [json.loads(line) for line in (tmp_path / "hits.jsonl").read_text().splitlines()]
        assert len(rows) == 8 and all(r["text"] and "Baku" in r["text"] for r in rows)

    for text in seen:
        m = FORBIDDEN.search(text)
        assert m is None, (m.group(), text[max(0, m.start() - 200) : m.end() + 200])
