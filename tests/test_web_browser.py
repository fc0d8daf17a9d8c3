"""The review desk end to end in a real headless browser: Debian's chromium driven by
Playwright (``executable_path``; no browser is ever downloaded).

Skipped with a reason when chromium or Playwright is missing, except in CI
(CI=true), where that is a failure: `.ci/run` installs chromium.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.desk import create_app
from monitor.store import Store
from tests.support.deskdata import (
    CAUCASUS_TITLE,
    HOSTILE_TITLE,
    ROOT,
    add_plain_hits,
    desk_db,
    desk_topics,
)
from tests.support.pg_fixtures import in_ci
from tests.support.webserver import running

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Before Playwright starts its event loop in this thread: the pipeline runs asyncio.
    desk_db(tmp_path_factory.mktemp("desk"))


@pytest.fixture(scope="module")
def browser(built: None) -> Iterator[Any]:
    path = shutil.which("chromium")
    if path is None:
        _unavailable("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements.lock)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Desk:
    def __init__(self, base: str, store: Store, db: Path) -> None:
        self.base, self.store, self.db = base, store, db


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    db = desk_db(tmp_path)
    store = Store(f"sqlite:///{db}")
    app = create_app(store, desk_topics())
    with running(app) as base:
        yield Desk(base, store, db)
    store.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    yield pg
    context.close()


def newsmon_json(db: Path, *args: str) -> Any:
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "from monitor.cli import main; main()",
            "--db",
            f"sqlite:///{db}",
            *args,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(res.stdout)


def test_triage_a_hit_from_list_to_label(desk: Desk, page: Any) -> None:
    # The list, newest first.
    page.goto(f"{desk.base}/hits")
    assert page.locator("table.hits tbody tr").count() == desk.store.count_hits()
    # Filter by topic with the form.
    page.select_option("#f-topic", "caucasus-realignment")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/hits?*topic=caucasus-realignment*")
    topics = page.locator("table.hits a.topic").all_inner_texts()
    assert set(topics) == {"Caucasus realignment"} and len(topics) >= 2
    # Open the hit.
    page.get_by_role("link", name=CAUCASUS_TITLE, exact=False).click()
    page.wait_for_url("**/hits/*")
    hit_id = int(page.url.split("/hits/")[1].split("?")[0])
    assert CAUCASUS_TITLE in page.locator("h1.title").inner_text()
    # The evidence, highlighted by group, visibly.
    why = page.locator("section.why")
    assert why.locator("li").count() == 5
    baku = why.locator('mark[title="azerbaijan"]', has_text="Baku").first
    iran = why.locator('mark[title="iran"]', has_text="Iran").first
    colours = [m.evaluate("el => getComputedStyle(el).backgroundColor") for m in (baku, iran)]
    assert "rgba(0, 0, 0, 0)" not in colours and colours[0] != colours[1]
    assert page.locator("section.text mark.hl").count() > 100
    assert page.locator("svg.composition rect[class^=g]").count() >= 5
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-hit.png"))
    # Mark it irrelevant, with a note.
    page.fill("#labelform textarea[name=note]", "Analysis piece, not news")
    page.get_by_role("button", name="Irrelevant").click()
    page.wait_for_load_state()
    assert page.locator("#review .badge.irr").inner_text() == "irrelevant"
    assert "Analysis piece, not news" in page.locator("#review .note").inner_text()
    assert "topic=caucasus-realignment" in page.url  # back where we were
    # Stored in the database, and shown by the CLI.
    h, _ = desk.store.hit(hit_id)
    assert (h.label, h.label_note) == ("irrelevant", "Analysis piece, not news")
    rec = next(r for r in newsmon_json(desk.db, "hits") if r["id"] == hit_id)
    assert (rec["label"], rec["label_note"]) == ("irrelevant", "Analysis piece, not news")
    assert [r["id"] for r in newsmon_json(desk.db, "hits", "--label", "irrelevant")] == [hit_id]


def test_keyboard_shortcuts_label_and_move(desk: Desk, page: Any) -> None:
    page.goto(f"{desk.base}/hits?topic=iran-nuclear")
    page.locator("table.hits a.title").first.click()
    page.wait_for_url("**/hits/*")
    first = int(page.url.split("/hits/")[1].split("?")[0])
    page.keyboard.press("r")
    page.wait_for_selector("#review .badge.rel")
    # The label reloads the page: the badge can be parsed before the page's deferred
    # script has bound the keys, and a key pressed then is lost.
    page.wait_for_load_state("load")
    assert desk.store.hit(first)[0].label == "relevant"
    page.keyboard.press("j")  # the next older hit in the same filtered list
    page.wait_for_url(lambda url: f"/hits/{first}?" not in url)
    assert (
        "iran-nuclear" in page.locator(".kicker a.topic").inner_text().lower()
        or "Iran nuclear" in page.locator(".kicker a.topic").inner_text()
    )
    page.keyboard.press("u")
    page.wait_for_url("**/hits?topic=iran-nuclear")


def test_hostile_title_is_shown_as_text(desk: Desk, page: Any) -> None:
    page.goto(f"{desk.base}/hits?q=transit")
    link = page.locator("table.hits a.title")
    assert link.count() == 1 and link.inner_text() == HOSTILE_TITLE
    link.click()
    page.wait_for_url("**/hits/*")
    assert HOSTILE_TITLE.split(">")[0] in page.locator("h1.title").inner_text()
    assert page.locator("h1.title script, h1.title img").count() == 0
    page.goto(f"{desk.base}/alerts?status=failed")
    assert "onerror" in page.locator("table.alerts").inner_text()  # shown, not run
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.dialogs == []


def test_post_without_csrf_token_is_refused(desk: Desk, page: Any) -> None:
    hid = desk.store.find_hits(limit=1).rows[0][0].id
    page.goto(f"{desk.base}/hits/{hid}")
    # With the browser's own cookies, but without the token.
    r = page.request.post(f"{desk.base}/hits/{hid}/label", form={"label": "relevant"})
    assert r.status == 403
    # A form on another page posting to the desk (cross-site request forgery).
    page.goto("about:blank")
    page.set_content(f"""<form id=f method=post action="{desk.base}/hits/{hid}/label">
        <input name=label value=relevant></form>""")
    with page.expect_navigation():
        page.evaluate("document.getElementById('f').submit()")
    assert "Refused" in page.locator("h1").inner_text()
    assert "CSRF token is missing or wrong" in page.content()
    assert desk.store.hit(hid or 0)[0].label is None


def test_label_fifty_hits_from_the_list_with_the_keyboard(desk: Desk, page: Any) -> None:
    ids = set(add_plain_hits(desk.store, 50))
    loads: list[str] = []
    page.goto(f"{desk.base}/hits?topic=bulk-topic")
    page.on("load", lambda: loads.append(page.url))
    page.evaluate("window.__same_page = 1")
    rows = page.locator("table.hits tbody tr")
    assert rows.count() == 50
    presses = 0
    for n in range(50):
        # The labels alternate, so that each stored label is the one pressed.
        page.keyboard.press("r" if n % 2 == 0 else "i")
        presses += 1
    page.wait_for_function("() => document.body.dataset.pending === '0'")
    assert presses <= 60
    assert loads == [] and page.evaluate("window.__same_page") == 1  # no page load
    shown = page.locator("table.hits tbody tr .badge").all_inner_texts()
    want = ["relevant" if n % 2 == 0 else "irrelevant" for n in range(50)]
    assert shown == want
    # Every label in the database, in the list's order.
    listed = [int(x) for x in rows.evaluate_all("rs => rs.map(r => r.dataset.hit)")]
    assert set(listed) == ids
    assert [desk.store.hit(i)[0].label for i in listed] == want
    # u undoes the last label; then x selects two and one key labels both.
    page.keyboard.press("u")
    page.wait_for_function("() => document.body.dataset.pending === '0'")
    assert desk.store.hit(listed[-1])[0].label is None
    page.keyboard.press("k")
    page.keyboard.press("k")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("c")
    page.wait_for_function("() => document.body.dataset.pending === '0'")
    assert [desk.store.hit(i)[0].label for i in listed[-3:-1]] == [None, None]
    assert desk.store.hit(listed[-4])[0].label == want[-4]
    assert loads == []


def test_advance_preference_is_remembered(desk: Desk, page: Any) -> None:
    add_plain_hits(desk.store, 3)
    page.goto(f"{desk.base}/hits?topic=bulk-topic")
    page.uncheck("#advance-pref")
    page.keyboard.press("r")
    page.wait_for_function("() => document.body.dataset.pending === '0'")
    page.reload()
    assert not page.is_checked("#advance-pref")
    page.keyboard.press("i")  # stays on the first row: both presses label it
    page.wait_for_function("() => document.body.dataset.pending === '0'")
    first = int(page.locator("table.hits tbody tr").first.get_attribute("data-hit"))
    assert desk.store.hit(first)[0].label == "irrelevant"
    # The hit page's "then open the next older hit" follows the same choice.
    page.goto(f"{desk.base}/hits/{first}?topic=bulk-topic")
    assert not page.is_checked("#advance")
    page.check("#advance")
    page.goto(f"{desk.base}/hits?topic=bulk-topic")
    assert page.is_checked("#advance-pref")


PASSWORD = "a-long-enough-password"


def _log_in(browser: Any, base: str, name: str) -> tuple[Any, Any]:
    """A fresh browser context (no cookies, no local storage) logged in as ``name``."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.goto(f"{base}/login?next=/hits")
    pg.fill('input[name="name"]', name)
    pg.fill('input[name="password"]', PASSWORD)
    pg.click('button:has-text("Log in")')
    pg.wait_for_url("**/hits**")
    return context, pg


