"""The region's names in many languages and scripts, and what they add to a topic.

newsmon ships a gazetteer (``monitor/topics/gazetteer.yaml``): countries, capitals,
leaders, places and routes of the South Caucasus and its neighbours, each written per
language (exonyms, transliterations, stems of inflected forms as prefix terms). A user
file ``gazetteer.yaml`` in the config directory, in the same format, adds names to
entries and new entries.

:func:`coverage` tells, for the languages the stored articles arrive in, which groups
of a topic have no terms in that language; :func:`propose` finds the gazetteer entries
a group is about (an entry is in a group when one of its names, in any language, is a
term of the group) and proposes their names in the missing languages;
:func:`proposal_yaml` prints them as YAML to paste and :func:`apply_proposal` writes
them into a topics file (the file is re-validated and restored if it no longer loads).
``newsmon topics coverage`` wires them (docs/topics.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from monitor.errors import ConfigError
from monitor.topics.language import TERM_LANGUAGES, Group, TermSpec, TopicConfig, TopicsFile
from monitor.topics.text import normalize

SHIPPED = Path(__file__).with_name("gazetteer.yaml")
USER_FILE = "gazetteer.yaml"


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = "place"
    names: dict[str, list[str]] = Field(default_factory=dict)


class GazetteerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: dict[str, Entry] = Field(default_factory=dict)


def _key(term: str) -> str:
    """A term or name as compared: normalised, without its prefix star."""
    return normalize(term.strip().rstrip("*").strip())


def _full(term: str) -> str:
    """A term as deduplicated: normalised, its prefix star kept (a prefix term is not
    covered by the same word written exact)."""
    t = term.strip()
    return normalize(t.rstrip("*").strip()) + ("*" if t.endswith("*") else "")


def _text(spec: TermSpec) -> str:
    return spec if isinstance(spec, str) else spec.text


@dataclass
class Gazetteer:
    entries: dict[str, Entry] = field(default_factory=dict)
    sources: list[Path] = field(default_factory=list)

    def add(self, other: GazetteerFile, source: Path) -> None:
        for eid, entry in other.entries.items():
            mine = self.entries.setdefault(eid, Entry(kind=entry.kind))
            for lang, names in entry.names.items():
                if lang not in TERM_LANGUAGES:
                    raise ConfigError(str(source), f"entries.{eid}", f"unknown language {lang!r}")
                have = mine.names.setdefault(lang, [])
                have += [n for n in names if n not in have]
        self.sources.append(source)

    def languages(self) -> list[str]:
        return sorted({lang for e in self.entries.values() for lang in e.names})

    def entries_of(self, group: Group) -> list[str]:
        """Ids of the entries a group is about: one of their names is a group term."""
        terms = {_key(_text(t)) for _, t in group.all_terms()}
        return [
            eid
            for eid, e in self.entries.items()
            if any(_key(n) in terms for names in e.names.values() for n in names)
        ]


def _read(path: Path) -> GazetteerFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return GazetteerFile.model_validate(data)
    except (OSError, yaml.YAMLError, ValueError) as e:
        raise ConfigError(str(path), "", f"not a gazetteer file: {e}") from e


def load_gazetteer(config_dir: str | Path | None = None) -> Gazetteer:
    """The shipped gazetteer, extended by ``<config_dir>/gazetteer.yaml`` if present."""
    g = Gazetteer()
    g.add(_read(SHIPPED), SHIPPED)
    if config_dir is not None:
        user = Path(config_dir) / USER_FILE
        if user.is_file():
            g.add(_read(user), user)
    return g


def has_terms(topic: TopicConfig, group: Group, lang: str) -> bool:
    """Whether a group has terms for articles in ``lang``: terms written under that
    language, or the general terms when ``lang`` is the topic's own language."""
    if group.languages.get(lang):
        return True
    return lang == topic.language and bool(group.terms)


def coverage(topic: TopicConfig, languages: list[str]) -> dict[str, list[str]]:
    """For each language, the topic's groups that have no terms in it (empty: covered)."""
    return {
        lang: [g for g, grp in topic.groups.items() if not has_terms(topic, grp, lang)]
        for lang in languages
    }


