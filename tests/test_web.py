"""The review desk's views, through Starlette's test client, over a database made by
the real pipeline (the demo world) plus synthetic hits (see tests/support/deskdata.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

with warnings.catch_warnings():  # "install httpx2": the test client works with httpx as is
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
from typer.testing import CliRunner

from monitor.cli import app as cli_app
from monitor.config import load_config
from monitor.desk import create_app
from monitor.desk.filters import parse_filters
from monitor.desk.highlight import Highlighter, term_pattern
from monitor.desk.routes.topics import bars
from monitor.desk.security import WebError, check_bind, safe_next
from monitor.desk.views import ago, http_url
from monitor.export import csv_cell as _cell
from monitor.store import Hit, HitFilter, Store, Story, StoryArticle
from tests.support.deskdata import CAUCASUS_TITLE, HOSTILE_ERROR, ROOT, desk_db, desk_topics

BASE = "http://127.0.0.1:8080"
TOKEN = "correct-horse-battery-staple-42"


@dataclass
class Desk:
    store: Store
    client: TestClient
    db: Path

    def hit_id(self, title_part: str) -> int:
        return next(h.id for h, a in self.store.find_hits(limit=100).rows if title_part in a.title)  # type: ignore[return-value]

    def csrf(self, path: str = "/hits/1") -> str:
        page = self.client.get(path).text
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
        assert m, "every page with a form carries a CSRF token"
        return m.group(1)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    db = desk_db(tmp_path)
    store = Store(f"sqlite:///{db}")
    client = TestClient(create_app(store, desk_topics()), base_url=BASE, follow_redirects=False)
    yield Desk(store, client, db)
    client.close()
    store.close()


def titles(html: str) -> list[str]:
    return re.findall(r'<a class="title" href="[^"]*">([^<]*)</a>', html)


# --- pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/hits",
        "/topics",
        "/feeds",
        "/alerts",
        "/hits/1",
        "/hits?q=baku&topic=caucasus-realignment&label=unreviewed",
    ],
)
def test_pages_render_with_security_headers(desk: Desk, path: str) -> None:
    r = desk.client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert float(r.headers["server-timing"].split("dur=")[1]) < 2000
    # No inline script anywhere: the only script is the static file.
    assert re.findall(r"<script\b[^>]*>", r.text) == ['<script src="/static/desk.js" defer>']
    assert "newsmon_csrf=" in r.headers.get("set-cookie", "")


def test_root_redirects_and_unknown_pages_are_404(desk: Desk) -> None:
    assert desk.client.get("/").headers["location"] == "/hits"
    assert desk.client.get("/hits/99999").status_code == 404
    assert "no hit with id 99999" in desk.client.get("/hits/99999").text
    assert desk.client.get("/nowhere").status_code == 404
    assert desk.client.get("/static/desk.css").status_code == 200


def test_hits_list_newest_first_with_filters(desk: Desk) -> None:
    all_titles = titles(desk.client.get("/hits").text)
    total = desk.store.count_hits()
    assert len(all_titles) == total >= 6 and CAUCASUS_TITLE in all_titles[0]
    html = desk.client.get("/hits?topic=caucasus-realignment").text
    n = desk.store.count_hits(HitFilter(topic="caucasus-realignment"))
    assert (
        re.findall(r'<a class="topic" href="/hits\?topic=([^"]*)"', html)
        == ["caucasus-realignment"] * n
    )
    assert f"<b>{n}</b> hits match" in html
    assert f"<b>{total}</b> hits" in desk.client.get("/hits").text
    assert titles(desk.client.get("/hits?lang=ru").text) == ["Поставки газа по TANAP выросли"]
    assert titles(desk.client.get("/hits?q=Fordow+inspectors").text) == [
        "IAEA inspectors return to Fordow"
    ]
    assert titles(desk.client.get("/hits?q=%22Southern+Gas%22&lang=en").text) == [
        "Shah Deniz gas flows to Europe rise again"
    ]
    # Scores come from classifying the fixture's texts: count what the store holds.
    high = [h for h, _ in desk.store.find_hits(limit=100).rows if h.score >= 0.9]
    assert 0 < len(high) < total
    assert len(titles(desk.client.get("/hits?min_score=0.9").text)) == len(high)
    assert len(titles(desk.client.get("/hits?within=24h").text)) == 2
    feed = desk.store.feeds()[2]
    assert titles(desk.client.get(f"/hits?feed={feed.id}").text) == [
        "Поставки газа по TANAP выросли"
    ]
    # Bad input is shown and ignored, never a 500.
    r = desk.client.get("/hits?min_score=lots&from=yesterday&label=maybe&feed=x&before=abc")
    assert r.status_code == 200 and len(titles(r.text)) == desk.store.count_hits()
    assert "min score must be a number" in r.text and "unknown label" in r.text


def test_a_broad_filter_stops_counting(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.desk.routes.hits.COUNT_CAP", 3)
    assert "<b>3+</b> hits match" in desk.client.get("/hits?lang=en").text
    total = desk.store.count_hits()
    assert f"<b>{total}</b> hits" in desk.client.get("/hits").text  # unfiltered: exact
    assert "<b>1</b> hit match" in desk.client.get("/hits?lang=ru").text


def test_paging_links_walk_the_list(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.desk.routes.hits.PAGE_SIZE", 4)
    first = desk.client.get("/hits").text
    older = re.search(r'href="/hits\?(before=\d+)" rel="next"', first)
    assert older and 'rel="prev"' not in first
    second = desk.client.get(f"/hits?{older.group(1)}").text
    assert len(titles(first)) == 4 and len(titles(second)) == min(4, desk.store.count_hits() - 4)
    assert not set(titles(first)) & set(titles(second))
    newer = re.search(r'href="/hits\?(after=\d+)" rel="prev"', second)
    assert newer and titles(desk.client.get(f"/hits?{newer.group(1)}").text) == titles(first)
    # Filters survive paging.
    page = desk.client.get("/hits?topic=iran-nuclear").text
    assert "Older" not in page
    gone = desk.client.get("/hits?before=424242")
    assert gone.status_code == 200 and "no longer exists" in gone.text


def test_hit_page_shows_the_evidence_highlighted_by_group(desk: Desk) -> None:
    hid = desk.hit_id(CAUCASUS_TITLE)
    html = desk.client.get(f"/hits/{hid}").text
    marks = re.findall(r'<mark class="hl g(\d+)" title="([a-z]+)">([^<]+)</mark>', html)
    by_group: dict[str, set[str]] = {}
    for _, group, term in marks:
        by_group.setdefault(group, set()).add(term)
    assert {"Azerbaijan", "Baku"} <= by_group["azerbaijan"]
    assert {"Iran", "Tehran"} <= by_group["iran"] and "Israeli" in by_group["israel"]
    assert "North-South Transport Corridor" in by_group["region"]
    colours = {g: c for c, g, _ in marks}
    assert len(set(colours.values())) == len(colours)  # one colour per group
    assert "Why it matched" in html and html.count('<span class="field">') == 5
    threshold = next(t for t in desk_topics() if t.id == "caucasus-realignment").threshold
    assert f"threshold {threshold}" in html and "Topic version" in html and "(current)" in html
    assert "world" in html and "regional" in html  # both feeds it came from
    assert html.count('class="chip st-sent"') == 2  # the email and the chat alert
    assert "labels on this topic since last training" in html
    assert 'name="label" value="irrelevant"' in html
    assert 'rel="noopener noreferrer"' in html


def test_label_is_stored_and_shown_like_the_cli(desk: Desk) -> None:
    hid = desk.hit_id(CAUCASUS_TITLE)
    token = desk.csrf(f"/hits/{hid}")
    r = desk.client.post(
        f"/hits/{hid}/label",
        data={
            "csrf": token,
            "label": "irrelevant",
            "note": "  an opinion piece  ",
            "back": f"/hits/{hid}?topic=caucasus-realignment",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == (
        f"/hits/{hid}?topic=caucasus-realignment"
    )
    h, _ = desk.store.hit(hid)
    assert (h.label, h.label_note) == ("irrelevant", "an opinion piece") and h.labeled_at
    page = desk.client.get(r.headers["location"]).text
    assert '<span class="badge irr"' in page and "an opinion piece" in page
    out = CliRunner().invoke(cli_app, ["--db", desk.store.url, "hits", "--json"])
    rec = next(x for x in json.loads(out.stdout) if x["id"] == hid)
    assert (rec["label"], rec["label_note"]) == ("irrelevant", "an opinion piece")
    assert "<b>1</b> label on this topic" in page
    # "clear" drops the label and its note, as `newsmon hits mark ID clear` does.
    desk.client.post(f"/hits/{hid}/label", data={"csrf": token, "label": "clear", "note": "x"})
    h, _ = desk.store.hit(hid)
    assert (h.label, h.label_note, h.labeled_at) == (None, None, None)
    # An unknown label, an open redirect: refused / ignored.
    assert (
        desk.client.post(f"/hits/{hid}/label", data={"csrf": token, "label": "maybe"}).status_code
        == 400
    )
    r = desk.client.post(
        f"/hits/{hid}/label", data={"csrf": token, "label": "relevant", "back": "//evil.example/x"}
    )
    assert r.headers["location"] == f"/hits/{hid}"


def test_mark_and_advance_opens_the_next_older_hit(desk: Desk) -> None:
    hid = desk.hit_id(CAUCASUS_TITLE)
    page = desk.client.get(f"/hits/{hid}?label=unreviewed").text
    older = int(re.search(r'name="older" value="(\d+)"', page).group(1))  # type: ignore[union-attr]
    r = desk.client.post(
        f"/hits/{hid}/label",
        data={
            "csrf": desk.csrf(),
            "label": "relevant",
            "advance": "1",
            "older": str(older),
            "back": f"/hits/{hid}?label=unreviewed",
        },
    )
    assert r.headers["location"] == f"/hits/{older}?label=unreviewed"


def test_the_hit_page_walks_the_list_in_the_order_it_was_opened_from(desk: Desk) -> None:
    """Opened from the list by score, Previous/Next (k/j) follow the score order, not
    the time order."""
    html = desk.client.get("/hits?sort=score").text
    by_score = [int(x) for x in re.findall(r'href="/hits/(\d+)\?sort=score"', html)]
    by_score = list(dict.fromkeys(by_score))
    by_time = list(
        dict.fromkeys(
            int(x) for x in re.findall(r'href="/hits/(\d+)"', desk.client.get("/hits").text)
        )
    )
    assert len(by_score) >= 3 and by_score != by_time  # the two orders differ here
    middle = by_score[1]
    page = desk.client.get(f"/hits/{middle}?sort=score").text
    assert f'href="/hits/{by_score[0]}?sort=score" id="newer"' in page
    assert f'href="/hits/{by_score[2]}?sort=score" id="older"' in page
    assert "↓ Next" in page and "↓ Older" not in page
    # in time order the same page walks by time and says so
    page = desk.client.get(f"/hits/{middle}").text
    at = by_time.index(middle)
    if at + 1 < len(by_time):
        assert f'href="/hits/{by_time[at + 1]}" id="older"' in page
    assert "↓ Older" in page


# --- security -----------------------------------------------------------------------------


def post_routes(app) -> list[str]:
    return [r.path for r in app.routes if "POST" in (getattr(r, "methods", None) or ())]


def test_every_post_without_a_valid_csrf_token_is_refused(desk: Desk) -> None:
    hid = desk.hit_id(CAUCASUS_TITLE)
    view = desk.store.save_view("v", "topic=x")
    paths = [
        p.replace("{hit_id:int}", str(hid))
        .replace("{view_id:int}", str(view.id))
        .replace("{feed_id:int}", "1")
        .replace("{article_id:int}", "1")
        .replace("{action:str}", "pause")
        .replace("{topic_id:str}", "caucasus-realignment")
        for p in post_routes(desk.client.app)
    ]
    assert sorted(paths) == sorted(
        [
            "/login",
            "/logout",
            f"/hits/{hid}/label",
            "/hits/labels",
            "/hits/read",
            "/prefs",
            "/views",
            f"/views/{view.id}/delete",
            "/feeds/1/poll",
            "/feeds/1/pause",
            "/topics/caucasus-realignment/train",
            "/topics/caucasus-realignment/test",
            "/topics/caucasus-realignment/activate",
            "/topics/caucasus-realignment/rollback",
            "/topics/caucasus-realignment/store",
            "/topics/new",
            "/articles/1/label",
            "/near-misses/rescan",
        ]
    )
    good = desk.csrf()
    for path in paths:
        for data in (
            {"label": "relevant"},
            {"label": "relevant", "csrf": ""},
            {"label": "relevant", "csrf": "0" * 64},
            {"label": "relevant", "csrf": good.upper()},
        ):
            r = desk.client.post(path, data=data)
            assert r.status_code == 403, (path, data)
            assert "CSRF token is missing or wrong" in r.text
    # A token is only good with the cookie it was made for.
    other = TestClient(desk.client.app, base_url=BASE, follow_redirects=False)
    other.get("/hits")
    assert (
        other.post(f"/hits/{hid}/label", data={"csrf": good, "label": "relevant"}).status_code
        == 403
    )
    assert desk.store.hit(hid)[0].label is None
    assert [v.name for v in desk.store.views()] == ["v"]


def test_cross_site_post_is_refused_even_with_a_token(desk: Desk) -> None:
    hid = desk.hit_id(CAUCASUS_TITLE)
    token = desk.csrf()
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        r = desk.client.post(
            f"/hits/{hid}/label",
            data={"csrf": token, "label": "relevant"},
            headers={"origin": origin},
        )
        assert r.status_code == 403, origin
    r = desk.client.post(
        f"/hits/{hid}/label", data={"csrf": token, "label": "relevant"}, headers={"origin": BASE}
    )
    assert r.status_code == 303


def test_hostile_feed_text_is_escaped_everywhere(desk: Desk) -> None:
    hid = desk.hit_id("window.__pwned")
    pages = {
        p: desk.client.get(p).text
        for p in ("/hits", f"/hits/{hid}", "/alerts", "/alerts?status=failed", "/hits?q=transit")
    }
    for path, html in pages.items():
        assert "<script>window" not in html and "<img src=x" not in html, path
        assert "onerror=" not in html.replace("onerror=&#34;", ""), path
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in pages["/hits"]
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in pages[f"/hits/{hid}"]
    assert "Baku &amp; Tehran" in pages["/hits"]
    # Its javascript: links are not links.
    for html in pages.values():
        assert not re.search(r'href="\s*javascript:', html, re.I)
    assert "link not shown (not http/https)" in pages[f"/hits/{hid}"]
    # The hostile alert error is text too.
    assert HOSTILE_ERROR not in pages["/alerts"]
    assert "&lt;img src=x onerror=&#34;window.__pwned = 3&#34;&gt;smtp refused" in pages["/alerts"]


def test_only_loopback_host_names_without_a_token(desk: Desk) -> None:
    for host in ("localhost:8080", "127.0.0.1", "[::1]:8080"):
        assert desk.client.get("/hits", headers={"host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example"):
        r = desk.client.get("/hits", headers={"host": host})
        assert r.status_code == 400, host  # DNS rebinding cannot reach the desk


def test_token_mode_needs_a_login(desk: Desk) -> None:
    app = create_app(desk.store, desk_topics(), token=TOKEN)
    c = TestClient(app, base_url="http://desk.example.org", follow_redirects=False)
    r = c.get("/hits?topic=x")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/hits%3Ftopic%3Dx"
    assert c.get("/hits/export?format=csv").status_code == 303
    assert c.get("/static/desk.css").status_code == 200
    login = c.get("/login?next=/topics").text
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', login).group(1)  # type: ignore[union-attr]
    bad = c.post("/login", data={"csrf": token, "token": "wrong", "next": "/topics"})
    assert bad.status_code == 401 and "not right" in bad.text
    assert c.post("/hits/1/label", data={"csrf": token, "label": "relevant"}).status_code == 401
    ok = c.post("/login", data={"csrf": token, "token": TOKEN, "next": "/topics"})
    assert ok.status_code == 303 and ok.headers["location"] == "/topics"
    assert "HttpOnly" in ok.headers["set-cookie"] and "SameSite=Strict" in ok.headers["set-cookie"]
    assert c.get("/topics").status_code == 200  # the session cookie
    assert c.post("/logout", data={"csrf": token}).status_code == 303
    c.cookies.delete("newsmon_session")
    assert c.get("/topics").status_code == 303
    # Scripts use the token as a bearer header.
    s = TestClient(app, base_url="http://desk.example.org", follow_redirects=False)
    assert (
        s.get("/hits/export?format=jsonl", headers={"authorization": f"Bearer {TOKEN}"}).status_code
        == 200
    )
    assert s.get("/hits", headers={"authorization": "Bearer nope"}).status_code == 303
    # A session from another process (another secret) is not accepted.
    again = TestClient(
        create_app(desk.store, desk_topics(), token=TOKEN),
        base_url="http://x.org",
        follow_redirects=False,
    )
    again.cookies.set("newsmon_session", ok.headers["set-cookie"].split(";")[0].split("=")[1])
    assert again.get("/hits").status_code == 303


def test_check_bind() -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    check_bind("0.0.0.0", TOKEN)
    for host in ("0.0.0.0", "192.168.1.5", "::", "desk.example.org"):
        with pytest.raises(WebError, match="NEWSMON_WEB_TOKEN"):
            check_bind(host, None)
    with pytest.raises(WebError, match="too short"):
        check_bind("0.0.0.0", "short")


def test_cli_refuses_to_bind_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NEWSMON_WEB_TOKEN"}
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "from monitor.cli import main; main()",
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
            "web",
            "--host",
            "0.0.0.0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 1
    assert (
        res.stderr.startswith("newsmon: error: binding to 0.0.0.0")
        and "NEWSMON_WEB_TOKEN" in res.stderr
    )
    assert not (tmp_path / "x.db").exists()  # refused before touching anything


def test_safe_next_and_http_url() -> None:
    assert safe_next("/hits/3?topic=x") == "/hits/3?topic=x"
    for bad in ("//evil.example", "https://evil.example", "/\\evil.example", "", None, "hits"):
        assert safe_next(bad) == "/hits"
    assert http_url("https://a.example/x") == "https://a.example/x"
    for bad in (
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,x",
        "ftp://a/x",
        "http://",
        "/relative",
        None,
    ):
        assert http_url(bad) is None


# --- export, topics, feeds, alerts ------------------------------------------------------------


def test_export_is_the_filtered_view(desk: Desk) -> None:
    r = desk.client.get("/hits/export?topic=iran-nuclear&format=jsonl")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    recs = [json.loads(line) for line in r.text.splitlines()]
    assert [x["topic"] for x in recs] == ["iran-nuclear", "iran-nuclear"]
    assert set(recs[0]) >= {"id", "score", "label", "title", "url", "evidence_sentences"}
    csv_text = desk.client.get("/hits/export?format=csv&q=baku").text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("id,topic,score,label") and len(lines) == 3
    # Each row names the feeds its article came from (by name, never by URL).
    import csv

    names = {f.name or f.title for f in desk.store.feeds()}
    rows = list(csv.DictReader(lines))
    assert "feed" in rows[0] and all(
        r["feed"] and set(r["feed"].split(" | ")) <= names for r in rows
    )
    assert desk.client.get("/hits/export?format=xml").status_code == 400
    assert _cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert _cell("-1") == "'-1" and _cell("Baku") == "Baku" and _cell(["a", "b"]) == "a | b"


def test_topics_page_counts_precision_and_chart(desk: Desk) -> None:
    ids = [h.id for h, _ in desk.store.find_hits(limit=100).rows if h.topic_id == "iran-nuclear"]
    desk.store.mark_hit(ids[0], "relevant")
    desk.store.mark_hit(ids[1], "irrelevant")
    html = desk.client.get("/topics").text
    card = html[html.index('id="topic-iran-nuclear"') :]
    card = card[: card.index("</section>")]
    assert "<b>50%</b>" in card and "1 of 2 reviewed" in card
    assert card.count('class="bar"') == 2  # two days with hits in the last 30
    assert "Enrichment, IAEA inspections" in card and "in one sentence:" in card
    assert "Fordow" in card  # a term of the definition
    # Without a config the desk still shows the topics that have hits.
    bare = TestClient(
        create_app(desk.store, [], config_problem="config/feeds.yaml: missing"), base_url=BASE
    )
    page = bare.get("/topics").text
    assert "caucasus-realignment" in page and "not in the current configuration" in page
    assert "Topic definitions unavailable: config/feeds.yaml: missing" in page
    assert bare.get(f"/hits/{ids[0]}").status_code == 200


def test_feeds_page_puts_trouble_first(desk: Desk) -> None:
    with desk.store.session(write=True) as s:
        from monitor.store import Feed

        f = s.get(Feed, 3)
        assert f is not None
        f.consecutive_failures, f.last_error, f.last_status = 4, "HTTP 503 <b>busy</b>", 503
        s.add(f)
    html = desk.client.get("/feeds").text
    names = re.findall(r"<tr class=\"st-([a-z-]+)\">\s*<td><b>([^<]+)</b>", html)
    assert names[0] == ("failing", "f1metrics") and {n for _, n in names[1:]} == {
        "world",
        "regional",
    }
    assert "HTTP 503 &lt;b&gt;busy&lt;/b&gt;" in html and "3 feeds, 1 in trouble" in html


def test_alerts_page_filters_by_status(desk: Desk) -> None:
    html = desk.client.get("/alerts").text
    assert "all <small>7</small>" in html and "sent <small>2</small>" in html
    failed = desk.client.get("/alerts?status=failed").text
    assert failed.count('class="chip st-failed"') == 1 and "smtp refused" in failed
    assert desk.client.get("/alerts?status=bogus").status_code == 200


# --- pieces -------------------------------------------------------------------------------


def test_term_patterns_match_the_classifiers_variants() -> None:
    def hits(term: str, text: str) -> list[str]:
        return re.findall(term_pattern(term), text, re.IGNORECASE)

    assert hits("visit", "a visit, two visits; visitors") == ["visit", "visits"]
    assert hits("Nagorno-Karabakh", "Nagorno Karabakh and Nagorno-Karabakh") == [
        "Nagorno Karabakh",
        "Nagorno-Karabakh",
    ]
    assert hits("Azerbaijan*", "Azerbaijani Azerbaijan's") == ["Azerbaijani", "Azerbaijan"]
    assert hits("treaty", "treaties and treaty") == ["treaties", "treaty"]
    assert hits("IRGC", "the IRGC, not irgc") == ["IRGC"]  # acronyms keep their case
    assert hits("Iran", "Iranian Iran’s") == ["Iran"]


def test_highlighter_escapes_and_prefers_longer_terms() -> None:
    ev = {
        "groups": {
            "azerbaijan": {"count": 2, "terms": {"Aliyev": 1, "Ilham Aliyev": 1}},
            "relation": {"count": 1, "terms": {"visit": 1}},
            "absent": {"count": 0, "terms": {"x": 1}},
        }
    }
    hl = Highlighter.for_evidence(ev, ["absent", "azerbaijan", "relation"])
    out = str(hl.mark("<b>Ilham Aliyev</b> & Aliyev visits"))
    assert out == (
        '&lt;b&gt;<mark class="hl g1" title="azerbaijan">Ilham Aliyev</mark>&lt;/b&gt;'
        ' &amp; <mark class="hl g1" title="azerbaijan">Aliyev</mark> '
        '<mark class="hl g2" title="relation">visits</mark>'
    )
    assert str(Highlighter.for_evidence({}).mark("<i>x</i>")) == "&lt;i&gt;x&lt;/i&gt;"
    assert [str(p) for p in hl.paragraphs("one\n\ntwo\nthree\n \n")] == ["one", "two", "three"]


def test_small_helpers() -> None:
    from datetime import UTC, date, datetime, timedelta

    from starlette.datastructures import QueryParams

    now = datetime(2025, 5, 1, 12, tzinfo=UTC)
    assert ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert ago(now + timedelta(hours=3), now) == "in 3 h" and ago(None) == "never"
    chart = bars({date(2025, 5, 1): 4, date(2025, 4, 30): 2}, days=3, today=date(2025, 5, 1))
    assert [b["n"] for b in chart["bars"]] == [0, 2, 4] and chart["max"] == 4
    assert [b["h"] for b in chart["bars"]] == [0, 24, 48]
    f, params, problems = parse_filters(
        QueryParams("from=2025-04-01&to=2025-04-30&within=7d"), now=now
    )
    assert f.since == datetime(2025, 4, 24, 12, tzinfo=UTC)  # the later of the two
    assert f.until == datetime(2025, 5, 1, tzinfo=UTC) and not problems


@pytest.mark.slow
def test_demo_says_how_to_open_its_database_in_the_desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.cli.demo import run_demo

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSMON_DB", "")  # the demo uses its own database, whatever this says
    lines: list[str] = []
    run_demo(
        ROOT / "config" / "topics.yaml", Path("demo-output"), use_prefect=False, echo=lines.append
    )
    web = [ln for ln in lines if " web" in ln and "--db" in ln]
    assert len(web) == 1 and "http://127.0.0.1:8080/" in web[0]
    args = web[0].split("#")[0].split()[1:]  # what the user would type, after "newsmon"
    db = args[args.index("--db") + 1]
    config = args[args.index("-c") + 1]
    store = Store(db)
    client = TestClient(create_app(store, load_config(config).topics), base_url=BASE)
    page = client.get("/hits/1")
    assert page.status_code == 200 and "Pezeshkian" in page.text and "<mark" in page.text
    store.close()


def test_labels_since_last_training_follow_the_learning_loop(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    hid = desk.hit_id(CAUCASUS_TITLE)
    desk.store.mark_hit(hid, "relevant")
    assert (
        "<b>1</b> label on this topic since last training (never trained)"
        in desk.client.get(f"/hits/{hid}").text
    )
    later = datetime.now(UTC) + timedelta(minutes=1)
    monkeypatch.setattr("monitor.desk.training.last_trained", lambda topic: later)
    page = desk.client.get(f"/hits/{hid}").text
    assert "<b>0</b> labels on this topic since last training (" in page
    assert 'id="retrain"' in page and "/topics/caucasus-realignment/model" in page
    topics = desk.client.get("/topics").text
    assert "labels since last training (" in topics and "never trained" not in topics


def test_a_hit_with_no_evidence_or_text_still_renders(desk: Desk) -> None:
    from monitor.store import NewArticle

    url = "https://news.example.org/bare"
    batch = desk.store.store_articles(
        [
            NewArticle(
                canonical_url=url,
                url=url,
                guid=None,
                title="",
                summary="",
                text=None,
                author=None,
                published_at=None,
                published_source="first_seen",
                language=None,
                fingerprint=None,
                extraction="failed",
                extraction_error="timeout <30 s>",
                sources=[],
                hits=[("old-topic", 0.3, "v0", {})],
            )
        ]
    )
    hid = (batch.hit_ids or [0])[0]
    page = desk.client.get(f"/hits/{hid}")
    assert page.status_code == 200
    assert "No text stored." in page.text and "timeout &lt;30 s&gt;" in page.text
    assert "no feed recorded" in page.text and "No alert was sent" in page.text
    assert desk.client.get("/hits?topic=old-topic").status_code == 200
    assert "old-topic" in desk.client.get("/topics").text


# --- labels from the list ---------------------------------------------------------------------


def test_labels_in_place_need_the_csrf_header_and_can_be_undone(desk: Desk) -> None:
    token = desk.csrf("/hits")
    a, b = (h.id for h, _ in desk.store.find_hits(limit=2).rows)
    desk.store.mark_hit(a or 0, "relevant", "kept note")
    body = {"items": [{"id": a, "label": "irrelevant"}, {"id": b, "label": "relevant"}]}
    refused = desk.client.post("/hits/labels", json=body)
    assert refused.status_code == 403 and desk.store.hit(b or 0)[0].label is None
    r = desk.client.post("/hits/labels", json=body, headers={"x-csrf-token": token})
    assert r.status_code == 200
    got = {i["id"]: i for i in r.json()["items"]}
    assert got[a]["previous_label"] == "relevant" and got[a]["note"] == "kept note"
    assert desk.store.hit(a or 0)[0].label == "irrelevant"
    assert desk.store.hit(b or 0)[0].label == "relevant"
    # Undo: the previous labels and notes, back as they were.
    undo = [
        {"id": i["id"], "label": i["previous_label"], "note": i["previous_note"]}
        for i in got.values()
    ]
    desk.client.post("/hits/labels", json={"items": undo}, headers={"x-csrf-token": token})
    assert (desk.store.hit(a or 0)[0].label, desk.store.hit(a or 0)[0].label_note) == (
        "relevant",
        "kept note",
    )
    assert desk.store.hit(b or 0)[0].label is None
    # Bad input: a 400 that says why, nothing stored.
    for bad in (
        {"items": [{"id": 2**70, "label": "relevant"}]},
        {"items": [{"id": a, "label": "maybe"}]},
        {"items": []},
        [1, 2],
    ):
        r = desk.client.post("/hits/labels", json=bad, headers={"x-csrf-token": token})
        assert r.status_code == 400 and r.json()["error"]
    r = desk.client.post(
        "/hits/labels",
        json={"items": [{"id": 424242, "label": "relevant"}]},
        headers={"x-csrf-token": token},
    )
    assert r.status_code == 404


def test_bulk_labels_work_as_a_plain_form_too(desk: Desk) -> None:
    token = desk.csrf("/hits")
    ids = [h.id for h, _ in desk.store.find_hits(limit=3).rows]
    r = desk.client.post(
        "/hits/labels",
        data={
            "csrf": token,
            "id": [str(i) for i in ids],
            "label": "irrelevant",
            "back": "/hits?label=irrelevant",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/hits?label=irrelevant"
    assert [desk.store.hit(i or 0)[0].label for i in ids] == ["irrelevant"] * 3


# --- the small things ---------------------------------------------------------------------


def test_a_form_from_before_a_restart_is_shown_again_with_a_fresh_token(desk: Desk) -> None:
    hid = desk.hit_id(CAUCASUS_TITLE)
    old = desk.csrf(f"/hits/{hid}")
    # The restart: a new app (new secret) over the same database; the browser keeps its
    # cookie and the page it had open.
    cookies = dict(desk.client.cookies)
    restarted = TestClient(
        create_app(desk.store, desk_topics()), base_url=BASE, follow_redirects=False
    )
    restarted.cookies.update(cookies)
    form = {"csrf": old, "label": "relevant", "note": "seen <twice>", "back": f"/hits/{hid}"}
    r = restarted.post(f"/hits/{hid}/label", data=form, headers={"origin": BASE})
    assert r.status_code == 409 and "Nothing was saved" in r.text
    assert "seen &lt;twice&gt;" in r.text and 'name="label" value="relevant"' in r.text
    assert desk.store.hit(hid)[0].label is None
    fresh = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text)
    assert fresh and fresh.group(1) != old
    again = restarted.post(
        f"/hits/{hid}/label", data={**form, "csrf": fresh.group(1)}, headers={"origin": BASE}
    )
    assert again.status_code == 303 and desk.store.hit(hid)[0].label == "relevant"
    # From another site, or with no Origin at all: refused as before, nothing replayed.
    for headers in ({"origin": "http://evil.example"}, {}):
        r = restarted.post(f"/hits/{hid}/label", data=form, headers=headers)
        assert r.status_code == 403 and "seen" not in r.text
    restarted.close()


def test_topic_names_snippets_and_no_database_url(desk: Desk) -> None:
    from monitor.desk.routes.hits import snippet

    html = desk.client.get("/hits").text
    names = {t.name for t in desk_topics()}
    shown = set(re.findall(r'<a class="topic" href="[^"]*" title="[^"]*">([^<]*)</a>', html))
    assert shown and shown <= names
    assert "sqlite:" not in html and str(desk.db) not in html
    assert ".." not in "".join(re.findall(r'<div class="snippet">([^<]*)</div>', html))
    long = "First sentence here. " + "word " * 60
    assert snippet(long, 21) == "First sentence here…"
    assert snippet("Ends with a stop.", 220) == "Ends with a stop."


def test_the_model_file_is_read_once_per_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.desk import training
    from monitor.topics import model as topic_model

    path = tmp_path / "t.active.json"
    monkeypatch.setattr(topic_model, "model_path", lambda t, kind="active", d=None: path)
    reads: list[Path] = []

    class Model:
        def __init__(self, p: Path) -> None:
            reads.append(p)
            self.trained_at = p.read_text()

    monkeypatch.setattr(topic_model, "load_model", Model)
    path.write_text("2026-01-02T03:04:05+00:00")
    for _ in range(5):
        assert training.last_trained("t") is not None
    assert len(reads) == 1
    path.write_text("2026-02-02T03:04:05.250+00:00")  # retrained: a new file
    assert training.last_trained("t").month == 2  # type: ignore[union-attr]
    assert len(reads) == 2


# --- hostile query parameters (issue 20, L1) ------------------------------------------------

HUGE = "9" * 25
CRAFTED = [
    HUGE,
    str(2**63),
    str(2**64),
    "-1",
    "0",
    "²",
    "١٢",
    "1e309",
    "nan",
    "inf",
    "%00",
    "1" * 300,
]


@pytest.mark.parametrize("value", CRAFTED)
def test_crafted_parameters_never_give_a_500(desk: Desk, value: str) -> None:
    paths = [
        f"/hits?before={value}",
        f"/hits?after={value}",
        f"/hits?feed={value}",
        f"/hits?min_score={value}&max_score={value}",
        f"/hits?from={value}&to={value}&within={value}&label={value}&lang={value}&q={value}",
        f"/hits/{value}",
        f"/hits/1?before={value}&feed={value}",
        f"/alerts?before={value}&status={value}",
        f"/hits/export?format=jsonl&feed={value}&min_score={value}",
        f"/login?next={value}",
    ]
    for path in paths:
        r = desk.client.get(path)
        assert r.status_code < 500, (path, r.status_code)
        assert "default-src 'none'" in r.headers["content-security-policy"], path
    token = desk.csrf("/hits")
    r = desk.client.post(f"/hits/{value}/label", data={"csrf": token, "label": "relevant"})
    assert 400 <= r.status_code < 500 and r.headers["content-security-policy"]


def test_huge_ids_are_not_found(desk: Desk) -> None:
    r = desk.client.get(f"/hits/{HUGE}")
    assert r.status_code == 404 and "no hit with id" in r.text
    assert r.headers["x-frame-options"] == "DENY"


def test_a_bug_still_answers_with_the_security_headers(desk: Desk) -> None:
    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("boom")

    desk.store.hit_topics = broken  # type: ignore[method-assign]
    client = TestClient(desk.client.app, base_url=BASE, raise_server_exceptions=False)
    r = client.get("/hits")
    assert r.status_code == 500 and "boom" not in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]


# --- ranking and views --------------------------------------------------------------------


def test_sort_by_score_pages_through_every_hit_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.deskdata import add_plain_hits

    add_plain_hits(desk.store, 9)
    monkeypatch.setattr("monitor.desk.routes.hits.PAGE_SIZE", 4)
    import html as htmllib

    seen: list[str] = []
    html = desk.client.get("/hits?sort=score").text
    while True:
        seen += [htmllib.unescape(t) for t in titles(html)]
        older = re.search(r'href="/hits\?([^"]*before=\d+[^"]*)" rel="next"', html)
        if not older:
            break
        html = desk.client.get("/hits?" + older.group(1).replace("&amp;", "&")).text
    scores = {a.title: h.score for h, a in desk.store.find_hits(limit=100).rows}
    assert len(seen) == len(scores) == len(set(seen))
    assert [scores[t] for t in seen] == sorted(scores.values(), reverse=True)
    assert titles(desk.client.get("/hits").text) != seen[:4]  # the default is newest first
    # Each row says its rank in its topic, which tells crowded scores apart.
    page = desk.client.get("/hits?topic=bulk-topic&sort=score").text
    assert re.findall(r"#(\d+) of 9<", page) == ["1", "2", "3", "4"]


def _group_into_stories(store: Store, sizes: list[int], article_ids: list[int]) -> None:
    """Stories of the given sizes over the articles, in order (the rest stay alone)."""
    with store.session(write=True) as s:
        at = 0
        for k, size in enumerate(sizes):
            members = article_ids[at : at + size]
            at += size
            s.add(Story(id=f"st{k}", n_articles=size, sources=[f"src{j}" for j in range(size)]))
            for a in members:
                s.add(StoryArticle(article_id=a, story_id=f"st{k}"))


def test_sort_by_story_size_pages_through_every_hit_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    import html as htmllib

    from sqlalchemy import delete

    from tests.support.deskdata import add_plain_hits

    with desk.store.session(write=True) as s:  # the demo run's stories: start with none
        s.execute(delete(StoryArticle))
        s.execute(delete(Story))
    assert 'value="story"' not in desk.client.get("/hits").text  # offered with stories only
    ids = add_plain_hits(desk.store, 12)
    with desk.store.session() as s:
        articles = [s.get(Hit, i).article_id for i in ids]  # type: ignore[union-attr]
    # Two stories of 3 (a tie: newest first), one of 2, one of 1; the rest have none.
    _group_into_stories(desk.store, [3, 2, 3, 1], articles)
    size = {a: n for a, n in zip(articles, [3, 3, 3, 2, 2, 3, 3, 3, 1], strict=False)}
    monkeypatch.setattr("monitor.desk.routes.hits.PAGE_SIZE", 4)
    pages: list[list[str]] = []
    html = desk.client.get("/hits?sort=story").text
    assert 'value="story" selected' in html and "story of 3 articles · 3 sources" in html
    while True:
        pages.append([htmllib.unescape(t) for t in titles(html)])
        older = re.search(r'href="/hits\?([^"]*before=\d+[^"]*)" rel="next"', html)
        if not older:
            break
        html = desk.client.get("/hits?" + older.group(1).replace("&amp;", "&")).text
    seen = [t for p in pages for t in p]
    rows = {a.title: (h, a) for h, a in desk.store.find_hits(limit=100).rows}
    assert len(seen) == len(rows) == len(set(seen))

    def key(t: str) -> tuple[int, object, int]:
        h, a = rows[t]
        return (size.get(a.id, 1), h.created_at, h.id)  # type: ignore[return-value]

    assert seen == sorted(rows, key=key, reverse=True)
    assert [size.get(rows[t][1].id, 1) for t in seen[:8]] == [3] * 6 + [2] * 2
    # Back up through the pages ("newer") gives the same pages in reverse.
    back = [pages[-1]]
    while True:
        newer = re.search(r'href="/hits\?([^"]*after=\d+[^"]*)" rel="prev"', html)
        if not newer:
            break
        html = desk.client.get("/hits?" + newer.group(1).replace("&amp;", "&")).text
        back.append([htmllib.unescape(t) for t in titles(html)])
    assert back[::-1] == pages
    # Filters apply: one topic's hits, in story order.
    html = desk.client.get("/hits?sort=story&topic=bulk-topic&n=25").text
    assert [htmllib.unescape(t) for t in titles(html)] == [
        t for t in seen if rows[t][0].topic_id == "bulk-topic"
    ]


def test_read_state_mark_all_read_and_saved_views(desk: Desk) -> None:
    token = desk.csrf("/hits")
    total = desk.store.count_hits()
    assert len(titles(desk.client.get("/hits?read=unread").text)) == total
    hid = desk.hit_id(CAUCASUS_TITLE)
    desk.client.get(f"/hits/{hid}")  # opening a hit reads it
    unread = titles(desk.client.get("/hits?read=unread").text)
    assert len(unread) == total - 1 and not any(CAUCASUS_TITLE in t for t in unread)
    # A saved view keeps the cleaned query; its count is of unread hits.
    r = desk.client.post(
        "/views",
        data={
            "csrf": token,
            "name": " Iran  morning ",
            "back": "/hits?topic=iran-nuclear&before=3&bogus=1",
        },
    )
    assert r.status_code == 303
    (view,) = desk.store.views()
    assert (view.name, view.query) == ("Iran morning", "topic=iran-nuclear")
    page = desk.client.get("/hits").text
    assert 'href="/hits?topic=iran-nuclear"' in page and "2 new" in page
    # Mark all read: for the list as filtered, every page.
    desk.client.post("/hits/read", data={"csrf": token, "back": "/hits?topic=iran-nuclear"})
    assert titles(desk.client.get("/hits?topic=iran-nuclear&read=unread").text) == []
    assert "0 new" in desk.client.get("/hits").text
    assert len(titles(desk.client.get("/hits?read=unread").text)) == total - 3
    desk.client.post(f"/views/{view.id}/delete", data={"csrf": token, "back": "/hits"})
    assert desk.store.views() == []


def test_page_size_is_one_of_three(desk: Desk) -> None:
    from tests.support.deskdata import add_plain_hits

    add_plain_hits(desk.store, 30)
    assert len(titles(desk.client.get("/hits?n=25").text)) == 25
    assert len(titles(desk.client.get("/hits?n=100").text)) == desk.store.count_hits()
    r = desk.client.get("/hits?n=7")
    assert "n must be one of 25, 50, 100" in r.text
    assert len(titles(r.text)) == min(50, desk.store.count_hits())
    older = re.search(r'href="/hits\?([^"]*)" rel="next"', desk.client.get("/hits?n=25").text)
    assert older and "n=25" in older.group(1)  # the size survives paging
