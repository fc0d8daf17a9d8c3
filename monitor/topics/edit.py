"""Editing a topic in topics.yaml as written, and the topic's versions.

An accepted edit (:mod:`monitor.topics.suggest`) is written into the file line by line,
as ``topics coverage --apply`` does (:func:`monitor.topics.gazetteer.apply_proposal`):
comments and layout are kept, the file is re-validated and restored if it no longer
loads. Before the edit, the topic's previous definition is saved as
``<config dir>/topics.history/<topic>/<UTC timestamp>.yaml``; :func:`history` gives the
diffs between successive versions, the last against the current definition.
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime
from pathlib import Path

import yaml

from monitor.errors import ConfigError
from monitor.topics.gazetteer import _group_lines, _scalar
from monitor.topics.language import TopicConfig, TopicsFile
from monitor.topics.suggest import ADD, EXCLUDE_WINDOW, Edit

HISTORY_DIR = "topics.history"


def definition_yaml(topic: TopicConfig) -> str:
    """The topic's definition as YAML (what a version holds)."""
    d = topic.model_dump(exclude_defaults=True, by_alias=True, mode="json")
    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=100)


def save_version(config_dir: Path, topic: TopicConfig, now: datetime | None = None) -> Path:
    """Keep the topic's definition as it is now (before an edit)."""
    when = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    folder = config_dir / HISTORY_DIR / topic.id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{when}.yaml"
    path.write_text(definition_yaml(topic), encoding="utf-8")
    return path


def versions(config_dir: Path, topic_id: str) -> list[Path]:
    folder = config_dir / HISTORY_DIR / topic_id
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def history(config_dir: Path, topic: TopicConfig) -> list[tuple[str, str, str]]:
    """(from, to, unified diff) for each change of the topic, oldest first; the last
    change goes from the newest saved version to the current definition."""
    saved = [(p.stem, p.read_text(encoding="utf-8")) for p in versions(config_dir, topic.id)]
    states = [*saved, ("current", definition_yaml(topic))]
    out = []
    for (a, ta), (b, tb) in zip(states, states[1:], strict=False):
        diff = "".join(
            difflib.unified_diff(
                ta.splitlines(keepends=True), tb.splitlines(keepends=True), a, b, n=2
            )
        )
        out.append((a, b, diff))
    return out


def _topic_block(lines: list[str], topic_id: str) -> tuple[int, int, int]:
    """(index of the ``- id:`` line, index after the topic's last line, key indent)."""
    start = next(
        (
            i
            for i, ln in enumerate(lines)
            if re.match(rf"\s*-\s*id:\s*['\"]?{re.escape(topic_id)}['\"]?\s*$", ln)
        ),
        None,
    )
    if start is None:
        raise ConfigError("", "", f"topic {topic_id!r} not found as '- id: {topic_id}'")
    key_indent = len(lines[start]) - len(lines[start].lstrip(" -"))
    end = start + 1
    for i in range(start + 1, len(lines)):
        ln = lines[i]
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        ind = len(ln) - len(ln.lstrip(" "))
        if ind < key_indent:
            break
        end = i + 1
    return start, end, key_indent


def _add_term_lines(lines: list[str], topic_id: str, group: str, term: str) -> None:
    headers = _group_lines(lines, topic_id)
    if group not in headers:
        raise ConfigError("", topic_id, f"group {group!r} not found")
    end, child = headers[group]
    head = max(i for i in range(end) if re.match(rf"\s*{re.escape(group)}:\s*$", lines[i]))
    for i in range(head + 1, end):
        if not re.match(rf"{child}terms:", lines[i]):
            continue
        if lines[i].split("terms:", 1)[1].strip().startswith("["):
            # a flow list: the term goes before the ``]`` that closes it
            for j in range(i, end):
                code = lines[j].split(" #", 1)[0].rstrip()
                if code.endswith("]"):
                    at = lines[j].rindex("]", 0, len(code))
                    lines[j] = f"{lines[j][:at]}, {_scalar(term)}{lines[j][at:]}"
                    return
        # a block list: one more ``- term`` line after the last one
        last, item = i, f"{child}  - "
        for j in range(i + 1, end):
            m = re.match(r"(\s*-\s+)", lines[j])
            if m:
                last, item = j, m.group(1)
        lines.insert(last + 1, f"{item}{_scalar(term)}")
        return
    lines.insert(end, f"{child}terms: [{_scalar(term)}]")


def _add_exclusion_lines(lines: list[str], topic_id: str, term: str) -> None:
    start, end, ind = _topic_block(lines, topic_id)
    entry = f"{{terms: [{_scalar(term)}], window: {EXCLUDE_WINDOW}}}"
    for i in range(start, end):
        if re.match(rf"{' ' * ind}exclude:\s*$", lines[i]):
            # after the block's last line, with the indentation of its items
            last, item = i, " " * (ind + 2) + "- "
            for j in range(i + 1, end):
                ln = lines[j]
                if ln.strip() and not ln.lstrip().startswith("#"):
                    if len(ln) - len(ln.lstrip(" ")) <= ind:
                        break
                    m = re.match(r"(\s*-\s+)", ln)
                    if m and j == i + 1:
                        item = m.group(1)
                    last = j
            lines.insert(last + 1, f"{item}{entry}")
            return
        if re.match(rf"{' ' * ind}exclude:", lines[i]):
            raise ConfigError("", topic_id, "exclude: is not a block list; edit it by hand")
    lines.insert(end, f"{' ' * ind}exclude:")
    lines.insert(end + 1, f"{' ' * (ind + 2)}- {entry}")


def apply_edit(path: Path, topic: TopicConfig, edit: Edit) -> Path:
    """Write ``edit`` into the topics file at ``path`` (the previous definition saved
    first as a version, in ``path``'s directory). Returns the saved version's path."""
    before = path.read_text(encoding="utf-8")
    lines = before.split("\n")
    try:
        if edit.kind == ADD:
            assert edit.group is not None
            _add_term_lines(lines, topic.id, edit.group, edit.term)
        else:
            _add_exclusion_lines(lines, topic.id, edit.term)
    except ConfigError as e:
        raise ConfigError(str(path), topic.id, e.problem) from None
    saved = save_version(path.parent, topic)
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        TopicsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except Exception as e:  # any failure: put the file back as it was
        path.write_text(before, encoding="utf-8")
        saved.unlink()
        raise ConfigError(str(path), topic.id, f"the edit did not validate, restored: {e}") from e
    return saved
