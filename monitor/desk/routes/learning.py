"""A topic's model from the desk: train (in the background), test against the stored
history (new and dropped hits with their evidence, and the warnings), activate (a
confirmation ticked when the test warned) and roll back.

Training and testing need the analyst role (they change nothing that is used);
activating and rolling back change what is alerted, so they need the admin role, like
the feeds' actions. Every action is a CSRF-checked POST.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.desk.learning import Busy, LoopJobs, history_work, train_work
from monitor.desk.views import Desk, desk_of
from monitor.errors import NotFound
from monitor.topics.language import TopicConfig
from monitor.topics.model import ModelError, TopicModel, load_model, model_path, models_dir

KINDS = ("candidate", "active", "previous")


def jobs_of(request: Request) -> LoopJobs:
    """The desk's job tracker, made once by ``create_app`` (never lazily here: two first
    requests in the threadpool would each make one)."""
    jobs: LoopJobs = request.app.state.loop_jobs
    return jobs


def _topic(request: Request) -> tuple[Desk, TopicConfig]:
    desk = desk_of(request)
    tid = str(request.path_params["topic_id"])
    topic = desk.topic(tid)
    if topic is None:
        raise NotFound(f"no configured topic {tid[:80]!r}")
    return desk, topic


_loaded: dict[Path, tuple[tuple[int, int], TopicModel | None]] = {}
_loaded_lock = threading.Lock()


def _models(topic_id: str) -> dict[str, TopicModel | None]:
    """The topic's models, each read once per version of its file (a model is megabytes
    of JSON, and the page refreshes itself while a job runs)."""
    out: dict[str, TopicModel | None] = {}
    for kind in KINDS:
        path = model_path(topic_id, kind)
        try:
            st = path.stat()
        except OSError:
            out[kind] = None
            continue
        key = (st.st_mtime_ns, st.st_size)
        with _loaded_lock:
            hit = _loaded.get(path)
        if hit is not None and hit[0] == key:
            out[kind] = hit[1]
            continue
        try:
            model: TopicModel | None = load_model(path)
        except ModelError:
            model = None
        with _loaded_lock:
            _loaded[path] = (key, model)
        out[kind] = model
    return out


def _tested_candidate(jobs: LoopJobs, topic_id: str, cand: TopicModel | None) -> Any:
    """The last test's result when it tested the current candidate, else None."""
    job = jobs.last(topic_id, "test")
    if cand is None or job is None or job.result is None:
        return None
    r = job.result
    return r if r["kind"] == "candidate" and r["model"] == cand.model_id else None


def model_page(request: Request) -> Response:
    desk, topic = _topic(request)
    jobs = jobs_of(request)
    models = _models(topic.id)
    running = jobs.running(topic.id)
    resp = desk.render(
        request,
        "topic_model.html",
        topic=topic,
        models=models,
        running=running,
        trained=jobs.last(topic.id, "train"),
        tested=jobs.last(topic.id, "test"),
        tested_candidate=_tested_candidate(jobs, topic.id, models["candidate"]),
        done=request.query_params.get("done", "")[:300],
        refused=request.query_params.get("refused", "")[:300],
    )
    if running is not None:
        resp.headers["refresh"] = "2"  # until the job is done; no script needed
    return resp


def _back(topic: TopicConfig, **msg: str) -> RedirectResponse:
    q = "&".join(f"{k}={quote(v)}" for k, v in msg.items())
    return RedirectResponse(f"/topics/{quote(topic.id)}/model{'?' + q if q else ''}", 303)


async def start_job(request: Request) -> Response:
    """POST /topics/{id}/train or /test (analyst): start the job, back to the page."""
    desk = desk_of(request)
    form = await desk.verified_form(request)
    desk.require(request, "analyst")
    _, topic = _topic(request)
    kind = request.url.path.rsplit("/", 1)[-1]  # train or test
    config_dir = desk.config.directory if desk.config else None
    models = models_dir()
    jobs, by = jobs_of(request), desk.reader(request)
    try:
        if kind == "train":
            jobs.start(topic.id, kind, by, train_work, desk.store.url, topic, config_dir, models)
        else:
            which = form.get("model", "auto")
            if which not in ("auto", "candidate", "active", "none"):
                which = "auto"
            args = (desk.store.url, topic, config_dir, which, models)
            jobs.start(topic.id, kind, by, history_work, *args)
    except Busy as exc:
        return _back(topic, refused=str(exc))
    return _back(topic)


