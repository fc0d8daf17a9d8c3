"""``newsmon db``: the database schema's version, and upgrading it."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor.cli.app import _ctx, db_app, echo


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context, revision: Annotated[str, typer.Option(help="Target revision.")] = "head"
) -> None:
    """Upgrade the database's schema in place (SQLite or PostgreSQL), keeping its data.

    Safe to run on an up-to-date database. Stop the workers first: a worker on the old
    schema may fail on the new one."""
    from monitor.store import Store, mask_db_url, migrate

    url = _ctx(ctx).db_url()
    store = Store(url, create=False)
    try:
        before, after = migrate.upgrade(store.engine, revision)
    finally:
        store.close()
    where = mask_db_url(url)
    if before == after:
        echo(f"{where}: already at {after}")
    else:
        echo(f"{where}: upgraded from {before or 'un-versioned'} to {after}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the database's schema revision and whether it needs an upgrade."""
    from monitor.store import Store, mask_db_url, migrate

    url = _ctx(ctx).db_url()
    store = Store(url, create=False)
    try:
        echo(f"{mask_db_url(url)}: {migrate.state(store.engine)}")
    finally:
        store.close()