def test_preferences_follow_the_user_not_the_browser(desk: Desk, browser: Any) -> None:
    from monitor.desk.accounts import hash_password

    add_plain_hits(desk.store, 3)
    for name in ("ana", "bob"):
        desk.store.add_user(name, "analyst", hash_password(PASSWORD))
    ctx, pg = _log_in(browser, desk.base, "ana")
    pg.goto(f"{desk.base}/hits?topic=bulk-topic")
    assert pg.is_checked("#advance-pref")  # the default
    pg.uncheck("#advance-pref")
    pg.select_option("#f-sort", "score")
    pg.click("#sort-default")
    pg.wait_for_function("() => document.body.dataset.saving === '0'")
    assert pg.inner_text("#sort-default") == "your default sort"
    ctx.close()
    assert desk.store.preferences("ana") == {"advance": False, "sort": "score"}
    # Another browser, the same user: both preferences are in effect from the first page.
    ctx, pg = _log_in(browser, desk.base, "ana")
    pg.goto(f"{desk.base}/hits")
    assert pg.eval_on_selector("#f-sort", "s => s.value") == "score"
    order = pg.locator("table.hits tbody tr").evaluate_all("rows => rows.map(r => +r.dataset.hit)")
    by_score = [h.id for h, _ in desk.store.find_hits_by_score(limit=len(order)).rows]
    assert order == by_score
    pg.goto(f"{desk.base}/hits?topic=bulk-topic")
    assert not pg.is_checked("#advance-pref")
    pg.keyboard.press("r")  # no advance: the cursor stays on the first row
    pg.wait_for_function("() => document.body.dataset.pending === '0'")
    assert pg.eval_on_selector("tr.cursor", "r => r.dataset.hit") == pg.locator(
        "table.hits tbody tr"
    ).first.get_attribute("data-hit")
    first = int(pg.locator("table.hits tbody tr").first.get_attribute("data-hit"))
    pg.goto(f"{desk.base}/hits/{first}?topic=bulk-topic")
    pg.check("#advance")  # the hit page's choice is the same preference
    pg.wait_for_function("() => document.body.dataset.saving === '0'")
    assert desk.store.preferences("ana")["advance"] is True
    # "Newest first" named in the URL wins over the default, and stays in the links.
    pg.goto(f"{desk.base}/hits?sort=time")
    assert pg.eval_on_selector("#f-sort", "s => s.value") == "time"
    assert "sort=time" in (pg.locator("a.title").first.get_attribute("href") or "")
    ctx.close()
    # Another user keeps the defaults, in a browser of their own.
    ctx, pg = _log_in(browser, desk.base, "bob")
    pg.goto(f"{desk.base}/hits?topic=bulk-topic")
    assert pg.eval_on_selector("#f-sort", "s => s.value") == "time"
    assert pg.is_checked("#advance-pref")
    ctx.close()
    assert desk.store.preferences("bob") == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_list_with_an_account_is_accessible(
    desk: Desk, browser: Any, axe: str, scheme: str
) -> None:
    """What only a user account shows (the default-sort button, the user's name) and
    the story sizes pass the same checks, on a phone."""
    from monitor.desk.accounts import hash_password
    from tests.support.axe import violations

    desk.store.add_user("ana", "analyst", hash_password(PASSWORD))
    ctx, pg = _log_in(browser, desk.base, "ana")
    try:
        pg.set_viewport_size({"width": 390, "height": 900})
        pg.emulate_media(color_scheme=scheme)
        pg.goto(f"{desk.base}/hits?sort=story")
        assert pg.is_visible("#sort-default")
        assert violations(pg, axe) == []
        assert pg.evaluate("() => document.documentElement.scrollWidth") <= 390
    finally:
        ctx.close()


