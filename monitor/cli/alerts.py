"""``newsmon alerts`` and ``newsmon status``: the routes' health, the outbox, the runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.app import Ctx, JsonOpt, _ctx, _dump, _table, _when, app, clean, echo
from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.config import Config


def _config_or_none(c: Ctx) -> Config:
    """The config for commands that mostly read the database: with a broken config
    they still show what the database holds (and say so)."""
    try:
        return c.config
    except ConfigError as exc:
        # on stderr: --json output stays valid JSON
        typer.echo(
            f"newsmon: config not read ({clean(exc, 200)}): routes from the database only", err=True
        )
        from monitor.config import Config

        return Config()


def _route_rows(routes: list[Any]) -> list[list[Any]]:
    return [
        [
            r.route,
            clean(r.target or "(no URL set)", 45),
            r.mode,
            r.state,
            _when(r.last_success_at),
            _when(r.failing_since),
            r.consecutive_failures,
            r.waiting,
            r.dead,
            clean(r.last_error or "", 60),
        ]
        for r in routes
    ]


ROUTE_HEADERS = [
    "route",
    "target",
    "mode",
    "state",
    "last success",
    "failing since",
    "fails",
    "waiting",
    "dead",
    "last error",
]


@app.command()
def alerts(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="pending, sending, sent, failed or dead")
    ] = None,
    limit: int = 50,
    json_out: JsonOpt = False,
    routes: Annotated[
        bool,
        typer.Option(
            "--routes",
            help="Only the routes' health and the health alerts "
            "(with --json: {routes, health_alerts}).",
        ),
    ] = False,
) -> None:
    """Alert routes' health, then the outbox: what was sent, what waits for a retry,
    what is dead. ``--json`` alone lists the deliveries."""
    from monitor.alerts.health import route_health

    c = _ctx(ctx)
    store = c.store()
    if json_out and not routes:
        _dump(
            [d.model_dump(exclude={"target"}) for d in store.deliveries(status=status, limit=limit)]
        )
        return
    health = route_health(store, _config_or_none(c))
    notices = store.health_alerts(status=status, limit=limit)
    if json_out:
        _dump(
            {
                "routes": [r.as_dict() for r in health],
                "health_alerts": [
                    a.model_dump(exclude={"target", "about_target"}) for a in notices
                ],
            }
        )
        return
    echo("alert routes (health):")
    if health:
        _table(_route_rows(health), ROUTE_HEADERS)
    else:
        echo("  no routes configured")
    if notices:
        echo("\nhealth alerts (newest first):")
        _table(
            [
                [
                    a.id,
                    a.about_route,
                    a.kind,
                    a.route,
                    clean(a.target_display, 45),
                    a.status,
                    a.attempts,
                    _when(a.sent_at or a.next_attempt_at),
                    clean(a.last_error or "", 60),
                ]
                for a in notices
            ],
            ["id", "about", "kind", "to route", "target", "status", "tries", "sent/next", "error"],
        )
    if routes:
        return
    rows = store.deliveries(status=status, limit=limit)
    echo("")
    if not rows:
        echo("outbox is empty" if not status else f"no {status} deliveries in the outbox")
        return
    echo("outbox (newest first):")
    _table(
        [
            [
                d.id,
                d.hit_id,
                d.route,
                d.target_display,
                d.mode,
                d.status,
                d.attempts,
                _when(d.sent_at or d.next_attempt_at),
                clean(d.last_error or "", 60),
            ]
            for d in rows
        ],
        ["id", "hit", "route", "target", "mode", "status", "tries", "sent/next", "error"],
    )


@app.command()
def status(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """What is in the database, how the last runs went, and the alert routes' health."""
    from monitor.alerts.health import route_health
    from monitor.store import mask_db_url

    c = _ctx(ctx)
    store = c.store()
    counts = store.counts()
    runs = store.last_runs(5)
    health = route_health(store, _config_or_none(c))
    if json_out:
        _dump(
            {
                "database": mask_db_url(store.url),
                "counts": counts,
                "runs": [r.model_dump() for r in runs],
                "routes": [r.as_dict() for r in health],
            }
        )
        return
    echo(f"database: {mask_db_url(store.url)}")
    echo("  " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for r in runs:
        s = r.summary or {}
        echo(
            f"  {r.kind} {_when(r.started_at)}: {s.get('feeds_polled', 0)} feeds, "
            f"{s.get('articles_new', 0)} articles, {s.get('hits_new', 0)} hits, "
            f"{s.get('alerts_sent', 0)} alerts, {len(s.get('errors', []))} errors"
        )
    states: dict[str, int] = {}
    for h in health:
        states[h.state] = states.get(h.state, 0) + 1
    echo(
        "alert routes: "
        + (", ".join(f"{n} {st}" for st, n in sorted(states.items())) or "none configured")
    )
    for h in health:
        if h.state in ("failing", "not in config") or h.dead:
            echo(
                f"  ! {h.route} {clean(h.target, 45)} {h.state}"
                + (f" since {_when(h.failing_since)}" if h.failing_since else "")
                + f" ({h.consecutive_failures} fails, {h.waiting} waiting, {h.dead} dead)"
                + (f": {clean(h.last_error, 100)}" if h.last_error else "")
            )
