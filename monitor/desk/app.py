"""The review desk: server-rendered pages over the store (Starlette + Jinja2).

:func:`create_app` puts the pages together; each lives in its own module of
:mod:`monitor.desk.routes`: the hit list (``hits``), one hit and its label (``hit``),
the export (``export``), topics, near misses and all articles (``articles``), feeds,
alerts, a user's preferences (``prefs``) and logging in (``auth``). What they share (the
store, topics, security, templates) is the
:class:`~monitor.desk.views.Desk` on ``app.state.desk``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from monitor.config import Config
from monitor.desk.filters import parse_filters
from monitor.desk.health import HealthBanners
from monitor.desk.learning import JOB_TIMEOUT, LoopJobs
from monitor.desk.ranks import Ranks
from monitor.desk.routes import (
    alerts,
    auth,
    export,
    feeds,
    hit,
    hits,
    labels,
    prefs,
    reading,
    topic_new,
)
from monitor.desk.routes import articles as article_pages
from monitor.desk.routes import learning as model_pages
from monitor.desk.routes import topics as topic_pages
from monitor.desk.security import Security, SecurityMiddleware
from monitor.desk.views import (
    HERE,
    Desk,
    StaleForm,
    http_error,
    not_found,
    stale_form,
    store_error,
)
from monitor.errors import NotFound, StoreError
from monitor.store import Store
from monitor.topics.language import TopicConfig


def create_app(
    store: Store,
    topics: Sequence[TopicConfig] | None = None,
    *,
    token: str | None = None,
    config_problem: str | None = None,
    behind_https: bool = False,
    config: Config | None = None,
    job_timeout: float | None = None,
) -> Starlette:
    """The review desk over ``store``. ``topics`` (from the config) give definitions and
    colours; without them the desk still lists and labels every stored hit. ``config``
    (when it loads) gives the alert routes whose health the banner shows. ``job_timeout``:
    seconds a model page's training or test job may run (15 min by default); the jobs
    still running are stopped when the desk shuts down."""
    desk = Desk(
        store=store,
        topics=list(topics or []),
        security=Security(token=token, sessions=store, behind_https=behind_https),
        config_problem=config_problem,
        health=HealthBanners(store, config),
        ranks=Ranks(store),
        config=config,
    )
    routes: list[BaseRoute] = [
        *auth.routes,
        *export.routes,  # before /hits/{id}: "export" is not an id, but keep it obvious
        *hits.routes,
        *labels.routes,
        *prefs.routes,
        *reading.routes,
        *hit.routes,
        *topic_new.routes,
        *topic_pages.routes,
        *model_pages.routes,
        *article_pages.routes,
        *feeds.routes,
        *alerts.routes,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityMiddleware, security=desk.security)],
        lifespan=_stop_jobs_at_shutdown,
        exception_handlers={
            NotFound: not_found,
            StaleForm: stale_form,
            404: not_found,
            HTTPException: http_error,
            StoreError: store_error,
        },
    )
    app.state.desk = desk
    # the learning loop's jobs: one tracker per desk, made here (not by a first request)
    app.state.loop_jobs = LoopJobs(timeout=job_timeout or JOB_TIMEOUT)
    return app


@asynccontextmanager
async def _stop_jobs_at_shutdown(app: Starlette) -> AsyncIterator[None]:
    """Stopping the desk stops its running jobs' processes (it never waits for them)."""
    try:
        yield
    finally:
        app.state.loop_jobs.shutdown()


__all__ = ["Desk", "create_app", "parse_filters"]
