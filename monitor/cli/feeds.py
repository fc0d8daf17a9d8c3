"""``newsmon feeds``: feed health; importing feeds from OPML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.app import JsonOpt, _ctx, _dump, _table, _when, clean, echo, feeds_app


@feeds_app.callback(invoke_without_command=True)
def feeds_list(
    ctx: typer.Context,
    json_out: JsonOpt = False,
    failing: Annotated[bool, typer.Option(help="Only feeds with errors.")] = False,
) -> None:
    """Feed health: last success, status, failures, last error, next poll."""
    if ctx.invoked_subcommand:
        return
    c = _ctx(ctx)
    feeds = c.config.feeds  # a config error must stop us before the database is touched
    store = c.store()
    store.sync_feeds(feeds)
    rows = [f for f in store.feeds() if f.enabled and (not failing or f.consecutive_failures)]
    rows.sort(key=lambda f: (-(f.consecutive_failures or 0), f.id or 0))
    if json_out:
        _dump([f.model_dump(exclude={"lease_owner", "lease_until", "body_hash"}) for f in rows])
        return
    _table(
        [
            [
                f.id,
                f.name or f.title or "",
                "GONE (410)" if f.gone else (f.last_status or "-"),
                f.consecutive_failures or 0,
                _when(f.last_success_at),
                _when(f.next_poll_at),
                clean(f.last_error or f.notice or "", 70),
            ]
            for f in rows
        ],
        ["id", "name", "status", "fails", "last success", "next poll", "error / notice"],
    )
    bad = sum(1 for f in rows if f.consecutive_failures)
    echo(f"\n{len(rows)} feeds, {bad} failing")


@feeds_app.command("import")
def feeds_import(
    ctx: typer.Context,
    opml: Annotated[Path, typer.Argument(help="An OPML export from a feed reader.")],
    dry_run: Annotated[bool, typer.Option(help="Show, do not write.")] = False,
) -> None:
    """Add the feeds of an OPML file to feeds.yaml (feeds already there are skipped)."""
    from monitor.config import add_feeds
    from monitor.feeds.opml import read_opml

    c = _ctx(ctx)
    found = read_opml(opml)
    added, skipped = add_feeds(c.config.directory or Path("config"), found, dry_run=dry_run)
    for f in added:
        echo(f"{'would add' if dry_run else 'added'}: {clean(f['url'])}  {clean(f['name'])}")
    echo(
        f"{len(added)} added, {len(skipped)} already there"
        f"{' (dry run: nothing written)' if dry_run else ''}"
    )
