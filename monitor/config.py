"""Configuration: one typed object, loaded and validated once.

A config directory holds up to four YAML files:

- ``settings.yaml`` (optional): database, schedule, fetch/extract limits, retention;
- ``feeds.yaml``: the feeds to poll;
- ``topics.yaml``: the watched topics (see :mod:`monitor.topics.match`);
- ``alerts.yaml`` (optional): alert routes (topics -> apprise URLs).

String values may reference environment variables as ``${NAME}`` or
``${NAME:-default}``; a reference to an unset variable with no default is an
error that names the file and key. Every error is a :class:`ConfigError` with
the file, the key and the problem.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CONFIG_FILES = ("settings.yaml", "feeds.yaml", "topics.yaml", "alerts.yaml")
ALLOW_HOSTS_ENV = "NEWSMON_ALLOW_HOSTS"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
                       r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$")


def data_dir() -> Path:
    """Where newsmon keeps its state: ``$NEWSMON_HOME`` or ``$XDG_DATA_HOME/newsmon``."""
    if os.environ.get("NEWSMON_HOME"):
        return Path(os.environ["NEWSMON_HOME"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "newsmon"


def default_db_url() -> str:
    """The documented default: ``sqlite:///<data dir>/newsmon.db``."""
    return f"sqlite:///{data_dir() / 'newsmon.db'}"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- settings -----------------------------------------------------------------


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31),
                ("month", 1, 12), ("day of week", 0, 7))
_CRON_NAMES = {**{m: i + 1 for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split())},
    **{d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}}
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                "@hourly"}
_CRON_ITEM = re.compile(r"^(\*|(\w+)(?:-(\w+))?)(?:/(\d+))?$")


def check_cron(expr: str) -> str:
    """A standard five-field cron expression (or a macro such as ``@daily``), checked
    now - not when ``newsmon serve`` hands it to Prefect, after the server has started.
    Raises ValueError naming the field that is wrong."""
    text = " ".join(str(expr).split())
    if text.lower() in _CRON_MACROS:
        return text
    fields = text.split(" ")
    if len(fields) not in (5, 6):
        raise ValueError(f"cron expression {expr!r} has {len(fields)} fields; expected 5 "
                         "(minute hour day-of-month month day-of-week), e.g. '0 8 * * *'")
    # a sixth field is seconds, as croniter (Prefect's cron) reads it
    for value, (name, lo, hi) in zip(fields, _CRON_FIELDS + (("second", 0, 59),),
                                     strict=False):
        for item in value.lower().split(","):
            if name == "day of month" and item == "l":
                continue  # the last day of the month
            m = _CRON_ITEM.match(item.removesuffix("l") if name == "day of month" else
                                 item.split("#", 1)[0])
            bounds = [b for b in (m.group(2), m.group(3)) if b] if m else None
            if m is None or m.group(4) == "0" or bounds is None or not all(
                    (b.isdigit() and lo <= int(b) <= hi) or _CRON_NAMES.get(b) is not None
                    for b in bounds):
                raise ValueError(f"cron expression {expr!r}: {name} {value!r} is not valid "
                                 f"(numbers {lo}-{hi}, *, ranges a-b, steps /n, lists a,b)")
    return text


class Schedule(Strict):
    interval_minutes: float = Field(10, gt=0)
    cron: str | None = None
    digest_cron: str = "0 * * * *"

    @field_validator("cron", "digest_cron")
    @classmethod
    def _valid_cron(cls, v: str | None) -> str | None:
        return None if v is None else check_cron(v)


# A page is read up to this many bytes, and a gzip page inflated up to it (fetch.max_bytes).
MAX_PAGE_BYTES = 10_000_000


