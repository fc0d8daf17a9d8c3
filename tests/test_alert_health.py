"""Route health and "alerting is broken": a channel that keeps failing is news for the
other routes, told once per failure episode, then once "recovered".

Real parts: a loopback webhook answering 500 (WebhookReceiver), a real SMTP server
(aiosmtpd), the real pipeline (``run_cycle`` over the demo world) and CLI, real SQLite
files and a throwaway PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import select
from typer.testing import CliRunner

from monitor.alerts.health import check_health, route_health
from monitor.alerts.routes import AlertHealth, Route, target_key
from monitor.alerts.send import deliver
from monitor.cli import app
from monitor.config import AlertSettings, Config, FeedConfig, Settings, load_config
from monitor.demo.servers import SmtpReceiver, WebhookReceiver, free_port
from monitor.demo.world import world
from monitor.errors import ConfigError
from monitor.pipeline.cycle import run_cycle
from monitor.store import Delivery, HealthAlert, Store, migrate, utcnow
from monitor.store.engine import make_engine
from tests.support.alerting import add_hits, table

ROOT = Path(__file__).resolve().parent.parent
NEWSMON = Path(sys.executable).parent / "newsmon"
TOPICS = load_config(ROOT / "config").topics
SECRET = "hunter2secret"
runner = CliRunner()


def secret_hook(hook: WebhookReceiver) -> str:
    return f"json://newsmon:{SECRET}@{hook.host}:{hook.port}/hook"


def masked_hook(hook: WebhookReceiver) -> str:
    return f"json://newsmon:****@{hook.host}:{hook.port}/hook"


def smtp_url(port: int) -> str:
    return (
        f"mailto://127.0.0.1:{port}?from=newsmon@example.org&to=desk@example.org"
        f"&mode=insecure&login=newsmon&pass=x&cto=2"
    )


def broken(mails: list[Any]) -> list[Any]:
    return [m for m in mails if "alerting is broken" in str(m["Subject"])]


def recovered(mails: list[Any]) -> list[Any]:
    return [m for m in mails if "alerting recovered" in str(m["Subject"])]


def cli(config_dir: Path | None, db: str, *args: str) -> str:
    base = ["--db", db] + (["--config", str(config_dir)] if config_dir else [])
    r = runner.invoke(
        app,
        base + list(args),
        env={"NEWSMON_CONFIG": None, "NEWSMON_DB": None},
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    return str(r.stdout)


def routes_json(config_dir: Path, db: str) -> dict[str, dict[str, Any]]:
    data = json.loads(cli(config_dir, db, "alerts", "--routes", "--json"))
    return {r["route"]: r for r in data["routes"]}


def route_line(out: str, route: str) -> list[str]:
    """The route health table's line for ``route`` (the first table of `alerts`)."""
    table = out.split("\n\n")[0].splitlines()
    lines = [ln.split() for ln in table if ln.split()[:1] == [route]]
    assert len(lines) == 1, out
    return lines[0]


# --- end to end: the pipeline, a failing webhook, a real mailbox -------------------------


