"""``newsmon web``: the review desk in a browser."""

from __future__ import annotations

from pathlib import Path
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
    behind_https: Annotated[
        bool,
        typer.Option(help="Behind a TLS-terminating proxy: cookies get the Secure flag."),
    ] = False,
    job_minutes: Annotated[
        float,
        typer.Option(
            "--job-minutes",
            min=0.1,
            help="A model page's training or test job is stopped after this long.",
        ),
    ] = 15.0,
) -> None:
    """The review desk in a browser: triage hits, see the evidence, label them.

    Binds to 127.0.0.1 unless told otherwise. A login is required once users exist
    (newsmon users add) or NEWSMON_WEB_TOKEN (16+ characters) is set; binding to any
    other address demands one of them. Ctrl-C stops."""
    import os

    from monitor.desk.security import check_bind
    from monitor.desk.server import serve as serve_desk

    token = os.environ.get("NEWSMON_WEB_TOKEN") or None
    from monitor.desk.security import is_loopback

    c = _ctx(ctx)
    if not is_loopback(host) and not token:  # user accounts are the other way to log in
        url = c.db_url()
        path = url.removeprefix("sqlite:///").split("?", 1)[0] if url.startswith("sqlite") else ""
        exists = not path or Path(path).exists()  # never create a database just to look
        check_bind(host, token, accounts=exists and c.store().has_users())
    topics: list[Any] = []
    problem = None
    config = None
    try:
        config = c.config
        topics = list(config.topics)
    except ConfigError as exc:  # reviewing stored hits must not need a valid config
        problem = str(exc)
    serve_desk(
        c.store(),
        topics,
        host=host,
        port=port,
        token=token,
        config_problem=problem,
        echo=echo,
        behind_https=behind_https,
        config=config,
        job_timeout=job_minutes * 60,
    )
