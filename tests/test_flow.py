"""The Prefect flows themselves, on a temporary Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.demo.world import world
from monitor.store import Store

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_cycle_flow_runs_the_pipeline_as_tasks(prefect_harness, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client

    from flows.cycle import cycle

    db = tmp_path / "newsmon.db"
    monkeypatch.setenv("NEWSMON_DB", f"sqlite:///{db}")
    with world(ROOT / "config" / "topics.yaml", directory=tmp_path) as w:
        state = cycle(config_dir=str(w.config_dir), return_state=True)
        assert state.is_completed()
        summary = state.result()
        assert summary["hits_new"] == 1 and summary["alerts_sent"] == 2
        again = cycle(config_dir=str(w.config_dir), force=True)
        assert again["feeds_not_modified"] == 3 and again["alerts_sent"] == 0
        assert len(w.webhook.received) == 1 and len(w.smtp.messages) == 1

    # Each step ran as a task of the flow run.
    import asyncio

    async def task_names() -> set[str]:
        async with get_client() as client:
            runs = await client.read_task_runs()
            return {
                r.name.rsplit("-", 1)[0]
                for r in runs
                if r.flow_run_id == state.state_details.flow_run_id
            }

    assert {
        "claim-feeds",
        "poll-feeds",
        "process-articles",
        "commit-feeds",
        "send-alerts",
        "prune",
    } <= asyncio.run(task_names())
    assert Store(f"sqlite:///{db}").hits()[0][0].topic_id == "caucasus-realignment"


def test_digest_flow_sends_one_message_for_all_pending(prefect_harness, tmp_path, monkeypatch):
    import yaml

    from flows.cycle import digest
    from monitor.pipeline.cycle import run_cycle

    monkeypatch.setenv("NEWSMON_DB", f"sqlite:///{tmp_path / 'd.db'}")
    with world(ROOT / "config" / "topics.yaml", directory=tmp_path) as w:
        alerts = w.config_dir / "alerts.yaml"
        routes = yaml.safe_load(alerts.read_text())["routes"]
        for r in routes:
            r["mode"] = "digest"
        alerts.write_text(yaml.safe_dump({"routes": routes}))
        config = load_config(w.config_dir, database=f"sqlite:///{tmp_path / 'd.db'}")
        s = run_cycle(Store(config.database_url), config)
        assert s.hits_new == 1 and s.alerts_sent == 0  # digests wait for their schedule
        out = digest(config_dir=str(w.config_dir))
        assert out["alerts_sent"] == 2
        assert len(w.smtp.messages) == 1 and "digest" in w.smtp.messages[0]["Subject"].lower()
        assert digest(config_dir=str(w.config_dir))["alerts_sent"] == 0


def test_flow_heartbeat_is_sent_and_its_thread_is_gone_when_the_run_returns(
    prefect_harness, monkeypatch
):
    # flows.heartbeat replaces the engine's heartbeat with one that wakes on stop: it
    # must still beat during the run, and be joined (not left running) by its end.
    import threading

    from prefect import flow, flow_engine

    import flows.cycle  # noqa: F401 - installs it
    from flows import heartbeat

    assert flow_engine._send_heartbeats is heartbeat.send_heartbeats
    beats: list[str] = []
    real = flow_engine.BaseFlowRunEngine._emit_flow_run_heartbeat

    def counted(self, *args):
        beats.append(threading.current_thread().name)
        return real(self, *args)

    monkeypatch.setattr(flow_engine.BaseFlowRunEngine, "_emit_flow_run_heartbeat", counted)

    def alive() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "newsmon-flow-heartbeat"]

    seen: list[int] = []

    @flow
    def tiny() -> int:
        seen.append(len(alive()))
        return 1

    assert tiny() == 1
    assert seen == [1]  # the heartbeat thread ran during the flow
    assert beats and set(beats) == {"newsmon-flow-heartbeat"}
    assert not alive()  # joined at the run's end
