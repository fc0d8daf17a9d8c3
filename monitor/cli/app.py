"""The ``newsmon`` command's shell: the Typer apps, the options every command shares,
the run's settings, and output helpers. The commands live beside it, one module per
group (:mod:`monitor.cli`).

Every command reads the config directory (``--config`` / ``$NEWSMON_CONFIG``,
default ``./config``) and the database (``--db`` / ``$NEWSMON_DB``, else the
config's ``database``, else ``~/.local/share/newsmon/newsmon.db``). Library
errors become one line on stderr: exit code 2 for configuration errors, 1 for
anything else.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.errors import ConfigError, NewsmonError
from monitor.redact import redact

# The config (pydantic, apprise, httpx) and the store (the SQL toolkit) are imported by
# the commands that use them: `newsmon --help` starts in a fraction of a second.
if TYPE_CHECKING:
    from monitor.config import Config, RunSettings
    from monitor.store import Store

app = typer.Typer(
    help="newsmon: news monitoring - feeds, article text, topics, hits, alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
feeds_app = typer.Typer(help="Feed health, and importing feeds from OPML.")
hits_app = typer.Typer(help="Review stored hits: list, show, mark, export.")
topics_app = typer.Typer(
    help="Topics: list, explain a decision, train from review, test, "
    "evaluate on a labelled dataset."
)
config_app = typer.Typer(help="Check the configuration.")
db_app = typer.Typer(help="The database schema: show its version, upgrade it (Alembic).")
users_app = typer.Typer(help="The review desk's user accounts: add, list, remove.")
app.add_typer(feeds_app, name="feeds")
app.add_typer(hits_app, name="hits")
app.add_typer(topics_app, name="topics")
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # \t and \n too: a title cannot forge lines


@dataclass
class Ctx:
    """What the command line chose; the run's settings and config, built once."""

    config_dir: str | None
    db: str | None
    db_from_env: bool = False  # --db came from $NEWSMON_DB, not the command line
    allow_hosts: tuple[str, ...] = ()
    _settings: RunSettings | None = None

    def allow(self, hosts: list[str] | None) -> None:
        """A command's ``--allow-host`` entries, before its settings are built."""
        self.allow_hosts = tuple(hosts or ())
        self._settings = None

    @property
    def settings(self) -> RunSettings:
        """The run's settings: what a flow gets too. A database from the environment is
        passed on as the ``${NEWSMON_DB}`` reference, never as its value."""
        if self._settings is None:
            from monitor.config import RunSettings

            self._settings = RunSettings.from_environment(
                os.environ,
                config_dir=self.config_dir,
                database=None if self.db_from_env else self.db,
                allow_hosts=self.allow_hosts,
            )
        return self._settings

    @property
    def config(self) -> Config:
        first = not self.settings.loaded
        config = self.settings.config()
        if first:
            for w in config.warnings:
                typer.echo(f"newsmon: warning: {w}", err=True)
        return config

    def db_url(self) -> str:
        if self.db:
            return self.db
        try:
            return self.config.database_url
        except ConfigError:
            from monitor.config import Config

            # Reviewing stored hits must not need a valid feed list.
            return Config().database_url

    def store(self) -> Store:
        from monitor.store import Store

        return Store(self.db_url())


ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", envvar="NEWSMON_CONFIG", help="Config directory (default ./config)."
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="NEWSMON_DB", help="Database URL (sqlite:///path or postgresql://...)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
TopicOpt = Annotated[str | None, typer.Option("--topic", "-t", help="Topic id.")]
AllowHostOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-host",
        metavar="HOST",
        help=(
            "Also fetch from this host name, address or CIDR network although it is not "
            "public (repeatable; added to fetch.allow_hosts and $NEWSMON_ALLOW_HOSTS)."
        ),
    ),
]


@app.callback()
def _main(ctx: typer.Context, config: ConfigOpt = None, db: DbOpt = None) -> None:
    # By name: typer may bring its own copy of click's ParameterSource.
    source = ctx.get_parameter_source("db")
    ctx.obj = Ctx(config, db, source is not None and source.name == "ENVIRONMENT")


def _ctx(ctx: typer.Context) -> Ctx:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Ctx(None, None)
    obj: Ctx = root.obj
    return obj


def clean(text: Any, width: int | None = None) -> str:
    """Text from the outside world made safe for a terminal: one line, no escape
    sequences, no secret of the config (a feed URL's password, an alert token)."""
    s = _CONTROL.sub(" ", redact(str(text if text is not None else "")))
    if width and len(s) > width:
        s = s[: width - 1] + "…"
    return s


def echo(text: str = "") -> None:
    typer.echo(text)


def _table(rows: list[list[Any]], headers: list[str]) -> None:
    cells = [[clean(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in cells:
        echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _when(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if dt else "-"


def _since(value: str | None) -> datetime | None:
    """``2d``, ``12h``, ``30m``, ``1w`` ago, or an ISO date/time."""
    if not value:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([mhdw])", value.strip())
    if m:
        n, unit = float(m.group(1)), m.group(2)
        delta = {
            "m": timedelta(minutes=n),
            "h": timedelta(hours=n),
            "d": timedelta(days=n),
            "w": timedelta(weeks=n),
        }[unit]
        return datetime.now(UTC) - delta
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: use 30m, 12h, 2d, 1w or an ISO date") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _dump(obj: Any) -> None:
    echo(redact(json.dumps(obj, ensure_ascii=False, indent=2, default=str)))


def main() -> None:
    """Entry point: library errors become one line, config errors exit 2."""
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"newsmon: config error: {exc}", err=True)
        sys.exit(2)
    except NewsmonError as exc:
        typer.echo(f"newsmon: error: {exc}", err=True)
        sys.exit(1)
    except KeyError as exc:
        typer.echo(f"newsmon: error: unknown {exc}", err=True)
        sys.exit(1)
