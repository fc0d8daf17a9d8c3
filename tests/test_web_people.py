"""The desk's people: user accounts with roles from the CLI, logins kept on the server
(logout ends them), throttled failures, Secure cookies behind HTTPS, and labels
attributed in an audit."""

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
PASSWORD = "a-long-enough-password"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{desk_db(tmp_path)}")
    yield s
    s.close()


def client(store: Store, **kw: object) -> TestClient:
    return TestClient(
        create_app(store, desk_topics(), **kw),  # type: ignore[arg-type]
        base_url=BASE,
        follow_redirects=False,
    )


def csrf(c: TestClient, path: str = "/login") -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', c.get(path).text)
    assert m
    return m.group(1)


def login(c: TestClient, name: str, password: str = PASSWORD) -> int:
    r = c.post(
        "/login",
        data={"csrf": csrf(c), "name": name, "password": password, "next": "/hits"},
    )
    return r.status_code


def test_users_from_the_cli(store: Store) -> None:
    runner = CliRunner()
    db = ["--db", store.url]
    r = runner.invoke(cli_app, [*db, "users", "add", "ana", "--role", "analyst"])
    assert r.exit_code == 0 and "password (shown once): " in r.output
    r = runner.invoke(
        cli_app,
        [*db, "users", "add", "vic", "--role", "viewer", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0 and "shown once" not in r.output
    assert runner.invoke(cli_app, [*db, "users", "add", "x", "--role", "boss"]).exit_code != 0
    assert runner.invoke(cli_app, [*db, "users", "add", "ana"]).exit_code != 0  # exists
    listed = runner.invoke(cli_app, [*db, "users", "list"]).output
    assert "ana" in listed and "viewer" in listed
    assert runner.invoke(cli_app, [*db, "users", "remove", "vic"]).exit_code == 0
    assert [u.name for u in store.users()] == ["ana"]


def test_roles_sessions_and_the_label_audit(store: Store) -> None:
    store.add_user("ana", "analyst", hash_password(PASSWORD))
    store.add_user("vic", "viewer", hash_password(PASSWORD))
    hid = store.find_hits(limit=1).rows[0][0].id or 0
    ana = client(store)
    assert ana.get("/hits").status_code == 303  # accounts exist: a login is needed
    assert login(ana, "ana", "wrong password!") == 401
    assert login(ana, "ana") == 303
    page = ana.get("/hits").text
    assert "ana <small>(analyst)</small>" in page
    token = csrf(ana, "/hits")
    r = ana.post(f"/hits/{hid}/label", data={"csrf": token, "label": "relevant", "note": "n1"})
    assert r.status_code == 303
    r = ana.post(
        "/hits/labels",
        json={"items": [{"id": hid, "label": "irrelevant"}]},
        headers={"x-csrf-token": token},
    )
    assert r.status_code == 200
    history = store.label_history(hid)
    assert [(e.user_name, e.previous_label, e.label) for e in history] == [
        ("ana", "relevant", "irrelevant"),
        ("ana", None, "relevant"),
    ]
    assert "by ana" in ana.get(f"/hits/{hid}").text
    # A viewer reads, but may not label.
    vic = client(store)
    assert login(vic, "vic") == 303
    vtoken = csrf(vic, "/hits")
    assert (
        vic.post(f"/hits/{hid}/label", data={"csrf": vtoken, "label": "clear"}).status_code == 403
    )
    r = vic.post(
        "/hits/labels",
        json={"items": [{"id": hid, "label": "clear"}]},
        headers={"x-csrf-token": vtoken},
    )
    assert r.status_code == 403 and store.hit(hid)[0].label == "irrelevant"
    # Logging out ends the session on the server: the old cookie is worth nothing.
    old = ana.cookies.get("newsmon_session")
    assert ana.post("/logout", data={"csrf": token}).status_code == 303
    replay = client(store)
    replay.cookies.set("newsmon_session", old or "")
    assert replay.get("/hits").status_code == 303
    # A session survives a restart of the desk (it lives in the database).
    assert login(vic, "vic") == 303
    restarted = client(store)
    restarted.cookies.set("newsmon_session", vic.cookies.get("newsmon_session") or "")
    assert restarted.get("/hits").status_code == 200


def test_a_non_hit_label_is_audited_and_follows_it_onto_its_hit(store: Store) -> None:
    """A label on an article that is no hit keeps who, when, note and every change,
    shown on the article page; when the article becomes a hit, the hit page shows that
    trail and the move."""
    store.add_user("ana", "analyst", hash_password(PASSWORD))
    store.add_user("bo", "analyst", hash_password(PASSWORD))
    topic = desk_topics()[0].id
    hit_articles = {h.article_id for h, _ in store.hits(topic=topic, limit=10_000)}
    aid = next(a.id for a in store.browse_articles(limit=200) if a.id not in hit_articles)
    assert aid is not None
    for name, label, note in (("ana", "irrelevant", "a marathon"), ("bo", "relevant", "lede")):
        c = client(store)
        assert login(c, name) == 303
        token = csrf(c, f"/articles/{aid}")
        r = c.post(
            f"/articles/{aid}/label",
            data={"csrf": token, "topic": topic, "label": label, "note": note},
        )
        assert r.status_code == 303
    page = c.get(f"/articles/{aid}").text
    card = page[page.index(f'data-topic="{topic}"') :]
    card = card[: card.index("</details>")]
    assert "Label history (2)" in card
    assert re.search(r"<b>bo</b>:\s+irrelevant → relevant “lede”", card)
    assert re.search(r"<b>ana</b>:\s+unreviewed → irrelevant “a marathon”", card)
    store.add_hits([(aid, topic, 0.9, "v9", {"score": 0.9})])
    hid = next(h.id for h, _ in store.hits(topic=topic, limit=10_000) if h.article_id == aid)
    page = c.get(f"/hits/{hid}").text
    assert "Label history (3)" in page
    assert f"became hit #{hid}, its label kept: relevant “lede”" in page
    assert "by bo" in page and re.search(r"<b>ana</b>:\s+unreviewed → irrelevant", page)


def test_a_viewer_may_not_rescan_near_misses(store: Store) -> None:
    store.add_user("vic", "viewer", hash_password(PASSWORD))
    topic = desk_topics()[0].id
    c = client(store)
    assert login(c, "vic") == 303
    page = c.get(f"/near-misses?topic={topic}").text
    assert 'action="/near-misses/rescan"' not in page  # no form offered
    token = csrf(c, "/hits")
    r = c.post("/near-misses/rescan", data={"csrf": token, "topic": topic})
    assert r.status_code == 403
    assert c.app.state.loop_jobs.running(topic) is None  # type: ignore[attr-defined]


def test_failed_logins_are_throttled(store: Store) -> None:
    store.add_user("ana", "analyst", hash_password(PASSWORD))
    c = client(store)
    for _ in range(5):
        assert login(c, "ana", "not the password") == 401
    # Now even the right password waits: guessing is slowed to 5 tries in 15 minutes.
    r = c.post("/login", data={"csrf": csrf(c), "name": "ana", "password": PASSWORD})
    assert r.status_code == 429 and "Too many failed logins" in r.text
    assert int(r.headers["retry-after"]) > 0
    # Another name from the same address is refused too (the address is counted).
    assert login(c, "bob", "whatever-password") == 429


def test_secure_cookies_behind_https(store: Store) -> None:
    store.add_user("ana", "analyst", hash_password(PASSWORD))

    def cookies(c: TestClient, headers: dict[str, str] | None = None) -> list[str]:
        c.get("/login", headers=headers)
        r = c.post(
            "/login",
            data={"csrf": csrf(c), "name": "ana", "password": PASSWORD},
            headers=headers,
        )
        return r.headers.get_list("set-cookie")

    plain = cookies(client(store))
    assert plain and not any("Secure" in x for x in plain)
    behind = cookies(client(store, behind_https=True))
    assert behind and all("Secure" in x for x in behind if "newsmon_session" in x)
    forwarded = cookies(client(store), {"x-forwarded-proto": "https"})
    assert any("newsmon_session" in x and "Secure" in x for x in forwarded)


def test_preferences_are_kept_per_user(store: Store) -> None:
    store.add_user("ana", "viewer", hash_password(PASSWORD))
    c = client(store)
    assert login(c, "ana") == 303
    token = csrf(c, "/hits")
    headers = {"x-csrf-token": token, "origin": BASE}
    r = c.post("/prefs", json={"advance": False, "sort": "story"}, headers=headers)
    assert r.status_code == 200 and r.json()["prefs"] == {"advance": False, "sort": "story"}
    assert c.post("/prefs", json={"sort": "time"}, headers=headers).json()["prefs"] == {
        "advance": False,
        "sort": "time",
    }
    for bad in ({"sort": "random"}, {"advance": "yes"}, {"colour": "red"}, [], {}):
        assert c.post("/prefs", json=bad, headers=headers).status_code == 400, bad
    # Without the CSRF token, or from another site: refused, nothing stored.
    assert c.post("/prefs", json={"sort": "score"}).status_code == 403
    evil = {"x-csrf-token": token, "origin": "https://evil.example"}
    assert c.post("/prefs", json={"sort": "score"}, headers=evil).status_code == 403
    assert store.preferences("ana") == {"advance": False, "sort": "time"}
    # The page brings them; removing the user removes them.
    assert 'data-prefs=\'{"advance": false, "sort": "time"}\'' in c.get("/hits").text
    store.remove_user("ana")
    assert store.preferences("ana") == {}


def test_without_accounts_preferences_stay_in_the_browser(store: Store) -> None:
    c = client(store)
    page = c.get("/hits").text
    assert "data-prefs" not in page and 'id="sort-default"' not in page
    token = csrf(c, "/hits")
    r = c.post("/prefs", json={"sort": "score"}, headers={"x-csrf-token": token, "origin": BASE})
    assert r.status_code == 400 and "per user account" in r.json()["error"]
