"""Changes newsmon makes to the config files itself: feeds added (one, or imported
from OPML), removed, paused and resumed, with the file's comments kept."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from monitor.config.load import load_yaml_model
from monitor.config.settings import FeedsFile
from monitor.errors import ConfigError
from monitor.perms import write_private_text
from monitor.redact import strip_credentials


def add_feeds(
    directory: str | Path,
    feeds: list[dict[str, Any]],
    *,
    dry_run: bool = False,
    source: str = "imported from OPML",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Append feeds to ``feeds.yaml`` (comments kept); skip URLs already there.

    The file is re-validated after the change and restored if it no longer loads.
    """
    path = Path(directory) / "feeds.yaml"
    existing = load_yaml_model(path, FeedsFile).feeds if path.exists() else []
    known = {f.url.rstrip("/") for f in existing}
    added: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for f in feeds:
        key = strip_credentials(f["url"].strip()).rstrip("/")  # as FeedConfig keeps it
        (skipped if key in known else added).append(f)
        known.add(key)
    if dry_run or not added:
        return added, skipped
    before = path.read_text(encoding="utf-8") if path.exists() else "feeds:\n"
    text = before if before.endswith("\n") else before + "\n"
    if not re.search(r"^feeds\s*:", text, re.M):
        text += "feeds:\n"
    # Follow the file's own list indentation (yaml.safe_dump writes "- url:" at column 0).
    m = re.search(r"^([ \t]*)- ", text[re.search(r"^feeds\s*:", text, re.M).end() :], re.M)  # type: ignore[union-attr]
    ind = m.group(1) if m else "  "
    text += f"{ind}# {source}\n"
    for f in added:
        text += f"{ind}- url: {json.dumps(f['url'])}\n"
        if f.get("name"):
            text += f"{ind}  name: {json.dumps(f['name'], ensure_ascii=False)}\n"
        if f.get("tags"):
            text += f"{ind}  tags: {json.dumps(list(f['tags']), ensure_ascii=False)}\n"
    # A new feeds.yaml is owner-only (private feed URLs carry keys); an existing one keeps
    # the mode its owner gave it.
    write_private_text(path, text)
    try:
        load_yaml_model(path, FeedsFile)
    except ConfigError:
        write_private_text(path, before)
        raise
    return added, skipped


def _items(lines: list[str]) -> list[tuple[int, int, str]]:
    """The feeds list's items: (first line, end line, the item's url) of each."""
    import yaml

    start = next((i for i, ln in enumerate(lines) if re.match(r"^feeds\s*:", ln)), None)
    if start is None:
        return []
    out: list[tuple[int, int, str]] = []
    i = start + 1
    while i < len(lines):
        m = re.match(r"^([ \t]*)- ", lines[i])
        if not m:
            if (
                lines[i].strip()
                and not lines[i].lstrip().startswith("#")
                and not lines[i][:1].isspace()
            ):
                break  # the next top-level key
            i += 1
            continue
        ind = len(m.group(1))
        j = i + 1
        while j < len(lines):
            ln = lines[j]
            if ln.strip() and not ln.lstrip().startswith("#") and len(ln) - len(ln.lstrip()) <= ind:
                break
            j += 1
        while j > i + 1 and (not lines[j - 1].strip() or lines[j - 1].lstrip().startswith("#")):
            j -= 1  # comments after an item belong to what follows
        try:
            item = yaml.safe_load("\n".join(ln[ind:] for ln in lines[i:j]))
        except yaml.YAMLError:
            item = None
        if isinstance(item, list) and item and isinstance(item[0], dict):
            out.append((i, j, str(item[0].get("url", "")).strip()))
        i = j
    return out


def _edit_feed(directory: str | Path, url: str, change: Any) -> None:
    path = Path(directory) / "feeds.yaml"
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = before.splitlines()
    key = url.strip().rstrip("/")
    found = [it for it in _items(lines) if it[2].rstrip("/") == key]
    if not found:
        raise ConfigError(str(path), "feeds", f"no feed with the URL {url!r}")
    first, end, _ = found[0]
    lines[first:end] = change(lines[first:end])
    write_private_text(path, "\n".join(lines) + "\n")
    try:
        load_yaml_model(path, FeedsFile)
    except ConfigError:
        write_private_text(path, before)
        raise


def remove_feed(directory: str | Path, url: str) -> None:
    """Take the feed with ``url`` out of feeds.yaml (its stored articles stay)."""
    _edit_feed(directory, url, lambda block: [])


def pause_feed(directory: str | Path, url: str, paused: bool = True) -> None:
    """Mark the feed ``paused: true`` in feeds.yaml (kept, not polled), or resume it."""

    def change(block: list[str]) -> list[str]:
        m = re.match(r"^([ \t]*)- ", block[0])
        assert m
        pad = m.group(1) + "  "
        kept = [ln for ln in block if not re.match(r"^[ \t]*(- )?paused\s*:", ln)]
        if re.match(r"^[ \t]*- \{", block[0]):
            raise ConfigError("feeds.yaml", "feeds", "a feed written as {...} cannot be edited")
        return kept[:1] + ([f"{pad}paused: true"] if paused else []) + kept[1:]

    _edit_feed(directory, url, change)
