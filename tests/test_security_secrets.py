"""Secrets never printed, logged or stored: a real cycle whose alert routes fail with
secret-bearing URLs.

The routes: a JSON webhook with a password and an API-key header, an ntfy topic with
a token, both pointing at a closed port (so apprise's debug log writes the URL, the
headers and requests' exception text), and a custom apprise plugin that raises an
exception quoting its own URL with a password and a token. Every log record of the
process is captured at DEBUG (apprise's included), and afterwards the secrets must
appear in no output, no log record, no database file (stored error columns, run
summaries), and - for the Prefect flow - no log, state or artifact of the flow run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from apprise.decorators import notify
from typer.testing import CliRunner

from monitor.cli import app
from monitor.demo.servers import free_port
from monitor.demo.world import world
from monitor.redact import redact
from monitor.store import Store

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ROOT / "config" / "topics.yaml"
SECRETS = ["hookPassw0rd", "apiKeyValue42", "ntfyTok3nValue", "plugPassw0rd", "plugTok3nPath"]


@notify(on="newsmonleaky")
def _leaky(
    body: str, title: str, notify_type: str, *args: Any, meta: dict[str, Any], **kw: Any
) -> bool:
    # A careless plugin: its exception quotes the URL it was given, secrets and all.
    raise ConnectionError(f"could not post to {meta['url']}")


def secret_routes() -> list[dict[str, Any]]:
    closed = free_port()
    return [
        {
            "name": "secret-hook",
            "topics": ["*"],
            "urls": [
                f"json://newsmon:{SECRETS[0]}@127.0.0.1:{closed}/hook?+X-Api-Key={SECRETS[1]}"
            ],
        },
        {
            "name": "secret-ntfy",
            "topics": ["*"],
            "urls": [f"ntfy://127.0.0.1:{closed}/alerts?token={SECRETS[2]}"],
        },
        {
            "name": "secret-plugin",
            "topics": ["*"],
            "urls": [f"newsmonleaky://user:{SECRETS[3]}@example.org/{SECRETS[4]}"],
        },
    ]


class Capture(logging.Handler):
    """Every record, formatted as a handler would (message and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs() -> Iterator[Capture]:
    cap = Capture()
    root, ap, ours = logging.getLogger(), logging.getLogger("apprise"), logging.getLogger("newsmon")
    old = root.level, ap.level
    handlers = list(ours.handlers)  # `run --no-prefect` adds one on the runner's stderr
    root.addHandler(cap)
    root.setLevel(logging.DEBUG)
    ap.setLevel(logging.DEBUG)
    try:
        yield cap
    finally:
        root.removeHandler(cap)
        root.setLevel(old[0])
        ap.setLevel(old[1])
        ours.handlers[:] = handlers


def add_secret_routes(config_dir: Path) -> None:
    path = config_dir / "alerts.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["routes"] += secret_routes()
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def db_leaks(db: Path) -> dict[str, list[str]]:
    out = {}
    for f in db.parent.glob(db.name + "*"):
        data = f.read_bytes().decode("latin-1")
        found = leaks(data)
        if found:
            out[f.name] = found
    return out


def check_failures_recorded(store: Store) -> None:
    """The secret routes really failed and their errors are stored (else no proof)."""
    rows = [d for d in store.deliveries(limit=100) if d.route.startswith("secret-")]
    assert {d.route for d in rows} == {"secret-hook", "secret-ntfy", "secret-plugin"}, rows
    assert all(d.status == "failed" and d.last_error for d in rows), rows


def test_cli_cycle_with_failing_secret_routes_leaks_nothing(
    tmp_path: Path, all_logs: Capture, capfd: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "x.db"
    with world(TOPICS, directory=tmp_path) as w:
        add_secret_routes(w.config_dir)
        runner = CliRunner()
        base = ["-c", str(w.config_dir), "--db", f"sqlite:///{db}"]
        env = {"NEWSMON_CONFIG": None, "NEWSMON_DB": None}
        r = runner.invoke(app, [*base, "run", "--no-prefect"], env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        outputs = {"run": r.stdout + r.stderr}
        for cmd in (
            ["alerts"],
            ["alerts", "--json"],
            ["hits", "show", "1", "--json"],
            ["status", "--json"],
            ["config", "check"],
            ["feeds"],
        ):
            res = runner.invoke(app, [*base, *cmd], env=env, catch_exceptions=False)
            assert res.exit_code == 0, res.output
            outputs[" ".join(cmd)] = res.stdout + res.stderr
    assert "alerts: 2 sent, 3 failed" in outputs["run"], outputs["run"]
    check_failures_recorded(Store(f"sqlite:///{db}"))
    # apprise's debug lines were captured (and masked), so absence is not an accident
    logs = "\n".join(all_logs.lines)
    assert "JSON POST URL" in logs and "Bearer ****" in logs
    assert "could not post to ****" in logs, [ln for ln in all_logs.lines if "post to" in ln]
    for name, text in outputs.items():
        assert not leaks(text), f"`newsmon {name}` shows {leaks(text)}"
    assert not leaks(logs), [ln for ln in all_logs.lines if leaks(ln)][:5]
    captured = capfd.readouterr()
    assert not leaks(captured.out + captured.err)
    assert not db_leaks(db)


def test_exception_quoting_the_url_is_stored_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apprise catches what its plugins raise; what apprise itself raises (a bug, an
    exception from its own code) ends in the stored error: masked there too."""
    import apprise

    from monitor.config import load_config
    from monitor.pipeline.cycle import run_cycle
    from monitor.pipeline.workers import WorkerPool

    db = tmp_path / "x.db"
    with world(TOPICS, directory=tmp_path) as w:
        add_secret_routes(w.config_dir)
        config = load_config(w.config_dir, database=f"sqlite:///{db}")
        store = Store(config.database_url)
        real = apprise.Apprise.notify

        def quoting(self: apprise.Apprise, *a: Any, **kw: Any) -> Any:
            raise RuntimeError(f"cannot notify {self[0].url(privacy=False)}")

        monkeypatch.setattr(apprise.Apprise, "notify", quoting)
        with WorkerPool.for_config(config) as pool:
            s = run_cycle(store, config, pool=pool, force=True)
        monkeypatch.setattr(apprise.Apprise, "notify", real)
        assert s.alerts_failed == 5
        rows = store.deliveries(limit=100)
        assert len(rows) == 5 and all(
            "apprise raised RuntimeError: cannot notify" in (d.last_error or "") for d in rows
        )
        # the two secret-bearing URLs apprise writes out (the plugin's it writes bare)
        masked = {d.route for d in rows if "****" in (d.last_error or "")}
        assert {"secret-hook", "secret-ntfy"} <= masked, [d.last_error for d in rows]
        assert not leaks(" ".join(s.errors)) and not db_leaks(db)


def test_redact_masks_the_parts_apprise_calls_secret() -> None:
    # load_config protected these (the test above); redaction is process-wide
    from monitor.redact import protect

    protect([r["urls"][0] for r in secret_routes()])
    text = (
        f"POST http://127.0.0.1/hook?+X-Api-Key={SECRETS[1]} as newsmon:{SECRETS[0]} "
        f"Authorization: Bearer {SECRETS[2]}"
    )
    assert not leaks(redact(text)) and redact(text).count("****") == 3
    assert redact("nothing secret here") == "nothing secret here"


@pytest.mark.slow
def test_prefect_flow_with_failing_secret_routes_leaks_nothing(
    prefect_harness: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: Capture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    from flows.cycle import cycle

    db = tmp_path / "newsmon.db"
    monkeypatch.setenv("NEWSMON_DB", f"sqlite:///{db}")
    # newsmon's and apprise's records into the flow run's Prefect logs, as
    # PREFECT_LOGGING_EXTRA_LOGGERS=newsmon,apprise does at startup (too late here: the
    # harness has started)
    api = APILogHandler()
    api.setLevel(logging.DEBUG)
    extra = [logging.getLogger(n) for n in ("newsmon", "apprise")]
    for lg in extra:
        lg.addHandler(api)
    try:
        with world(TOPICS, directory=tmp_path) as w:
            add_secret_routes(w.config_dir)
            state = cycle(config_dir=str(w.config_dir), force=True, return_state=True)
            assert state.is_completed(), state
            summary = state.result()
    finally:
        for lg in extra:
            lg.removeHandler(api)
        api.flush()
    assert summary["alerts_failed"] == 3 and summary["alerts_sent"] == 2, summary
    check_failures_recorded(Store(f"sqlite:///{db}"))
    flow_run_id = state.state_details.flow_run_id

    async def from_prefect() -> tuple[list[str], list[str]]:
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

        async with get_client() as client:
            logs: list[Any] = []
            while True:  # the API gives at most 200 at a time
                page = await client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                    limit=200,
                    offset=len(logs),
                )
                logs += page
                if len(page) < 200:
                    break
            run = await client.read_flow_run(flow_run_id)
            tasks = await client.read_task_runs()
            artifacts = await client.read_artifacts()
            states = [str(run.state), str(run.parameters)] + [
                f"{t.name} {t.state}" for t in tasks if t.flow_run_id == flow_run_id
            ]
            states += [str(a.data) for a in artifacts if a.flow_run_id == flow_run_id]
            return [f"{lg.name} {lg.message}" for lg in logs], states

    prefect_logs, states = asyncio.run(from_prefect())
    text = "\n".join(prefect_logs)
    # newsmon's lines and apprise's reached Prefect (so their absence of secrets counts)
    names = sorted({ln.split(" ", 1)[0] for ln in prefect_logs})
    assert "alert failed route=secret-plugin" in text and "apprise" in text, (names, len(text))
    assert "json://newsmon:****@" in text  # secret-bearing lines arrived, masked
    assert not leaks(text), [ln for ln in prefect_logs if leaks(ln)][:5]
    assert not leaks("\n".join(states))
    assert not leaks(str(summary))
    assert not leaks("\n".join(all_logs.lines))
    captured = capfd.readouterr()
    assert not leaks(captured.out + captured.err)
    assert not db_leaks(db)


FEED_SECRETS = ["FeedPassw0rd", "FeedKey12345"]


def test_feed_url_credentials_are_masked_everywhere(
    tmp_path: Path, all_logs: Capture, capfd: pytest.CaptureFixture[str]
) -> None:
    """A feed behind basic auth or an API key (``https://user:pass@host/feed?apikey=``):
    the run, `newsmon feeds` (table and JSON), `status` and the stored error never show
    the password or the key; the feed's failure is still recorded and shown."""
    db = tmp_path / "x.db"
    with world(TOPICS, directory=tmp_path) as w:
        path = w.config_dir / "feeds.yaml"
        doc = yaml.safe_load(path.read_text())
        secret_feed = (
            w.server.url("no-such-feed.xml").replace("http://", f"http://reader:{FEED_SECRETS[0]}@")
            + f"?apikey={FEED_SECRETS[1]}"
        )
        doc["feeds"].append({"url": secret_feed})
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        runner = CliRunner()
        base = ["-c", str(w.config_dir), "--db", f"sqlite:///{db}"]
        env = {"NEWSMON_CONFIG": None, "NEWSMON_DB": None}
        outputs = {}
        for cmd in (
            ["run", "--no-prefect"],
            ["feeds"],
            ["feeds", "--json"],
            ["feeds", "--failing"],
            ["status", "--json"],
            ["status"],
        ):
            res = runner.invoke(app, [*base, *cmd], env=env, catch_exceptions=False)
            assert res.exit_code == 0, res.output
            outputs[" ".join(cmd)] = res.stdout + res.stderr
    found = [f for f in Store(f"sqlite:///{db}").feeds() if f.consecutive_failures]
    assert len(found) == 1 and "404" in (found[0].last_error or ""), found
    assert "****" in outputs["feeds --json"]  # the feed is listed, its secrets masked
    assert "1 failing" in outputs["feeds"], outputs["feeds"]
    for name, text in outputs.items():
        assert not [s for s in FEED_SECRETS if s in text], f"`newsmon {name}` shows a secret"
    logs = "\n".join(all_logs.lines)
    assert not [s for s in FEED_SECRETS if s in logs], [
        ln for ln in all_logs.lines if any(s in ln for s in FEED_SECRETS)
    ]
    assert not [s for s in FEED_SECRETS if s in (found[0].last_error or "")]
    captured = capfd.readouterr()
    assert not [s for s in FEED_SECRETS if s in captured.out + captured.err]
