"""``newsmon topics new``: a topic definition proposed from example articles (printed as
YAML to edit; with ``--write`` appended to topics.yaml after a confirmation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.app import AllowHostOpt, JsonOpt, _ctx, _dump, clean, echo, topics_app
from monitor.cli.topics import YesOpt, _has_config, _load_article


@topics_app.command("new")
def topics_new(
    ctx: typer.Context,
    topic_id: Annotated[str, typer.Argument(metavar="ID", help="The new topic's id.")],
    example: Annotated[
        list[str],
        typer.Option(
            "--example", "-e", help="An example article: URL, saved HTML page or text file."
        ),
    ],
    name: Annotated[str | None, typer.Option(help="The topic's name.")] = None,
    background: Annotated[
        int,
        typer.Option(
            help="Measure what is distinctive against this many stored articles (0: none)."
        ),
    ] = 2000,
    write: Annotated[
        bool, typer.Option("--write", help="Append it to the config's topics.yaml (asks first).")
    ] = False,
    yes: YesOpt = False,
    allow_host: AllowHostOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Propose a topic from a few example articles: the gazetteer's countries, places and
    people they name, their recurring names and phrases, a rule and a threshold - as
    YAML, explained, ready to edit and to test on the stored history."""
    from monitor.config import load_yaml_model
    from monitor.topics.gazetteer import load_gazetteer
    from monitor.topics.language import TopicsFile
    from monitor.topics.propose import Example, propose_topic

    c = _ctx(ctx)
    c.allow(allow_host)
    config_dir = c.config.directory if _has_config(c) else None
    if config_dir is not None and any(t.id == topic_id for t in c.config.topics):
        raise typer.BadParameter(f"a topic {topic_id!r} exists already")
    examples = []
    for ref in example:
        ex = _load_article(ref, c)
        examples.append(Example(ex.title, ex.text or "", ex.language, ref))
    bg = []
    if background > 0:
        for a in c.store().recent_articles(background):
            if a.text or a.summary or a.title:
                bg.append(Example(a.title, a.text or a.summary or "", a.language))
    prop = propose_topic(topic_id, examples, load_gazetteer(config_dir), bg, name=name)
    if json_out:
        _dump(
            {
                "topic": prop.topic_id,
                "yaml": prop.yaml,
                "groups": [vars(g) for g in prop.groups],
                "rule": prop.rule,
                "rule_why": prop.rule_why,
                "threshold": prop.threshold,
                "examples": [{"ref": r, "score": s, "hit": h} for r, s, h in prop.scores],
                "background": prop.background,
                "background_hits": prop.background_hits,
            }
        )
    else:
        echo(prop.yaml)
        for ref, score, hit in prop.scores:
            echo(f"# example {'hit ' if hit else 'MISS'} {score:.2f}  {clean(ref, 100)}")
        if prop.background:
            echo(
                f"# of {prop.background} stored articles, {prop.background_hits} would be hits "
                f"(`newsmon topics test {topic_id}` after adding it lists them)"
            )
    if not write:
        return
    if config_dir is None:
        raise typer.BadParameter("--write needs a config directory (--config)")
    path = Path(config_dir) / "topics.yaml"
    if not yes and not typer.confirm(f"append topic {topic_id} to {path}?", default=False):
        echo("nothing changed")
        return
    before = path.read_text(encoding="utf-8") if path.exists() else "topics:\n"
    sep = "" if before.endswith("\n") else "\n"
    path.write_text(before + sep + "\n" + prop.yaml, encoding="utf-8")
    try:
        load_yaml_model(path, TopicsFile)
    except Exception:
        path.write_text(before, encoding="utf-8")  # as it was: it must keep loading
        raise
    echo(f"{topic_id} appended to {path}; next: `newsmon topics test {topic_id}`")
