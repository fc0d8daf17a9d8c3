"""The learning loop from the desk: train a topic's model in the background, test it
against the stored history (new and dropped hits with their evidence, the warnings),
activate it (a confirmation when the test warned) and roll back - over HTTP with the
desk's CSRF and roles, and in real Chromium. A real model, trained on the labels of
the learning tests' database (demo pages and multilingual texts, reviewed)."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

with warnings.catch_warnings():  # "install httpx2": the test client works with httpx as is
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from monitor.config import load_config
from monitor.demo.servers import WebhookReceiver
from monitor.desk import create_app
from monitor.desk.accounts import hash_password
from monitor.desk.learning import LoopJobs
from monitor.store import Store
from monitor.topics.model import load_model, model_path, save_model
from monitor.topics.review import load_pool, train_topic
from tests import test_topics_learn as learn
from tests import test_topics_loop as loop
from tests.test_topics_learn import TOPIC

stored_items = learn.stored_items
world = learn.world
PAGE = f"/topics/{TOPIC}/model"
PASSWORD = "a-long-enough-password"


def app_for(w: dict[str, Any], isolate: bool = False) -> tuple[Store, Any]:
    """The desk over the learning tests' database. Jobs run in the desk's thread here
    (a spawned process costs seconds per job); the Chromium test runs them as the desk
    does by default, in a worker process."""
    store = Store(w["db"])
    config = load_config(w["cfg"])
    app = create_app(store, config.topics, config=config)
    if not isolate:
        app.state.loop_jobs = LoopJobs(isolate=False)
    return store, app


@pytest.fixture
def desk(world: dict[str, Any]) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    loop._hit_the_rules_no_longer_find(world, "fa", None)  # a Persian hit a model drops
    store, app = app_for(world)
    with TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False) as c:
        yield c, world
    store.close()


def csrf(c: TestClient, path: str = PAGE) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', c.get(path).text)
    assert m, "the model page carries a CSRF token"
    return m.group(1)


def settled(c: TestClient, timeout: float = 120) -> str:
    """The model page once no job of the topic runs (it refreshes itself until then)."""
    deadline = time.monotonic() + timeout
    while True:
        r = c.get(PAGE)
        assert r.status_code == 200
        if 'id="running"' not in r.text:
            assert "refresh" not in r.headers
            return r.text
        assert r.headers["refresh"] == "2"
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.2)


def post(c: TestClient, action: str, **data: str) -> Any:
    return c.post(f"/topics/{TOPIC}/{action}", data={"csrf": csrf(c), **data})


def said(r: Any) -> str:
    """The message a POST's redirect carries back to the page."""
    return unquote(r.headers["location"])


def active_id(w: dict[str, Any]) -> str | None:
    path = model_path(TOPIC, "active", w["models"])
    return load_model(path).model_id if path.exists() else None


def test_train_test_activate_and_roll_back_over_http(
    desk: tuple[TestClient, dict[str, Any]],
) -> None:
    c, w = desk
    page = c.get(PAGE).text
    assert "none: rules alone decide" in page and "No candidate: train one" in page
    assert c.post(f"/topics/{TOPIC}/train", data={"csrf": "x" * 64}).status_code == 403
    assert c.get("/topics/no-such-topic/model").status_code == 404

    r = post(c, "train")
    assert r.status_code == 303 and r.headers["location"] == PAGE
    page = settled(c)
    first = load_model(model_path(TOPIC, "candidate", w["models"])).model_id
    assert f"Trained candidate <code>{first}</code>" in page
    assert "4 reviewed relevant, 3 irrelevant" in page
    assert 'id="test-first"' in page and 'id="do-activate"' not in page
    r = post(c, "activate")
    assert "test%20candidate" in r.headers["location"] and active_id(w) is None

    assert post(c, "test", model="candidate").status_code == 303
    page = settled(c)
    assert f"the candidate model <code>{first}</code>" in page
    assert "Warning: drops 1 hit(s) in fa, where the topic has 0 label(s)" in page
    lost = page[page.index('id="lost-hits"') :]
    assert "گزارش هواشناسی تهران" in lost and "rule failed" in lost
    assert 'id="confirm"' in page
    # the test warned: without the confirmation ticked, nothing is activated
    r = post(c, "activate")
    assert "tick%20the%20confirmation" in r.headers["location"] and active_id(w) is None
    r = post(c, "activate", confirm="yes")
    assert r.status_code == 303 and "is%20active" in r.headers["location"]
    assert active_id(w) == first
    assert "No candidate: train one" in c.get(PAGE).text
    # retrained on the same labels: the learner chooses as before, the same model - said
    # plainly, with no candidate to activate (nor, after it, a rollback to the same)
    post(c, "train")
    page = settled(c)
    assert (
        f"Trained <code>{first}</code>: the same as the active model, nothing to activate" in page
    )
    assert 'id="nothing-to-activate"' in page and 'id="do-activate"' not in page
    assert not model_path(TOPIC, "candidate", w["models"]).exists() and active_id(w) == first

    # one more label (the Persian text is not the topic), a second model
    store = Store(w["db"])
    fa = next(h for h, a in store.hits(topic=TOPIC, limit=500) if a.url.endswith("old-fa"))
    store.mark_hit(fa.id or 0, "irrelevant")
    # With these eight labels the default learner keeps what it kept with seven (the
    # same model, the same id); a different candidate, as `newsmon topics train
    # --learner prevalence` saves it, is what there is to roll back from.
    topic = next(t for t in load_config(w["cfg"]).topics if t.id == TOPIC)
    rep = train_topic(topic, load_pool(store, topic, config_dir=w["cfg"]), learner="prevalence")
    store.close()
    save_model(rep.model, "candidate", w["models"])
    second = rep.model.model_id
    post(c, "test")
    settled(c)
    post(c, "activate", confirm="yes")
    assert active_id(w) == second != first
    page = c.get(PAGE).text
    assert f"Roll back to {first}" in page
    r = post(c, "rollback")
    assert r.status_code == 303 and active_id(w) == first
    assert f"model {first} is active again" in c.get(r.headers["location"]).text