def test_failing_webhook_is_announced_once_by_email_then_recovered(tmp_path: Path) -> None:
    """Eight cycles: the webhook answers 500 for five, then works. The mailbox gets one
    "alerting is broken" naming the webhook route and its masked error, one
    "recovered"; the webhook gets the waiting hit alert once; no secret anywhere."""
    fast_retry = {"alerts": {"retry_base_minutes": 0.0005, "retry_max_minutes": 0.0005}}
    with world(ROOT / "config" / "topics.yaml", directory=tmp_path, settings=fast_retry) as w:
        alerts = yaml.safe_load((w.config_dir / "alerts.yaml").read_text())
        for r in alerts["routes"]:
            if r["name"] == "caucasus-chat":
                r["urls"] = [secret_hook(w.webhook)]
        alerts["health"] = {"after_failures": 3, "after_minutes": 0}
        (w.config_dir / "alerts.yaml").write_text(yaml.safe_dump(alerts, sort_keys=False))
        config = load_config(w.config_dir)
        db = f"sqlite:///{tmp_path / 'newsmon.db'}"
        w.webhook.fail_with = 500
        outputs: list[str] = []
        health_sent: list[int] = []  # what each run's summary counts

        def cycle() -> None:
            time.sleep(0.05)  # past the (tiny) backoff
            store = Store(db)  # a fresh Store each time: state lives in the database
            try:
                s = run_cycle(store, config)
                outputs.append("\n".join(s.errors))
                health_sent.append(s.health_sent)
            finally:
                store.close()

        cycle()
        assert len(w.smtp.messages) == 1  # the hit itself, by email
        assert broken(w.smtp.messages) == []
        out = cli(w.config_dir, db, "alerts")
        assert route_line(out, "caucasus-chat")[3] == "failing"
        assert route_line(out, "analysts-email")[3] == "ok"
        chat = routes_json(w.config_dir, db)["caucasus-chat"]
        assert chat["consecutive_failures"] == 1 and chat["waiting"] == 1
        for _ in range(4):
            cycle()
        mails = list(w.smtp.messages)
        assert len(broken(mails)) == 1, [str(m["Subject"]) for m in mails]
        text = SmtpReceiver.text_of(broken(mails)[0])
        assert "caucasus-chat" in str(broken(mails)[0]["Subject"])
        assert masked_hook(w.webhook) in text and "500" in text
        assert "waiting for this route: 1" in text
        assert w.webhook.received == []
        out = cli(w.config_dir, db, "alerts")
        assert route_line(out, "caucasus-chat")[3] == "failing"
        chat = routes_json(w.config_dir, db)["caucasus-chat"]
        assert chat["consecutive_failures"] == 5 and chat["waiting"] == 1
        assert chat["last_error"] and "500" in chat["last_error"]
        assert "health alerts" in out and "broken" in out
        status = cli(w.config_dir, db, "status")
        assert "! caucasus-chat" in status and "failing since" in status

        w.webhook.fail_with = None
        for _ in range(3):
            cycle()
        mails = list(w.smtp.messages)
        assert len(broken(mails)) == 1 and len(recovered(mails)) == 1
        assert len(mails) == 3  # the hit, broken, recovered: nothing else
        assert sum(health_sent) == 2 and health_sent.count(1) == 2, health_sent
        assert "caucasus-chat" in SmtpReceiver.text_of(recovered(mails)[0])
        assert len(w.webhook.received) == 1  # the waiting hit alert, once
        out = cli(w.config_dir, db, "alerts")
        assert route_line(out, "caucasus-chat")[3] == "ok"
        data = json.loads(cli(w.config_dir, db, "alerts", "--routes", "--json"))
        chat = next(r for r in data["routes"] if r["route"] == "caucasus-chat")
        assert chat["state"] == "ok" and chat["waiting"] == 0 and chat["sent"] == 1
        assert sorted(a["kind"] for a in data["health_alerts"]) == ["broken", "recovered"]
        assert {a["status"] for a in data["health_alerts"]} == {"sent"}

        seen = (
            [str(m) for m in mails]
            + outputs
            + [
                out,
                status,
                cli(w.config_dir, db, "status", "--json"),
                cli(w.config_dir, db, "alerts", "--routes", "--json"),
            ]
        )
        for t in seen:
            assert SECRET not in t
        for f in tmp_path.glob("newsmon.db*"):
            assert SECRET.encode() not in f.read_bytes()


# --- the rules, with simulated time -------------------------------------------------------


@pytest.fixture
def hook(webhook: WebhookReceiver) -> WebhookReceiver:
    return webhook  # the receivers: tests/support/alerting.py


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'newsmon.db'}")
    s.sync_feeds([FeedConfig(url="https://feeds.example/world.xml", name="World Desk")])
    yield s
    s.close()