class FetchSettings(Strict):
    timeout_s: float = Field(20, gt=0)
    connect_timeout_s: float = Field(10, gt=0)
    max_bytes: int = Field(MAX_PAGE_BYTES, gt=0)
    max_redirects: int = Field(5, ge=0)
    user_agent: str = "newsmon/0.1 (+https://github.com/newsmon/newsmon)"
    concurrency: int = Field(32, ge=1)
    per_host_concurrency: int = Field(2, ge=1)
    per_host_delay_s: float = Field(0.25, ge=0)
    backoff_base_minutes: float = Field(5, gt=0)
    backoff_max_hours: float = Field(24, gt=0)
    max_entries_per_feed: int = Field(200, ge=1)
    # Time limit for parsing one large feed in the worker pool (feedparser has none).
    parse_timeout_s: float = Field(20, gt=0)
    # How long a claimed feed stays reserved for one worker; a running cycle renews it
    # once a third of it has passed, so only a worker that died (or hangs in one batch
    # for this long) loses its feeds to another.
    lease_minutes: float = Field(10, gt=0)
    # At most this many feeds per cycle (null: every due feed). With several workers,
    # about feeds / workers lets concurrent cycles share the due feeds.
    max_feeds_per_cycle: int | None = Field(None, ge=1)
    # Hosts fetched although they are not public (local testing, the demo, a feed on
    # the intranet): a host name, an address or a CIDR network. Merged with
    # $NEWSMON_ALLOW_HOSTS and ``--allow-host`` (see monitor.fetch.HostPolicy).
    allow_hosts: list[str] = []
    # The blunt legacy switch: no address check at all (every private, loopback and
    # link-local address open). Prefer allow_hosts; meant only for running behind an
    # egress proxy that enforces its own policy (local DNS is then not consulted).
    allow_private_networks: bool = False

    @field_validator("allow_hosts")
    @classmethod
    def _valid_allow_hosts(cls, v: list[str]) -> list[str]:
        for entry in v:
            parse_allow_entry(entry)  # raises ValueError naming the entry
        return [e.strip() for e in v]


