"""Alert messages: the title and body of one hit or a batch, in markdown, HTML or text.

Everything from a feed (titles, sources, evidence) is text from strangers. It is escaped
for the target's format, and never able to address a room: an ``@`` before a word
(``@everyone``, ``@here``, ``@channel``, a user) gets a zero-width space after it, so no
chat service reads a mention (Discord's and Slack's mention parsers then find nothing).

The format of each target comes from what its apprise plugin does with a body (checked
against apprise 2.0's plugins): e-mail, Telegram and Matrix get HTML (Telegram keeps
only a few tags and apprise maps ours; Matrix would pass raw HTML written in markdown
through), Slack gets its own mrkdwn (no backslash escapes: ``& < >`` become entities,
which also defuses ``<!here>``), other chats and webhooks get escaped markdown.
"""

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


_MENTION = re.compile(r"([@\uff20])(?=[\w#&!])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")

# Targets whose apprise plugin shows the title as plain text or escapes it itself (an
# e-mail subject; Slack's and Matrix's plugins escape titles): the title goes as plain
# text. Elsewhere apprise passes the title into the rendered message (Telegram puts it
# in the HTML body, Discord in the markdown content, a webhook hands it on), so it is
# escaped like the body.
_PLAIN_TITLE = {"mailto", "mailtos", "slack", "matrix", "matrixs"}


def defuse(text: str) -> str:
    """``text`` unable to mention anyone or to carry control characters."""
    return _MENTION.sub("\\1\u200b", _CONTROL.sub("", text))


def _md(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", defuse(text))


def _slack(text: str) -> str:
    # Slack's mrkdwn has no backslash escapes; these three are its documented escapes.
    # It does not render [text](url) today; a zero-width space keeps it so if it does.
    t = defuse(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return t.replace("](", "]\u200b(")


def _html(text: str, quote: bool = True) -> str:
    return html.escape(defuse(text), quote=quote)


def _plain(text: str) -> str:
    return " ".join(defuse(text).split())


def plain_for(url: str, text: str) -> str:
    """Plain text (a health alert, its outside parts already defused) as a
    ``text`` message to ``url`` may carry it: Slack's three escapes (apprise does not
    escape a body declared as text, and Slack reads ``<!here>`` in it)."""
    if url_scheme(url) != "slack":
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_title(title: str, fmt: str, scheme: str) -> str:
    """The message title as the target will show it: plain text, whatever the feed said."""
    if scheme in _PLAIN_TITLE or fmt in {"text", "slack"}:
        return _plain(title)
    return _html(_plain(title)) if fmt == "html" else _md(_plain(title))


def when_text(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "date unknown"


def render(
    items: Sequence[Item], fmt: str, *, digest: bool = False, scheme: str = ""
) -> tuple[str, str]:
    """(title, body) in ``markdown``, ``slack``, ``html`` or ``text``, for a target whose
    URL scheme is ``scheme`` (which decides how its title is shown)."""
    if len(items) == 1 and not digest:
        it = items[0]
        grew = f"story grew to {it.story_sources} sources: " if it.story_update else ""
        title = f"[{it.topic_name}] {grew}{it.title}"[:250]
    else:
        topics = sorted({it.topic_name for it in items})
        kind = "digest" if digest else "new"
        title = f"newsmon {kind}: {len(items)} hit{'s' * (len(items) != 1)} ({', '.join(topics)})"
    title = escape_title(title[:250], fmt, scheme)
    if fmt == "html":
        parts = []
        for it in items:
            quotes = "".join(f"<blockquote>{_html(s)}</blockquote>" for s in it.sentences)
            parts.append(
                f'<h3><a href="{html.escape(it.link, quote=True)}">{_html(it.title)}</a></h3>'
                f"<p><b>{_html(it.topic_name)}</b> · score {it.score:.2f} · "
                f"{_html(it.source)} · {when_text(it.published)}</p>"
                + (f"<p>{_html(story_line(it))}</p>" if it.story_sources else "")
                + quotes
            )
        return title, "<hr>".join(parts)
    if fmt in {"markdown", "slack"}:
        esc, bold = (_md, "**") if fmt == "markdown" else (_slack, "*")
        parts = []
        for it in items:
            quotes = "\n".join(f"> {esc(s)}" for s in it.sentences)
            parts.append(
                f"{bold}{esc(it.title)}{bold}\n{esc(it.topic_name)} · score {it.score:.2f} · "
                f"{esc(it.source)} · {when_text(it.published)}\n"
                + (f"{esc(story_line(it))}\n" if it.story_sources else "")
                + f"{_link(it.link, fmt)}\n{quotes}".strip()
            )
        return title, "\n\n---\n\n".join(parts)
    parts = []
    for it in items:
        quotes = "\n".join(f"  \u201c{defuse(s)}\u201d" for s in it.sentences)
        parts.append(
            f"{defuse(it.title)}\n{defuse(it.topic_name)} · score {it.score:.2f} · "
            f"{defuse(it.source)} · {when_text(it.published)}\n"
            + (f"{story_line(it)}\n" if it.story_sources else "")
            + f"{it.link}\n{quotes}".strip()
        )
    return title, "\n\n".join(parts)


def _link(url: str, fmt: str) -> str:
    # A link is a bare URL (chat services link it themselves); characters that could
    # close it and start markup are percent-encoded.
    safe = re.sub(r"[\s<>()\[\]|`*]", lambda m: f"%{ord(m.group()):02X}", url)
    return safe


_HTML_SCHEMES = {"mailto", "mailtos", "tgram", "matrix", "matrixs"}


def url_scheme(url: str) -> str:
    return url.split(":", 1)[0].lower()


def message_format(route: Route, url: str) -> str:
    """``html``, ``markdown``, ``slack`` or ``text``: ``route.format`` unless ``auto``;
    Slack's markdown is always its own dialect."""
    scheme = url_scheme(url)
    fmt = route.format
    if fmt == "auto":
        fmt = "html" if scheme in _HTML_SCHEMES else "markdown"
    return "slack" if fmt == "markdown" and scheme == "slack" else fmt
