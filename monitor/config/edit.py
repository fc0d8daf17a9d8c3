"""Changes newsmon makes to the config files itself: feeds imported from OPML."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from monitor.config.load import load_yaml_model
from monitor.config.settings import FeedsFile
from monitor.errors import ConfigError
from monitor.perms import write_private_text


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
        key = f["url"].strip().rstrip("/")
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
