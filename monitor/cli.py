"""The ``newsmon`` command: a thin shell over the library.

Every command reads the config directory (``--config`` / ``$NEWSMON_CONFIG``,
default ``./config``) and the database (``--db`` / ``$NEWSMON_DB``, else the
config's ``database``, else ``~/.local/share/newsmon/newsmon.db``). Library
errors become one line on stderr: exit code 2 for configuration errors, 1 for
anything else.
"""

from __future__ import annotations

import asyncio
import csv
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
from monitor.store import Article, Hit, Store, mask_db_url

app = typer.Typer(help="newsmon: news monitoring - feeds, article text, topics, hits, alerts.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
feeds_app = typer.Typer(help="Feed health, and importing feeds from OPML.")
hits_app = typer.Typer(help="Review stored hits: list, show, mark, export.")
topics_app = typer.Typer(help="Topics: list them, explain a decision on any article.")
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


@app.callback()
def _main(ctx: typer.Context, config: ConfigOpt = None, db: DbOpt = None) -> None:
    ctx.obj = Ctx(config, db)


def _ctx(ctx: typer.Context) -> Ctx:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Ctx(None, None)
    obj: Ctx = root.obj
    return obj


def clean(text: Any, width: int | None = None) -> str:
    """Text from the outside world made safe for a terminal: one line, no escape sequences."""
    s = _CONTROL.sub(" ", str(text if text is not None else ""))
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
    echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


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
        json_out: JsonOpt = False) -> None:
    """Run one polling cycle now: poll, extract, classify, store, alert."""
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
                          ] = None) -> None:
    """Run on a schedule: serve the Prefect deployments (starts a local Prefect server
    unless PREFECT_API_URL is set). Ctrl-C stops."""
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


@dataclass
class Filters:
    topic: str | None
    since: datetime | None
    min_score: float | None
    label: str | None
    search: str | None


TopicOpt = Annotated[str | None, typer.Option("--topic", "-t", help="Topic id.")]
SinceOpt = Annotated[str | None, typer.Option(help="Newer than: 30m, 12h, 2d, 1w, or a date.")]
ScoreOpt = Annotated[float | None, typer.Option("--min-score", help="Score at least this.")]
LabelOpt = Annotated[str | None, typer.Option(
    help="relevant, irrelevant, or unreviewed.")]
SearchOpt = Annotated[str | None, typer.Option("--search", "-s", help="Text in title or body.")]


def _filters(topic: str | None, since: str | None, min_score: float | None,
             label: str | None, search: str | None) -> Filters:
    if label and label not in {"relevant", "irrelevant", "unreviewed"}:
        raise typer.BadParameter("--label must be relevant, irrelevant or unreviewed")
    return Filters(topic, _since(since), min_score, label, search)


def _iter_hits(store: Store, f: Filters, limit: int | None) -> Iterator[tuple[Hit, Article]]:
    page, offset = 500, 0
    while True:
        n = page if limit is None else min(page, limit - offset)
        if n <= 0:
            return
        rows = store.hits(topic=f.topic, since=f.since, min_score=f.min_score, label=f.label,
                          search=f.search, limit=n, offset=offset)
        yield from rows
        if len(rows) < n:
            return
        offset += len(rows)


def hit_record(h: Hit, a: Article, *, full: bool = False) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": h.id, "topic": h.topic_id, "score": h.score, "label": h.label,
        "label_note": h.label_note, "title": a.title, "url": a.url,
        "published_at": a.published_at, "found_at": h.created_at, "language": a.language,
        "topic_version": h.topic_version,
        "evidence_sentences": [s["text"] for s in (h.evidence or {}).get("sentences", [])[:3]],
    }
    if full:
        rec["evidence"] = h.evidence
        rec["text"] = a.text
        rec["extraction"] = a.extraction
        rec["extraction_error"] = a.extraction_error
    return rec


