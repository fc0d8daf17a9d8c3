"""Loading the config directory: YAML files in, one validated :class:`Config` out.

A config directory holds up to four YAML files:

- ``settings.yaml`` (optional): database, schedule, fetch/extract limits, retention
  (:mod:`monitor.config.settings`);
- ``feeds.yaml``: the feeds to poll;
- ``topics.yaml``: the watched topics (the rule language: :mod:`monitor.topics.language`);
- ``alerts.yaml`` (optional): alert routes (topics -> apprise URLs:
  :mod:`monitor.alerts.routes`).

String values may reference environment variables as ``${NAME}`` or
``${NAME:-default}``; a reference to an unset variable with no default is an
error that names the file and key. Every error is a :class:`ConfigError` with
the file, the key and the problem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from monitor.alerts.routes import (
    AlertHealth,
    AlertsFile,
    FeedHealth,
    Route,
    Spikes,
    apprise_problem,
)
from monitor.config.secrets import exposed_secrets, protect_secrets
from monitor.config.settings import FeedConfig, FeedsFile, Settings, default_db_url
from monitor.errors import ConfigError
from monitor.redact import redact, strip_credentials
from monitor.topics.language import TERM_LANGUAGES, TopicConfig, TopicsFile

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CONFIG_FILES = ("settings.yaml", "feeds.yaml", "topics.yaml", "alerts.yaml")


class Config(BaseModel):
    """Everything newsmon needs, validated."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    directory: Path | None = None
    settings: Settings = Settings()
    feeds: list[FeedConfig] = []
    topics: list[TopicConfig] = []
    routes: list[Route] = []
    alert_health: AlertHealth = AlertHealth()
    feed_health: FeedHealth = FeedHealth()
    spikes: Spikes = Spikes()
    # Problems worth telling the user that do not stop anything (the CLI prints them).
    warnings: list[str] = []

    @property
    def database_url(self) -> str:
        return self.settings.database or default_db_url()

    def configured_urls(self, urls: Sequence[str]) -> list[str]:
        """The feeds of ``feeds.yaml`` that ``urls`` name (``--feed``): written with or
        without their credentials or a trailing slash. A URL that is not configured is a
        ConfigError: polling it would say "0 polled" and do nothing, and polling it as a
        one-off would store articles of a feed nobody configured."""
        known = {f.url.rstrip("/"): f.url for f in self.feeds}
        out = []
        for u in urls:
            got = known.get(strip_credentials(u.strip()).rstrip("/"))
            if got is None:
                where = self.directory / "feeds.yaml" if self.directory else "feeds.yaml"
                raise ConfigError(
                    "--feed",
                    "",
                    f"{redact(strip_credentials(u.strip()))} is not a feed of {where}: add it "
                    "there first (newsmon feeds import adds an OPML file's feeds)",
                )
            out.append(got)
        return out

    def topic(self, topic_id: str) -> TopicConfig:
        for t in self.topics:
            if t.id == topic_id:
                return t
        raise KeyError(topic_id)