def test_keys_help_and_bulk_buttons(desk: Desk, page: Any) -> None:
    add_plain_hits(desk.store, 4)
    page.goto(f"{desk.base}/hits?topic=bulk-topic")
    page.keyboard.press("?")
    assert page.locator("dialog#keys").is_visible()
    page.keyboard.press("Escape")
    page.check("#select-all")
    assert page.locator("#selcount").inner_text() == "4 selected"
    page.locator(".bulkbar").get_by_role("button", name="Irrelevant").click()
    page.wait_for_function("() => document.body.dataset.pending === '0'")
    ids = [
        int(x)
        for x in page.locator("table.hits tbody tr").evaluate_all(
            "rs => rs.map(r => r.dataset.hit)"
        )
    ]
    assert [desk.store.hit(i)[0].label for i in ids] == ["irrelevant"] * 4


PAGES = [
    "/hits",
    "/hits/{hit}",
    "/topics",
    "/topics/caucasus-realignment/model",
    "/topics/new",
    "/feeds",
    "/alerts",
    "/hits?topic=nope",
    "/near-misses?topic=iran-nuclear",
    "/articles",
    "/articles/{article}?topic=iran-nuclear",
]
SCREENS = (  # saved at 390 and 1280 px, light and dark (docs/desk.md shows them)
    ("list", "/hits"),
    ("hit", "/hits/{hit}"),
    ("near-misses", "/near-misses?topic=iran-nuclear"),
    ("articles", "/articles"),
    ("article", "/articles/{article}?topic=iran-nuclear"),
)


