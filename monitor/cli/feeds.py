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


@feeds_app.command("add")
def feeds_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The feed's URL (http or https).")],
    name: Annotated[str | None, typer.Option(help="A name to show for it.")] = None,
    tags: Annotated[str | None, typer.Option(help="Tags, comma-separated.")] = None,
) -> None:
    """Add a feed to feeds.yaml (its comments kept); the next run polls it."""
    from monitor.config import add_feeds

    c = _ctx(ctx)
    feed: dict[str, object] = {"url": url.strip()}
    if name:
        feed["name"] = name
    if tags:
        feed["tags"] = [t.strip() for t in tags.split(",") if t.strip()]
    added, _ = add_feeds(c.config.directory or Path("config"), [feed], source="added by newsmon")
    echo(f"added: {clean(url)}" if added else f"already there: {clean(url)}")


@feeds_app.command("export")
def feeds_export(
    ctx: typer.Context,
    opml: Annotated[bool, typer.Option("--opml", help="As OPML (the only format).")] = True,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write.")] = None,
) -> None:
    """The configured feeds as OPML, for a feed reader or `newsmon feeds import`.

    A URL's credentials are written as they are configured: keep the file private."""
    from monitor.feeds.opml import write_opml
    from monitor.perms import write_private_text

    c = _ctx(ctx)
    text = write_opml([{"url": f.url, "name": f.name or ""} for f in c.config.feeds])
    if output:
        write_private_text(output, text)
        echo(f"{len(c.config.feeds)} feeds written to {output}")
    else:
        typer.echo(text, nl=False)


UrlArg = Annotated[str, typer.Argument(help="The feed's URL.")]


def _edit_feed(
    ctx: typer.Context, url: str, done: str, *, remove: bool = False, paused: bool = True
) -> None:
    """Edit one feed's entry in feeds.yaml (the config module keeps comments and layout)."""
    from monitor.config import pause_feed, remove_feed

    directory = _ctx(ctx).config.directory or Path("config")
    if remove:
        remove_feed(directory, url)
    else:
        pause_feed(directory, url, paused=paused)
    echo(f"{done}: {clean(url)}")


@feeds_app.command("remove")
def feeds_remove(ctx: typer.Context, url: UrlArg) -> None:
    """Take a feed out of feeds.yaml; its stored articles and hits stay."""
    _edit_feed(ctx, url, "removed", remove=True)


@feeds_app.command("pause")
def feeds_pause(ctx: typer.Context, url: UrlArg) -> None:
    """Stop polling a feed but keep it in feeds.yaml (paused: true)."""
    _edit_feed(ctx, url, "paused")


@feeds_app.command("resume")
def feeds_resume(ctx: typer.Context, url: UrlArg) -> None:
    """Poll a paused feed again."""
    _edit_feed(ctx, url, "resumed", paused=False)
