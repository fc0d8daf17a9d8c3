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


def _md(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", text)


def when_text(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "date unknown"


def render(items: Sequence[Item], fmt: str, *, digest: bool = False) -> tuple[str, str]:
    """(title, body) in ``markdown``, ``html`` or ``text``."""
    if len(items) == 1 and not digest:
        it = items[0]
        title = f"[{it.topic_name}] {it.title}"[:250]
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
                f"{html.escape(it.source)} · {when_text(it.published)}</p>{quotes}"
            )
        return title, "<hr>".join(parts)
    if fmt == "markdown":
        parts = []
        for it in items:
            quotes = "\n".join(f"> {_md(s)}" for s in it.sentences)
            parts.append(
                f"**{_md(it.title)}**\n{_md(it.topic_name)} · score {it.score:.2f} · "
                f"{_md(it.source)} · {when_text(it.published)}\n{it.link}\n{quotes}".strip()
            )
        return title, "\n\n---\n\n".join(parts)
    parts = []
    for it in items:
        quotes = "\n".join(f"  \u201c{s}\u201d" for s in it.sentences)
        parts.append(
            f"{it.title}\n{it.topic_name} · score {it.score:.2f} · {it.source} · "
            f"{when_text(it.published)}\n{it.link}\n{quotes}".strip()
        )
    return title, "\n\n".join(parts)


def message_format(route: Route, url: str) -> str:
    if route.format != "auto":
        return route.format
    return "html" if url.split(":", 1)[0].lower() in {"mailto", "mailtos"} else "markdown"
