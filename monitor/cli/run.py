"""Running: one cycle now (``run``), on a schedule (``serve``), the digest now."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from monitor.cli.app import AllowHostOpt, JsonOpt, _ctx, _dump, app, clean, echo
from monitor.errors import ConfigError


def _print_summary(s: dict[str, Any]) -> None:
    gone = f", {s['feeds_gone']} gone" if s["feeds_gone"] else ""
    dead = f", {s['alerts_dead']} dead" if s["alerts_dead"] else ""
    echo(
        f"feeds: {s['feeds_polled']} polled ({s['feeds_ok']} new content, "
        f"{s['feeds_not_modified']} not modified, {s['feeds_unchanged']} unchanged, "
        f"{s['feeds_failed']} failed{gone})"
    )
    echo(
        f"articles: {s['articles_new']} new, {s['articles_merged']} seen again "
        f"({s['extraction_fallbacks']} from the feed summary only"
        + (f", {s['pages_failed']} pages could not be fetched)" if s.get("pages_failed") else ")")
    )
    if s.get("pages_retried"):
        echo(
            f"pages asked for again: {s['pages_retried']} "
            f"({s.get('pages_recovered', 0)} read this time)"
        )
    echo(f"hits: {s['hits_new']} new")
    echo(f"alerts: {s['alerts_sent']} sent, {s['alerts_failed']} failed{dead}")
    if s.get("health_sent") or s.get("health_failed"):
        echo(
            f"route health messages (alerting broken / recovered): {s['health_sent']} sent, "
            f"{s['health_failed']} failed"
        )
    for e in s.get("errors", [])[:20]:
        echo(f"  ! {clean(e, 300)}")
    if len(s.get("errors", [])) > 20:
        echo(f"  ... {len(s['errors']) - 20} more: see `newsmon feeds` and `newsmon alerts`")


def _log_progress() -> None:
    """newsmon's own log lines (progress, feed failures) on stderr."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    lg = logging.getLogger("newsmon")
    if not lg.handlers:
        lg.addHandler(handler)
    lg.setLevel(logging.INFO)


@app.command()
def run(
    ctx: typer.Context,
    feed: Annotated[
        list[str] | None,
        typer.Option(
            "--feed",
            help="Poll only this feed of feeds.yaml (repeatable), due or not; "
            "a URL not in feeds.yaml is an error.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Poll every feed now, due or not.")] = False,
    prefect: Annotated[
        bool | None,
        typer.Option(
            "--prefect/--no-prefect",
            help="Run as a Prefect flow, or the same steps plainly. Default: as a flow when "
            "PREFECT_API_URL names a Prefect server, plainly otherwise (no server to start).",
            show_default=False,
        ),
    ] = None,
    allow_host: AllowHostOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run one polling cycle now: poll, extract, classify, store, alert."""
    c = _ctx(ctx)
    c.allow(allow_host)
    config = c.config  # once: the flow is handed these same settings, config loaded
    feed = config.configured_urls(feed) if feed else None  # before anything starts
    if prefect is None:
        # A one-shot run reports to a Prefect server if there is one; starting one just
        # for this run costs seconds and hundreds of MB and records the run nowhere the
        # user looks.
        prefect = bool(os.environ.get("PREFECT_API_URL"))
    if not prefect:
        _log_progress()  # under Prefect, its handlers show newsmon's log lines
    if prefect:
        from flows.cycle import cycle
        from flows.serve import prefect_api
        from monitor.pipeline.workers import WorkerPool, languages_to_share
        from monitor.store import Store

        # The worker pool (seconds of CPU to load spaCy and trafilatura) starts while
        # the local Prefect server does, with the languages a one-shot run needs; the
        # flow takes the same shared pool.
        store = Store(config.database_url)
        try:
            langs = languages_to_share(store)
        finally:
            store.close()  # the flow keeps a store of its own
        with prefect_api(meanwhile=WorkerPool.shared(config, langs).start):
            summary = cycle(settings=c.settings, feeds=feed or None, force=force)
    else:
        from monitor.pipeline.cycle import run_cycle
        from monitor.pipeline.workers import WorkerPool, languages_to_share
        from monitor.store import Store

        store = Store(config.database_url)
        # One run: its workers start with the pipelines recent articles needed, not the
        # seconds of CPU every costly language takes to build.
        with WorkerPool.for_config(config, languages=languages_to_share(store)) as pool:
            summary = run_cycle(
                store, config, only_urls=feed or None, force=force, pool=pool
            ).as_dict()
    if json_out:
        _dump(summary)
    else:
        _print_summary(summary)


@app.command()
def serve(
    ctx: typer.Context,
    interval: Annotated[
        float | None, typer.Option(help="Minutes between cycles (default: settings.yaml schedule).")
    ] = None,
    cron: Annotated[str | None, typer.Option(help="Cron schedule instead of interval.")] = None,
    allow_host: AllowHostOpt = None,
) -> None:
    """Run on a schedule: serve the Prefect deployments (starts a local Prefect server
    unless PREFECT_API_URL is set). Ctrl-C stops."""
    c = _ctx(ctx)
    c.allow(allow_host)
    config = c.config
    if c.settings.has_written_password():
        raise ConfigError(
            "--db",
            "",
            "a password written in the database URL would be "
            "stored with the schedule in Prefect: give the URL as $NEWSMON_DB, "
            "or in settings.yaml with the password as a ${VARIABLE}",
        )
    from flows.serve import serve as serve_flows
    from monitor.store import Store, mask_db_url

    store = Store(config.database_url)
    store.sync_feeds(config.feeds)
    echo(
        f"newsmon: {len(config.feeds)} feeds, {len(config.topics)} topics, "
        f"{sum(len(r.urls) for r in config.routes)} alert targets; "
        f"database {mask_db_url(config.database_url)}"
    )
    serve_flows(c.settings, interval_minutes=interval, cron=cron)


@app.command()
def digest(ctx: typer.Context) -> None:
    """Send the pending digest alerts now."""
    from monitor.pipeline.cycle import send_alerts

    c = _ctx(ctx)
    s = send_alerts(c.store(), c.config, mode="digest").as_dict()
    echo(f"digest: {s['alerts_sent']} sent, {s['alerts_failed']} failed")
    for e in s["errors"]:
        echo(f"  ! {clean(e, 300)}")
