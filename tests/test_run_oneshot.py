"""A one-shot ``newsmon run``: plain when there is no Prefect server to report to, and,
when asked for a flow run without one, a Prefect server of its own process (not Prefect's
temporary server inside the command's process). Real processes, the demo world."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.demo.world import world

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ROOT / "config" / "topics.yaml"
NEWSMON = Path(sys.executable).with_name("newsmon")


def _env(tmp: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PREFECT_API_URL", "NEWSMON_CONFIG", "NEWSMON_DB"}
    }
    env.update(
        PREFECT_HOME=str(tmp / "prefect-home"),
        NEWSMON_HOME=str(tmp / "newsmon-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    with world(TOPICS, directory=tmp) as w:
        return subprocess.run(
            [str(NEWSMON), "-c", str(w.config_dir), "--db", f"sqlite:///{tmp / 'x.db'}"]
            + ["run", *args],
            env=_env(tmp),
            capture_output=True,
            text=True,
            timeout=600,
        )


def _prefect_databases(tmp: Path) -> list[Path]:
    return sorted(tmp.rglob("prefect.db"))


def test_a_one_shot_run_without_a_prefect_server_starts_none(tmp_path: Path) -> None:
    r = _run(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "feeds: 3 polled" in r.stdout and "hits: 1 new" in r.stdout, r.stdout
    assert _prefect_databases(tmp_path) == []  # no server, temporary or not, was started


@pytest.mark.slow
def test_run_as_a_flow_uses_a_server_process_of_its_own(tmp_path: Path) -> None:
    r = _run(tmp_path, "--prefect")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "feeds: 3 polled" in r.stdout and "hits: 1 new" in r.stdout, r.stdout
    # The local server keeps its state with newsmon's, as `newsmon serve` does; Prefect's
    # temporary server would have used PREFECT_HOME.
    assert _prefect_databases(tmp_path) == [tmp_path / "newsmon-home" / "prefect" / "prefect.db"]
    assert "Traceback" not in r.stderr, r.stderr