def parse_allow_entry(entry: str) -> str | ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A host name (lower case) or a network (an address alone is a /32 or /128).

    Raises ValueError with a message that names the entry and says what is expected.
    """
    text = str(entry).strip()
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    if _HOSTNAME.match(name) and not re.fullmatch(r"[0-9.]+", name):
        return name
    raise ValueError(f"{text!r} is not a host name, an IP address or a CIDR network "
                     "(examples: feeds.intranet, 127.0.0.1, 10.0.0.0/8, ::1)")


def parse_allow_hosts(entries: list[str], source: str) -> list[str]:
    """Check allow-list entries from ``source`` (an option or a variable); ConfigError if
    one is bad. Comma-separated values are split, blanks dropped."""
    out: list[str] = []
    for item in entries:
        for part in str(item).split(","):
            if not part.strip():
                continue
            try:
                parse_allow_entry(part)
            except ValueError as exc:
                raise ConfigError(source, "", str(exc)) from None
            out.append(part.strip())
    return out


class ExtractSettings(Strict):
    workers: int = Field(0, ge=0, description="0 means one per CPU core")
    timeout_s: float = Field(30, gt=0)
    max_tasks_per_worker: int = Field(500, ge=1)
    # Articles per process-articles step (a Prefect task). Pages are fetched and analysed
    # as a stream whatever this is; it sets how many are stored per step, and so how many
    # tasks a cycle makes (each costs Prefect's server ~0.1 s of CPU on a small machine).
    batch_size: int = Field(200, ge=1)


class RetentionSettings(Strict):
    prune_text_after_days: int | None = Field(30, ge=1)


class AlertSettings(Strict):
    retry_base_minutes: float = Field(5, gt=0)
    retry_max_minutes: float = Field(240, gt=0)
    dead_after_hours: float = Field(48, gt=0)
    evidence_sentences: int = Field(3, ge=0)
    max_article_age_hours: float | None = Field(
        72, gt=0, description="hits on older articles are stored but not alerted; null: no limit")


class Settings(Strict):
    database: str | None = None
    schedule: Schedule = Schedule()
    fetch: FetchSettings = FetchSettings()
    extract: ExtractSettings = ExtractSettings()
    retention: RetentionSettings = RetentionSettings()
    alerts: AlertSettings = AlertSettings()


# --- feeds --------------------------------------------------------------------


class FeedConfig(Strict):
    url: str
    name: str | None = None
    tags: list[str] = []
    interval_minutes: float | None = Field(None, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip()
        if not re.match(r"^https?://[^/\s]+", v, re.I):
            raise ValueError(f"not an http(s) URL: {v!r}")
        return v


class FeedsFile(Strict):
    feeds: list[FeedConfig] = []

    @model_validator(mode="after")
    def _unique(self) -> FeedsFile:
        seen: set[str] = set()
        for f in self.feeds:
            if f.url in seen:
                raise ValueError(f"feed listed twice: {f.url}")
            seen.add(f.url)
        return self


# --- topics -------------------------------------------------------------------


class Term(Strict):
    """A term written out: ``{text: IRGC, case_sensitive: true}``.

    ``Azerbaijan*`` (a trailing star) matches any word starting so (Azerbaijani,
    Азербайджана with ``Азербайджан*``); ``plurals: false`` turns off the automatic
    English plural of the last word.
    """

    text: str = Field(min_length=1)
    case_sensitive: bool = False
    weight: float = Field(1.0, gt=0)
    plurals: bool = True


TermSpec = Union[str, Term]

# spaCy has a tokenizer (``spacy.blank``) for these; a group may list terms per language.
LANGUAGES = frozenset(
    "af am ar az bg bn ca cs da de dsb el en es et eu fa fi fo fr ga grc gu he hi hr hsb hu "
    "hy id is it ja kn ko ky la lb lg lij lt lv mk ml mr ms nb ne nl nn pl pt ro ru sa si sk "
    "sl sq sr sv ta te th ti tl tn tr tt uk ur vi xx yo zh".split())


class Group(Strict):
    """Named terms. ``terms`` apply in every language; ``ru:``, ``fa:``, ... add terms
    written in that language (kept in ``languages``)."""

    terms: list[TermSpec] = []
    languages: dict[str, list[TermSpec]] = {}
    weight: float = Field(1.0, ge=0)
    saturation: float | None = Field(None, gt=0, description="overrides the topic's")
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _language_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        langs = dict(data.get("languages") or {})
        for key in list(data):
            if key not in cls.model_fields and isinstance(key, str) and key in LANGUAGES:
                langs[key] = data.pop(key)
        if langs:
            data["languages"] = langs
        return data

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, v: dict[str, list[TermSpec]]) -> dict[str, list[TermSpec]]:
        for code in v:
            if code not in LANGUAGES:
                raise ValueError(f"unknown language code {code!r} (ISO 639-1, as spaCy uses)")
        return v

    @model_validator(mode="after")
    def _has_terms(self) -> Group:
        if not self.terms and not any(self.languages.values()):
            raise ValueError("a group needs terms (under terms: or a language code such as ru:)")
        return self

    def all_terms(self) -> list[tuple[str | None, TermSpec]]:
        """(language or None, term) for every term of the group."""
        out: list[tuple[str | None, TermSpec]] = [(None, t) for t in self.terms]
        for lang, terms in self.languages.items():
            out += [(lang, t) for t in terms]
        return out


class Exclusion(Strict):
    """Terms that cancel matches of other groups within ``window`` tokens."""

    terms: list[TermSpec] = Field(min_length=1)
    window: int = Field(6, ge=0)


class GroupRef(Strict):
    group: str
    min: int = Field(1, ge=1)


class AllOf(Strict):
    all: list[Rule] = Field(min_length=1)


class AnyOf(Strict):
    any: list[Rule] = Field(min_length=1)


class NoneOf(Strict):
    none: list[Rule] = Field(min_length=1)


class AtLeast(Strict):
    at_least: int = Field(ge=1)
    of: list[Rule] = Field(min_length=1)


class Sentence(Strict):
    """True when one sentence alone satisfies the inner rule."""

    sentence: Rule


class Near(Strict):
    """True when every listed group matches within ``within`` tokens of each other."""

    near: list[str] = Field(min_length=2)
    within: int = Field(10, ge=0)


_RULE_KEYS = {"group": "group", "all": "all", "any": "any", "none": "none",
              "at_least": "at_least", "of": "at_least", "sentence": "sentence",
              "near": "near", "within": "near"}


def _rule_kind(v: Any) -> str | None:
    if isinstance(v, str):
        return "name"
    if isinstance(v, dict):
        for k in v:
            if k in _RULE_KEYS:
                return _RULE_KEYS[k]
        return None
    for cls, tag in ((GroupRef, "group"), (AllOf, "all"), (AnyOf, "any"), (NoneOf, "none"),
                     (AtLeast, "at_least"), (Sentence, "sentence"), (Near, "near")):
        if isinstance(v, cls):
            return tag
    return None


# A rule is a group name, or one of the nodes above, told apart by its key.
Rule = Annotated[
    Union[
        Annotated[str, Tag("name")],
        Annotated[GroupRef, Tag("group")],
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[NoneOf, Tag("none")],
        Annotated[AtLeast, Tag("at_least")],
        Annotated[Sentence, Tag("sentence")],
        Annotated[Near, Tag("near")],
    ],
    Discriminator(_rule_kind, custom_error_type="rule",
                  custom_error_message="a rule is a group name or a mapping with one of the "
                  "keys group, all, any, none, at_least (with of), sentence, near (with within)"),
]
for _m in (AllOf, AnyOf, NoneOf, AtLeast, Sentence):
    _m.model_rebuild()


class FieldWeights(Strict):
    title: float = Field(3.0, ge=0)
    lead: float = Field(2.0, ge=0)
    body: float = Field(1.0, ge=0)
    lead_chars: int = Field(400, ge=0)


class Seeds(Strict):
    """Known examples: paths (relative to the topics file) or URLs of articles."""

    hits: list[str] = []
    misses: list[str] = []


class ModelSettings(Strict):
    """How a trained model (``newsmon topics train``) takes part in decisions."""

    use: bool = Field(True, description="false: rules alone decide even if a model is active")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="P(relevant) at which a story is a hit; default: the "
        "model's own (set at training so that it flags as many stored articles as expected)")


# Fields added after the first release: left out of the version hash while at their
# defaults, so that a definition that does not use them keeps its version.
_NEW_TOPIC_FIELDS = {"seeds": {"hits": [], "misses": []}, "scoring": "mean",
                     "model": {"use": True, "threshold": None}}
_NEW_GROUP_FIELDS = {"languages": {}, "saturation": None}
_NEW_TERM_FIELDS = {"plurals": True}


class TopicConfig(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    description: str = ""
    language: str = "en"
    groups: dict[str, Group] = Field(min_length=1)
    rule: Rule | None = None
    exclude: list[Exclusion] = []
    weights: FieldWeights = FieldWeights()
    saturation: float = Field(2.0, gt=0, description="count at which a group is ~63% saturated")
    threshold: float = Field(0.3, ge=0, le=1)
    scoring: Literal["mean", "rule"] = Field(
        "mean", description="mean: weighted mean over all groups; rule: follows the rule "
        "(any = best branch, all = weighted mean, none = a gate)")
    seeds: Seeds = Seeds()
    model: ModelSettings = ModelSettings()

    @field_validator("rule")
    @classmethod
    def _rule_names_exist(cls, rule: Any, info: ValidationInfo) -> Any:
        # A field validator (not a model one) so the error's key is "topics[i].rule";
        # ``groups`` is declared first, so it is validated by now (absent if invalid).
        groups = info.data.get("groups")
        if rule is not None and groups is not None:
            for name in _rule_group_names(rule):
                if name not in groups:
                    known = ", ".join(sorted(groups))
                    raise ValueError(f"rule names unknown group {name!r} (groups: {known})")
        return rule

    @property
    def version(self) -> str:
        """A short hash of the definition: stored with every hit."""
        data = _drop_defaults(self.model_dump(mode="json"), _NEW_TOPIC_FIELDS)
        for g in data["groups"].values():
            _drop_defaults(g, _NEW_GROUP_FIELDS)
            for t in g["terms"]:
                if isinstance(t, dict):
                    _drop_defaults(t, _NEW_TERM_FIELDS)
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _drop_defaults(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    for key, default in defaults.items():
        if key in data and data[key] == default:
            del data[key]
    return data


def _rule_group_names(rule: Any) -> list[str]:
    if isinstance(rule, str):
        return [rule]
    if isinstance(rule, GroupRef):
        return [rule.group]
    if isinstance(rule, (AllOf, AnyOf, NoneOf)):
        children = rule.all if isinstance(rule, AllOf) else (
            rule.any if isinstance(rule, AnyOf) else rule.none)
        return [n for c in children for n in _rule_group_names(c)]
    if isinstance(rule, AtLeast):
        return [n for c in rule.of for n in _rule_group_names(c)]
    if isinstance(rule, Sentence):
        return _rule_group_names(rule.sentence)
    if isinstance(rule, Near):
        return list(rule.near)
    return []


class TopicsFile(Strict):
    topics: list[TopicConfig] = []

    @model_validator(mode="after")
    def _unique(self) -> TopicsFile:
        ids = [t.id for t in self.topics]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"topic id used twice: {', '.join(sorted(dup))}")
        return self


# --- alerts -------------------------------------------------------------------


class Route(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    topics: list[str] = Field(["*"], min_length=1)
    min_score: float = Field(0.0, ge=0, le=1)
    urls: list[str] = []
    mode: Literal["instant", "digest"] = "instant"
    format: Literal["auto", "markdown", "html", "text"] = "auto"

    @field_validator("urls")
    @classmethod
    def _drop_empty(cls, v: list[str]) -> list[str]:
        # ``${VAR:-}`` that resolves to nothing switches a URL off.
        return [u.strip() for u in v if u and u.strip()]

    def wants(self, topic_id: str, score: float) -> bool:
        return ("*" in self.topics or topic_id in self.topics) and score >= self.min_score


class AlertHealth(Strict):
    """When a failing alert channel is itself news: "alerting is broken" on other routes.

    A target is announced once per failure episode when BOTH hold: at least
    ``after_failures`` sends in a row failed, and it has been failing for at least
    ``after_minutes`` (one bad minute does not page anyone; a dead channel does).
    ``notify``: ``all`` (the default: every other route, so the news is never kept
    from anyone), a list of route names, or ``[]`` to switch these alerts off.
    """

    notify: Literal["all"] | list[str] = "all"
    after_failures: int = Field(3, ge=1)
    after_minutes: float = Field(30, ge=0)


class AlertsFile(Strict):
    routes: list[Route] = []
    health: AlertHealth = AlertHealth()

    @model_validator(mode="after")
    def _unique(self) -> AlertsFile:
        names = [r.name for r in self.routes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"route name used twice: {', '.join(sorted(dup))}")
        return self


# --- the whole ------------------------------------------------------------------


class Config(BaseModel):
    """Everything newsmon needs, validated."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    directory: Path | None = None
    settings: Settings = Settings()
    feeds: list[FeedConfig] = []
    topics: list[TopicConfig] = []
    routes: list[Route] = []
    alert_health: AlertHealth = AlertHealth()
    # Problems worth telling the user that do not stop anything (the CLI prints them).
    warnings: list[str] = []

    @property
    def database_url(self) -> str:
        return os.environ.get("NEWSMON_DB") or self.settings.database or default_db_url()

    def topic(self, topic_id: str) -> TopicConfig:
        for t in self.topics:
            if t.id == topic_id:
                return t
        raise KeyError(topic_id)


