"""``newsmon users``: the review desk's user accounts (name, role, password)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from monitor.cli.app import _ctx, _dump, _table, _when, echo, users_app


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's name (what they log in with).")],
    role: Annotated[
        str, typer.Option(help="viewer (reads), analyst (labels), admin (also feeds).")
    ] = "analyst",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Add a desk user. Without --password-stdin a password is made up and shown once."""
    import secrets

    from monitor.desk.accounts import MIN_PASSWORD, hash_password
    from monitor.store.people import ROLES

    if role not in ROLES:
        raise typer.BadParameter(f"--role must be one of {', '.join(ROLES)}")
    name = " ".join(name.split())
    if not name or len(name) > 80:
        raise typer.BadParameter("the name must be 1 to 80 characters")
    made_up = not password_stdin
    password = secrets.token_urlsafe(15) if made_up else sys.stdin.readline().rstrip("\n")
    if len(password) < MIN_PASSWORD:
        raise typer.BadParameter(
            f"the password is too short: use at least {MIN_PASSWORD} characters"
        )
    _ctx(ctx).store().add_user(name, role, hash_password(password))
    echo(f"added {name} ({role})")
    if made_up:
        echo(f"password (shown once): {password}")


@users_app.command("list")
def users_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """The desk's users and their roles."""
    users = _ctx(ctx).store().users()
    if as_json:
        _dump([{"name": u.name, "role": u.role, "created_at": u.created_at} for u in users])
        return
    if not users:
        echo("no users: the desk uses NEWSMON_WEB_TOKEN, or no login on loopback")
        return
    _table([[u.name, u.role, _when(u.created_at)] for u in users], ["name", "role", "added"])


@users_app.command("remove")
def users_remove(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The user to remove.")]
) -> None:
    """Remove a desk user and end their sessions (their labels and the audit stay)."""
    _ctx(ctx).store().remove_user(name)
    echo(f"removed {name}")
