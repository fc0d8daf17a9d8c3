"""``newsmon topics coverage``: which languages the stored articles arrive in, which
topics have no terms for them, and the gazetteer's names to add (printed as YAML, or
written into topics.yaml with ``--apply`` after a confirmation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from monitor.cli.app import JsonOpt, TopicOpt, _ctx, _dump, echo, topics_app


@topics_app.command("coverage")
def topics_coverage(
    ctx: typer.Context,
    topic: TopicOpt = None,
    days: Annotated[
        int, typer.Option(help="Count articles first seen in the last N days (0: all).")
    ] = 0,
    min_articles: Annotated[
        int, typer.Option(help="Ignore languages with fewer stored articles than this.")
    ] = 1,
    lang: Annotated[
        list[str] | None,
        typer.Option("--lang", help="Languages to cover (repeatable) instead of the store's."),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Write the proposed names into topics.yaml.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Languages of the stored articles, topics without terms for them, and the
    gazetteer's names to add."""
    from monitor.topics.gazetteer import (
        apply_proposal,
        coverage,
        load_gazetteer,
        proposal_yaml,
        propose,
    )

    c = _ctx(ctx)
    config = c.config
    topics = [config.topic(topic)] if topic else config.topics
    if lang:
        counts = dict.fromkeys(lang, 0)
    else:
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        counts = {
            k: n
            for k, n in c.store().articles_per_language(since).items()
            if k and n >= min_articles
        }
    languages = list(counts)
    gazetteer = load_gazetteer(config.directory)
    report: dict[str, Any] = {"languages": counts, "topics": {}}
    for t in topics:
        missing = {k: v for k, v in coverage(t, languages).items() if v}
        proposal = propose(t, languages, gazetteer)
        report["topics"][t.id] = {"missing": missing, "proposal": proposal}
    if json_out:
        _dump(report)
        return
    if not languages:
        echo("no stored articles with a detected language (use --lang to name some)")
        return
    echo("articles per language: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    for t in topics:
        info = report["topics"][t.id]
        if not info["missing"]:
            echo(f"\n{t.id}: terms in every group for every language")
            continue
        echo(f"\n{t.id}: groups without terms")
        for k, groups in info["missing"].items():
            echo(f"  {k} ({counts.get(k, 0)} articles): {', '.join(groups)}")
        if info["proposal"]:
            echo("\nproposed from the gazetteer (YAML to paste under the topic's groups:)")
            echo(proposal_yaml(t.id, info["proposal"]).rstrip())
        else:
            echo("  (the gazetteer has no names for these groups: write them yourself)")
    pending = {tid: i["proposal"] for tid, i in report["topics"].items() if i["proposal"]}
    if not apply or not pending:
        return
    if config.directory is None:
        raise typer.BadParameter("--apply needs a config directory (--config)")
    path = config.directory / "topics.yaml"
    n = sum(len(langs) for p in pending.values() for langs in p.values())
    if not yes and not typer.confirm(f"add these {n} term lists to {path}?", default=False):
        echo("nothing changed")
        return
    for tid, proposal in pending.items():
        added = apply_proposal(path, tid, proposal)
        echo(f"{tid}: {added} lines added to {path} (its version changes: retrain its model)")
