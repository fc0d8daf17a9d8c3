"""``newsmon stories``: the articles that report one event, grouped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.app import JsonOpt, TopicOpt, _ctx, _dump, _since, _table, _when, app, clean, echo

stories_app = typer.Typer(help="Stories: the articles that report one event, grouped.")
app.add_typer(stories_app, name="stories")


@stories_app.command("cluster")
def stories_cluster(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help='JSON lines {"id", "title", "text", "url", "published", "language"}; - is stdin.'
        ),
    ],
) -> None:
    """Group a file's articles into stories as the pipeline does: {"id", "story"} per line."""
    from monitor.stories import cluster_file

    for row in cluster_file(file, topics=Path(_ctx(ctx).config_dir or "config")):
        echo(json.dumps(row, ensure_ascii=False))


def story_record(st: Any) -> dict[str, Any]:
    return {
        "id": st.id,
        "headline": st.headline,
        "sources": list(st.sources or []),
        "n_sources": len(st.sources or []),
        "n_articles": st.n_articles,
        "languages": list(st.languages or []),
        "topics": list(st.topics or []),
        "first_seen": st.first_seen,
        "last_seen": st.last_seen,
    }


@stories_app.command("list")
def stories_list(
    ctx: typer.Context,
    topic: TopicOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Seen since: 30m, 12h, 2d, 1w, or a date.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """Stories, latest first: headline, sources, languages, first and last seen."""
    store = _ctx(ctx).store()
    rows = store.list_stories(topic=topic, since=_since(since), limit=limit)
    if json_out:
        _dump([story_record(st) for st in rows])
        return
    if not rows:
        echo("no stories")
        return
    _table(
        [
            [
                st.id,
                len(st.sources or []),
                ",".join(st.languages or []),
                _when(st.first_seen),
                _when(st.last_seen),
                clean(st.headline, 70),
            ]
            for st in rows
        ],
        ["story", "sources", "languages", "first seen", "latest", "headline"],
    )
    echo("\n`newsmon stories show ID` for its articles")


@stories_app.command("show")
def stories_show(ctx: typer.Context, story_id: str, json_out: JsonOpt = False) -> None:
    """One story and its articles."""
    store = _ctx(ctx).store()
    st = store.story(story_id)
    arts = store.story_articles(st.id)
    if json_out:
        rec = story_record(st)
        rec["articles"] = [
            {
                "id": a.id,
                "title": a.title,
                "url": a.url,
                "published_at": a.published_at,
                "language": a.language,
            }
            for a in arts
        ]
        _dump(rec)
        return
    echo(f"{st.id}  {clean(st.headline)}")
    n = len(st.sources or [])
    echo(
        f"  {n} source{'s' * (n != 1)} ({clean(', '.join(st.sources or []))}) · "
        f"{clean(','.join(st.languages or []))} · first seen {_when(st.first_seen)} · "
        f"latest {_when(st.last_seen)}"
    )
    if st.topics:
        echo(f"  topics: {clean(', '.join(st.topics))}")
    for a in arts:
        echo(f"  #{a.id}  {_when(a.published_at)}  {a.language or '-'}  {clean(a.title, 70)}")
        echo(f"        {clean(a.url)}")


@stories_app.command("merge")
def stories_merge(ctx: typer.Context, keep: str, drop: str) -> None:
    """Merge story DROP into KEEP (the machine kept one event apart)."""
    from monitor.pipeline.story_edits import merge_stories

    c = _ctx(ctx)
    st = merge_stories(c.store(), c.config, keep, drop)
    echo(f"{drop} merged into {st.id}: {st.n_articles} articles, {len(st.sources or [])} sources")


@stories_app.command("split")
def stories_split(
    ctx: typer.Context,
    story_id: str,
    article_ids: Annotated[list[int], typer.Argument(help="The articles that move out.")],
) -> None:
    """Move articles out of a story into a new one (the machine joined two events);
    the two are never merged again."""
    from monitor.pipeline.story_edits import split_story

    c = _ctx(ctx)
    old, new = split_story(c.store(), c.config, story_id, article_ids)
    echo(f"{len(article_ids)} articles moved from {old.id} to new story {new.id}")
