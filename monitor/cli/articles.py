"""``newsmon articles`` (list, search and label every stored article, hit or not) and
``newsmon topics near-misses`` (a topic's inbox of non-hits worth a look)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from monitor.cli.app import (
    JsonOpt,
    _ctx,
    _dump,
    _since,
    _table,
    _when,
    app,
    clean,
    echo,
    topics_app,
)
from monitor.errors import ConfigError

articles_app = typer.Typer(
    help="Every stored article, hit or not: list, search, and label for a topic "
    "(teach as hit / not a hit)."
)
app.add_typer(articles_app, name="articles")

MARKS = {"relevant": "relevant", "irrelevant": "irrelevant", "clear": None}


def _known_topic(ctx: typer.Context, topic: str) -> None:
    """A topic of the config (when there is one): a typo must not store a label."""
    c = _ctx(ctx)
    try:
        topics = c.config.topics
    except ConfigError:
        return  # reviewing stored articles must not need a valid config
    if topic not in {t.id for t in topics}:
        known = ", ".join(t.id for t in topics)
        raise typer.BadParameter(f"unknown topic {topic!r} (topics: {known})")


@articles_app.callback(invoke_without_command=True)
def articles_list(
    ctx: typer.Context,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            "-s",
            help='Words or "phrases" in title or text (full-text index; words also match '
            "as prefixes).",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="First seen after: 30m, 12h, 2d, 1w, or a date.")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Language (ISO 639-1).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    before: Annotated[
        int | None, typer.Option(help="Only articles older than this id (the next page).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List stored articles, hits or not, newest first, with their hits and labels."""
    if ctx.invoked_subcommand:
        return
    from monitor.export import article_records

    store = _ctx(ctx).store()
    rows = store.browse_articles(
        search=search, since=_since(since), language=lang, limit=limit, before=before
    )
    if json_out:
        _dump(article_records(store, rows))
        return
    if not rows:
        echo("no articles match")
        return
    records = article_records(store, rows)
    _table(
        [
            [
                r["id"],
                _when(r["first_seen_at"]),
                r["language"] or "-",
                _review(r),
                clean(r["title"], 70),
            ]
            for r in records
        ],
        ["id", "found", "lang", "topics", "title"],
    )
    echo(
        "\n`newsmon articles mark ID --topic T relevant|irrelevant` teaches a topic; "
        "`newsmon topics near-misses T` lists what a topic almost found"
    )


def _review(rec: dict[str, Any]) -> str:
    """Hits (topic, or topic=label) and labelled non-hits (topic~label), one cell."""
    parts = []
    for h in rec["hits"]:
        parts.append(h["topic"] + (f"={h['label']}" if h["label"] else ""))
    for n in rec["non_hits"]:
        if n["label"]:
            parts.append(f"{n['topic']}~{n['label']}")
    return ", ".join(parts) or "-"


@articles_app.command("mark")
def articles_mark(
    ctx: typer.Context,
    article_id: Annotated[int, typer.Argument(help="The article's id (`newsmon articles`).")],
    label: Annotated[
        str,
        typer.Argument(
            help="relevant (teach as hit), irrelevant (not a hit) or clear",
        ),
    ],
    topic: Annotated[str, typer.Option("--topic", "-t", help="Topic id.")],
    note: Annotated[str | None, typer.Option(help="Why (kept with the label).")] = None,
) -> None:
    """Label an article for a topic, hit or not (training learns from both).

    relevant on an article the topic did not hit teaches a rule miss ("teach as hit").
    """
    if label not in MARKS:
        raise typer.BadParameter("label must be relevant, irrelevant or clear")
    _known_topic(ctx, topic)
    m = _ctx(ctx).store().mark_article(article_id, topic, MARKS[label], note)
    what = f"hit {m.hit_id}" if m.hit_id is not None else "not a hit"
    echo(f"article {article_id}, topic {topic} ({what}): {m.label or 'unreviewed'}")


