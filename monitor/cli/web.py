"""``newsmon web``: the review desk in a browser."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from monitor.cli.app import _ctx, app, echo
from monitor.errors import ConfigError


@app.command()
def web(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(help="Address to listen on. Anything but loopback needs $NEWSMON_WEB_TOKEN."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """The review desk in a browser: triage hits, see the evidence, label them.

    Binds to 127.0.0.1 unless told otherwise; set NEWSMON_WEB_TOKEN (16+ characters)
    to require a login, which binding to any other address demands. Ctrl-C stops."""
    import os

    from monitor.desk.security import check_bind
    from monitor.desk.server import serve as serve_desk

    token = os.environ.get("NEWSMON_WEB_TOKEN") or None
    check_bind(host, token)
    c = _ctx(ctx)
    topics: list[Any] = []
    problem = None
    try:
        topics = list(c.config.topics)
    except ConfigError as exc:  # reviewing stored hits must not need a valid config
        problem = str(exc)
    serve_desk(
        c.store(), topics, host=host, port=port, token=token, config_problem=problem, echo=echo
    )