async def activate_model(request: Request) -> Response:
    """POST /topics/{id}/activate (admin): only a candidate tested against the stored
    history, and with the confirmation ticked when that test warned."""
    from monitor.topics.loop import activate

    desk = desk_of(request)
    form = await desk.verified_form(request)
    desk.require(request, "admin")
    _, topic = _topic(request)
    jobs = jobs_of(request)
    if (running := jobs.running(topic.id)) is not None:
        return _back(topic, refused=f"wait for the running {running.kind} job to finish")
    cand = _models(topic.id)["candidate"]
    if cand is None:
        return _back(topic, refused="there is no candidate model to activate: train one")
    tested = _tested_candidate(jobs, topic.id, cand)
    if tested is None:
        return _back(topic, refused=f"test candidate {cand.model_id} against the history first")
    if tested["warnings"] and form.get("confirm") != "yes":
        return _back(
            topic, refused="the test warned: tick the confirmation to activate all the same"
        )
    try:  # under the topic's model lock; refused when the candidate is not the tested one
        m = await run_in_threadpool(activate, topic.id, None, cand.model_id)
    except ModelError as exc:
        return _back(topic, refused=str(exc))
    jobs.forget_test(topic.id)
    return _back(topic, done=f"model {m.model_id} is active")


async def store_hits(request: Request) -> Response:
    """POST /topics/{id}/store (admin): store the last test's new hits, as ``topics test
    --store`` does; with ``alert=yes`` also queue their alerts (each hit once; by story
    when stories are on). A test
    that warned needs the confirmation ticked here too."""
    from monitor.pipeline.found_hits import store_found_hits

    desk = desk_of(request)
    form = await desk.verified_form(request)
    desk.require(request, "admin")
    _, topic = _topic(request)
    job = jobs_of(request).last(topic.id, "test")
    if job is None or job.result is None:
        return _back(topic, refused="test against the history first")
    r = job.result
    if r["warnings"] and form.get("confirm") != "yes":
        return _back(topic, refused="the test warned: tick the confirmation to store all the same")
    alert = form.get("alert") == "yes" and desk.config is not None
    # alerted as the pipeline would: by story when stories are on
    done = await run_in_threadpool(
        store_found_hits, desk.store, r["report"], topic, desk.config, alert
    )
    msg = f"{len(done.hit_ids)} new hits stored"
    if alert:
        msg += f", {done.deliveries} alert deliveries queued"
    if done.folded:
        msg += f" ({done.folded} only updated their story's alert)"
    return _back(topic, done=msg)


async def rollback_model(request: Request) -> Response:
    """POST /topics/{id}/rollback (admin): the previous model in use again."""
    from monitor.topics.loop import rollback

    desk = desk_of(request)
    await desk.verified_form(request)
    desk.require(request, "admin")
    _, topic = _topic(request)
    jobs = jobs_of(request)
    if (running := jobs.running(topic.id)) is not None:
        return _back(topic, refused=f"wait for the running {running.kind} job to finish")
    if not model_path(topic.id, "previous").exists():
        return _back(topic, refused="there is no previous model to roll back to")
    try:
        m = await run_in_threadpool(rollback, topic.id)
    except ModelError as exc:  # another rollback got there first, or the lock is held
        return _back(topic, refused=str(exc))
    jobs.forget_test(topic.id)
    return _back(topic, done=f"model {m.model_id} is active again")


routes = [
    Route("/topics/{topic_id:str}/model", model_page),
    Route("/topics/{topic_id:str}/train", start_job, methods=["POST"]),
    Route("/topics/{topic_id:str}/test", start_job, methods=["POST"]),
    Route("/topics/{topic_id:str}/activate", activate_model, methods=["POST"]),
    Route("/topics/{topic_id:str}/rollback", rollback_model, methods=["POST"]),
    Route("/topics/{topic_id:str}/store", store_hits, methods=["POST"]),
]
