"""The deployment files: prefect.yaml, Dockerfile, .dockerignore, compose.yaml.

Fast tests read the files. Slow tests exercise them for real: prefect.yaml is deployed
to a real Prefect server and a real process worker runs the cycle against the offline
demo world; the Dockerfile's builder steps are replayed in a fresh virtualenv (Docker
itself cannot run here; CI can build the image).
"""

from __future__ import annotations

import glob
import importlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PREFECT_BIN = Path(sys.executable).with_name("prefect")
IMAGE = "newsmon:latest"
APP_SERVICES = {"prefect-server", "deploy", "worker", "web"}


def load_yaml(name: str) -> Any:
    return yaml.safe_load((REPO / name).read_text())


# --- Dockerfile parsing ----------------------------------------------------------------


def dockerfile_stages() -> list[dict[str, Any]]:
    """[{"from": "python:3.11-slim", "as": "builder", "instructions": [(KW, args)]}]."""
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # line continuations
    stages: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kw, _, args = line.partition(" ")
        kw = kw.upper()
        if kw == "FROM":
            parts = args.split()
            stages.append(
                {
                    "from": parts[0],
                    "as": parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None,
                    "instructions": [],
                }
            )
        else:
            assert stages, f"Dockerfile: {kw} before FROM"
            stages[-1]["instructions"].append((kw, args.strip()))
    return stages


def env_pairs(args: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in shlex.split(args))


def instructions(stage: dict[str, Any], kw: str) -> list[str]:
    return [a for k, a in stage["instructions"] if k == kw]


