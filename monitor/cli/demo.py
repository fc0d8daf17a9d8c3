"""``newsmon demo``: two cycles through the real flow over the offline demo world (real
feeds and pages on loopback, a real SMTP server and chat webhook), then what came of them."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.app import _ctx, app, echo
from monitor.perms import private_dir

if TYPE_CHECKING:
    from monitor.config import RunSettings


@app.command()
def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Where to keep the demo database.")] = Path(
        "demo-output"
    ),
    prefect: Annotated[bool, typer.Option(help="Run through Prefect (default).")] = True,
) -> None:
    """Offline demo: real feeds and pages on loopback, a real SMTP server and chat webhook;
    two cycles through the real flow into a fresh SQLite database."""
    c = _ctx(ctx)
    topics = Path(c.config_dir or "config") / "topics.yaml"
    run_demo(topics, out, use_prefect=prefect, echo=echo)


def run_demo(
    topics_from: Path, out: Path, *, use_prefect: bool = True, echo: Callable[[str], None] = print
) -> dict[str, object]:
    """Two cycles over the demo world into ``out/newsmon-demo.db``; print what happened."""
    from monitor.config import RunSettings
    from monitor.demo.world import world
    from monitor.store import Store

    private_dir(out)
    db_path = (out / "newsmon-demo.db").resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    db_url = f"sqlite:///{db_path}"
    result: dict[str, object] = {}
    with world(topics_from, directory=out, outlets=True) as w:
        settings = RunSettings(config_dir=str(w.config_dir), database=db_url)
        echo(
            f"demo world on {w.server.base}: {len(w.feed_urls)} feeds, "
            f"SMTP server on 127.0.0.1:{w.smtp.port}, chat webhook on {w.webhook.base}"
        )
        summaries = []
        for label in ("first cycle", "second cycle (same feeds again)"):
            echo(f"\n== {label}")
            s = _cycle(settings, use_prefect)
            summaries.append(s)
            echo(
                f"feeds: {s['feeds_polled']} polled, {s['feeds_ok']} with new content, "
                f"{s['feeds_not_modified']} answered 304 Not Modified, "
                f"{s['feeds_failed']} failed"
            )
            echo(
                f"articles: {s['articles_new']} new, {s['articles_merged']} seen again; "
                f"hits: {s['hits_new']} new; alerts sent: {s['alerts_sent']}"
            )
        store = Store(db_url)
        hits = store.hits(limit=100)
        echo("\n== hits")
        for h, a in hits:
            echo(f"#{h.id} [{h.topic_id}] score {h.score:.2f}: {a.title}")
            for sent in (h.evidence or {}).get("sentences", [])[:2]:
                echo(f"    > {sent['text'][:220]}")
        misses = [a for a in store.article_ids() if a not in {x.id for _, x in hits}]
        echo(f"({len(misses)} other articles stored, not hits)")
        stories = [st for st in store.list_stories(limit=100) if st.topics]
        echo("\n== stories (one event, one alert)")
        for st in stories:
            n = len(st.sources or [])
            echo(
                f"{st.id} {n} source{'s' * (n != 1)} ({', '.join(st.languages or [])}): "
                f"{st.headline}"
            )
        echo("\n== what the alert channels received")
        for m in w.smtp.messages:
            echo(f"email to {m['To']}: {m['Subject']}")
        for p in w.webhook.received:
            echo(f"chat webhook: {p.get('title')}")
        result = {
            "summaries": summaries,
            "hits": len(hits),
            "stories": [(len(st.sources or []), st.headline) for st in stories],
            "emails": len(w.smtp.messages),
            "webhooks": len(w.webhook.received),
        }
    rel = os.path.relpath(db_path)
    cmd = _command_name()
    echo("\n== next")
    echo(f"{cmd} --db sqlite:///{rel} hits")
    echo(f"{cmd} --db sqlite:///{rel} hits show 1")
    echo(f"{cmd} --db sqlite:///{rel} hits mark 1 relevant")
    echo(
        f"{cmd} --db sqlite:///{rel} -c {os.path.relpath(out / 'config')} web"
        "   # review desk: http://127.0.0.1:8080/"
    )
    return result


def _cycle(settings: RunSettings, use_prefect: bool) -> dict[str, Any]:
    if use_prefect:
        from flows.cycle import cycle

        return dict(cycle(settings=settings, force=True))
    from monitor.pipeline.cycle import run_cycle
    from monitor.pipeline.workers import WorkerPool
    from monitor.store import Store

    config = settings.config()
    with WorkerPool.for_config(config) as pool:
        return run_cycle(Store(config.database_url), config, force=True, pool=pool).as_dict()


def _command_name() -> str:
    """``newsmon`` if that is on PATH, else the path of the venv's script."""
    script = Path(sys.executable).parent / "newsmon"
    if shutil.which("newsmon") == str(script):
        return "newsmon"
    return os.path.relpath(script) if script.exists() else "newsmon"
