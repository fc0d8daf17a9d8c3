"""The ``newsmon`` command: a thin shell over the library.

Every command reads the config directory (``--config`` / ``$NEWSMON_CONFIG``,
default ``./config``) and the database (``--db`` / ``$NEWSMON_DB``, else the
config's ``database``, else ``~/.local/share/newsmon/newsmon.db``). Library
errors become one line on stderr: exit code 2 for configuration errors, 1 for
anything else.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.config import Config, ConfigError, load_config
from monitor.errors import NewsmonError
from monitor.export import hit_record, iter_hits, lines
from monitor.redact import redact
from monitor.store import HitFilter, Store, mask_db_url

app = typer.Typer(help="newsmon: news monitoring - feeds, article text, topics, hits, alerts.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
feeds_app = typer.Typer(help="Feed health, and importing feeds from OPML.")
hits_app = typer.Typer(help="Review stored hits: list, show, mark, export.")
topics_app = typer.Typer(help="Topics: list, explain a decision, train from review, test, "
                         "evaluate on a labelled dataset.")
config_app = typer.Typer(help="Check the configuration.")
app.add_typer(feeds_app, name="feeds")
app.add_typer(hits_app, name="hits")
app.add_typer(topics_app, name="topics")
app.add_typer(config_app, name="config")

LABELS = {"relevant": "relevant", "irrelevant": "irrelevant", "clear": None}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # \t and \n too: a title cannot forge lines


@dataclass
class Ctx:
    config_dir: str | None
    db: str | None
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_dir)
            for w in self._config.warnings:
                typer.echo(f"newsmon: warning: {w}", err=True)
        return self._config

    def db_url(self) -> str:
        if self.db:
            return self.db
        try:
            return self.config.database_url
        except ConfigError:
            # Reviewing stored hits must not need a valid feed list.
            from monitor.config import Config as _C
            return _C().database_url

    def store(self) -> Store:
        return Store(self.db_url())


ConfigOpt = Annotated[str | None, typer.Option(
    "--config", "-c", envvar="NEWSMON_CONFIG", help="Config directory (default ./config).")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", envvar="NEWSMON_DB", help="Database URL (sqlite:///path or postgresql://...).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
AllowHostOpt = Annotated[list[str] | None, typer.Option(
    "--allow-host", metavar="HOST", help=(
        "Also fetch from this host name, address or CIDR network although it is not "
        "public (repeatable; added to fetch.allow_hosts and $NEWSMON_ALLOW_HOSTS)."))]


@app.callback()
def _main(ctx: typer.Context, config: ConfigOpt = None, db: DbOpt = None) -> None:
    ctx.obj = Ctx(config, db)


def _ctx(ctx: typer.Context) -> Ctx:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Ctx(None, None)
    obj: Ctx = root.obj
    return obj


def _allow_hosts(hosts: list[str] | None) -> None:
    """Add ``--allow-host`` entries to $NEWSMON_ALLOW_HOSTS, before the config is loaded:
    the config merges the variable, and flow runs in other processes inherit it."""
    import os

    from monitor.config import ALLOW_HOSTS_ENV, parse_allow_hosts

    if not hosts:
        return
    extra = parse_allow_hosts(hosts, "--allow-host")
    current = [h for h in os.environ.get(ALLOW_HOSTS_ENV, "").split(",") if h.strip()]
    os.environ[ALLOW_HOSTS_ENV] = ",".join(dict.fromkeys([*current, *extra]))


def clean(text: Any, width: int | None = None) -> str:
    """Text from the outside world made safe for a terminal: one line, no escape
    sequences, no secret of the config (a feed URL's password, an alert token)."""
    s = _CONTROL.sub(" ", redact(str(text if text is not None else "")))
    if width and len(s) > width:
        s = s[: width - 1] + "…"
    return s


def echo(text: str = "") -> None:
    typer.echo(text)


def _table(rows: list[list[Any]], headers: list[str]) -> None:
    cells = [[clean(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in cells:
        echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _when(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if dt else "-"


def _since(value: str | None) -> datetime | None:
    """``2d``, ``12h``, ``30m``, ``1w`` ago, or an ISO date/time."""
    if not value:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([mhdw])", value.strip())
    if m:
        n, unit = float(m.group(1)), m.group(2)
        delta = {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n),
                 "w": timedelta(weeks=n)}[unit]
        return datetime.now(UTC) - delta
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: use 30m, 12h, 2d, 1w or an ISO date") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _dump(obj: Any) -> None:
    echo(redact(json.dumps(obj, ensure_ascii=False, indent=2, default=str)))


# --- running -------------------------------------------------------------------------


def _print_summary(s: dict[str, Any]) -> None:
    echo(f"feeds: {s['feeds_polled']} polled ({s['feeds_ok']} new content, "
         f"{s['feeds_not_modified']} not modified, {s['feeds_unchanged']} unchanged, "
         f"{s['feeds_failed']} failed{', %d gone' % s['feeds_gone'] if s['feeds_gone'] else ''})")
    echo(f"articles: {s['articles_new']} new, {s['articles_merged']} seen again "
         f"({s['extraction_fallbacks']} from the feed summary only)")
    echo(f"hits: {s['hits_new']} new")
    echo(f"alerts: {s['alerts_sent']} sent, {s['alerts_failed']} failed"
         f"{', %d dead' % s['alerts_dead'] if s['alerts_dead'] else ''}")
    if s.get("health_sent") or s.get("health_failed"):
        echo(f"route health messages (alerting broken / recovered): {s['health_sent']} sent, "
             f"{s['health_failed']} failed")
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
def run(ctx: typer.Context,
        feed: Annotated[list[str] | None, typer.Option(
            "--feed", help="Poll only this feed URL (repeatable); polls it even if not due.")] = None,
        force: Annotated[bool, typer.Option(help="Poll every feed now, due or not.")] = False,
        prefect: Annotated[bool, typer.Option(
            help="Run as a Prefect flow (default); --no-prefect runs the same steps plainly.")
        ] = True,
        allow_host: AllowHostOpt = None,
        json_out: JsonOpt = False) -> None:
    """Run one polling cycle now: poll, extract, classify, store, alert."""
    _allow_hosts(allow_host)
    c = _ctx(ctx)
    config = c.config
    if c.db:
        import os

        # config.database_url (and the flow, in its own process) read $NEWSMON_DB first.
        config.settings.database = c.db
        os.environ["NEWSMON_DB"] = c.db
    if not prefect:
        _log_progress()  # under Prefect, its handlers show newsmon's log lines
    if prefect:
        from flows.cycle import cycle

        summary = cycle(config_dir=str(config.directory), feeds=feed or None, force=force)
    else:
        from monitor.pipeline import run_cycle
        from monitor.workers import WorkerPool

        with WorkerPool.for_config(config) as pool:
            summary = run_cycle(Store(config.database_url), config, only_urls=feed or None,
                                force=force, pool=pool).as_dict()
    if json_out:
        _dump(summary)
    else:
        _print_summary(summary)


@app.command()
def serve(ctx: typer.Context,
          interval: Annotated[float | None, typer.Option(
              help="Minutes between cycles (default: settings.yaml schedule).")] = None,
          cron: Annotated[str | None, typer.Option(help="Cron schedule instead of interval.")
                          ] = None,
          allow_host: AllowHostOpt = None) -> None:
    """Run on a schedule: serve the Prefect deployments (starts a local Prefect server
    unless PREFECT_API_URL is set). Ctrl-C stops."""
    _allow_hosts(allow_host)
    c = _ctx(ctx)
    config = c.config
    if c.db:
        import os

        os.environ["NEWSMON_DB"] = c.db
    from flows.serve import serve as serve_flows

    store = Store(config.database_url)
    store.sync_feeds(config.feeds)
    echo(f"newsmon: {len(config.feeds)} feeds, {len(config.topics)} topics, "
         f"{sum(len(r.urls) for r in config.routes)} alert targets; "
         f"database {mask_db_url(config.database_url)}")
    serve_flows(config, interval_minutes=interval, cron=cron)


@app.command()
def digest(ctx: typer.Context) -> None:
    """Send the pending digest alerts now."""
    from monitor.pipeline import send_alerts

    c = _ctx(ctx)
    s = send_alerts(c.store(), c.config, mode="digest").as_dict()
    echo(f"digest: {s['alerts_sent']} sent, {s['alerts_failed']} failed")
    for e in s["errors"]:
        echo(f"  ! {clean(e, 300)}")


@app.command()
def demo(ctx: typer.Context,
         out: Annotated[Path, typer.Option(help="Where to keep the demo database.")] = Path(
             "demo-output"),
         prefect: Annotated[bool, typer.Option(help="Run through Prefect (default).")] = True
         ) -> None:
    """Offline demo: real feeds and pages on loopback, a real SMTP server and chat webhook;
    two cycles through the real flow into a fresh SQLite database."""
    from monitor.demo import run_demo

    c = _ctx(ctx)
    topics = Path(c.config_dir or "config") / "topics.yaml"
    run_demo(topics, out, use_prefect=prefect, echo=echo)


# --- feeds ---------------------------------------------------------------------------


@feeds_app.callback(invoke_without_command=True)
def feeds_list(ctx: typer.Context, json_out: JsonOpt = False,
               failing: Annotated[bool, typer.Option(help="Only feeds with errors.")] = False
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
    _table([[f.id, f.name or f.title or "", "GONE (410)" if f.gone else (f.last_status or "-"),
             f.consecutive_failures or 0, _when(f.last_success_at), _when(f.next_poll_at),
             clean(f.last_error or f.notice or "", 70)] for f in rows],
           ["id", "name", "status", "fails", "last success", "next poll", "error / notice"])
    bad = sum(1 for f in rows if f.consecutive_failures)
    echo(f"\n{len(rows)} feeds, {bad} failing")


@feeds_app.command("import")
def feeds_import(ctx: typer.Context, opml: Annotated[Path, typer.Argument(
        help="An OPML export from a feed reader.")],
                 dry_run: Annotated[bool, typer.Option(help="Show, do not write.")] = False
                 ) -> None:
    """Add the feeds of an OPML file to feeds.yaml (feeds already there are skipped)."""
    from monitor.config import add_feeds
    from monitor.feeds import read_opml

    c = _ctx(ctx)
    found = read_opml(opml)
    added, skipped = add_feeds(c.config.directory or Path("config"), found, dry_run=dry_run)
    for f in added:
        echo(f"{'would add' if dry_run else 'added'}: {clean(f['url'])}  {clean(f['name'])}")
    echo(f"{len(added)} added, {len(skipped)} already there"
         f"{' (dry run: nothing written)' if dry_run else ''}")


# --- hits ----------------------------------------------------------------------------


TopicOpt = Annotated[str | None, typer.Option("--topic", "-t", help="Topic id.")]
SinceOpt = Annotated[str | None, typer.Option(help="Newer than: 30m, 12h, 2d, 1w, or a date.")]
ScoreOpt = Annotated[float | None, typer.Option("--min-score", help="Score at least this.")]
LabelOpt = Annotated[str | None, typer.Option(
    help="relevant, irrelevant, or unreviewed.")]
SearchOpt = Annotated[str | None, typer.Option("--search", "-s", help=(
    'Words or "phrases" in title or text (full-text index; words also match as prefixes).'))]


def _filters(topic: str | None, since: str | None, min_score: float | None,
             label: str | None, search: str | None) -> HitFilter:
    if label and label not in {"relevant", "irrelevant", "unreviewed"}:
        raise typer.BadParameter("--label must be relevant, irrelevant or unreviewed")
    return HitFilter(topic=topic, since=_since(since), min_score=min_score, label=label,
                     search=search)


@hits_app.callback(invoke_without_command=True)
def hits_list(ctx: typer.Context, topic: TopicOpt = None, since: SinceOpt = None,
              min_score: ScoreOpt = None, label: LabelOpt = None, search: SearchOpt = None,
              limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
              json_out: JsonOpt = False) -> None:
    """List stored hits, newest first."""
    if ctx.invoked_subcommand:
        return
    store = _ctx(ctx).store()
    rows = list(iter_hits(store, _filters(topic, since, min_score, label, search), limit))
    if json_out:
        _dump([hit_record(h, a) for h, a in rows])
        return
    if not rows:
        echo("no hits match")
        return
    _table([[h.id, _when(h.created_at), h.topic_id, f"{h.score:.2f}", h.label or "-",
             clean(a.title, 80)] for h, a in rows],
           ["id", "found", "topic", "score", "label", "title"])
    echo("\n`newsmon hits show ID` for the evidence; `newsmon hits mark ID relevant|irrelevant`")


@hits_app.command("show")
def hits_show(ctx: typer.Context, hit_id: int, json_out: JsonOpt = False) -> None:
    """One hit: the article, the score, and why it matched."""
    store = _ctx(ctx).store()
    h, a = store.hit(hit_id)
    if json_out:
        rec = hit_record(h, a, full=True)
        rec["sources"] = [{"feed": f.name or f.url, "link": src.link}
                          for src, f in store.article_sources(a.id or 0)]
        rec["alerts"] = [{"route": d.route, "target": d.target_display, "status": d.status,
                          "attempts": d.attempts, "error": d.last_error, "sent_at": d.sent_at}
                         for d in store.deliveries_for_hit(hit_id)]
        _dump(rec)
        return
    ev = h.evidence or {}
    echo(f"#{h.id}  {clean(a.title)}")
    echo(f"  {clean(a.url)}")
    echo(f"  topic {h.topic_id} (version {h.topic_version})  score {h.score:.2f} "
         f"(threshold {ev.get('threshold', '?')})  label {h.label or 'unreviewed'}"
         f"{'  note: ' + clean(h.label_note) if h.label_note else ''}")
    echo(f"  published {_when(a.published_at)} ({a.published_source})  found "
         f"{_when(h.created_at)}  language {a.language or '?'}  text from "
         f"{'the page' if a.extraction == 'ok' else 'the feed summary: ' + clean(a.extraction_error)}")
    for src, f in store.article_sources(a.id or 0):
        echo(f"  source: {clean(f.name or f.title or f.url)}")
    echo(f"\n  rule: {clean(ev.get('rule', ''))}")
    echo("\n  groups:")
    for g, info in sorted((ev.get("groups") or {}).items(),
                          key=lambda kv: -kv[1].get("contribution", 0)):
        terms = ", ".join(f"{clean(t)}×{n}" for t, n in list(info.get("terms", {}).items())[:8])
        echo(f"    {g:<12} +{info.get('contribution', 0):.3f}  {terms}")
    if ev.get("cancelled"):
        echo(f"  cancelled by exclusions: {clean(ev['cancelled'])}")
    echo("\n  evidence:")
    for s in ev.get("sentences", []):
        echo(f"    [{s.get('field')}] {clean(s.get('text'), 400)}")
    dels = store.deliveries_for_hit(hit_id)
    if dels:
        echo("\n  alerts:")
        for d in dels:
            echo(f"    {d.route} -> {d.target_display}: {d.status}"
                 f"{' (' + clean(d.last_error, 120) + ')' if d.last_error else ''}")


@hits_app.command("mark")
def hits_mark(ctx: typer.Context, hit_id: int,
              label: Annotated[str, typer.Argument(help="relevant, irrelevant or clear")],
              note: Annotated[str | None, typer.Option(help="Why (kept with the label).")]
              = None) -> None:
    """Label a hit right (relevant) or wrong (irrelevant), or clear the label."""
    if label not in LABELS:
        raise typer.BadParameter("label must be relevant, irrelevant or clear")
    h = _ctx(ctx).store().mark_hit(hit_id, LABELS[label], note)
    echo(f"hit {h.id}: {h.label or 'unreviewed'}")


@hits_app.command("export")
def hits_export(ctx: typer.Context,
                fmt: Annotated[str, typer.Option("--format", "-f", help="csv or jsonl")] = "jsonl",
                output: Annotated[Path | None, typer.Option("--output", "-o",
                                                            help="File (default stdout).")] = None,
                topic: TopicOpt = None, since: SinceOpt = None, min_score: ScoreOpt = None,
                label: LabelOpt = None, search: SearchOpt = None,
                full: Annotated[bool, typer.Option(help="Include text and evidence.")] = False
                ) -> None:
    """Export hits (all, or filtered) as CSV or JSON lines."""
    if fmt not in {"csv", "jsonl"}:
        raise typer.BadParameter("--format must be csv or jsonl")
    store = _ctx(ctx).store()
    rows = iter_hits(store, _filters(topic, since, min_score, label, search), None,
                     with_text=full)
    from monitor.perms import open_private

    # A new export file is owner-only: review notes and labels are the team's business.
    out = open_private(output, "w", encoding="utf-8", newline="") if output else sys.stdout
    n = 0
    try:
        n = _write_hits(out, fmt, (hit_record(h, a, full=full) for h, a in rows))
    finally:
        if output:
            out.close()
    if output:
        echo(f"{n} hits written to {output}")


def _write_hits(out: Any, fmt: str, records: Iterable[dict[str, Any]]) -> int:
    n = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal n
        for rec in records:
            n += 1
            yield rec

    for chunk in lines(counted(), fmt):
        out.write(chunk)
    return n


# --- alerts ----------------------------------------------------------------------------


def _config_or_none(c: Ctx) -> Config:
    """The config for commands that mostly read the database: with a broken config
    they still show what the database holds (and say so)."""
    try:
        return c.config
    except ConfigError as exc:
        # on stderr: --json output stays valid JSON
        typer.echo(f"newsmon: config not read ({clean(exc, 200)}): routes from the database "
                   "only", err=True)
        return Config()


def _route_rows(routes: list[Any]) -> list[list[Any]]:
    return [[r.route, clean(r.target or "(no URL set)", 45), r.mode, r.state,
             _when(r.last_success_at), _when(r.failing_since), r.consecutive_failures,
             r.waiting, r.dead, clean(r.last_error or "", 60)] for r in routes]


ROUTE_HEADERS = ["route", "target", "mode", "state", "last success", "failing since",
                 "fails", "waiting", "dead", "last error"]


@app.command()
def alerts(ctx: typer.Context,
           status: Annotated[str | None, typer.Option(
               help="pending, sending, sent, failed or dead")] = None,
           limit: int = 50, json_out: JsonOpt = False,
           routes: Annotated[bool, typer.Option(
               "--routes", help="Only the routes' health and the health alerts "
               "(with --json: {routes, health_alerts}).")] = False) -> None:
    """Alert routes' health, then the outbox: what was sent, what waits for a retry,
    what is dead. ``--json`` alone lists the deliveries."""
    from monitor.alert import route_health

    c = _ctx(ctx)
    store = c.store()
    if json_out and not routes:
        _dump([d.model_dump(exclude={"target"}) for d in store.deliveries(status=status,
                                                                         limit=limit)])
        return
    health = route_health(store, _config_or_none(c))
    notices = store.health_alerts(status=status, limit=limit)
    if json_out:
        _dump({"routes": [r.as_dict() for r in health],
               "health_alerts": [a.model_dump(exclude={"target", "about_target"})
                                 for a in notices]})
        return
    echo("alert routes (health):")
    if health:
        _table(_route_rows(health), ROUTE_HEADERS)
    else:
        echo("  no routes configured")
    if notices:
        echo("\nhealth alerts (newest first):")
        _table([[a.id, a.about_route, a.kind, a.route, clean(a.target_display, 45), a.status,
                 a.attempts, _when(a.sent_at or a.next_attempt_at),
                 clean(a.last_error or "", 60)] for a in notices],
               ["id", "about", "kind", "to route", "target", "status", "tries", "sent/next",
                "error"])
    if routes:
        return
    rows = store.deliveries(status=status, limit=limit)
    echo("")
    if not rows:
        echo("outbox is empty" if not status else f"no {status} deliveries in the outbox")
        return
    echo("outbox (newest first):")
    _table([[d.id, d.hit_id, d.route, d.target_display, d.mode, d.status, d.attempts,
             _when(d.sent_at or d.next_attempt_at), clean(d.last_error or "", 60)]
            for d in rows],
           ["id", "hit", "route", "target", "mode", "status", "tries", "sent/next", "error"])


@app.command()
def status(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """What is in the database, how the last runs went, and the alert routes' health."""
    from monitor.alert import route_health

    c = _ctx(ctx)
    store = c.store()
    counts = store.counts()
    runs = store.last_runs(5)
    health = route_health(store, _config_or_none(c))
    if json_out:
        _dump({"database": mask_db_url(store.url), "counts": counts,
               "runs": [r.model_dump() for r in runs],
               "routes": [r.as_dict() for r in health]})
        return
    echo(f"database: {mask_db_url(store.url)}")
    echo("  " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for r in runs:
        s = r.summary or {}
        echo(f"  {r.kind} {_when(r.started_at)}: {s.get('feeds_polled', 0)} feeds, "
             f"{s.get('articles_new', 0)} articles, {s.get('hits_new', 0)} hits, "
             f"{s.get('alerts_sent', 0)} alerts, {len(s.get('errors', []))} errors")
    states: dict[str, int] = {}
    for h in health:
        states[h.state] = states.get(h.state, 0) + 1
    echo("alert routes: " + (", ".join(f"{n} {st}" for st, n in sorted(states.items()))
                             or "none configured"))
    for h in health:
        if h.state in ("failing", "not in config") or h.dead:
            echo(f"  ! {h.route} {clean(h.target, 45)} {h.state}"
                 + (f" since {_when(h.failing_since)}" if h.failing_since else "")
                 + f" ({h.consecutive_failures} fails, {h.waiting} waiting, {h.dead} dead)"
                 + (f": {clean(h.last_error, 100)}" if h.last_error else ""))


# --- articles and topics --------------------------------------------------------------


def _load_article(source: str, ctx: Ctx) -> Any:
    from monitor.extract import extract_file, extract_html

    if re.match(r"^https?://", source, re.I):
        import os

        from monitor.config import ALLOW_HOSTS_ENV, FetchSettings, parse_allow_hosts
        from monitor.fetch import PAGE_ACCEPT, Fetcher

        settings = ctx.config.settings.fetch if _has_config(ctx) else FetchSettings(
            allow_hosts=parse_allow_hosts([os.environ.get(ALLOW_HOSTS_ENV, "")],
                                          f"${ALLOW_HOSTS_ENV} (environment)"))

        async def get() -> Any:
            async with Fetcher(settings) as f:
                return await f.fetch(source, accept=PAGE_ACCEPT)

        res = asyncio.run(get())
        return extract_html(res.body or b"", res.url)
    return extract_file(source)


def _has_config(ctx: Ctx) -> bool:
    try:
        ctx.config
        return True
    except ConfigError:
        return False


@app.command()
def extract(ctx: typer.Context, source: Annotated[str, typer.Argument(
        help="URL, or a saved HTML page (.html, .html.gz) or text file.")],
            allow_host: AllowHostOpt = None, json_out: JsonOpt = False) -> None:
    """Extract an article's text and metadata, as the pipeline does."""
    _allow_hosts(allow_host)
    ex = _load_article(source, _ctx(ctx))
    if json_out:
        _dump(ex.as_dict())
        return
    echo(f"title: {clean(ex.title)}\nauthor: {clean(ex.author)}\npublished: "
         f"{_when(ex.published)}\nlanguage: {ex.language}\n")
    echo("\n".join(clean(p) for p in (ex.text or "").split("\n")).replace(" ", " "))


@topics_app.command("list")
def topics_list(ctx: typer.Context) -> None:
    """The configured topics."""
    from monitor.learn import active_models, model_path

    topics = _ctx(ctx).config.topics
    models = active_models(topics)
    for t in topics:
        echo(f"{t.id}  ({t.name}, version {t.version}, threshold {t.threshold}): "
             f"{clean(t.description or '', 100)}")
        m = models.get(t.id)
        if m is not None:
            state = "" if m.topic_version == t.version else (
                f" - STALE: trained for version {m.topic_version}, rules alone decide")
            echo(f"    model {m.model_id} active ({m.n_labels} reviewed labels){state}")
        if model_path(t.id, "candidate").exists():
            echo(f"    a candidate model waits: `newsmon topics test {t.id}`, then `activate`")


@topics_app.command("explain")
def topics_explain(ctx: typer.Context, source: Annotated[str, typer.Argument(
        help="URL, or a saved HTML page or text file.")],
                   topic: TopicOpt = None, json_out: JsonOpt = False) -> None:
    """Why an article is (or is not) a hit for each topic: rule, groups, terms, sentences."""
    from monitor.classify import Classifier

    c = _ctx(ctx)
    topics = [c.config.topic(topic)] if topic else c.config.topics
    ex = _load_article(source, c)
    results = Classifier(topics).classify(ex.title, ex.text, language=ex.language)
    if json_out:
        _dump([r.as_dict() for r in results])
        return
    echo(f"{clean(ex.title)}  (language {ex.language or '?'})\n")
    for r in results:
        ev = r.evidence
        echo(f"{r.topic}: {'HIT' if r.matched else 'no'}  score {r.score:.2f} "
             f"(threshold {ev.get('threshold')}), rule {'passed' if ev.get('rule_passed') else 'failed'}")
        echo(f"  rule: {clean(ev.get('rule', ''))}")
        for g, info in sorted((ev.get("groups") or {}).items(),
                              key=lambda kv: -kv[1].get("contribution", 0)):
            if info.get("count"):
                terms = ", ".join(f"{clean(t)}×{n}" for t, n in list(info["terms"].items())[:6])
                echo(f"    {g:<12} +{info.get('contribution', 0):.3f}  {terms}")
        if ev.get("cancelled"):
            echo(f"  cancelled: {clean(ev['cancelled'])}")
        _echo_model(ev)
        for s in ev.get("sentences", [])[:3]:
            echo(f"  > {clean(s.get('text'), 300)}")
        echo()


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate the config directory and show what it contains (secrets masked)."""
    from monitor.alert import mask_url

    c = _ctx(ctx)
    cfg = c.config
    echo(f"config {cfg.directory}: OK")
    echo(f"  database: {mask_db_url(c.db_url())}")
    echo(f"  {len(cfg.feeds)} feeds, {len(cfg.topics)} topics: "
         f"{', '.join(t.id for t in cfg.topics)}")
    f = cfg.settings.fetch
    echo("  fetching: " + ("any address (fetch.allow_private_networks: true)"
                           if f.allow_private_networks else "public addresses only" + (
                               f"; also allowed: {', '.join(f.allow_hosts)}"
                               if f.allow_hosts else "")))
    for r in cfg.routes:
        urls = ", ".join(mask_url(u) for u in r.urls) or "(no URL set: route is off)"
        echo(f"  route {r.name} [{r.mode}] topics {','.join(r.topics)} "
             f"min score {r.min_score}: {urls}")


def main() -> None:
    """Entry point: library errors become one line, config errors exit 2."""
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"newsmon: config error: {exc}", err=True)
        sys.exit(2)
    except NewsmonError as exc:
        typer.echo(f"newsmon: error: {exc}", err=True)
        sys.exit(1)
    except KeyError as exc:
        typer.echo(f"newsmon: error: unknown {exc}", err=True)
        sys.exit(1)


# --- the review desk ---------------------------------------------------------------------


@app.command()
def web(ctx: typer.Context,
        host: Annotated[str, typer.Option(
            help="Address to listen on. Anything but loopback needs $NEWSMON_WEB_TOKEN.")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080) -> None:
    """The review desk in a browser: triage hits, see the evidence, label them.

    Binds to 127.0.0.1 unless told otherwise; set NEWSMON_WEB_TOKEN (16+ characters)
    to require a login, which binding to any other address demands. Ctrl-C stops."""
    import os

    from monitor.web.security import check_bind
    from monitor.web.server import serve as serve_desk

    token = os.environ.get("NEWSMON_WEB_TOKEN") or None
    check_bind(host, token)
    c = _ctx(ctx)
    topics: list[Any] = []
    problem = None
    try:
        topics = list(c.config.topics)
    except ConfigError as exc:  # reviewing stored hits must not need a valid config
        problem = str(exc)
    serve_desk(c.store(), topics, host=host, port=port, token=token, config_problem=problem,
               echo=echo)


# --- schema migrations ---------------------------------------------------------------------

db_app = typer.Typer(help="The database schema: show its version, upgrade it (Alembic).")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context,
               revision: Annotated[str, typer.Option(help="Target revision.")] = "head"
               ) -> None:
    """Upgrade the database's schema in place (SQLite or PostgreSQL), keeping its data.

    Safe to run on an up-to-date database. Stop the workers first: a worker on the old
    schema may fail on the new one."""
    from monitor import migrate

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
    from monitor import migrate

    url = _ctx(ctx).db_url()
    store = Store(url, create=False)
    try:
        echo(f"{mask_db_url(url)}: {migrate.state(store.engine)}")
    finally:
        store.close()


# --- topics: learning from review, testing, evaluation (docs/topics.md) ------------------


def _echo_model(ev: dict[str, Any]) -> None:
    """The model part of a decision's evidence, if a model took part."""
    m = ev.get("model")
    if not m:
        return
    if not m.get("used", True) and m.get("reason"):
        echo(f"  model: not used - {clean(m['reason'])}")
        return
    echo(f"  model {m.get('id')}: P(relevant) {m.get('probability', 0):.2f} "
         f"(rules alone: score {ev.get('rule_score', 0):.2f}, "
         f"{'hit' if ev.get('rule_matched') else 'no hit'}); strongest features:")
    feats = m.get("features") or []
    echo("    " + ", ".join(f"{clean(f['feature'])} {f['contribution']:+.2f}" for f in feats[:8]))


def _topic_or_exit(c: Ctx, topic_id: str) -> Any:
    try:
        return c.config.topic(topic_id)
    except KeyError:
        known = ", ".join(t.id for t in c.config.topics)
        raise typer.BadParameter(f"unknown topic {topic_id!r} (topics: {known})") from None


@topics_app.command("train")
def topics_train(ctx: typer.Context,
                 topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")],
                 limit: Annotated[int, typer.Option(
                     help="At most this many stored articles (newest first).")] = 20_000,
                 json_out: JsonOpt = False) -> None:
    """Train the topic's model from reviewed hits and seeds; saved as a candidate
    (`newsmon topics test` shows what it would change, `activate` puts it to use)."""
    from monitor.learn import save_model
    from monitor.review import load_pool, train_topic

    c = _ctx(ctx)
    topic = _topic_or_exit(c, topic_id)
    pool = load_pool(c.store(), topic, config_dir=c.config.directory, limit=limit)
    rep = train_topic(topic, pool, progress=None if json_out else echo)
    path = save_model(rep.model, "candidate")
    chk = rep.check
    if json_out:
        _dump({"topic": topic.id, "model": rep.model.model_id, "path": str(path),
               "pool": rep.pool, "labels": {"relevant": rep.labels_relevant,
                                            "irrelevant": rep.labels_irrelevant},
               "rule_hits": rep.rule_hits, "model_hits": rep.model_hits,
               "threshold": rep.model.threshold,
               "labels_rules_correct": chk.rules_correct,
               "labels_model_correct_cv": chk.model_correct,
               "top_positive": rep.top_positive, "top_negative": rep.top_negative})
        return
    echo(f"{topic.id}: trained candidate model {rep.model.model_id} on {rep.pool} articles "
         f"({rep.labels_relevant} reviewed relevant, {rep.labels_irrelevant} irrelevant; "
         f"the rest labelled by the rules)")
    echo(f"  on the stored articles: rules {rep.rule_hits} hits, model {rep.model_hits} hits "
         f"(P(relevant) >= {rep.model.threshold:.2f})")
    if chk.model_correct is not None:
        echo(f"  reviewed labels: rules agree on {chk.rules_correct}/{chk.n}, the model on "
             f"{chk.model_correct}/{chk.n} ({chk.folds}-fold: each label unseen when scored)")
    else:
        echo(f"  reviewed labels: rules agree on {chk.rules_correct}/{chk.n} "
             f"(too few labels of both kinds to cross-check the model)")
    echo("  words for:     " + ", ".join(f"{clean(f)} {w:+.1f}" for f, w in rep.top_positive))
    echo("  words against: " + ", ".join(f"{clean(f)} {w:+.1f}" for f, w in rep.top_negative))
    echo(f"\nsaved {path}\nnext: `newsmon topics test {topic.id}` to see what it would change, "
         f"`newsmon topics activate {topic.id}` to use it")


@topics_app.command("test")
def topics_test(ctx: typer.Context,
                topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")],
                model: Annotated[str, typer.Option(
                    help="candidate (default if one exists), active, or none (rules alone).")
                ] = "auto",
                show: Annotated[int, typer.Option(help="List at most this many of each.")] = 15,
                json_out: JsonOpt = False) -> None:
    """Re-score the stored articles with the current definition (and model): new hits,
    lost hits, labelled hits affected, seed examples - before anything is used."""
    from monitor.learn import load_model, model_path
    from monitor.review import compare_topic

    c = _ctx(ctx)
    topic = _topic_or_exit(c, topic_id)
    if model not in {"auto", "candidate", "active", "none"}:
        raise typer.BadParameter("--model must be candidate, active or none")
    chosen = None
    kind = model
    if model == "auto":
        kind = "candidate" if model_path(topic.id, "candidate").exists() else (
            "active" if model_path(topic.id, "active").exists() else "none")
    if kind != "none":
        chosen = load_model(model_path(topic.id, kind))
    rep = compare_topic(c.store(), topic, chosen, config_dir=c.config.directory)
    if json_out:
        _dump({"topic": rep.topic, "version": rep.version, "model": rep.model,
               "model_kind": kind, "articles": rep.articles, "stored_hits": rep.stored_hits,
               "hits_now": rep.hits_now, "kept": rep.kept,
               "new_hits": [vars(x) for x in rep.new_hits],
               "lost_hits": [vars(x) for x in rep.lost_hits],
               "seeds": [{"ref": r, "expected_hit": e, "hit": h, "score": s}
                         for r, e, h, s in rep.seeds]})
        return
    using = f"{kind} model {rep.model}" if rep.model else "rules alone"
    if chosen is not None and chosen.topic_version != topic.version:
        echo(f"warning: the {kind} model was trained for version {chosen.topic_version}; "
             f"rules alone decide (retrain: newsmon topics train {topic.id})")
    echo(f"{topic.id} version {rep.version} with {using}, on {rep.articles} stored articles:")
    echo(f"  {rep.stored_hits} hits stored now -> {rep.hits_now} hits: {len(rep.new_hits)} new, "
         f"{len(rep.lost_hits)} lost, {rep.kept} kept")
    echo(f"  of the lost: {rep.lost_relevant} marked relevant (a loss), "
         f"{rep.dropped_irrelevant} marked irrelevant (a fix)")

    def lines(title: str, rows: list[Any]) -> None:
        if not rows:
            return
        echo(f"\n  {title}:")
        for x in rows[:show]:
            lab = {True: "relevant", False: "irrelevant", None: "-"}[x.label]
            was = f" (was {x.old_score:.2f})" if x.old_score is not None else ""
            echo(f"    {x.score:.2f}{was}  [{lab}]  {clean(x.title, 90)}")
        if len(rows) > show:
            echo(f"    ... {len(rows) - show} more (--show N, or --json)")

    lines("new hits", rep.new_hits)
    lines("lost hits", rep.lost_hits)
    if rep.seeds:
        echo("\n  seed examples:")
        for ref, expected, hit, score in rep.seeds:
            ok = "ok  " if expected == hit else "FAIL"
            echo(f"    {ok} {'hit ' if expected else 'miss'} expected, "
                 f"{'hit' if hit else 'no hit'} ({score:.2f}): {clean(ref)}")


@topics_app.command("activate")
def topics_activate(ctx: typer.Context,
                    topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")]
                    ) -> None:
    """Use the topic's candidate model from now on (the previous one is kept)."""
    from monitor.learn import activate

    c = _ctx(ctx)
    topic = _topic_or_exit(c, topic_id)
    m = activate(topic.id)
    note = "" if m.topic_version == topic.version else (
        f" - but it was trained for version {m.topic_version} and the topic is now "
        f"{topic.version}: rules alone decide until you retrain")
    echo(f"{topic.id}: model {m.model_id} is active ({m.n_labels} reviewed labels){note}")


@topics_app.command("deactivate")
def topics_deactivate(ctx: typer.Context,
                      topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")]
                      ) -> None:
    """Stop using the topic's model: rules alone decide (the model file is kept)."""
    from monitor.learn import deactivate

    topic = _topic_or_exit(_ctx(ctx), topic_id)
    echo(f"{topic.id}: {'model deactivated' if deactivate(topic.id) else 'no active model'}")


@topics_app.command("eval")
def topics_eval(ctx: typer.Context,
                dataset: Annotated[Path, typer.Option(
                    help='JSON lines: {"id", "title", "text", "labels": [...], '
                         '"split": "train"|"test"}.')],
                topics_file: Annotated[Path | None, typer.Option(
                    "--topics", help="A topics YAML file (default: the config's).")] = None,
                feedback: Annotated[int | None, typer.Option(
                    help="Also simulate review: N stories per topic proposed from the train "
                         "split, labelled from the truth, a model trained.")] = None,
                calibrate: Annotated[bool, typer.Option(
                    help="Also rules with thresholds calibrated on the train split.")] = False,
                json_out: JsonOpt = False) -> None:
    """Precision, recall and F1 per topic (micro and macro) on a labelled dataset."""
    from monitor.config import TopicsFile, load_yaml_model
    from monitor.evaluate import (
        feedback_run,
        format_table,
        load_dataset,
        prepare,
        rules_run,
    )

    c = _ctx(ctx)
    topics = (load_yaml_model(topics_file, TopicsFile).topics if topics_file
              else c.config.topics)
    items = load_dataset(dataset)
    n_train = sum(1 for it in items if it.split == "train")
    if (feedback or calibrate) and not n_train:
        raise typer.BadParameter("--feedback and --calibrate need a train split in the dataset")
    data = prepare(topics, items)
    runs = [rules_run(topics, data)]
    if calibrate:
        runs.append(rules_run(topics, data, calibrate=True))
    if feedback:
        runs.append(feedback_run(topics, data, feedback))
    if json_out:
        _dump([r.as_dict() for r in runs])
        return
    echo(f"{len(items) - n_train} test articles ({n_train} train), {len(topics)} topics\n")
    echo(format_table(runs, [t.id for t in topics]))


# --- stories ---------------------------------------------------------------------------------

stories_app = typer.Typer(help="Stories: the articles that report one event, grouped.")
app.add_typer(stories_app, name="stories")


@stories_app.command("cluster")
def stories_cluster(ctx: typer.Context, file: Annotated[str, typer.Argument(
        help='JSON lines {"id", "title", "text", "url", "published", "language"}; - is stdin.')]
                    ) -> None:
    """Group a file's articles into stories as the pipeline does: {"id", "story"} per line."""
    from monitor.stories import cluster_file

    for row in cluster_file(file, topics=Path(_ctx(ctx).config_dir or "config")):
        echo(json.dumps(row, ensure_ascii=False))
