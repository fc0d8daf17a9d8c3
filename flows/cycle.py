"""The newsmon flows: one polling cycle, and the digest.

The cycle is :func:`monitor.pipeline.cycle.run_cycle` with each step run as a Prefect
task (one task per feed batch or article batch, never per article: Prefect's
per-task overhead is milliseconds). Steps are not retried by Prefect: a failed
feed or page is recorded on its row and retried by the next cycle, with backoff.

Each flow takes the run's settings as one parameter (:class:`RunSettings`: config
directory, database, allow-list), built by the command line, with nothing secret in
its serialised form. A run started from a deployment that gives only ``config_dir``
(prefect.yaml) is set up as the command line would be, from its worker's environment
(``$NEWSMON_DB``, ``$NEWSMON_ALLOW_HOSTS``).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

import flows  # noqa: F401 - offline defaults
from flows import heartbeat
from monitor.config import Config, RunSettings
from monitor.pipeline import cycle as pipeline
from monitor.pipeline import poll
from monitor.pipeline.pool import AnalysisPool
from monitor.pipeline.summary import CycleSummary
from monitor.pipeline.workers import WorkerPool
from monitor.store import Store

_STEPS: tuple[Callable[..., Any], ...] = (
    pipeline.claim_feeds,
    poll.poll_batches,
    pipeline.process_articles,
    pipeline.commit_feeds,
    pipeline.retry_pages,
    pipeline.send_alerts,
    pipeline.prune,
)
# Steps that only touch the database are retried on a transient error (a dropped
# connection to PostgreSQL, a lock wait that ran out); they are idempotent. Polling and
# processing are not retried here: their failures are per feed / per page and are
# recorded on the rows, to be retried by the next cycle with backoff.
_RETRY = {pipeline.claim_feeds, pipeline.commit_feeds, pipeline.send_alerts, pipeline.prune}
# poll_batches polls one feed batch or several quiet ones: "poll-feeds" in the UI.
_NAMES = {poll.poll_batches: "poll-feeds"}
_TASKS = {
    step: task(
        name=_NAMES.get(step, step.__name__.replace("_", "-")),
        cache_policy=NO_CACHE,
        persist_result=False,
        retries=2 if step in _RETRY else 0,
        retry_delay_seconds=5,
    )(step)
    for step in _STEPS
}


# A flow run's end does not wait out its heartbeat thread's current second.
heartbeat.install()

_store: Store | None = None


def shared_store(url: str) -> Store:
    """One Store (one engine) per database for the life of the process, as the worker pool.

    A long-lived serve runs a flow every few minutes: a new engine each time is left
    behind in SQLAlchemy's per-mapper statement caches, which are keyed by the engine's
    dialect (up to 100 engines with their compiled statements kept alive). A change of
    database replaces it."""
    global _store
    if _store is None or _store.url != url:
        if _store is not None:
            _store.close()
        else:
            atexit.register(lambda: _store.close() if _store is not None else None)
        _store = Store(url)
    return _store


def as_task(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # quote(): Prefect would otherwise walk every argument (the config with its topics,
    # a batch of feeds or candidates) looking for futures: tens of ms per task.
    return _TASKS[step](*(quote(a) for a in args), **{k: quote(v) for k, v in kwargs.items()})


def run_config(settings: RunSettings | None, config_dir: str | None) -> Config:
    """The config of this run: the settings' (loaded once: a command line in this process
    has loaded it already), or, for a deployment that gives only ``config_dir``, the
    settings its worker's environment makes."""
    if settings is None:
        settings = RunSettings.from_environment(os.environ, config_dir=config_dir)
    return settings.config()


@flow(name="newsmon-cycle", log_prints=True, persist_result=False)
def cycle(
    config_dir: str | None = None,
    feeds: list[str] | None = None,
    force: bool = False,
    workers: int | None = None,
    dask_address: str | None = None,
    settings: RunSettings | None = None,
) -> dict[str, Any]:
    """Poll the due feeds (or ``feeds``), store new articles and hits, send instant alerts.

    With ``dask_address`` (``tcp://scheduler:8786``), pages are extracted and classified on
    that Dask cluster instead of in local worker processes."""
    config = run_config(settings, config_dir)
    if workers is not None:
        config.settings.extract.workers = workers
    store = shared_store(config.database_url)
    # One pool for the life of the process: a long-lived serve does not start workers
    # (and load spaCy and trafilatura in them) again for every scheduled run.
    pool: AnalysisPool
    if dask_address:
        from monitor.pipeline.dask_pool import DaskPool

        pool = DaskPool(dask_address, config)
    else:
        pool = WorkerPool.shared(config)
    try:
        summary = pipeline.run_cycle(
            store, config, only_urls=feeds, force=force, pool=pool, run=as_task
        )
    finally:
        if dask_address:
            pool.close()
    create_markdown_artifact(
        key="newsmon-cycle",
        markdown=summary_markdown(summary.as_dict()),
        description="newsmon cycle summary",
    )
    return summary.as_dict()


@flow(name="newsmon-digest", log_prints=True, persist_result=False)
def digest(config_dir: str | None = None, settings: RunSettings | None = None) -> dict[str, Any]:
    """Send the pending digest alerts, one message per route and target."""
    config = run_config(settings, config_dir)
    store = shared_store(config.database_url)
    summary: CycleSummary = as_task(pipeline.send_alerts, store, config, mode="digest")
    return summary.as_dict()


def summary_markdown(s: dict[str, Any]) -> str:
    rows = [(k.replace("_", " "), v) for k, v in s.items() if k != "errors"]
    out = ["| | |", "|---|---:|", *(f"| {k} | {v} |" for k, v in rows)]
    if s.get("errors"):
        out += ["", "**Errors**", "", *(f"- {e}" for e in s["errors"][:50])]
    return "\n".join(out)
