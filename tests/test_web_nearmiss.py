"""Near misses and all articles on the review desk, in real Chromium: the inbox of what a
topic almost found (kept by the real pipeline over the demo world), "Teach as hit" /
"Not a hit" by button and by key, the list and search of every stored article, and the
label stored as training reads it. Skipped as test_web_browser.py is without chromium.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.desk import create_app
from monitor.store import Store
from tests.support.deskdata import HOSTILE_TITLE, ROOT, desk_db, desk_topics
from tests.support.pg_fixtures import in_ci
from tests.support.webserver import running

pytestmark = pytest.mark.slow

TOPIC = "iran-nuclear"
ARTIFACTS = ROOT / "test-artifacts"


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> None:
    desk_db(tmp_path_factory.mktemp("desk"))  # before Playwright's event loop


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
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    store = Store(f"sqlite:///{desk_db(tmp_path)}")
    with running(create_app(store, desk_topics())) as base:
        yield base, store
    store.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def _ids(page: Any) -> list[int]:
    return [
        int(x)
        for x in page.locator("#review-list tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.article)"
        )
    ]


def test_teach_near_misses_from_the_inbox(desk: tuple[str, Store], page: Any) -> None:
    base, store = desk
    inbox = [a.id for _, a in store.near_misses(TOPIC)]
    assert len(inbox) >= 2  # the real pipeline kept them over the demo world
    page.goto(f"{base}/topics")
    page.locator(f"#topic-{TOPIC} a", has_text="near misses").click()
    page.wait_for_url(f"**/near-misses?topic={TOPIC}")
    assert _ids(page) == inbox  # most worth a look first, as the store orders them
    assert page.locator("header.top nav a.active").inner_text() == "Near misses"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-near-misses.png"))
    # by key: j to the second row, i "Not a hit": it leaves the inbox, stored for training
    page.keyboard.press("j")
    page.keyboard.press("i")
    from playwright.sync_api import expect

    expect(page.locator("#review-list tbody tr")).to_have_count(len(inbox) - 1)
    assert store.topic_labels(TOPIC) == {inbox[1]: "irrelevant"}
    assert _ids(page) == [inbox[0]] + inbox[2:]
    # "Teach as hit" by button on the first
    row = page.locator("#review-list tbody tr").first
    row.get_by_role("button", name="Teach as hit").click()
    page.wait_for_load_state()
    assert store.topic_labels(TOPIC)[inbox[0]] == "relevant"
    assert inbox[0] not in _ids(page)
    # the reviewed ones, under their own tab
    page.get_by_role("link", name="taught as hit").click()
    page.wait_for_url("**label=relevant")
    assert _ids(page) == [inbox[0]]
    assert page.locator("#review-list .badge.rel").inner_text() == "teach as hit"


def test_all_articles_search_and_label_any_article(desk: tuple[str, Store], page: Any) -> None:
    base, store = desk
    everything = [a.id for a in store.browse_articles(limit=50)]
    page.goto(f"{base}/hits")
    page.get_by_role("link", name="All articles").click()
    page.wait_for_url("**/articles")
    assert _ids(page) == everything and len(everything) > store.count_hits()
    # a hostile title is shown as text, on the list and on its article page
    assert HOSTILE_TITLE in page.locator("#review-list").inner_text()
    page.get_by_role("link", name=HOSTILE_TITLE).click()
    page.wait_for_url("**/articles/*")
    assert page.locator("h1.title").inner_text() == HOSTILE_TITLE
    assert page.locator("h1.title script, h1.title img").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.go_back()
    page.fill("#search", "Gaza")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/articles?q=Gaza*")
    found = [a.id for a in store.browse_articles(search="Gaza")]
    assert found and _ids(page) == found
    # an article that is no hit for the topic: open it, "Not a hit" with a note
    page.locator("#review-list a.title").first.click()
    page.wait_for_url(f"**/articles/{found[0]}")
    page.screenshot(path=str(ARTIFACTS / "web-article.png"))
    card = page.locator(f'.standing[data-topic="{TOPIC}"]')
    card.locator("input[name=note]").fill("background piece")
    card.get_by_role("button", name="Not a hit").click()
    page.wait_for_load_state()
    assert page.locator(f'.standing[data-topic="{TOPIC}"] .badge.irr').inner_text() == "not a hit"
    row = next(n for n, a in store.near_misses(TOPIC, label="irrelevant") if a.id == found[0])
    assert (row.label_note, row.labeled_by) == ("background piece", "")
    assert store.topic_labels(TOPIC)[found[0]] == "irrelevant"
    # changed to "Teach as hit": both changes in the article's label history, with notes
    card = page.locator(f'.standing[data-topic="{TOPIC}"]')
    card.locator("input[name=note]").fill("the lede names both")
    card.get_by_role("button", name="Teach as hit").click()
    page.wait_for_load_state()
    history = page.locator(f'.standing[data-topic="{TOPIC}"] details.history')
    history.locator("summary").click()
    steps = history.locator("li").all_inner_texts()
    assert len(steps) == 2, steps
    assert "irrelevant → relevant" in steps[0] and "the lede names both" in steps[0]
    assert "unreviewed → irrelevant" in steps[1] and "background piece" in steps[1]
    assert all("as a non-hit" in x and "shared login" in x for x in steps)


def test_label_without_csrf_token_is_refused(desk: tuple[str, Store], page: Any) -> None:
    base, store = desk
    aid = store.browse_articles(limit=1)[0].id
    page.goto(f"{base}/articles/{aid}")
    r = page.request.post(
        f"{base}/articles/{aid}/label", form={"label": "relevant", "topic": TOPIC}
    )
    assert r.status == 403
    assert store.topic_labels(TOPIC).get(aid or 0) is None


def test_rescan_from_the_inbox_runs_as_a_job(desk: tuple[str, Store], page: Any) -> None:
    """A database whose near misses are gone (stored before they were kept): "Rescan"
    on the inbox re-scores the stored articles in a worker process, the page refreshing
    itself until the result is shown, and the inbox is filled as the CLI's rescan does."""
    from playwright.sync_api import expect

    base, store = desk
    kept = [a.id for _, a in store.near_misses(TOPIC)]
    assert kept
    store.refresh_near_misses(TOPIC, [a.id or 0 for a in store.browse_articles(limit=500)], [])
    assert store.near_misses(TOPIC) == []
    page.goto(f"{base}/near-misses?topic={TOPIC}")
    assert "No near misses waiting" in page.locator("main").inner_text()
    # without the CSRF token: refused, nothing started
    r = page.request.post(f"{base}/near-misses/rescan", form={"topic": TOPIC})
    assert r.status == 403
    page.get_by_role("button", name="Rescan").click()
    expect(page.locator("#rescan .running")).to_contain_text("Rescanning")
    expect(page.locator("#rescan .done")).to_contain_text("near misses", timeout=90_000)
    done = page.locator("#rescan .done").inner_text()
    assert re.search(r"Rescanned [\d,]+ stored articles \(rules only\): \d+ near misses", done)
    found = int(re.search(r": (\d+) near misses", done).group(1))  # type: ignore[union-attr]
    inbox = [a.id for _, a in store.near_misses(TOPIC)]
    assert _ids(page) == inbox and len(inbox) == found
    # what the pipeline kept is found again (and the synthetic articles stored
    # without near misses are scored too)
    assert set(kept) <= set(inbox)
    page.screenshot(path=str(ARTIFACTS / "web-near-misses-rescan.png"))