def config_for(
    *routes: Route, health: AlertHealth | None = None, dead_after_hours: float = 48
) -> Config:
    return Config(
        topics=TOPICS,
        routes=list(routes),
        alert_health=health or AlertHealth(),
        settings=Settings(alerts=AlertSettings(dead_after_hours=dead_after_hours)),
    )


def health_rows(store: Store) -> list[HealthAlert]:
    return table(store, HealthAlert)


def next_due(store: Store, now: datetime) -> datetime:
    """Just after every failed delivery and health alert is due again."""
    with store.session() as s:
        due = [d.next_attempt_at for d in s.exec(select(Delivery)).all() if d.status == "failed"]
        due += [
            a.next_attempt_at for a in s.exec(select(HealthAlert)).all() if a.status == "failed"
        ]
    return max([now, *[d for d in due if d]]) + timedelta(seconds=1)


def test_both_thresholds_then_exactly_once_per_episode(
    store: Store, hook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    """Three failures alone do not page (30 minutes not passed); 30 minutes with three
    failures do, once; a second episode after a recovery is told again."""
    config = config_for(
        Route(name="chat", urls=[secret_hook(hook)]), Route(name="mail", urls=[smtp.apprise_url()])
    )
    hook.fail_with = 500
    add_hits(store, config, 1)
    t0 = utcnow()
    now = t0
    for _ in range(3):  # backoff 5, 10 min: three failures inside 20 minutes
        deliver(store, config, now=now)
        now = next_due(store, now)
    (h,) = [x for x in store.route_health() if x.route == "chat"]
    assert h.consecutive_failures == 3 and h.failing_since == t0 and h.episode == 1
    assert h.last_failure_at and h.last_failure_at - t0 < timedelta(minutes=30)
    assert broken(smtp.messages) == []
    # 31 minutes: the threshold in time is passed, no new attempt needed
    rep = deliver(store, config, now=t0 + timedelta(minutes=31))
    assert rep.health_queued == 1 and rep.health_sent == 1
    assert any("alerting is broken" in e for e in rep.errors)
    assert len(broken(smtp.messages)) == 1
    for minutes in (32, 60, 120, 600):  # still failing, more attempts: nothing new
        deliver(store, config, now=t0 + timedelta(minutes=minutes))
    assert len(broken(smtp.messages)) == 1 and len(smtp.messages) == 2  # hit + broken
    assert hook.received == []

    hook.fail_with = None
    back = next_due(store, t0 + timedelta(minutes=600))
    deliver(store, config, now=back)
    assert len(hook.received) == 1 and len(recovered(smtp.messages)) == 1
    for minutes in (1, 100):
        deliver(store, config, now=back + timedelta(minutes=minutes))
    assert len(recovered(smtp.messages)) == 1 and len(hook.received) == 1

    # episode 2: fails again, announced again (once), recovers again
    hook.fail_with = 500
    add_hits(store, config, 1, start=1)
    t1 = back + timedelta(minutes=200)
    now = t1
    while now < t1 + timedelta(minutes=40):
        deliver(store, config, now=now)
        now = next_due(store, now)
    deliver(store, config, now=t1 + timedelta(minutes=41))
    assert len(broken(smtp.messages)) == 2
    (h,) = [x for x in store.route_health() if x.route == "chat"]
    assert h.episode == 2
    hook.fail_with = None
    deliver(store, config, now=next_due(store, t1 + timedelta(minutes=41)))
    assert len(recovered(smtp.messages)) == 2 and len(hook.received) == 2
    kinds = [(a.episode, a.kind, a.route, a.status) for a in health_rows(store)]
    assert kinds == [
        (1, "broken", "mail", "sent"),
        (1, "recovered", "mail", "sent"),
        (2, "broken", "mail", "sent"),
        (2, "recovered", "mail", "sent"),
    ]
    # never to the failing route itself
    assert all(a.route != a.about_route for a in health_rows(store))


def test_dead_deliveries_are_in_the_report(
    store: Store, hook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    config = config_for(
        Route(name="chat", urls=[hook.apprise_url()]),
        Route(name="mail", urls=[smtp.apprise_url()]),
        health=AlertHealth(after_failures=3, after_minutes=120),
        dead_after_hours=1,
    )
    hook.fail_with = 500
    add_hits(store, config, 2)
    t0 = utcnow()
    now = t0
    while now < t0 + timedelta(minutes=130):
        deliver(store, config, now=now)
        now = (
            next_due(store, now)
            if now < t0 + timedelta(minutes=61)
            else now + timedelta(minutes=10)
        )
    statuses = {d.route: d.status for d in store.deliveries() if d.route == "chat"}
    assert statuses == {"chat": "dead"}
    (mail,) = broken(smtp.messages)
    text = SmtpReceiver.text_of(mail)
    assert "given up (dead): 2" in text and "newsmon alerts --status dead" in text
    health = {r.route: r for r in route_health(store, config)}
    assert health["chat"].dead == 2 and health["chat"].waiting == 0
    assert health["chat"].state == "failing" and health["mail"].state == "ok"


def test_all_routes_down_the_health_alerts_wait_and_are_shown(
    store: Store, hook: WebhookReceiver, tmp_path: Path
) -> None:
    port = free_port()  # no SMTP server yet
    config = config_for(
        Route(name="chat", urls=[hook.apprise_url()]),
        Route(name="mail", urls=[smtp_url(port)]),
        health=AlertHealth(after_failures=2, after_minutes=0),
    )
    hook.fail_with = 500
    add_hits(store, config, 1)
    now = utcnow()
    for _ in range(4):
        deliver(store, config, now=now)
        now = next_due(store, now)
    alerts = health_rows(store)
    assert sorted((a.about_route, a.route, a.kind) for a in alerts) == [
        ("chat", "mail", "broken"),
        ("mail", "chat", "broken"),
    ]
    assert {a.status for a in alerts} == {"failed"} and all(a.last_error for a in alerts)
    r = runner.invoke(
        app, ["--config", str(tmp_path / "no-config"), "--db", store.url, "alerts"]
    )  # a broken config: the database's view
    assert r.exit_code == 0 and "config not read" in r.stderr, r.output
    out = r.stdout
    assert "health alerts" in out
    notices = [ln.split() for ln in out.split("health alerts")[1].splitlines()[2:4]]
    assert sorted((n[1], n[2], n[3], n[5]) for n in notices) == [
        ("chat", "broken", "mail", "failed"),
        ("mail", "broken", "chat", "failed"),
    ]
    assert route_line(out, "chat")[3:6] == ["not", "in", "config"]
    routes = {r.route: r for r in route_health(store, config)}
    assert routes["chat"].state == routes["mail"].state == "failing"
    assert routes["mail"].waiting == 2  # its hit alert and the health alert about chat

    # both come back: each health alert goes out once, then the recoveries
    hook.fail_with = None
    with SmtpReceiver(port=port) as smtp:
        for _ in range(3):
            deliver(store, config, now=now)
            now = next_due(store, now)
        assert len(broken(smtp.messages)) == 1 and len(recovered(smtp.messages)) == 1
        assert sum("alerting is broken" in str(m.get("title")) for m in hook.received) == 1
        assert sum("alerting recovered" in str(m.get("title")) for m in hook.received) == 1
        assert {a.status for a in health_rows(store)} == {"sent"}
        assert len(health_rows(store)) == 4


def test_notify_list_and_off(store: Store, hook: WebhookReceiver, smtp: SmtpReceiver) -> None:
    routes = (
        Route(name="chat", urls=[hook.apprise_url()]),
        Route(name="mail", urls=[smtp.apprise_url()]),
        Route(name="other", urls=[hook.apprise_url("other")]),
    )
    hook.fail_with = 500
    cases = ((["chat", "mail"], {"mail"}), ([], set()), ("all", {"mail", "other"}))
    for i, (notify, told) in enumerate(cases):
        cfg = config_for(
            *routes, health=AlertHealth(notify=notify, after_failures=1, after_minutes=0)
        )
        add_hits(store, cfg, 1, start=i)
        deliver(store, cfg, now=utcnow())
        check_health(store, cfg)
        assert {a.route for a in health_rows(store) if a.about_route == "chat"} == told, notify
        with store.session(write=True) as s:  # the next case starts from no alerts
            for a in s.exec(select(HealthAlert)).all():
                s.delete(a)


def test_notify_config_errors_name_the_key(tmp_path: Path) -> None:
    d = tmp_path / "cfg"
    d.mkdir()
    (d / "topics.yaml").write_text((ROOT / "config" / "topics.yaml").read_text())
    routes = "routes:\n  - name: chat\n    urls: ['json://127.0.0.1:9/h']\n"
    (d / "alerts.yaml").write_text(routes + "health:\n  notify: [chat, nosuch]\n")
    with pytest.raises(ConfigError, match=r"health\.notify\[1\].*unknown route 'nosuch'"):
        load_config(d)
    (d / "alerts.yaml").write_text(routes + "health:\n  after_failures: 0\n")
    with pytest.raises(ConfigError, match=r"health\.after_failures"):
        load_config(d)
    (d / "alerts.yaml").write_text(routes + "health:\n  notify: everyone\n")
    with pytest.raises(ConfigError, match=r"health\.notify"):
        load_config(d)
    (d / "alerts.yaml").write_text(routes + "health:\n  notfy: all\n")
    with pytest.raises(ConfigError, match=r"health\.notfy"):
        load_config(d)
    (d / "alerts.yaml").write_text(routes)
    assert load_config(d).alert_health == AlertHealth(
        notify="all", after_failures=3, after_minutes=30
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_runs_and_restarts_announce_once(
    backend: str,
    tmp_path: Path,
    hook: WebhookReceiver,
    smtp: SmtpReceiver,
    request: pytest.FixtureRequest,
) -> None:
    """Four threads, each its own Store (engine, connections) on one database, all
    recording failures and checking health at once: one health alert, sent once."""
    url = (
        f"sqlite:///{tmp_path / 'n.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    config = config_for(
        Route(name="chat", urls=[hook.apprise_url()]),
        Route(name="mail", urls=[smtp.apprise_url()]),
        health=AlertHealth(after_failures=3, after_minutes=0),
    )
    Store(url).close()
    target = target_key(hook.apprise_url())
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            st = Store(url)
            for _ in range(5):
                st.record_send("chat", target, "json://127.0.0.1/hook", ok=False, error="HTTP 500")
                deliver(st, config)
            st.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    st = Store(url)  # a restart
    deliver(st, config)
    (h,) = [x for x in st.route_health() if x.route == "chat"]
    assert h.consecutive_failures == 20 and h.episode == 1
    assert len(health_rows(st)) == 1 and len(broken(smtp.messages)) == 1
    st.close()


def test_health_alert_claimed_by_a_crashed_run_goes_out_later_once(
    store: Store, hook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    """A run that claimed a health alert and died (SIGKILL inside the send) leaves it
    'sending': it is due again after the lease (alerts.sending_lease_minutes, 2), not
    before, and then sent once."""
    config = config_for(
        Route(name="chat", urls=[hook.apprise_url()]),
        Route(name="mail", urls=[smtp.apprise_url()]),
        health=AlertHealth(after_failures=1, after_minutes=0),
    )
    t0 = utcnow()
    store.record_send(
        "chat",
        target_key(hook.apprise_url()),
        "json://127.0.0.1/hook",
        ok=False,
        error="HTTP 500",
        now=t0,
    )
    assert check_health(store, config, now=t0) == 1
    (claimed,) = store.claim_health_alerts(now=t0)  # ... and the run is killed here
    assert deliver(store, config, now=t0 + timedelta(minutes=1)).health_sent == 0
    assert smtp.messages == []
    assert deliver(store, config, now=t0 + timedelta(minutes=3)).health_sent == 1
    for minutes in (17, 60, 24 * 60):
        assert deliver(store, config, now=t0 + timedelta(minutes=minutes)).health_sent == 0
    assert len(broken(smtp.messages)) == 1 and len(smtp.messages) == 1
    (a,) = health_rows(store)
    assert a.id == claimed.id and a.status == "sent" and a.attempts == 1


def test_sigkill_inside_the_health_alert_send_then_restart(tmp_path: Path) -> None:
    """`newsmon run` is SIGKILLed while its "alerting is broken" e-mail is in the SMTP
    server's hands. A restart inside the 2 minutes a claim is honoured sends nothing;
    one after it delivers the message - at most once more, never lost - and no later run
    sends it again."""
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        hook.fail_with = 500
        cfg = tmp_path / "config"
        cfg.mkdir()
        (cfg / "topics.yaml").write_text((ROOT / "config" / "topics.yaml").read_text())
        (cfg / "feeds.yaml").write_text("feeds: []\n")
        (cfg / "alerts.yaml").write_text(
            yaml.safe_dump(
                {
                    "routes": [
                        {"name": "chat", "urls": [secret_hook(hook)]},
                        {"name": "mail", "urls": [smtp.apprise_url()]},
                    ],
                    "health": {"after_failures": 1, "after_minutes": 0},
                }
            )
        )
        db = f"sqlite:///{tmp_path / 'n.db'}"
        store = Store(db)
        store.record_send(
            "chat", target_key(secret_hook(hook)), masked_hook(hook), ok=False, error="HTTP 500"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        env["NEWSMON_HOME"] = str(tmp_path / "home")
        cmd = [str(NEWSMON), "--config", str(cfg), "--db", db, "run", "--no-prefect"]

        def run() -> None:
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr

        smtp.delay_s = 3.0
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not any(a.status == "sending" for a in health_rows(store)):
                assert proc.poll() is None and time.monotonic() < deadline, "no send seen"
                time.sleep(0.02)
            time.sleep(0.5)  # inside the SMTP conversation
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(3.0)  # the server finishes the conversation the client left
        smtp.delay_s = 0.0
        (a,) = health_rows(store)
        assert a.status == "sending" and a.kind == "broken"
        in_flight = len(smtp.messages)
        assert in_flight <= 1

        run()  # a restart inside the claim's lease: not sent again yet
        assert len(smtp.messages) == in_flight
        with store.session(write=True) as s:  # as if 3 minutes had passed
            for row in s.exec(select(HealthAlert)).all():
                row.next_attempt_at = (row.next_attempt_at or utcnow()) - timedelta(minutes=3)
                s.add(row)
        run()
        run()
        (a,) = health_rows(store)
        assert a.status == "sent" and a.attempts == 1
        copies = broken(smtp.messages)
        assert len(copies) == in_flight + 1 and 1 <= len(copies) <= 2  # once more at most
        assert all("chat" in str(m["Subject"]) and SECRET not in str(m) for m in copies)
        store.close()
    print(
        f"\nSIGKILL inside the health alert's send: {in_flight} copy kept by the server "
        f"before the restart, {len(copies)} in all"
    )


def test_secrets_in_exceptions_are_masked(
    store: Store, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception that quotes the URL (apprise's own warnings never do) is stored,
    on the delivery and the route's health, with the secret masked."""
    import apprise

    url = secret_hook(hook) + f"?token={SECRET}tok"

    def leaking(self: apprise.Apprise, *a: Any, **kw: Any) -> Any:
        raise RuntimeError(f"cannot reach {url} (password {SECRET})")

    monkeypatch.setattr(apprise.Apprise, "notify", leaking)
    config = config_for(Route(name="leaky", urls=[url]))
    add_hits(store, config, 1)
    deliver(store, config)
    (d,) = store.deliveries()
    (h,) = store.route_health()
    assert d.last_error and h.last_error == d.last_error
    assert "apprise raised RuntimeError: cannot reach json://newsmon:****@" in h.last_error
    assert SECRET not in h.last_error, h.last_error


@pytest.mark.parametrize(
    ("url", "error", "gone", "kept"),
    [
        (
            f"json://newsmon:{SECRET}@127.0.0.1:8080/hook",
            f"POST to json://newsmon:{SECRET}@127.0.0.1:8080/hook failed",
            [SECRET],
            ["json://newsmon:****@127.0.0.1:8080/hook"],
        ),
        (
            f"mailtos://smtp.example.org?to=desk@example.org&from=newsmon@example.org&pass={SECRET}",
            f"535 auth failed for pass {SECRET}; mail from desk refused",
            [SECRET],
            ["auth failed for pass", "mail from desk refused"],
        ),
        (
            "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#caucasus",
            "token TIiajkdnlazkcOXrIdevi7FQ revoked (T1JJ3T3L2)",
            ["TIiajkdnlazkcOXrIdevi7FQ", "T1JJ3T3L2"],
            ["token", "revoked"],
        ),
    ],
)
def test_scrub_masks_secrets_and_keeps_the_words(
    url: str, error: str, gone: list[str], kept: list[str]
) -> None:
    from monitor.alerts.channel import scrub

    out = scrub(error, url)
    assert all(g not in out for g in gone), out
    assert all(k in out for k in kept), out


# --- the schema --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_from_0002_keeps_the_outbox_and_adds_health(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    engine = make_engine(url)
    migrate.upgrade(engine, "0002")
    with engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO article (id, canonical_url, url, title, summary, "
            "published_source, extraction) VALUES (1, 'u', 'u', 't', '', 'feed', "
            "'ok')"
        )
        c.exec_driver_sql(
            "INSERT INTO hit (id, article_id, topic_id, score, topic_version) "
            "VALUES (1, 1, 'x', 0.9, 'v')"
        )
        c.exec_driver_sql(
            "INSERT INTO delivery (hit_id, route, target, target_display, mode, "
            "status, attempts) VALUES (1, 'ops', 'abc', 'json://x', 'instant', "
            "'failed', 2)"
        )
    with pytest.raises(migrate.SchemaOutOfDate):
        Store(url)
    assert migrate.upgrade(engine) == ("0002", migrate.head())
    engine.dispose()
    store = Store(url)
    try:
        store.record_send("ops", "abc", "json://x", ok=False, error="HTTP 500")
        (st,) = route_health(store, Config())
        assert (st.route, st.state, st.waiting, st.consecutive_failures) == (
            "ops",
            "not in config",
            1,
            1,
        )
        assert (
            store.add_health_alerts(
                [
                    dict(
                        about_route="ops",
                        about_target="abc",
                        about_display="json://x",
                        episode=1,
                        kind="broken",
                        route="b",
                        target="t",
                        target_display="json://y",
                        title="t",
                        body="b",
                        status="pending",
                        attempts=0,
                    )
                ]
            )
            == 1
        )
        assert (
            store.add_health_alerts(
                [
                    dict(
                        about_route="ops",
                        about_target="abc",
                        about_display="json://x",
                        episode=1,
                        kind="broken",
                        route="b",
                        target="t",
                        target_display="json://y",
                        title="t2",
                        body="b2",
                        status="pending",
                        attempts=0,
                    )
                ]
            )
            == 0
        )  # once per episode, by key
    finally:
        store.close()


def test_record_send_counts_every_attempt_on_postgresql(pg_url: str) -> None:
    """Concurrent writers on PostgreSQL: every failure counted, one episode opened."""
    Store(pg_url).close()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            st = Store(pg_url)
            for _ in range(10):
                st.record_send("chat", "t", "json://h", ok=False, error="HTTP 500")
            st.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    st = Store(pg_url)
    (h,) = st.route_health()
    assert h.consecutive_failures == 40 and h.episode == 1 and h.failing_since is not None
    st.record_send("chat", "t", "json://h", ok=True)
    (h,) = st.route_health()
    assert h.consecutive_failures == 0 and h.failing_since is None and h.last_success_at
    st.close()