def propose(
    topic: TopicConfig, languages: list[str], gazetteer: Gazetteer
) -> dict[str, dict[str, list[str]]]:
    """Names to add: group -> language -> names, for languages the group has no terms
    in, from the gazetteer entries the group is about; names the group already has (in
    any language) are left out."""
    out: dict[str, dict[str, list[str]]] = {}
    for gname, group in topic.groups.items():
        entries = gazetteer.entries_of(group)
        if not entries:
            continue
        have = {_full(_text(t)) for _, t in group.all_terms()}
        for lang in languages:
            if has_terms(topic, group, lang):
                continue
            names: list[str] = []
            for eid in entries:
                for n in gazetteer.entries[eid].names.get(lang, []):
                    if _full(n) not in have and n not in names:
                        names.append(n)
            if names:
                out.setdefault(gname, {})[lang] = names
    return out


_PLAIN = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`][^,\[\]{}#:\"]*")


def _scalar(name: str) -> str:
    return (
        name
        if _PLAIN.fullmatch(name) and not name.endswith(" ")
        else json.dumps(name, ensure_ascii=False)
    )


def _flow(names: list[str]) -> str:
    return "[" + ", ".join(_scalar(n) for n in names) + "]"


def proposal_yaml(topic_id: str, proposal: dict[str, dict[str, list[str]]]) -> str:
    """The proposal as YAML to paste under the topic's ``groups:``."""
    lines = [f"# topic {topic_id}: add under groups:"]
    for gname, langs in proposal.items():
        lines.append(f"{gname}:")
        for lang, names in langs.items():
            lines.append(f"  {lang}: {_flow(names)}")
    return "\n".join(lines) + "\n"


def _group_lines(lines: list[str], topic_id: str) -> dict[str, tuple[int, str]]:
    """For each group of one topic in a topics file as written (``- id: X`` ...
    ``groups:`` ... ``<indent>name:``): the line index just after the group's last
    line, and the indentation of its keys."""
    start = next(
        (
            i
            for i, ln in enumerate(lines)
            if re.match(rf"\s*-?\s*id:\s*['\"]?{re.escape(topic_id)}['\"]?\s*$", ln)
        ),
        None,
    )
    if start is None:
        raise ConfigError("", "", f"topic {topic_id!r} not found as '- id: {topic_id}'")
    item_indent = len(lines[start]) - len(lines[start].lstrip(" -"))
    out: dict[str, tuple[int, str]] = {}
    groups_indent: int | None = None
    group_indent: int | None = None
    current: str | None = None
    for i in range(start + 1, len(lines)):
        ln = lines[i]
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        ind = len(ln) - len(ln.lstrip(" "))
        if ind < item_indent or (ln.lstrip().startswith("- ") and ind <= item_indent):
            break  # the next topic
        if groups_indent is None:
            if re.match(r"\s*groups:\s*$", ln):
                groups_indent = ind
            continue
        if ind <= groups_indent:
            break  # the end of groups:
        m = re.match(r"(\s*)([A-Za-z0-9_-]+):\s*$", ln)
        if m and (group_indent is None or ind == group_indent):
            group_indent = ind
            current = m.group(2)
            child = " " * (ind + 2)
            for j in range(i + 1, len(lines)):
                nxt = lines[j]
                if nxt.strip() and not nxt.lstrip().startswith("#"):
                    child = " " * (len(nxt) - len(nxt.lstrip(" ")))
                    break
            out[current] = (i + 1, child)
        elif current is not None:
            out[current] = (i + 1, out[current][1])  # the group goes on
    return out


def apply_proposal(path: Path, topic_id: str, proposal: dict[str, dict[str, list[str]]]) -> int:
    """Write the proposed names into the topics file (comments and layout kept: one
    ``lang: [...]`` line per group and language, after the group's other terms). The
    file is re-validated and restored if it no longer loads. Returns lines added."""
    before = path.read_text(encoding="utf-8")
    lines = before.split("\n")
    headers = _group_lines(lines, topic_id)
    inserts: list[tuple[int, list[str]]] = []
    for gname, langs in proposal.items():
        if gname not in headers:
            raise ConfigError(str(path), topic_id, f"group {gname!r} not found")
        at, child = headers[gname]
        inserts.append((at, [f"{child}{lang}: {_flow(n)}" for lang, n in langs.items()]))
    added = 0
    for at, new in sorted(inserts, reverse=True):
        lines[at:at] = new
        added += len(new)
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        TopicsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except Exception as e:  # any failure: put the file back as it was
        path.write_text(before, encoding="utf-8")
        raise ConfigError(str(path), topic_id, f"the edit did not validate, restored: {e}") from e
    return added
