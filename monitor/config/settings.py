"""The settings schema: ``settings.yaml`` and ``feeds.yaml`` as typed objects, and where
newsmon keeps its state."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from monitor.fetch.guard import parse_allow_entry
from monitor.redact import Credentials, split_credentials, with_credentials


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


# --- settings.yaml ------------------------------------------------------------------


_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_CRON_NAMES = {
    **{m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
    **{d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())},
}
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
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
        raise ValueError(
            f"cron expression {expr!r} has {len(fields)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week), e.g. '0 8 * * *'"
        )
    # a sixth field is seconds, as croniter (Prefect's cron) reads it
    for value, (name, lo, hi) in zip(fields, _CRON_FIELDS + (("second", 0, 59),), strict=False):
        for item in value.lower().split(","):
            if name == "day of month" and item == "l":
                continue  # the last day of the month
            m = _CRON_ITEM.match(
                item.removesuffix("l") if name == "day of month" else item.split("#", 1)[0]
            )
            bounds = [b for b in (m.group(2), m.group(3)) if b] if m else None
            if (
                m is None
                or m.group(4) == "0"
                or bounds is None
                or not all(
                    (b.isdigit() and lo <= int(b) <= hi) or _CRON_NAMES.get(b) is not None
                    for b in bounds
                )
            ):
                raise ValueError(
                    f"cron expression {expr!r}: {name} {value!r} is not valid "
                    f"(numbers {lo}-{hi}, *, ranges a-b, steps /n, lists a,b)"
                )
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
    # $NEWSMON_ALLOW_HOSTS and ``--allow-host`` (see monitor.fetch.guard.HostPolicy).
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
    sending_lease_minutes: float = Field(
        2,
        gt=0,
        description="a row claimed for sending and not finished (the run was killed) is "
        "sent again after this long; longer than any one send takes (renewed between sends)",
    )
    max_article_age_hours: float | None = Field(
        72, gt=0, description="hits on older articles are stored but not alerted; null: no limit"
    )


class StoriesSettings(Strict):
    enabled: bool = True
    window_hours: float = Field(
        72, gt=0, description="a story takes articles this long after its last one"
    )


class Settings(Strict):
    database: str | None = None
    schedule: Schedule = Schedule()
    fetch: FetchSettings = FetchSettings()
    extract: ExtractSettings = ExtractSettings()
    retention: RetentionSettings = RetentionSettings()
    alerts: AlertSettings = AlertSettings()
    stories: StoriesSettings = StoriesSettings()


# --- feeds.yaml ---------------------------------------------------------------------


class FeedConfig(Strict):
    url: str
    name: str | None = None
    tags: list[str] = []
    interval_minutes: float | None = Field(None, gt=0)
    paused: bool = False  # kept, not polled (newsmon feeds pause / resume)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip()
        if not re.match(r"^https?://[^/\s]+", v, re.I):
            raise ValueError(f"not an http(s) URL: {v!r}")
        return v

    # ``https://user:secret@host/feed``: the credentials are kept apart from the URL,
    # which is what is stored, shown and resolved against (see fetch_url).
    _credentials: Credentials | None = PrivateAttr(None)

    def model_post_init(self, context: Any, /) -> None:
        self.url, self._credentials = split_credentials(self.url)

    @property
    def credentials(self) -> Credentials | None:
        return self._credentials

    @property
    def fetch_url(self) -> str:
        """The URL as configured, credentials and all: for the feed's own fetch only."""
        return with_credentials(self.url, self._credentials)


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
