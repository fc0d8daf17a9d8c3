"""``newsmon stories``: the articles that report one event, grouped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.app import _ctx, app, echo

stories_app = typer.Typer(help="Stories: the articles that report one event, grouped.")
app.add_typer(stories_app, name="stories")


@stories_app.command("cluster")
def stories_cluster(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help='JSON lines {"id", "title", "text", "url", "published", "language"}; - is stdin.'
        ),
    ],
) -> None:
    """Group a file's articles into stories as the pipeline does: {"id", "story"} per line."""
    from monitor.stories import cluster_file

    for row in cluster_file(file, topics=Path(_ctx(ctx).config_dir or "config")):
        echo(json.dumps(row, ensure_ascii=False))