def test_roles_train_is_for_analysts_activate_for_admins(world: dict[str, Any]) -> None:
    store, app = app_for(world)
    store.add_user("vic", "viewer", hash_password(PASSWORD))
    store.add_user("ana", "analyst", hash_password(PASSWORD))
    clients = {}
    for name in ("vic", "ana"):
        c = TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False)
        token = csrf(c, "/login")
        r = c.post("/login", data={"csrf": token, "name": name, "password": PASSWORD})
        assert r.status_code == 303
        clients[name] = c
    vic, ana = clients["vic"], clients["ana"]
    assert vic.get(PAGE).status_code == 200  # a viewer reads
    assert post(vic, "train").status_code == 403
    assert post(ana, "train").status_code == 303
    settled(ana)
    post(ana, "test")
    settled(ana)
    assert post(ana, "activate", confirm="yes").status_code == 403
    assert post(ana, "rollback").status_code == 403
    assert post(ana, "store", alert="yes").status_code == 403
    assert active_id(world) is None
    # the hit page's Retrain starts the same job, for an analyst
    hid = next(h.id for h, _ in store.hits(topic=TOPIC, limit=1))
    assert 'id="retrain"' in ana.get(f"/hits/{hid}").text
    assert 'id="retrain"' not in vic.get(f"/hits/{hid}").text
    for c in clients.values():
        c.close()
    store.close()


def test_store_a_tests_new_hits_and_alert_them_once(
    world: dict[str, Any], webhook: WebhookReceiver
) -> None:
    from monitor.alerts.send import deliver

    loop._lower_threshold(world)  # a broader definition finds more in the history
    loop._route_to(world, webhook)
    store, app = app_for(world)
    with TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False) as c:
        assert "test against the history first" in said(post(c, "store"))
        post(c, "test", model="none")
        page = settled(c)
        n = page[page.index('id="new-hits"') : page.index('id="lost-hits"')].count("<tr>") - 1
        assert n > 0 and f"Store these {n} new hits" in page
        r = post(c, "store", alert="yes")
        assert f"{n} new hits stored, {n} alert deliveries queued" in said(r)
        assert deliver(store, load_config(world["cfg"])).sent == n
        assert len(webhook.received) == n
        r = post(c, "store", alert="yes")  # the same test's hits again: nothing twice
        assert "0 new hits stored, 0 alert deliveries queued" in said(r)
        assert deliver(store, load_config(world["cfg"])).sent == 0
        assert len(webhook.received) == n
    store.close()


@pytest.mark.slow
def test_the_loop_in_chromium(world: dict[str, Any], tmp_path: Any) -> None:
    import shutil

    from tests.support.webserver import running
    from tests.test_web_browser import CHROMIUM_ARGS, _unavailable

    path = shutil.which("chromium")
    if path is None:
        _unavailable("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    loop._hit_the_rules_no_longer_find(world, "fa", None)
    store, app = app_for(world, isolate=True)
    hid = next(h.id for h, _ in store.hits(topic=TOPIC, limit=1))
    with running(app) as base, sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        pg = b.new_page(viewport={"width": 1280, "height": 1000})
        pg.set_default_timeout(60_000)
        pg.goto(f"{base}/hits/{hid}")
        pg.click("#retrain")  # from the hit page: a candidate, in the background
        pg.wait_for_url(f"{base}{PAGE}")
        pg.wait_for_selector("#trained")  # the page refreshed itself until done
        assert "Trained candidate" in pg.inner_text("#trained")
        pg.select_option("#test-model", "candidate")
        pg.click("#run-test")
        pg.wait_for_selector("#test-summary")
        warning = pg.inner_text("#test .warning")
        assert "in fa, where the topic has 0 label(s)" in warning
        assert "گزارش هواشناسی تهران" in pg.inner_text("#lost-hits")
        # the browser will not submit without the confirmation ticked
        pg.click("#do-activate")
        assert pg.url == f"{base}{PAGE}" and active_id(world) is None
        pg.check("#confirm")
        pg.click("#do-activate")
        pg.wait_for_selector("#done")
        assert "is active" in pg.inner_text("#done")
        assert active_id(world) is not None
        pg.screenshot(path=str(tmp_path / "model.png"), full_page=True)
        b.close()
    store.close()
