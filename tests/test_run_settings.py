"""One settings object per run (monitor.config.RunSettings): built once by the command line,
handed to the flow as its parameter, with nothing secret in what Prefect stores."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from monitor.config import RunSettings
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ROOT / "config" / "topics.yaml"
DB_PASSWORD = "DbPassw0rdNeverStored"
ALERT_SECRET = "AlertTok3nNeverStored"


def test_serialised_settings_hold_no_database_password() -> None:
    s = RunSettings(config_dir="c", database=f"postgresql://newsmon:{DB_PASSWORD}@db/newsmon")
    assert DB_PASSWORD in (s.database or "")  # this process keeps it: the run needs it
    dumped = json.dumps(s.model_dump(mode="json"))
    assert DB_PASSWORD not in dumped and "postgresql://newsmon:****@db/newsmon" in dumped
    assert s.has_written_password()
    plain = RunSettings(database="sqlite:////tmp/x.db")
    assert plain.model_dump(mode="json")["database"] == "sqlite:////tmp/x.db"
    assert not plain.has_written_password()


def test_the_environment_gives_a_reference_not_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://newsmon:{DB_PASSWORD}@db/newsmon"
    env = {
        "NEWSMON_DB": url,
        "NEWSMON_CONFIG": "/srv/cfg",
        "NEWSMON_ALLOW_HOSTS": "10.0.0.0/8, feeds.intranet",
    }
    s = RunSettings.from_environment(env, allow_hosts=["127.0.0.1", "feeds.intranet"])
    assert s.database == "${NEWSMON_DB}" and s.config_dir == "/srv/cfg"
    assert s.allow_hosts == ["10.0.0.0/8", "feeds.intranet", "127.0.0.1"]
    assert DB_PASSWORD not in json.dumps(s.model_dump(mode="json"))
    assert not s.has_written_password()
    monkeypatch.setenv("NEWSMON_DB", url)  # resolved where the run happens
    assert s.database_url() == url
    explicit = RunSettings.from_environment(env, database="sqlite:////tmp/y.db")
    assert explicit.database_url() == "sqlite:////tmp/y.db"
    with pytest.raises(ConfigError, match=r"^--allow-host: 'not a host'"):
        RunSettings.from_environment({}, allow_hosts=["not a host"])


def test_the_cli_leaves_the_environment_alone(tmp_path: Path) -> None:
    """--db and --allow-host reach the run as settings, not as variables the run (or a
    flow in another process) would have to read back."""
    from monitor.cli import app

    d = tmp_path / "config"
    d.mkdir()
    (d / "topics.yaml").write_text(TOPICS.read_text(encoding="utf-8"), encoding="utf-8")
    before = {k: os.environ.get(k) for k in ("NEWSMON_DB", "NEWSMON_ALLOW_HOSTS")}
    r = CliRunner().invoke(
        app,
        [
            "-c",
            str(d),
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
            "run",
            "--no-prefect",
            "--allow-host",
            "127.0.0.1",
            "--json",
        ],
        env={"NEWSMON_CONFIG": None, "NEWSMON_DB": None, "NEWSMON_ALLOW_HOSTS": None},
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert {k: os.environ.get(k) for k in before} == before
    assert (tmp_path / "x.db").exists()


def test_serve_refuses_a_password_written_on_the_command_line(tmp_path: Path) -> None:
    from monitor.cli import app

    d = tmp_path / "config"
    d.mkdir()
    (d / "topics.yaml").write_text(TOPICS.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError, match="stored with the schedule in Prefect"):
        CliRunner().invoke(
            app,
            ["-c", str(d), "--db", f"postgresql://newsmon:{DB_PASSWORD}@127.0.0.1:9/x", "serve"],
            env={"NEWSMON_CONFIG": None, "NEWSMON_DB": None},
            catch_exceptions=False,
        )


@pytest.mark.slow
def test_the_flow_does_not_load_the_config_again(
    tmp_path: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.cycle import cycle
    from monitor.config import run

    d = tmp_path / "config"
    d.mkdir()
    (d / "topics.yaml").write_text(TOPICS.read_text(encoding="utf-8"), encoding="utf-8")
    s = RunSettings(config_dir=str(d), database=f"sqlite:///{tmp_path / 'x.db'}")
    s.config()

    def no_second_load(*a: object, **k: object) -> None:
        raise AssertionError("the config was loaded a second time")

    monkeypatch.setattr(run, "load_config", no_second_load)
    assert cycle(settings=s)["feeds_polled"] == 0


@pytest.mark.slow
def test_prefect_stores_no_secret_of_the_run(
    tmp_path: Path, prefect_harness: None, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with a database password and an alert URL whose token comes from ${ENV}: the
    flow run's parameters, as the Prefect server stores them, hold neither; the run
    itself had both (it stored its hit in that database and alerted that URL)."""
    from prefect.client.orchestration import get_client
    from sqlalchemy.engine import make_url

    from flows.cycle import cycle
    from monitor.demo.world import world
    from monitor.store import Store

    # trust authentication: any password is accepted, and this one must never be stored
    db = make_url(pg_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    monkeypatch.setenv("NEWSMON_TEST_ALERT_SECRET", ALERT_SECRET)
    with world(TOPICS, directory=tmp_path) as w:
        alerts = yaml.safe_load((w.config_dir / "alerts.yaml").read_text())
        for r in alerts["routes"]:
            r["urls"] = [
                u.replace("json://", "json://newsmon:${NEWSMON_TEST_ALERT_SECRET}@", 1)
                for u in r["urls"]
            ]
        (w.config_dir / "alerts.yaml").write_text(yaml.safe_dump(alerts))
        settings = RunSettings(config_dir=str(w.config_dir), database=db)
        assert ALERT_SECRET in json.dumps([r.urls for r in settings.config().routes])
        state = cycle(settings=settings, force=True, return_state=True)
        assert state.is_completed(), state
        assert state.result()["hits_new"] == 1
        assert len(w.webhook.received) == 1  # the URL with its token worked

    async def stored() -> dict[str, object]:
        async with get_client() as client:
            run = await client.read_flow_run(state.state_details.flow_run_id)
            return dict(run.parameters)

    params = asyncio.run(stored())
    text = json.dumps(params)
    assert "settings" in params and str(w.config_dir) in text
    assert DB_PASSWORD not in text and ALERT_SECRET not in text, text
    store = Store(db)
    try:
        assert store.hits(topic="caucasus-realignment")
    finally:
        store.close()