@articles_app.command("show")
def articles_show(
    ctx: typer.Context,
    article_id: Annotated[int, typer.Argument(help="The article's id (`newsmon articles`).")],
    topic: Annotated[str | None, typer.Option("--topic", "-t", help="Only this topic.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """One article: per topic, a hit or not (near miss, label), and its label history
    (who, when, note; on the non-hit, and on the hit it became)."""
    from monitor.export import article_records, label_step_record

    store = _ctx(ctx).store()
    a = store.article(article_id)
    rec = article_records(store, [a])[0]
    trails = store.label_trails(article_id, topic)
    if topic is not None:
        rec["hits"] = [h for h in rec["hits"] if h["topic"] == topic]
        rec["non_hits"] = [n for n in rec["non_hits"] if n["topic"] == topic]
    rec["label_history"] = {t: [label_step_record(e) for e in v] for t, v in trails.items()}
    if json_out:
        _dump(rec)
        return
    echo(f"#{a.id}  {clean(a.title)}")
    echo(f"  {clean(a.url)}")
    echo(f"  found {_when(a.first_seen_at)}  language {a.language or '?'}")
    hits = {h["topic"]: h for h in rec["hits"]}
    non_hits = {n["topic"]: n for n in rec["non_hits"]}
    for t in sorted(set(hits) | set(non_hits) | set(trails)):
        if t in hits:
            h = hits[t]
            state = f"hit {h['hit']} (score {h['score']:.2f}), {h['label'] or 'unreviewed'}"
        elif t in non_hits:
            n = non_hits[t]
            score = "" if n["score"] is None else f", score {n['score']:.2f}/{n['threshold']:.2f}"
            state = f"not a hit ({n['reason']}{score}), {n['label'] or 'unreviewed'}"
        else:
            state = "not a hit, unreviewed"
        echo(f"\n  {t}: {state}")
        for e in trails.get(t, []):
            echo("    " + label_step_line(e))


def label_step_line(e: Any) -> str:
    """One line of a label trail."""
    who = e.user_name or "shared login / command line"
    note = f' "{clean(e.note, 120)}"' if e.note else ""
    if e.moved:
        return f"{_when(e.at)}  {who}: became hit {e.hit_id}, its label kept: {e.label}{note}"
    where = "on the hit" if e.hit_id else "as a non-hit"
    was, now = e.previous_label or "unreviewed", e.label or "unreviewed"
    return f"{_when(e.at)}  {who}: {was} -> {now}{note} ({where})"


@topics_app.command("near-misses")
def topics_near_misses(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="Topic id.")],
    label: Annotated[
        str,
        typer.Option(help="unreviewed (the inbox), relevant, irrelevant, or all."),
    ] = "unreviewed",
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    rescan: Annotated[
        bool,
        typer.Option(
            "--rescan",
            help="First re-score the stored articles with the current definition and "
            "active model (a database older than near misses, or a topic just edited).",
        ),
    ] = False,
    articles: Annotated[
        int, typer.Option(help="With --rescan: the newest this many stored articles.")
    ] = 20_000,
    json_out: JsonOpt = False,
) -> None:
    """A topic's near misses: articles it did not hit that are most worth a look
    (rules and model disagreeing first, then the rule passed, then the closest to the
    threshold). Teach one with `newsmon articles mark ID --topic T relevant`."""
    if label not in {"unreviewed", "relevant", "irrelevant", "all"}:
        raise typer.BadParameter("--label must be unreviewed, relevant, irrelevant or all")
    _known_topic(ctx, topic)
    from monitor.export import near_miss_record

    if rescan:
        from monitor.topics.review import rescan_near_misses

        c = _ctx(ctx)
        scan = rescan_near_misses(c.store(), c.config.topic(topic), limit=articles)
        typer.echo(
            f"rescanned {scan.articles} stored articles: {scan.near_misses} near misses "
            f"({scan.added} new, {scan.updated} updated, {scan.removed} no longer)",
            err=json_out,
        )
    rows = (
        _ctx(ctx).store().near_misses(topic, label=None if label == "all" else label, limit=limit)
    )
    if json_out:
        _dump([near_miss_record(n, a) for n, a in rows])
        return
    if not rows:
        echo(f"no near misses for {topic}" + ("" if label == "all" else f" ({label})"))
        return
    _table(
        [
            [
                a.id,
                _when(n.created_at),
                n.reason,
                "-" if n.score is None else f"{n.score:.2f}/{n.threshold or 0:.2f}",
                n.label or "-",
                a.language or "-",
                clean(a.title, 70),
            ]
            for n, a in rows
        ],
        ["article", "found", "why", "score", "label", "lang", "title"],
    )
    echo(f"\n`newsmon articles mark ID --topic {topic} relevant|irrelevant` teaches the topic")