@hits_app.callback(invoke_without_command=True)
def hits_list(ctx: typer.Context, topic: TopicOpt = None, since: SinceOpt = None,
              min_score: ScoreOpt = None, label: LabelOpt = None, search: SearchOpt = None,
              limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
              json_out: JsonOpt = False) -> None:
    """List stored hits, newest first."""
    if ctx.invoked_subcommand:
        return
    store = _ctx(ctx).store()
    rows = list(_iter_hits(store, _filters(topic, since, min_score, label, search), limit))
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
    rows = _iter_hits(store, _filters(topic, since, min_score, label, search), None)
    out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
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
    writer = None
    for rec in records:
        if fmt == "jsonl":
            out.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
        else:
            flat = {k: (" | ".join(v) if isinstance(v, list) else
                        json.dumps(v, default=str) if isinstance(v, dict) else v)
                    for k, v in rec.items()}
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(flat))
                writer.writeheader()
            writer.writerow(flat)
        n += 1
    return n


# --- alerts ----------------------------------------------------------------------------


@app.command()
def alerts(ctx: typer.Context,
           status: Annotated[str | None, typer.Option(
               help="pending, sending, sent, failed or dead")] = None,
           limit: int = 50, json_out: JsonOpt = False) -> None:
    """The alert outbox: what was sent, what waits for a retry, what is dead."""
    rows = _ctx(ctx).store().deliveries(status=status, limit=limit)
    if json_out:
        _dump([d.model_dump(exclude={"target"}) for d in rows])
        return
    if not rows:
        echo("outbox is empty")
        return
    _table([[d.id, d.hit_id, d.route, d.target_display, d.mode, d.status, d.attempts,
             _when(d.sent_at or d.next_attempt_at), clean(d.last_error or "", 60)]
            for d in rows],
           ["id", "hit", "route", "target", "mode", "status", "tries", "sent/next", "error"])


@app.command()
def status(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """What is in the database, and how the last runs went."""
    c = _ctx(ctx)
    store = c.store()
    counts = store.counts()
    runs = store.last_runs(5)
    if json_out:
        _dump({"database": mask_db_url(store.url), "counts": counts,
               "runs": [r.model_dump() for r in runs]})
        return
    echo(f"database: {mask_db_url(store.url)}")
    echo("  " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for r in runs:
        s = r.summary or {}
        echo(f"  {r.kind} {_when(r.started_at)}: {s.get('feeds_polled', 0)} feeds, "
             f"{s.get('articles_new', 0)} articles, {s.get('hits_new', 0)} hits, "
             f"{s.get('alerts_sent', 0)} alerts, {len(s.get('errors', []))} errors")


# --- articles and topics --------------------------------------------------------------


def _load_article(source: str, ctx: Ctx) -> Any:
    from monitor.extract import extract_file, extract_html

    if re.match(r"^https?://", source, re.I):
        from monitor.config import FetchSettings
        from monitor.fetch import PAGE_ACCEPT, Fetcher

        settings = ctx.config.settings.fetch if _has_config(ctx) else FetchSettings()

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
            json_out: JsonOpt = False) -> None:
    """Extract an article's text and metadata, as the pipeline does."""
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
    for t in _ctx(ctx).config.topics:
        echo(f"{t.id}  ({t.name}, version {t.version}, threshold {t.threshold}): "
             f"{clean(t.description or '', 100)}")


@topics_app.command("explain")
def topics_explain(ctx: typer.Context, source: Annotated[str, typer.Argument(
        help="URL, or a saved HTML page or text file.")],
                   topic: TopicOpt = None, json_out: JsonOpt = False) -> None:
    """Why an article is (or is not) a hit for each topic: rule, groups, terms, sentences."""
    from monitor.classify import Classifier

    c = _ctx(ctx)
    topics = [c.config.topic(topic)] if topic else c.config.topics
    ex = _load_article(source, c)
    results = Classifier(topics).classify(ex.title, ex.text)
    if json_out:
        _dump([r.as_dict() for r in results])
        return
    echo(f"{clean(ex.title)}\n")
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
