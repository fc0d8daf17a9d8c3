"""``newsmon serve``: a real local Prefect server, scheduled cycles over the demo world,
each alert sent once, and a clean stop on SIGTERM (the Prefect server goes with it)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.demo.world import world
from monitor.errors import StoreError
from monitor.store import Store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ROOT / "config" / "topics.yaml"
NEWSMON = Path(sys.executable).with_name("newsmon")


def _pids_with_env(marker: str) -> list[int]:
    """Our own processes whose environment mentions ``marker`` (a unique tmp path)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if marker.encode() in (d / "environ").read_bytes():
                found.append(int(d.name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _cycle_in_flight(log: Path) -> bool:
    """A flow run has started (its process is up) and not finished yet."""
    text = log.read_text(errors="replace")
    started = set(re.findall(r"Flow run '([\w-]+)' - (?:Downloading flow code|Beginning)", text))
    finished = set(re.findall(r"Flow run '([\w-]+)' - Finished in state", text))
    return bool(started - finished)


def _wait(
    what: str, cond: Callable[[], bool], timeout_s: float, proc: subprocess.Popen[bytes], log: Path
) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if cond():
            return time.monotonic() - start
        if proc.poll() is not None:
            pytest.fail(
                f"newsmon serve exited ({proc.returncode}) while waiting for {what}:\n"
                + log.read_text(errors="replace")[-4000:]
            )
        time.sleep(1)
    pytest.fail(f"no {what} after {timeout_s:.0f}s:\n" + log.read_text(errors="replace")[-4000:])


def test_serve_schedules_cycles_sends_once_and_stops(tmp_path: Path) -> None:
    # Feeds are due again every 6 s too, so later cycles really poll them again (304s).
    with world(TOPICS, directory=tmp_path, settings={"schedule": {"interval_minutes": 0.1}}) as w:
        db = tmp_path / "x.db"
        newsmon_home = tmp_path / "newsmon-home"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"PREFECT_API_URL", "NEWSMON_CONFIG", "NEWSMON_DB"}
        }
        env.update(
            PREFECT_HOME=str(tmp_path / "prefect-home"),
            NEWSMON_HOME=str(newsmon_home),
            NEWSMON_CONFIG=str(w.config_dir),
            NEWSMON_DB=f"sqlite:///{db}",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
        log = tmp_path / "serve.log"
        t0 = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(NEWSMON), "serve", "--interval", "0.1"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                start_new_session=True,
            )
        store: Store | None = None
        try:

            def store_() -> Store | None:
                nonlocal store
                if store is None and db.exists():
                    store = Store(f"sqlite:///{db}", create=False)
                return store

            def caucasus_hit_and_alerts() -> bool:
                try:
                    s = store_()
                    found = bool(
                        s
                        and any(
                            h.topic_id == "caucasus-realignment" and "Azerbaijan" in a.title
                            for h, a in s.hits()
                        )
                    )
                except StoreError:  # the schema is still being created
                    return False
                return found and bool(w.webhook.received) and bool(w.smtp.messages)

            # 65-95 s on a shared 2-core machine (server start, then the first cycle
            # extracts 10 pages); the bound leaves room for a busier one.
            _wait("Caucasus hit with its alerts", caucasus_hit_and_alerts, 240, proc, log)
            assert store is not None
            hits = store.hits()
            assert len(hits) == 1, [(h.topic_id, a.title) for h, a in hits]
            hit_created = hits[0][0].created_at
            assert hit_created is not None
            assert len(w.webhook.received) == 1

            def repolled_after_hit() -> bool:
                runs = store.last_runs(50)  # type: ignore[union-attr]
                return len(runs) >= 2 and any(
                    r.started_at
                    and r.started_at > hit_created
                    and (r.summary or {}).get("feeds_polled", 0) > 0
                    for r in runs
                )

            _wait("later cycle that polled the feeds again", repolled_after_hit, 120, proc, log)
            time.sleep(2)  # let any (wrong) second delivery arrive
            assert len(w.webhook.received) == 1, w.webhook.received
            assert len(w.smtp.messages) == 1, [m["Subject"] for m in w.smtp.messages]
            assert len(store.hits()) == 1
            deliveries = store.deliveries()
            assert sorted((d.route, d.status, d.attempts) for d in deliveries) == [
                ("analysts-email", "sent", 1),
                ("caucasus-chat", "sent", 1),
            ]
            assert sum(r.summary.get("alerts_sent", 0) for r in store.last_runs(100)) == 2
            t_running = time.monotonic() - t0

            m = re.search(rb"Prefect UI: http://127\.0\.0\.1:(\d+)", log.read_bytes())
            assert m, log.read_text(errors="replace")
            port = int(m.group(1))
            server_home = str(newsmon_home / "prefect")
            server_pids = _pids_with_env(f"PREFECT_HOME={server_home}\0")
            assert server_pids and _listening(port)

            # Stop in the middle of a cycle, the hard case: the run is cancelled, and the
            # events that reports must not keep the process alive once the server is gone.
            _wait("cycle in flight", lambda: _cycle_in_flight(log), 60, proc, log)
            proc.send_signal(signal.SIGTERM)
            t_stop = time.monotonic()
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pytest.fail(
                    "newsmon serve did not exit within 30 s of SIGTERM:\n"
                    + log.read_text(errors="replace")[-4000:]
                )
            stop_s = time.monotonic() - t_stop
            assert rc == 0, log.read_text(errors="replace")[-4000:]
            deadline = time.monotonic() + 5
            while (
                _listening(port) or any(map(_alive, server_pids))
            ) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not _listening(port), f"the Prefect server still listens on {port}"
            assert not [p for p in server_pids if _alive(p)], "Prefect server processes left"
            deadline = time.monotonic() + 10
            while (
                left := [p for p in _pids_with_env(str(tmp_path)) if _alive(p)]
            ) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert not left, f"processes left after serve stopped: {left}"
            print(
                f"serve: hit+alerts and a re-poll after {t_running:.0f}s, "
                f"stopped {stop_s:.1f}s after SIGTERM"
            )
        finally:
            if store is not None:
                store.close()
            # serve's group, and any process of ours left behind (the Prefect server runs in
            # a session of its own): all carry this test's tmp path in their environment.
            for pid in [proc.pid, *_pids_with_env(str(tmp_path))]:
                try:
                    if os.getpgid(pid) != os.getpgid(0):
                        os.killpg(os.getpgid(pid), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            proc.wait(timeout=10)