def _substitute(value: Any, file: str, path: str) -> Any:
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
        return [_substitute(v, file, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _substitute(v, file, f"{path}.{k}" if path else str(k))
                for k, v in value.items()}
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
            elif prev == "terms" or (prev in LANGUAGES and out.endswith(f".{prev}[{part}]")):
                tags = _TERM_TAGS
        elif part == "languages" and prev != "groups":
            pass  # "ru:" is written on the group itself
        else:
            out += f".{part}" if out else str(part)
            if part in {"rule", "sentence"}:
                tags = _RULE_TAGS
        prev = part
    return out


def _friendly(loc: tuple[Any, ...], err: dict[str, Any], data: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc[-1]!r}"
    if err["type"] == "missing":
        return f"required key {loc[-1]!r} is missing"
    return msg.removeprefix("Value error, ")


# libyaml's loader when PyYAML has it (its wheels do): 7x faster than the pure-Python
# one on a 1,000-feed feeds.yaml, which a served cycle reads every time. Same safe subset.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_model(path: Path, model: type[Strict]) -> Any:
    """Read one YAML file into ``model``; raise ConfigError naming file and key."""
    file = str(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
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
    raw = _substitute(raw, file, "")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # Unions report one error per branch; the most specific (longest loc) is
        # the one a person means, and of equals an unknown key (a typo) says most.
        errors = exc.errors()
        best = max(errors, key=lambda e: (len(e["loc"]), e["type"] == "extra_forbidden"))
        loc = tuple(best["loc"])
        raise ConfigError(file, _loc(loc), _friendly(loc, best, raw)) from None


def load_config(directory: str | Path | None = None) -> Config:
    """Load and validate the config directory (``$NEWSMON_CONFIG`` or ``./config``)."""
    d = Path(directory or os.environ.get("NEWSMON_CONFIG") or "config")
    if not d.is_dir():
        raise ConfigError(str(d), "", "config directory not found")
    for extra in sorted(d.glob("*.y*ml")):
        if extra.name not in CONFIG_FILES and extra.suffix in {".yaml", ".yml"}:
            raise ConfigError(str(extra), "",
                              f"unexpected file (expected one of {', '.join(CONFIG_FILES)})")
    settings = (load_yaml_model(d / "settings.yaml", Settings)
                if (d / "settings.yaml").exists() else Settings())
    extra_hosts = parse_allow_hosts([os.environ.get(ALLOW_HOSTS_ENV, "")],
                                    f"${ALLOW_HOSTS_ENV} (environment)")
    if extra_hosts:
        fetch = settings.fetch
        fetch.allow_hosts = list(dict.fromkeys([*fetch.allow_hosts, *extra_hosts]))
    feeds = (load_yaml_model(d / "feeds.yaml", FeedsFile).feeds
             if (d / "feeds.yaml").exists() else [])
    topics = load_yaml_model(d / "topics.yaml", TopicsFile).topics
    alerts_file = (load_yaml_model(d / "alerts.yaml", AlertsFile)
                   if (d / "alerts.yaml").exists() else AlertsFile())
    routes = alerts_file.routes
    # Before apprise sees them (checking them below, it logs them): mask their secrets in
    # every log record from now on.
    _protect_secrets(routes, settings, feeds)
    known = {t.id for t in topics}
    for i, r in enumerate(routes):
        for t in r.topics:
            if t != "*" and t not in known:
                raise ConfigError(str(d / "alerts.yaml"), f"routes[{i}].topics",
                                  f"unknown topic {t!r} (topics: {', '.join(sorted(known))})")
        for j, url in enumerate(r.urls):
            problem = _apprise_problem(url)
            if problem:
                raise ConfigError(str(d / "alerts.yaml"), f"routes[{i}].urls[{j}]", problem)
    names = {r.name for r in routes}
    notify = alerts_file.health.notify
    for i, name in enumerate(notify if isinstance(notify, list) else []):
        if name not in names:
            raise ConfigError(str(d / "alerts.yaml"), f"health.notify[{i}]",
                              f"unknown route {name!r} (routes: {', '.join(sorted(names))})")
    return Config(directory=d, settings=settings, feeds=feeds, topics=topics, routes=routes,
                  alert_health=alerts_file.health,
                  warnings=_exposed_secrets(d, settings, routes))


def _protect_secrets(routes: list[Route], settings: Settings,
                     feeds: list[FeedConfig] | None = None) -> None:
    """From now on, mask the secrets of this config in every log record of the process
    (apprise logs tokens and passwords at debug level; exception texts carry URLs), and
    in what newsmon prints: a feed URL's password or ``?apikey=`` value included."""
    from sqlalchemy.engine import make_url

    from monitor.redact import protect, protect_plain

    protect_plain(f.url for f in feeds or [])

    secrets = [u for r in routes for u in r.urls]
    try:
        password = make_url(os.environ.get("NEWSMON_DB") or settings.database
                            or default_db_url()).password
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: the store will say so
        password = None
    if password:
        secrets.append(str(password))
    protect(secrets)


def _exposed_secrets(d: Path, settings: Settings, routes: list[Route]) -> list[str]:
    """Config files that hold a secret written out (not a ``${VAR}``) and that other
    users can read. A warning, not an error: the file is the user's, and a shared
    read-only config on a single-user machine is their call."""
    from monitor.perms import readable_by_others

    out: list[str] = []
    checks = [(d / "alerts.yaml", [u for r in routes for u in r.urls if _has_secret(u)],
               "apprise URLs with passwords or tokens"),
              (d / "settings.yaml", [settings.database] if _db_password(settings.database)
               else [], "a database password")]
    for path, secrets, what in checks:
        if not secrets or not path.exists() or not readable_by_others(path):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(s in text for s in secrets if s):
            out.append(f"{path} holds {what} and other users can read it: "
                       f"chmod 600 {path}, or write them as ${{VARIABLE}} references")
    return out


def _has_secret(url: str) -> bool:
    """True if apprise masks something in ``url`` (a password, token or key)."""
    import apprise

    try:
        obj = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        return bool(obj) and obj.url(privacy=True) != obj.url(privacy=False)
    except Exception:  # noqa: BLE001
        return True  # unsure: treat as secret


def _db_password(url: str | None) -> bool:
    if not url:
        return False
    from sqlalchemy.engine import make_url

    try:
        return bool(make_url(url).password)
    except Exception:  # noqa: BLE001
        return False


def _apprise_problem(url: str) -> str | None:
    """None if apprise understands the URL; the message never shows its credentials."""
    import apprise

    scheme = url.split("://", 1)[0] if "://" in url else ""
    try:
        ok = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001
        ok = None
    if ok:
        return None
    return (f"apprise does not understand this URL (scheme {scheme!r}); "
            "see https://github.com/caronc/apprise/wiki")


def add_feeds(directory: str | Path, feeds: list[dict[str, str]], *,
              dry_run: bool = False) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Append feeds to ``feeds.yaml`` (comments kept); skip URLs already there.

    The file is re-validated after the change and restored if it no longer loads.
    """
    path = Path(directory) / "feeds.yaml"
    existing = load_yaml_model(path, FeedsFile).feeds if path.exists() else []
    known = {f.url.rstrip("/") for f in existing}
    added, skipped = [], []
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
    m = re.search(r"^([ \t]*)- ", text[re.search(r"^feeds\s*:", text, re.M).end():], re.M)  # type: ignore[union-attr]
    ind = m.group(1) if m else "  "
    text += f"{ind}# imported from OPML\n"
    for f in added:
        text += f"{ind}- url: {json.dumps(f['url'])}\n"
        if f.get("name"):
            text += f"{ind}  name: {json.dumps(f['name'], ensure_ascii=False)}\n"
    from monitor.perms import write_private_text

    # A new feeds.yaml is owner-only (private feed URLs carry keys); an existing one keeps
    # the mode its owner gave it.
    write_private_text(path, text)
    try:
        load_yaml_model(path, FeedsFile)
    except ConfigError:
        write_private_text(path, before)
        raise
    return added, skipped
