"""Alert messages: the title and body of one hit or a batch, in markdown, HTML or text."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitor.alerts.routes import Route


@dataclass
class Item:
    topic_name: str
    title: str
    link: str
    source: str
    published: datetime | None
    score: float
    sentences: list[str] = field(default_factory=list)
    # The story the article belongs to (monitor.stories): 0 sources means none known.
    story_sources: int = 0
    story_first_seen: datetime | None = None
    story_last_seen: datetime | None = None
    story_update: bool = False  # a later article of a story that alerted already


def story_line(it: Item) -> str:
    """ "3 sources · first seen ... · latest ..." (empty without a story)."""
    if not it.story_sources:
        return ""
    n = it.story_sources
    grew = "story grew: " if it.story_update else ""
    return (
        f"{grew}{n} source{'s' * (n != 1)} · first seen {when_text(it.story_first_seen)}"
        f" · latest {when_text(it.story_last_seen)}"
    )


def _md(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", text)


def when_text(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "date unknown"


def render(items: Sequence[Item], fmt: str, *, digest: bool = False) -> tuple[str, str]:
    """(title, body) in ``markdown``, ``html`` or ``text``."""
    if len(items) == 1 and not digest:
        it = items[0]
        grew = f"story grew to {it.story_sources} sources: " if it.story_update else ""
        title = f"[{it.topic_name}] {grew}{it.title}"[:250]
    else:
        topics = sorted({it.topic_name for it in items})
        kind = "digest" if digest else "new"
        title = (
            f"newsmon {kind}: {len(items)} hit{'s' * (len(items) != 1)} ({', '.join(topics)})"
        )[:250]
    if fmt == "html":
        parts = []
        for it in items:
            quotes = "".join(f"<blockquote>{html.escape(s)}</blockquote>" for s in it.sentences)
            parts.append(
                f'<h3><a href="{html.escape(it.link, quote=True)}">{html.escape(it.title)}</a></h3>'
                f"<p><b>{html.escape(it.topic_name)}</b> · score {it.score:.2f} · "
                f"{html.escape(it.source)} · {when_text(it.published)}</p>"
                + (f"<p>{html.escape(story_line(it))}</p>" if it.story_sources else "")
                + quotes
            )
        return title, "<hr>".join(parts)
    if fmt == "markdown":
        parts = []
        for it in items:
            quotes = "\n".join(f"> {_md(s)}" for s in it.sentences)
            parts.append(
                f"**{_md(it.title)}**\n{_md(it.topic_name)} · score {it.score:.2f} · "
                f"{_md(it.source)} · {when_text(it.published)}\n"
                + (f"{_md(story_line(it))}\n" if it.story_sources else "")
                + f"{it.link}\n{quotes}".strip()
            )
        return title, "\n\n---\n\n".join(parts)
    parts = []
    for it in items:
        quotes = "\n".join(f"  \u201c{s}\u201d" for s in it.sentences)
        parts.append(
            f"{it.title}\n{it.topic_name} · score {it.score:.2f} · {it.source} · "
            f"{when_text(it.published)}\n"
            + (f"{story_line(it)}\n" if it.story_sources else "")
            + f"{it.link}\n{quotes}".strip()
        )
    return title, "\n\n".join(parts)


def message_format(route: Route, url: str) -> str:
    if route.format != "auto":
        return route.format
    return "html" if url.split(":", 1)[0].lower() in {"mailto", "mailtos"} else "markdown"
