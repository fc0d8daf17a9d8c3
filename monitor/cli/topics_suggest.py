"""``newsmon topics suggest``: rule edits the labels support, each measured on the
labelled articles and on the stored history, applied with ``--apply N`` after a
confirmation; ``newsmon topics history``: the topic's versions as diffs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from monitor.cli.app import JsonOpt, _ctx, _dump, clean, echo, topics_app
from monitor.cli.topics import _topic_or_exit


@topics_app.command("suggest")
def topics_suggest(
    ctx: typer.Context,
    topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")],
    limit: Annotated[int, typer.Option(help="Propose at most this many edits.")] = 10,
    history: Annotated[
        int, typer.Option(help="Measure on at most this many stored articles (newest first).")
    ] = 5_000,
    apply: Annotated[
        int | None,
        typer.Option("--apply", metavar="N", help="Write edit number N into topics.yaml."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Terms to add or exclude and the groups behind false hits, from the labels."""
    from monitor.topics.edit import apply_edit
    from monitor.topics.review import load_pool
    from monitor.topics.suggest import Article, suggest

    c = _ctx(ctx)
    topic = _topic_or_exit(c, topic_id)
    pool = load_pool(c.store(), topic, config_dir=c.config.directory, limit=history)
    labelled = [Article(p.title, p.text, p.language, p.label) for p in pool if p.label is not None]
    stored = [Article(p.title, p.text, p.language) for p in pool if p.key.startswith("article:")]
    if not labelled:
        raise typer.BadParameter(
            f"topic {topic.id}: no labelled articles yet (newsmon hits mark ID relevant|irrelevant)"
        )
    rep = suggest(topic, labelled, stored, limit=limit)
    if json_out and apply is None:
        _dump(
            {
                "topic": rep.topic,
                "labelled": rep.labelled,
                "relevant": rep.relevant,
                "history": rep.history,
                "edits": [e.as_dict() for e in rep.edits],
                "false_hits_by_group": [b.__dict__ for b in rep.blame],
            }
        )
        return
    b = rep.before
    echo(
        f"{topic.id}: {rep.labelled} labelled articles ({rep.relevant} relevant); rules: "
        f"precision {b.precision:.2f}, recall {b.recall:.2f}, F1 {b.f1:.2f}"
    )
    if rep.blame:
        echo(
            "groups in the false hits: "
            + ", ".join(f"{x.group} {x.false_hits} (in {x.true_hits} true hits)" for x in rep.blame)
        )
    if not rep.edits:
        echo("no edit raises F1 on the labelled articles")
        return
    echo(f"\nproposed edits (labelled set before -> after; stored history of {rep.history}):")
    for n, e in enumerate(rep.edits, 1):
        echo(
            f"  {n:>2}. {clean(e.describe())}  [{e.evidence}]\n"
            f"      P {e.before.precision:.2f} -> {e.after.precision:.2f}, "
            f"R {e.before.recall:.2f} -> {e.after.recall:.2f}, "
            f"F1 {e.before.f1:.2f} -> {e.after.f1:.2f}; history +{e.gained} / -{e.lost} hits"
        )
    if apply is None:
        echo(f"\napply one: newsmon topics suggest {topic.id} --apply N")
        return
    if not 1 <= apply <= len(rep.edits):
        raise typer.BadParameter(f"--apply takes 1 to {len(rep.edits)}")
    if c.config.directory is None:
        raise typer.BadParameter("--apply needs a config directory (--config)")
    edit = rep.edits[apply - 1]
    path = c.config.directory / "topics.yaml"
    if not yes and not typer.confirm(f"{edit.describe()} in {path}?", default=False):
        echo("nothing changed")
        return
    saved = apply_edit(path, topic, edit)
    echo(
        f"{topic.id}: {edit.describe()} - written to {path}; the previous definition is "
        f"kept as {saved} (newsmon topics history {topic.id}); retrain its model"
    )


@topics_app.command("history")
def topics_history(
    ctx: typer.Context,
    topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")],
    json_out: JsonOpt = False,
) -> None:
    """The topic's saved versions, each change as a diff (the last one to the current)."""
    from monitor.topics.edit import history

    c = _ctx(ctx)
    topic = _topic_or_exit(c, topic_id)
    if c.config.directory is None:
        raise typer.BadParameter("topics history needs a config directory (--config)")
    changes = history(c.config.directory, topic)
    if json_out:
        out: list[dict[str, Any]] = [{"from": a, "to": b, "diff": d} for a, b, d in changes]
        _dump(out)
        return
    if not changes:
        echo(f"{topic.id}: no saved versions")
        return
    for a, b, d in changes:
        echo(f"--- {a} -> {b}")
        echo(d.rstrip() or "(no change)")
