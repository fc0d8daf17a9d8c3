"""``newsmon config check``: the configuration, validated and shown (secrets masked)."""

from __future__ import annotations

import typer

from monitor.cli.app import _ctx, config_app, echo


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate the config directory and show what it contains (secrets masked)."""
    from monitor.alerts.routes import mask_url
    from monitor.store import mask_db_url

    c = _ctx(ctx)
    cfg = c.config
    echo(f"config {cfg.directory}: OK")
    echo(f"  database: {mask_db_url(c.db_url())}")
    echo(
        f"  {len(cfg.feeds)} feeds, {len(cfg.topics)} topics: {', '.join(t.id for t in cfg.topics)}"
    )
    f = cfg.settings.fetch
    echo(
        "  fetching: "
        + (
            "any address (fetch.allow_private_networks: true)"
            if f.allow_private_networks
            else "public addresses only"
            + (f"; also allowed: {', '.join(f.allow_hosts)}" if f.allow_hosts else "")
        )
    )
    for r in cfg.routes:
        urls = ", ".join(mask_url(u) for u in r.urls) or "(no URL set: route is off)"
        echo(
            f"  route {r.name} [{r.mode}] topics {','.join(r.topics)} "
            f"min score {r.min_score}: {urls}"
        )
