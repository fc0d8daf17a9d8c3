"""Activations and rollbacks of a topic's model at the same time (a double-clicked
button, ``newsmon topics activate`` while the desk activates): they take turns under
the topic's lock file, held across processes, and an activation refuses a candidate
that is not the one that was tested. Real model files, a real second process."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.topics.loop import rollback
from monitor.topics.model import ModelError, activate, load_model, model_path, save_model
from tests import test_topics_learn as learn
from tests.test_topics_learn import TOPIC, ok

stored_items = learn.stored_items
world = learn.world

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"""


class LockHolder:
    """Another process holding the topic's lock file until told to let go."""

    def __init__(self, models: Path) -> None:
        models.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(models / f"{TOPIC}.lock")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "locked\n"

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(10)


def _in_thread(fn: Any, *args: Any, **kw: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def go() -> None:
        try:
            out.append(fn(*args, **kw))
        except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
            out.append(exc)

    t = threading.Thread(target=go)
    t.start()
    return t, out


def _id(models: Path, kind: str) -> str | None:
    path = model_path(TOPIC, kind, models)
    return load_model(path).model_id if path.exists() else None


def test_activate_and_rollback_wait_for_another_process_holding_the_lock(
    world: dict[str, Any],
) -> None:
    models = world["models"]
    ok(world, "topics", "train", TOPIC)
    first = _id(models, "candidate")
    holder = LockHolder(models)
    t, out = _in_thread(activate, TOPIC, models, expected=first)
    time.sleep(0.5)
    assert t.is_alive() and _id(models, "candidate") == first  # waits, moves nothing
    assert _id(models, "active") is None
    holder.release()
    t.join(10)
    assert not t.is_alive() and out[0].model_id == first and _id(models, "active") == first

    # the second click of a double click: refused with a clear message, nothing lost
    with pytest.raises(ModelError, match="no candidate model to activate.*activated already"):
        activate(TOPIC, models, expected=first)
    assert _id(models, "active") == first

    # on the same labels the default learner chooses as before (the active model again:
    # no candidate); the previous learner gives a second model to roll back from
    ok(world, "topics", "train", TOPIC, "--learner", "prevalence")
    second = _id(models, "candidate")
    assert second is not None and second != first
    activate(TOPIC, models, expected=second)
    holder = LockHolder(models)
    t, out = _in_thread(rollback, TOPIC, models)
    time.sleep(0.5)
    assert t.is_alive() and _id(models, "active") == second
    holder.release()
    t.join(10)
    assert _id(models, "active") == first and _id(models, "previous") == second


def test_two_activations_at_once_keep_the_active_model(world: dict[str, Any]) -> None:
    models = world["models"]
    ok(world, "topics", "train", TOPIC)
    first = _id(models, "candidate")
    activate(TOPIC, models)
    ok(world, "topics", "train", TOPIC, "--learner", "prevalence")  # another model
    cand = load_model(model_path(TOPIC, "candidate", models))
    save_model(dataclasses.replace(cand, model_id="second"), "candidate", models)
    holder = LockHolder(models)  # both start while a third party holds the lock
    runs = [_in_thread(activate, TOPIC, models, expected="second") for _ in range(2)]
    time.sleep(0.3)
    holder.release()
    for t, _ in runs:
        t.join(20)
    outcomes = sorted(type(out[0]).__name__ for _, out in runs)
    assert outcomes == ["ModelError", "TopicModel"]
    assert _id(models, "active") == "second" and _id(models, "previous") == first


def test_activate_refuses_a_candidate_retrained_since_it_was_tested(
    world: dict[str, Any],
) -> None:
    models = world["models"]
    ok(world, "topics", "train", TOPIC)
    tested = _id(models, "candidate")
    cand = load_model(model_path(TOPIC, "candidate", models))
    save_model(dataclasses.replace(cand, model_id="retrained"), "candidate", models)
    with pytest.raises(ModelError, match=f"candidate is now retrained, not the tested {tested}"):
        activate(TOPIC, models, expected=tested)
    assert _id(models, "active") is None and _id(models, "candidate") == "retrained"


def test_the_desk_refuses_a_rollback_while_a_job_runs_and_makes_one_tracker(
    world: dict[str, Any],
) -> None:
    from monitor.config import load_config
    from monitor.desk import create_app
    from monitor.desk.learning import LoopJobs
    from monitor.store import Store
    from tests import test_web_loop as web

    models = world["models"]
    ok(world, "topics", "train", TOPIC)
    activate(TOPIC, models)
    ok(world, "topics", "train", TOPIC, "--learner", "prevalence")  # another model
    second = _id(models, "candidate")
    activate(TOPIC, models)
    store = Store(world["db"])
    app = create_app(store, load_config(world["cfg"]).topics)
    assert isinstance(app.state.loop_jobs, LoopJobs)  # made with the app, not per request
    app.state.loop_jobs = jobs = LoopJobs(isolate=False)
    with web.TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False) as c:
        token = web.csrf(c)
        jobs.start(TOPIC, "test", "someone", time.sleep, 1.0)
        r = c.post(f"/topics/{TOPIC}/rollback", data={"csrf": token})
        assert r.status_code == 303 and "wait for the running test job" in web.said(r)
        assert _id(models, "active") == second
        while jobs.running(TOPIC):
            time.sleep(0.05)
        r = c.post(f"/topics/{TOPIC}/rollback", data={"csrf": token})
        assert "active again" in web.said(r) and _id(models, "previous") == second
    store.close()