def substitute(value: Any, file: str, path: str) -> Any:
    """``${NAME}`` and ``${NAME:-default}`` in ``value`` (strings, lists, mappings)
    replaced from the environment; an unset variable without a default is a ConfigError
    naming ``file`` and ``path``."""
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(file, path, f"environment variable {name} is not set")

        return ENV_REF.sub(repl, value)
    if isinstance(value, list):
        return [substitute(v, file, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: substitute(v, file, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    return value


_RULE_TAGS = {"name", "group", "all", "any", "none", "at_least", "sentence", "near"}
_TERM_TAGS = {"str", "Term"}


def _loc(loc: tuple[Any, ...]) -> str:
    # pydantic puts a union's tag into the location ("rule", "any", "any", 0): drop
    # the tag only where a union sits, so that a field that happens to share a tag's
    # name ("feeds[0].name", "rule.any") is kept.
    out = ""
    tags: set[str] = set()
    prev: Any = None
    for part in loc:
        if part in tags:
            tags = set()
            continue
        tags = set()
        if isinstance(part, int):
            out += f"[{part}]"
            if prev in {"all", "any", "none", "of"}:
                tags = _RULE_TAGS
            elif prev == "terms" or (prev in TERM_LANGUAGES and out.endswith(f".{prev}[{part}]")):
                tags = _TERM_TAGS
        elif part == "languages" and prev != "groups":
            pass  # "ru:" is written on the group itself
        else:
            out += f".{part}" if out else str(part)
            if part in {"rule", "sentence"}:
                tags = _RULE_TAGS
        prev = part
    return out


def _friendly(loc: tuple[Any, ...], err: Mapping[str, Any], data: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc[-1]!r}"
    if err["type"] == "missing":
        return f"required key {loc[-1]!r} is missing"
    return msg.removeprefix("Value error, ")


# libyaml's loader when PyYAML has it (its wheels do): 7x faster than the pure-Python
# one on a 1,000-feed feeds.yaml, which a served cycle reads every time. Same safe subset.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# A config document, its aliases expanded, is a few thousand nodes (1,000 feeds: ~4,000).
# A "billion laughs" of aliases expands to billions: walking it took 13 s at 9 levels.
MAX_YAML_NODES = 200_000


class _StrictLoader(_SAFE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader, refusing a key given twice in one mapping (YAML says keys are
    unique; PyYAML keeps the last silently, so a typo'd copy would win unnoticed)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *defaults" then overriding a key is what merges are for
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line)
            except TypeError:  # an unhashable key: the constructor reports it
                continue
            if first != key_node.start_mark.line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first + 1})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias expanded (linear: each
    node is counted once, then its count reused wherever an alias repeats it)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once; PyYAML builds it as a cycle
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(n, memo) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def _load_yaml(text: str) -> Any:
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_YAML_NODES:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"aliases expand to {size:,} values (limit {MAX_YAML_NODES:,}): "
                "an alias bomb, or a config far larger than any real one",
                node.start_mark,
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


# A served process reads the same config files for every cycle (1,000 feeds: parsing is
# most of the load): each file's parse is kept with its text and used again while the
# text is the same. substitute() builds new lists and mappings from it every time, so
# nothing after it can change the one kept.
_PARSED: dict[str, tuple[str, Any]] = {}


def _parse(file: str, text: str) -> Any:
    kept = _PARSED.get(file)
    if kept is not None and kept[0] == text:
        return kept[1]
    raw = _load_yaml(text)
    _PARSED[file] = (text, raw)
    return raw


def load_yaml_model(path: Path, model: type[BaseModel]) -> Any:
    """Read one YAML file into ``model``; raise ConfigError naming file and key."""
    file = str(path)
    try:
        raw = _parse(file, path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(file, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, "", f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, where, f"invalid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(file, "", "expected a mapping at the top level")
    raw = substitute(raw, file, "")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # Unions report one error per branch; the most specific (longest loc) is
        # the one a person means, and of equals an unknown key (a typo) says most.
        errors = exc.errors()
        best = max(errors, key=lambda e: (len(e["loc"]), e["type"] == "extra_forbidden"))
        loc = tuple(best["loc"])
        raise ConfigError(
            file, _loc(loc), _friendly(loc, best, raw) + _topic_of(loc, raw)
        ) from None


def _topic_of(loc: tuple[Any, ...], raw: Any) -> str:
    """`` (topic 'ID')`` for an error inside ``topics[i]``: a person knows topics by id."""
    if len(loc) > 2 and loc[0] == "topics" and isinstance(loc[1], int) and loc[2] != "id":
        try:
            tid = raw["topics"][loc[1]]["id"]
        except (KeyError, IndexError, TypeError):
            return ""
        if isinstance(tid, str) and tid:
            return f" (topic {tid!r})"
    return ""


def load_config(
    directory: str | Path | None = None,
    *,
    database: str | None = None,
    allow_hosts: Sequence[str] = (),
) -> Config:
    """Load and validate the config directory (default ``./config``).

    ``database`` (a URL) is used instead of settings.yaml's, and ``allow_hosts`` (checked
    entries) are added to ``fetch.allow_hosts``: what a command line chose
    (:class:`monitor.config.run.RunSettings` passes them)."""
    d = Path(directory or "config")
    if not d.is_dir():
        raise ConfigError(str(d), "", "config directory not found")
    for extra in sorted(d.glob("*.y*ml")):
        if extra.name not in CONFIG_FILES and extra.suffix in {".yaml", ".yml"}:
            raise ConfigError(
                str(extra), "", f"unexpected file (expected one of {', '.join(CONFIG_FILES)})"
            )
    settings = (
        load_yaml_model(d / "settings.yaml", Settings)
        if (d / "settings.yaml").exists()
        else Settings()
    )
    if allow_hosts:
        fetch = settings.fetch
        fetch.allow_hosts = list(dict.fromkeys([*fetch.allow_hosts, *allow_hosts]))
    feeds = (
        load_yaml_model(d / "feeds.yaml", FeedsFile).feeds if (d / "feeds.yaml").exists() else []
    )
    topics = load_yaml_model(d / "topics.yaml", TopicsFile).topics
    alerts_file = (
        load_yaml_model(d / "alerts.yaml", AlertsFile)
        if (d / "alerts.yaml").exists()
        else AlertsFile()
    )
    routes = alerts_file.routes
    # Before apprise sees them (checking them below, it logs them): mask their secrets in
    # every log record from now on.
    protect_secrets(routes, database or settings.database, feeds)
    known = {t.id for t in topics}
    for i, r in enumerate(routes):
        for t in r.topics:
            if t != "*" and t not in known:
                raise ConfigError(
                    str(d / "alerts.yaml"),
                    f"routes[{i}].topics",
                    f"unknown topic {t!r} (topics: {', '.join(sorted(known))})",
                )
        for j, url in enumerate(r.urls):
            problem = apprise_problem(url)
            if problem:
                raise ConfigError(str(d / "alerts.yaml"), f"routes[{i}].urls[{j}]", problem)
    names = {r.name for r in routes}
    for section, notify in (
        ("health", alerts_file.health.notify),
        ("feed_health", alerts_file.feed_health.notify),
    ):
        for i, name in enumerate(notify if isinstance(notify, list) else []):
            if name not in names:
                raise ConfigError(
                    str(d / "alerts.yaml"),
                    f"{section}.notify[{i}]",
                    f"unknown route {name!r} (routes: {', '.join(sorted(names))})",
                )
    if alerts_file.spikes.route is not None and alerts_file.spikes.route not in names:
        raise ConfigError(
            str(d / "alerts.yaml"),
            "spikes.route",
            f"unknown route {alerts_file.spikes.route!r} (routes: {', '.join(sorted(names))})",
        )
    warnings = exposed_secrets(d, settings, routes)
    if database:
        settings.database = database
    return Config(
        directory=d,
        settings=settings,
        feeds=feeds,
        topics=topics,
        routes=routes,
        alert_health=alerts_file.health,
        feed_health=alerts_file.feed_health,
        spikes=alerts_file.spikes,
        warnings=warnings,
    )