@pytest.fixture(scope="module")
def axe() -> str:
    from tests.support.axe import axe_source

    try:
        src = axe_source()
    except (OSError, subprocess.SubprocessError) as exc:
        src = None
        reason = f"axe-core could not be installed with npm: {exc}"
    else:
        reason = "npm is not installed: axe-core cannot be fetched"
    if src is None:
        _unavailable(reason)
    assert src is not None
    return src


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [360, 390, 768, 1280])
def test_every_page_is_accessible_at_every_width(
    desk: Desk, browser: Any, axe: str, width: int, scheme: str
) -> None:
    from tests.support.axe import violations

    hit = desk.store.find_hits(limit=1).rows[0][0].id
    # a near miss taught, then changed: its page shows the label history
    article = desk.store.near_misses("iran-nuclear")[0][1].id or 0
    desk.store.mark_article(article, "iran-nuclear", "irrelevant", "background piece", by="ana")
    desk.store.mark_article(article, "iran-nuclear", "relevant", "names the talks", by="bo")
    ids = {"hit": hit, "article": article}
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    problems: dict[str, Any] = {}
    try:
        for path in PAGES:
            page.goto(desk.base + path.format(**ids))
            found = violations(page, axe)
            if found:
                problems[path] = found
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            if width <= 390 and wide > width:
                problems.setdefault(path, []).append({"rule": "horizontal scroll", "width": wide})
            bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
            dark = sum(int(x) for x in bg[bg.index("(") + 1 : -1].split(",")[:3]) < 200
            if dark != (scheme == "dark"):
                problems.setdefault(path, []).append({"rule": "colour scheme", "bg": bg})
        if width in (390, 1280):
            ARTIFACTS.mkdir(exist_ok=True)
            for name, path in SCREENS:
                page.goto(desk.base + path.format(**ids))
                if name == "article":  # the topic it was opened for, with its history
                    page.locator(".standing.focus").scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / f"desk-{name}-{width}-{scheme}.png"))
    finally:
        context.close()
    assert problems == {}, json.dumps(problems, indent=1)


def test_focus_is_visible(desk: Desk, page: Any) -> None:
    page.goto(f"{desk.base}/hits")
    for _ in range(4):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }"
        )
        assert outline[0] != "none" and outline[1] != "0px" or outline[2] != "none", outline
