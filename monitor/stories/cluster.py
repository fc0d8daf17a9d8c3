"""The measuring contract: JSON lines of articles in, ``{"id", "story"}`` per line out,
grouped by the same :class:`Grouper` the pipeline uses (the whole file is one batch)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import NewsmonError
from monitor.stories.features import Article
from monitor.stories.grouper import Grouper, StorySettings


class StoryInputError(NewsmonError):
    """A line of a stories input file is not a usable article."""


def parse_published(value: Any, where: str) -> datetime | None:
    """ISO 8601 (``Z`` allowed; no zone means UTC), RFC 2822 as RSS feeds write it
    (``Tue, 10 Jun 2025 04:00:00 GMT``), epoch seconds, or null."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise StoryInputError(f"{where}: published: {value!r} is not a date")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise StoryInputError(f"{where}: published: {value!r} is out of range") from None
    if not isinstance(value, str):
        raise StoryInputError(f"{where}: published: {value!r} is not a date")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise StoryInputError(
                f"{where}: published: {value!r} is neither an ISO 8601 nor an RFC 2822 date"
            ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _text(record: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = record.get(key)
    if value is None:
        if required:
            raise StoryInputError(f"{where}: {key!r} is missing")
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise StoryInputError(f"{where}: {key!r} must be a string, not {type(value).__name__}")
    return str(value)


def to_article(record: Any, where: str) -> Article:
    """One input record as an Article, or a StoryInputError naming where it came from."""
    if not isinstance(record, dict):
        raise StoryInputError(f"{where}: expected a JSON object, got {type(record).__name__}")
    art_id = _text(record, "id", where, required=True)
    if not art_id:
        raise StoryInputError(f"{where}: 'id' is empty")
    title = _text(record, "title", where)
    text = _text(record, "text", where)
    if not title and not text:
        raise StoryInputError(f"{where}: article {art_id!r} has neither title nor text")
    lang = _text(record, "language", where) or None
    return Article(
        id=art_id,
        title=title,
        text=text,
        url=_text(record, "url", where),
        published=parse_published(record.get("published"), where),
        language=lang.lower() if lang else None,
    )


def read_jsonl(lines: Iterable[str], name: str = "<stdin>") -> Iterator[tuple[str, Any]]:
    """(where, record) for each non-blank line; malformed JSON names its line."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}: line {n}"
        try:
            yield where, json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            raise StoryInputError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None


def cluster_records(
    records: Iterable[dict[str, Any] | tuple[str, Any]], *, grouper: Grouper | None = None
) -> list[dict[str, str]]:
    """Group articles given as dicts (``id, title, text, url, published, language``) and
    return ``{"id", "story"}`` for each, in input order. All are read and checked before
    any is grouped: a bad record fails the whole call, naming it."""
    arts: list[Article] = []
    seen: dict[str, str] = {}
    for i, rec in enumerate(records, 1):
        where, record = rec if isinstance(rec, tuple) else (f"record {i}", rec)
        art = to_article(record, where)
        if art.id in seen:
            raise StoryInputError(f"{where}: id {art.id!r} already given at {seen[art.id]}")
        seen[art.id] = where
        arts.append(art)
    g = grouper or Grouper()
    story = {a.article_id: a.story_id for a in g.add_batch(arts)}
    return [{"id": a.id, "story": g.resolve(story[a.id])} for a in arts]


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_topics_yaml(path: str | Path | None) -> dict[str, Any] | None:
    """The parsed topics file, or None when there is none (names then come from Babel
    and transliteration alone)."""
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        p = p / "topics.yaml"
    if not p.is_file():
        return None
    try:
        # libyaml's safe loader where PyYAML has it: the pure-Python one takes ~60 ms for
        # the shipped topics.yaml, on the cycle's thread, the first time a process groups
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise StoryInputError(f"{p}: cannot read topics: {exc}") from None
    return data if isinstance(data, dict) else None


def cluster_file(
    path: str | Path, *, topics: str | Path | None = None, settings: StorySettings | None = None
) -> list[dict[str, str]]:
    """``newsmon stories cluster FILE``: the file's articles grouped, in input order."""
    p = Path(path)
    grouper = Grouper.with_topics(load_topics_yaml(topics), settings)
    try:
        with (
            open(0, encoding="utf-8", closefd=False)
            if str(path) == "-"
            else p.open(encoding="utf-8")
        ) as fh:
            return cluster_records(read_jsonl(fh, str(path)), grouper=grouper)
    except OSError as exc:
        raise StoryInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise StoryInputError(f"{path}: not UTF-8 text ({exc.reason})") from None
