"""Run newsmon on a schedule: the cycle (and digest) as served Prefect deployments.

A schedule needs a real Prefect server (the temporary one a plain flow call starts
cannot schedule). With ``PREFECT_API_URL`` set, newsmon serves against that server;
without it, :class:`LocalPrefectServer` starts ``prefect server start`` on loopback,
waits until it is healthy, and stops it on exit.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

import flows  # noqa: F401 - offline defaults
from monitor.config import RunSettings, data_dir
from monitor.demo.servers import free_port

log = logging.getLogger("newsmon.serve")


class LocalPrefectServer:
    """``prefect server start`` on loopback with its own home, for as long as needed."""

    def __init__(
        self, home: Path | None = None, port: int = 0, startup_timeout_s: float = 180
    ) -> None:
        self.home = home or data_dir() / "prefect"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalPrefectServer:
        """Start the server and wait until it is healthy."""
        return self.launch().wait()

    def launch(self) -> LocalPrefectServer:
        """Start the server's process and return at once (:meth:`wait` for its health)."""
        self.home.mkdir(parents=True, exist_ok=True)
        prefect_bin = Path(sys.executable).with_name("prefect")
        env = dict(
            os.environ, PREFECT_HOME=str(self.home), PREFECT_SERVER_ANALYTICS_ENABLED="false"
        )
        env.pop("PREFECT_API_URL", None)
        self.log_path = self.home / "server.log"
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(prefect_bin),
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait(self) -> LocalPrefectServer:
        """Wait until the launched server answers its health check."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"prefect server exited with {self.proc.returncode}; see {self.log_path}"
                )
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"prefect server not healthy after {self.startup_timeout_s:.0f}s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self) -> LocalPrefectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def prefect_api(meanwhile: Callable[[], object] | None = None) -> Iterator[str]:
    """The Prefect API for flow runs in this block: ``$PREFECT_API_URL``, or else a local
    server (:class:`LocalPrefectServer`) started now and stopped at the end.

    A server of its own process rather than Prefect's temporary one: a flow call with no
    API starts that too, but it also imports Prefect's whole server application (FastAPI,
    the database layer, ~150 modules, ~60 MB) into this process. ``meanwhile`` runs while
    the server starts (seconds): a one-shot run starts its worker pool there."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api = os.environ.get("PREFECT_API_URL")
    if api:
        if meanwhile:
            meanwhile()
        yield api
        return
    server = LocalPrefectServer().launch()
    try:
        if meanwhile:
            meanwhile()
        server.wait()
        with temporary_settings(updates={PREFECT_API_URL: server.url}):
            try:
                yield server.url
            finally:
                _drain_prefect_workers()
    finally:
        server.stop()


def deployments(
    settings: RunSettings, *, interval_minutes: float | None = None, cron: str | None = None
) -> list[Any]:
    """The cycle deployment (interval or cron) and, if a route wants one, the digest; each
    run gets ``settings`` (its serialised form: nothing secret) as its parameter."""
    from flows.cycle import cycle, digest

    config = settings.config()
    sched = config.settings.schedule
    run_settings = settings.model_copy(
        update={"config_dir": str(Path(config.directory or settings.config_dir).resolve())}
    )
    params = {"settings": run_settings.model_dump(mode="json")}
    cron = cron or (None if interval_minutes else sched.cron)
    when: dict[str, Any] = (
        {"cron": cron}
        if cron
        else {"interval": timedelta(minutes=interval_minutes or sched.interval_minutes)}
    )
    out = [cycle.to_deployment(name="newsmon", parameters=params, **when)]
    if any(r.mode == "digest" for r in config.routes):
        out.append(
            digest.to_deployment(name="newsmon-digest", parameters=params, cron=sched.digest_cron)
        )
    return out


def serve(
    settings: RunSettings, *, interval_minutes: float | None = None, cron: str | None = None
) -> None:
    """Serve the deployments until interrupted (Ctrl-C or SIGTERM)."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    server = None
    api = os.environ.get("PREFECT_API_URL")
    try:
        if not api:
            print(
                "starting a local Prefect server (set PREFECT_API_URL to use your own)...",
                flush=True,
            )
            server = LocalPrefectServer().start()
            api = server.url
            print(f"Prefect UI: {api.removesuffix('/api')}  (state: {server.home})", flush=True)
        with temporary_settings(updates={PREFECT_API_URL: api}):
            deps = deployments(settings, interval_minutes=interval_minutes, cron=cron)
            # One run at a time: a cycle that outlasts the interval must not pile up
            # overlapping cycles (each a process with its own extraction workers).
            prefect_serve(*deps, limit=1)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        if server:
            # Flush Prefect's event and log workers while their server is still up: once
            # it is gone they retry at interpreter exit and the process never ends.
            _drain_prefect_workers()
            server.stop()


def _drain_prefect_workers(timeout_s: float = 10) -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout_s)
        except Exception:
            log.debug("draining %s failed", worker.__name__, exc_info=True)