def stage_env(stage: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for args in instructions(stage, "ENV"):
        out.update(env_pairs(args))
    return out


# --- compose.yaml ----------------------------------------------------------------------


def test_compose_has_the_services_all_on_the_newsmon_image() -> None:
    compose = load_yaml("compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres"} | APP_SERVICES

    assert services["postgres"]["image"].startswith("postgres:16")
    for name in APP_SERVICES:
        svc = services[name]
        assert svc["image"] == IMAGE, name
        build = svc["build"]
        context = build if isinstance(build, str) else build["context"]
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (REPO / context).resolve() == REPO, name
        assert (REPO / context / dockerfile).is_file(), name


def argv(svc: dict[str, Any]) -> list[str]:
    """The container's command line: entrypoint (the image's `newsmon` by default) + command."""
    entry = svc.get("entrypoint", ["newsmon"])
    cmd = svc.get("command", [])
    entry = shlex.split(entry) if isinstance(entry, str) else entry
    cmd = shlex.split(cmd) if isinstance(cmd, str) else cmd
    return [*entry, *cmd]


def test_compose_services_are_wired_together() -> None:
    compose = load_yaml("compose.yaml")
    s = compose["services"]
    prefect_deployments = {d["name"]: d for d in load_yaml("prefect.yaml")["deployments"]}

    server = s["prefect-server"]
    assert argv(server)[:3] == ["prefect", "server", "start"]
    assert argv(server)[argv(server).index("--host") + 1] == "0.0.0.0"
    db = server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert db.startswith("postgresql+asyncpg://") and "@postgres:" in db
    assert "postgres" in server["depends_on"]

    # deploy: creates the process pool, deploys prefect.yaml's process deployments.
    script = " ".join(argv(s["deploy"]))
    assert "prefect work-pool create newsmon --type process" in script
    # the schema is created or upgraded once, before any worker starts
    assert script.startswith("sh -c newsmon db upgrade && ")
    names = re.findall(r"--name (\S+)", script)
    assert "prefect --no-prompt deploy" in script and names
    for n in names:
        assert prefect_deployments[n]["work_pool"]["name"] == "newsmon", n
    assert s["deploy"]["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert s["deploy"].get("restart") == "no"

    worker = s["worker"]
    assert argv(worker)[:5] == ["prefect", "worker", "start", "--pool", "newsmon"]
    assert worker["deploy"]["replicas"] == 2
    assert worker["environment"]["NEWSMON_DB"].startswith("postgresql://")
    assert "@postgres:" in worker["environment"]["NEWSMON_DB"]
    assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker["depends_on"]["deploy"]["condition"] == "service_completed_successfully"

    web = s["web"]
    assert argv(web)[:2] == ["newsmon", "web"]
    assert argv(web)[argv(web).index("--host") + 1] == "0.0.0.0"
    assert any(str(p).endswith("8080:8080") for p in web["ports"])
    assert web["environment"]["NEWSMON_WEB_TOKEN"].startswith("${NEWSMON_WEB_TOKEN:?")

    # The app database exists (postgres only creates POSTGRES_DB itself).
    init = compose["configs"]["newsmon-initdb"]["content"]
    assert "CREATE DATABASE newsmon" in init
    assert any(
        c["source"] == "newsmon-initdb" and c["target"].startswith("/docker-entrypoint-initdb.d/")
        for c in s["postgres"]["configs"]
    )


@pytest.mark.parametrize("service", ["prefect-server", "worker", "web"])
def test_compose_commands_are_accepted_by_the_clis(service: str, tmp_path: Path) -> None:
    """Each command line parses with `--help` appended. newsmon (click) rejects unknown
    commands and options; prefect's CLI only rejects unknown commands under --help."""
    cmd = argv(load_yaml("compose.yaml")["services"][service])
    exe = Path(sys.executable).with_name(cmd[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), COLUMNS="200")
    p = subprocess.run(
        [str(exe), *cmd[1:], "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Usage" in p.stdout


def test_compose_secrets_are_not_hardcoded() -> None:
    text = (REPO / "compose.yaml").read_text()
    for m in re.finditer(r"postgresql(?:\+asyncpg)?://newsmon:([^@]*)@", text):
        assert m.group(1).startswith("${POSTGRES_PASSWORD"), m.group(0)
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD" in text


# --- prefect.yaml ----------------------------------------------------------------------


def test_prefect_yaml_entrypoints_are_the_flows() -> None:
    from prefect import Flow

    spec = load_yaml("prefect.yaml")
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert set(deployments) == {
        "newsmon",
        "newsmon-digest",
        "newsmon-docker",
        "newsmon-digest-docker",
    }
    expected_flow = {"cycle": "newsmon-cycle", "digest": "newsmon-digest"}
    for name, d in deployments.items():
        path, func = d["entrypoint"].split(":")
        assert (REPO / path).is_file(), name
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, func)
        assert isinstance(flow, Flow), name
        assert flow.name == expected_flow[func], name
        assert "config_dir" in flow.parameters.properties, name


def test_prefect_yaml_schedules_pools_and_steps() -> None:
    spec = load_yaml("prefect.yaml")
    d = {x["name"]: x for x in spec["deployments"]}
    for suffix in ("", "-docker"):
        assert d[f"newsmon{suffix}"]["schedules"] == [{"interval": 600}]
        assert d[f"newsmon-digest{suffix}"]["schedules"] == [{"cron": "0 * * * *"}]
    for name in ("newsmon", "newsmon-digest"):
        assert d[name]["work_pool"]["name"] == "newsmon"
        assert "pull" not in d[name]  # the top-level pull: the directory deployed from
    for name in ("newsmon-docker", "newsmon-digest-docker"):
        pool = d[name]["work_pool"]
        assert pool["name"] == "newsmon-docker"
        assert pool["job_variables"]["image"] == IMAGE
        # The image's ENTRYPOINT is `newsmon`: the Docker worker's command
        # (`prefect flow-run execute`) must not be appended to it.
        assert instructions(dockerfile_stages()[-1], "ENTRYPOINT") == ['["newsmon"]']
        assert pool["job_variables"]["container_create_kwargs"] == {"entrypoint": ["/usr/bin/env"]}
        # The image's WORKDIR, where the Dockerfile puts flows/ and config/.
        assert d[name]["pull"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "/app"}}
        ]
    workdir = instructions(dockerfile_stages()[-1], "WORKDIR")[-1]
    assert workdir == "/app"

    # Only local steps: nothing that clones, builds images or pushes.
    steps = [next(iter(s)) for s in (spec.get("build") or []) + (spec.get("pull") or [])]
    assert set(steps) <= {
        "prefect.deployments.steps.run_shell_script",
        "prefect.deployments.steps.set_working_directory",
    }
    assert not spec.get("push")
    for x in d.values():
        assert x["parameters"]["config_dir"] == "{{ newsmon-config.stdout }}"


# --- Dockerfile ------------------------------------------------------------------------


def test_dockerfile_builder_and_final_stage() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert all(s["from"] == "python:3.11-slim" for s in stages)
    assert builder["as"]

    runs = " ".join(instructions(builder, "RUN"))
    assert "pip install -r requirements.lock" in runs
    assert re.search(r"pip install --no-deps (-e )?\.", runs)
    assert any(a.split()[0] == "requirements.lock" for a in instructions(builder, "COPY"))

    # Final stage: copies the venv from the builder, installs nothing, no compilers.
    copies = instructions(final, "COPY")
    assert any(f"--from={builder['as']}" in c and "/opt/venv" in c for c in copies)
    final_runs = " ".join(instructions(final, "RUN"))
    assert "pip install" not in final_runs and "apt-get" not in final_runs
    for tool in ("gcc", "build-essential", "g++", "make "):
        assert tool not in final_runs

    users = instructions(final, "USER")
    assert users and users[-1] == "newsmon"
    assert "useradd" in final_runs and "newsmon" in final_runs

    env = stage_env(final)
    assert env["NEWSMON_CONFIG"] == "/app/config"
    assert env["NEWSMON_HOME"] == "/data"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert instructions(final, "VOLUME") in (['["/data"]'], ["/data"])
    assert instructions(final, "ENTRYPOINT") == ['["newsmon"]']
    assert instructions(final, "CMD") == ['["serve"]']


def test_dockerignore_keeps_local_state_out() -> None:
    lines = {
        x.strip().rstrip("/")
        for x in (REPO / ".dockerignore").read_text().splitlines()
        if x.strip() and not x.startswith("#")
    }
    for pattern in (
        ".venv",
        ".git",
        "**/__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        "test-artifacts",
        "*.db",
    ):
        assert pattern in lines, pattern


# --- slow: the Dockerfile's install steps, in a fresh virtualenv -------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dockerfile_builder_steps_install_a_working_venv(tmp_path: Path) -> None:
    """Replay the builder stage: its COPY lines into a scratch context, its RUN lines
    with /opt/venv replaced by a venv under tmp_path (same pip, same index settings)."""
    builder = dockerfile_stages()[0]
    venv = tmp_path / "venv"
    app = tmp_path / "app"
    app.mkdir()
    shim = tmp_path / "shim"  # `python` for `python -m venv`, before the venv exists
    shim.mkdir()
    (shim / "python").symlink_to(sys.executable)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "PYTHON", "PREFECT_"))
    }
    env["PATH"] = f"{venv / 'bin'}:{shim}:{os.environ['PATH']}"
    env["HOME"] = str(tmp_path)

    workdir = app
    ran = []
    for kw, args in builder["instructions"]:
        if kw == "ENV":
            env.update(
                {k: v for k, v in env_pairs(args).items() if k not in ("PATH", "VIRTUAL_ENV")}
            )
        elif kw == "WORKDIR":
            assert args == "/app", "the replay maps WORKDIR /app to tmp_path/app"
        elif kw == "COPY":
            *sources, dest = shlex.split(args)
            assert not any(s.startswith("--") for s in sources), args
            target = workdir / dest
            for src in sources:
                matches = glob.glob(str(REPO / src))
                assert matches or "*" in src, f"COPY source missing: {src}"
                for m in map(Path, matches):
                    if m.is_dir():
                        shutil.copytree(
                            m,
                            target if src.endswith("/") or len(sources) == 1 else target / m.name,
                            dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"),
                        )
                    else:
                        target.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(m, target / m.name)
        elif kw == "RUN":
            cmd = args.replace("/opt/venv", str(venv))
            t0 = time.monotonic()
            p = subprocess.run(
                ["sh", "-c", cmd],
                check=False,
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=800,
            )
            assert p.returncode == 0, f"RUN {args}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
            ran.append((args, round(time.monotonic() - t0, 1)))
            # No sdist compiled: the final stage has no compiler and the builder needs none.
            assert "Building wheel for" not in p.stdout.replace("Building wheel for newsmon", ""), (
                p.stdout
            )
        else:
            pytest.fail(f"builder instruction the replay does not know: {kw} {args}")
    print("builder RUN steps (s):", ran)
    assert any("requirements.lock" in a for a, _ in ran)

    py = venv / "bin" / "python"
    p = subprocess.run(
        [str(py), "-m", "pip", "check"], check=False, env=env, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stdout + p.stderr
    # The code is imported from the copied context (editable install or wheel alike),
    # the flows load, and the entrypoint the image runs exists.
    probe = (
        "import monitor, flows.cycle, prefect; "
        "assert flows.cycle.cycle.name == 'newsmon-cycle'; print(monitor.__file__)"
    )
    p = subprocess.run(
        [str(py), "-c", probe],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    p = subprocess.run(
        [str(venv / "bin" / "newsmon"), "--help"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0 and "serve" in p.stdout, p.stdout + p.stderr


# --- slow: prefect.yaml on a real Prefect server, run by a real process worker ----------


def _run(cmd: list[str], env: dict[str, str], timeout: float = 180) -> str:
    p = subprocess.run(
        cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert p.returncode == 0, f"{shlex.join(cmd)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout + p.stderr


def _stop_group(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _stop_flow_run_process(api: httpx.Client, run_id: str) -> None:
    """A flow run the worker left running (its own session): stop its process group."""
    try:
        fr = api.get(f"/flow_runs/{run_id}").json()
    except httpx.HTTPError:
        return
    infra = fr.get("infrastructure_pid") or ""
    if fr.get("state", {}).get("type") in TERMINAL or ":" not in infra:
        return
    pid = int(infra.rsplit(":", 1)[1])
    try:  # only if that pid is still the flow run's engine process (not a reused pid)
        if b"prefect.engine" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except (OSError, ValueError):
        pass


TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_prefect_yaml_deploys_and_a_worker_runs_the_cycle(tmp_path: Path) -> None:
    from flows.serve import LocalPrefectServer
    from monitor.demo.world import world
    from monitor.store import Store

    db_url = f"sqlite:///{tmp_path / 'x.db'}"
    worker: subprocess.Popen[Any] | None = None
    run_id = ""
    with (
        world(REPO / "config" / "topics.yaml", directory=tmp_path) as w,
        LocalPrefectServer(home=tmp_path / "prefect-server") as server,
    ):
        api = httpx.Client(base_url=server.url, timeout=30)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSMON_"))}
        env.update(
            PREFECT_API_URL=server.url,
            PREFECT_HOME=str(tmp_path / "prefect-client"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            NEWSMON_HOME=str(tmp_path / "home"),
            PATH=f"{PREFECT_BIN.parent}:{os.environ['PATH']}",
        )
        prefect = str(PREFECT_BIN)
        try:
            _run([prefect, "work-pool", "create", "newsmon", "--type", "process"], env)
            # Docker pool from the server's bundled template (no prefect-docker here):
            # enough for `prefect deploy --all`; no Docker worker runs in this test.
            _run([prefect, "work-pool", "create", "newsmon-docker", "--type", "docker"], env)

            def deployment(flow: str, name: str) -> dict[str, Any]:
                r = api.get(f"/deployments/name/{flow}/{name}")
                r.raise_for_status()
                return r.json()

            # Without NEWSMON_CONFIG: config_dir defaults to "config" (relative to the
            # working directory the pull step sets: the repo, or /app in the image).
            _run([prefect, "--no-prompt", "deploy", "--all"], env)
            for flow, name in (("newsmon-cycle", "newsmon"), ("newsmon-digest", "newsmon-digest")):
                d = deployment(flow, name)
                assert d["parameters"] == {"config_dir": "config"}, d["parameters"]
                assert d["work_pool_name"] == "newsmon"
                assert d["pull_steps"] == [
                    {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
                ]
                dd = deployment(flow, f"{name}-docker")
                assert dd["parameters"] == {"config_dir": "config"}
                assert dd["work_pool_name"] == "newsmon-docker"
                assert dd["job_variables"]["image"] == IMAGE
                assert dd["job_variables"]["container_create_kwargs"] == {
                    "entrypoint": ["/usr/bin/env"]
                }
                assert dd["pull_steps"] == [
                    {"prefect.deployments.steps.set_working_directory": {"directory": "/app"}}
                ]
            cyc = deployment("newsmon-cycle", "newsmon")
            assert [s["schedule"]["interval"] for s in cyc["schedules"]] == [600]
            dig = deployment("newsmon-digest", "newsmon-digest")
            assert [s["schedule"]["cron"] for s in dig["schedules"]] == ["0 * * * *"]

            # With NEWSMON_CONFIG: the demo world's config directory.
            _run(
                [prefect, "--no-prompt", "deploy", "--name", "newsmon", "--name", "newsmon-digest"],
                {**env, "NEWSMON_CONFIG": str(w.config_dir)},
            )
            assert deployment("newsmon-cycle", "newsmon")["parameters"] == {
                "config_dir": str(w.config_dir)
            }
            # Only the run triggered below: no scheduled run (say, the digest at the top
            # of the hour) in between.
            _run([prefect, "--no-prompt", "deployment", "schedule", "pause", "--all"], env)
            assert not any(
                s["active"]
                for s in deployment("newsmon-cycle", "newsmon")["schedules"]
                + deployment("newsmon-digest", "newsmon-digest")["schedules"]
            )

            out = _run([prefect, "deployment", "run", "newsmon-cycle/newsmon"], env)
            m = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
            assert m, out
            run_id = m.group(1)

            with open(tmp_path / "worker.log", "wb") as log:
                worker = subprocess.Popen(
                    [prefect, "worker", "start", "--pool", "newsmon"],
                    cwd=tmp_path,
                    env={**env, "NEWSMON_DB": db_url},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + 300
            state, fr = None, {}
            while time.monotonic() < deadline:
                fr = api.get(f"/flow_runs/{run_id}").json()
                state = fr["state"]["type"]
                if state in TERMINAL:
                    break
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                time.sleep(1)
            worker_log = (tmp_path / "worker.log").read_text(errors="replace")
            assert state == "COMPLETED", f"flow run {run_id}: {state}\n{worker_log[-5000:]}"
            assert fr["parameters"] == {"config_dir": str(w.config_dir)}

            store = Store(db_url)
            try:
                assert store.hits(), "the cycle stored no hits"
                # The webhook route only takes this topic: its hit is the one message.
                assert store.hits(topic="caucasus-realignment")
            finally:
                store.close()
            assert len(w.webhook.received) == 1, w.webhook.received
            assert w.smtp.messages
        finally:
            if worker is not None:
                _stop_group(worker)
                if run_id:
                    _stop_flow_run_process(api, run_id)
            api.close()
