"""``newsmon hits``: review stored hits - list, show, mark, export."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.app import (
    JsonOpt,
    TopicOpt,
    _ctx,
    _dump,
    _since,
    _table,
    _when,
    clean,
    echo,
    hits_app,
)

if TYPE_CHECKING:
    from monitor.store import HitFilter

LABELS = {"relevant": "relevant", "irrelevant": "irrelevant", "clear": None}


SinceOpt = Annotated[str | None, typer.Option(help="Newer than: 30m, 12h, 2d, 1w, or a date.")]


ScoreOpt = Annotated[float | None, typer.Option("--min-score", help="Score at least this.")]


LabelOpt = Annotated[str | None, typer.Option(help="relevant, irrelevant, or unreviewed.")]


SearchOpt = Annotated[
    str | None,
    typer.Option(
        "--search",
        "-s",
        help=(
            'Words or "phrases" in title or text (full-text index; words also match as prefixes).'
        ),
    ),
]


def _filters(
    topic: str | None,
    since: str | None,
    min_score: float | None,
    label: str | None,
    search: str | None,
) -> HitFilter:
    if label and label not in {"relevant", "irrelevant", "unreviewed"}:
        raise typer.BadParameter("--label must be relevant, irrelevant or unreviewed")
    from monitor.store import HitFilter

    return HitFilter(
        topic=topic, since=_since(since), min_score=min_score, label=label, search=search
    )


@hits_app.callback(invoke_without_command=True)
def hits_list(
    ctx: typer.Context,
    topic: TopicOpt = None,
    since: SinceOpt = None,
    min_score: ScoreOpt = None,
    label: LabelOpt = None,
    search: SearchOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """List stored hits, newest first."""
    if ctx.invoked_subcommand:
        return
    from monitor.export import hit_records, iter_hits

    store = _ctx(ctx).store()
    rows = list(iter_hits(store, _filters(topic, since, min_score, label, search), limit))
    if json_out:
        _dump(list(hit_records(store, rows)))
        return
    if not rows:
        echo("no hits match")
        return
    _table(
        [
            [
                h.id,
                _when(h.created_at),
                h.topic_id,
                f"{h.score:.2f}",
                h.label or "-",
                clean(a.title, 80),
            ]
            for h, a in rows
        ],
        ["id", "found", "topic", "score", "label", "title"],
    )
    echo("\n`newsmon hits show ID` for the evidence; `newsmon hits mark ID relevant|irrelevant`")


@hits_app.command("show")
def hits_show(ctx: typer.Context, hit_id: int, json_out: JsonOpt = False) -> None:
    """One hit: the article, the score, and why it matched."""
    from monitor.cli.articles import label_step_line
    from monitor.export import hit_record, label_step_record

    store = _ctx(ctx).store()
    h, a = store.hit(hit_id)
    if json_out:
        rec = hit_record(h, a, full=True, story=store.story_ids_of([a.id or 0]).get(a.id or 0))
        rec["sources"] = [
            {"feed": f.name or f.url, "link": src.link}
            for src, f in store.article_sources(a.id or 0)
        ]
        rec["alerts"] = [
            {
                "route": d.route,
                "target": d.target_display,
                "status": d.status,
                "attempts": d.attempts,
                "error": d.last_error,
                "sent_at": d.sent_at,
            }
            for d in store.deliveries_for_hit(hit_id)
        ]
        rec["label_history"] = [
            label_step_record(e) for e in store.label_trail(a.id or 0, h.topic_id)
        ]
        _dump(rec)
        return
    ev = h.evidence or {}
    echo(f"#{h.id}  {clean(a.title)}")
    echo(f"  {clean(a.url)}")
    echo(
        f"  topic {h.topic_id} (version {h.topic_version})  score {h.score:.2f} "
        f"(threshold {ev.get('threshold', '?')})  label {h.label or 'unreviewed'}"
        f"{'  note: ' + clean(h.label_note) if h.label_note else ''}"
    )
    source = (
        "the page" if a.extraction == "ok" else "the feed summary: " + clean(a.extraction_error)
    )
    echo(
        f"  published {_when(a.published_at)} ({a.published_source})  found "
        f"{_when(h.created_at)}  language {a.language or '?'}  text from {source}"
    )
    for _src, f in store.article_sources(a.id or 0):
        echo(f"  source: {clean(f.name or f.title or f.url)}")
    echo(f"\n  rule: {clean(ev.get('rule', ''))}")
    echo("\n  groups:")
    for g, info in sorted(
        (ev.get("groups") or {}).items(), key=lambda kv: -kv[1].get("contribution", 0)
    ):
        terms = ", ".join(f"{clean(t)}×{n}" for t, n in list(info.get("terms", {}).items())[:8])
        echo(f"    {g:<12} +{info.get('contribution', 0):.3f}  {terms}")
    if ev.get("cancelled"):
        echo(f"  cancelled by exclusions: {clean(ev['cancelled'])}")
    echo("\n  evidence:")
    for s in ev.get("sentences", []):
        echo(f"    [{s.get('field')}] {clean(s.get('text'), 400)}")
    trail = store.label_trail(a.id or 0, h.topic_id)
    if trail:
        echo("\n  label history:")
        for e in trail:
            echo("    " + label_step_line(e))
    dels = store.deliveries_for_hit(hit_id)
    if dels:
        echo("\n  alerts:")
        for d in dels:
            echo(
                f"    {d.route} -> {d.target_display}: {d.status}"
                f"{' (' + clean(d.last_error, 120) + ')' if d.last_error else ''}"
            )


@hits_app.command("mark")
def hits_mark(
    ctx: typer.Context,
    hit_id: int,
    label: Annotated[str, typer.Argument(help="relevant, irrelevant or clear")],
    note: Annotated[str | None, typer.Option(help="Why (kept with the label).")] = None,
) -> None:
    """Label a hit right (relevant) or wrong (irrelevant), or clear the label."""
    if label not in LABELS:
        raise typer.BadParameter("label must be relevant, irrelevant or clear")
    h = _ctx(ctx).store().mark_hit(hit_id, LABELS[label], note)
    echo(f"hit {h.id}: {h.label or 'unreviewed'}")


@hits_app.command("export")
def hits_export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or jsonl")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout).")
    ] = None,
    topic: TopicOpt = None,
    since: SinceOpt = None,
    min_score: ScoreOpt = None,
    label: LabelOpt = None,
    search: SearchOpt = None,
    full: Annotated[bool, typer.Option(help="Include text and evidence.")] = False,
) -> None:
    """Export hits (all, or filtered) as CSV or JSON lines."""
    if fmt not in {"csv", "jsonl"}:
        raise typer.BadParameter("--format must be csv or jsonl")
    from monitor.export import hit_records, iter_hits

    store = _ctx(ctx).store()
    rows = iter_hits(store, _filters(topic, since, min_score, label, search), None, with_text=full)
    from monitor.perms import open_private

    # A new export file is owner-only: review notes and labels are the team's business.
    out = open_private(output, "w", encoding="utf-8", newline="") if output else sys.stdout
    n = 0
    try:
        n = _write_hits(out, fmt, hit_records(store, rows, full=full))
    finally:
        if output:
            out.close()
    if output:
        echo(f"{n} hits written to {output}")


def _write_hits(out: Any, fmt: str, records: Iterable[dict[str, Any]]) -> int:
    from monitor.export import lines

    n = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal n
        for rec in records:
            n += 1
            yield rec

    for chunk in lines(counted(), fmt):
        out.write(chunk)
    return n
