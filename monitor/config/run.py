"""The settings of one run: what a command line (or a deployment's environment) chose,
built once and passed down whole - to the library, and to a Prefect flow as its
parameter.

:class:`RunSettings` is serialisable (Prefect stores a flow run's parameters on its
server and shows them in its UI), so no secret may be in its serialised form: the
database URL is carried as the ``${NEWSMON_DB}`` reference when it came from the
environment, resolved where the run happens; a password written out on the command
line is masked when serialised (the run in this process still has it). Alert URLs and
everything else of the config directory are read from it by the run itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, PrivateAttr, field_serializer

from monitor.config.load import Config, load_config, substitute
from monitor.config.secrets import db_password
from monitor.fetch.guard import parse_allow_hosts

# The environment variables a command line reads (its options' defaults) and a
# deployment's worker is configured with.
CONFIG_ENV = "NEWSMON_CONFIG"
DB_ENV = "NEWSMON_DB"
ALLOW_HOSTS_ENV = "NEWSMON_ALLOW_HOSTS"
_MASKED = "****"


class RunSettings(BaseModel):
    """Config directory, database, extra allow-list: loaded into a :class:`Config` once."""

    model_config = ConfigDict(extra="forbid")

    config_dir: str = "config"
    # A database URL, or a ${VARIABLE} reference to one; None: settings.yaml's database,
    # else the default (monitor.config.default_db_url).
    database: str | None = None
    # Hosts or networks fetched although not public, checked (--allow-host and
    # $NEWSMON_ALLOW_HOSTS); added to settings.yaml's fetch.allow_hosts.
    allow_hosts: list[str] = []
    _config: Config | None = PrivateAttr(default=None)

    @field_serializer("database")
    def _no_password(self, value: str | None) -> str | None:
        password = db_password(value)
        if not password or value is None:
            return value
        return re.sub(r"^([\w+]+://[^:/]*:)[^@]*@", rf"\g<1>{_MASKED}@", value, count=1)

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str],
        *,
        config_dir: str | None = None,
        database: str | None = None,
        allow_hosts: Sequence[str] = (),
    ) -> RunSettings:
        """Settings as a command line makes them: the values given, else the environment
        (``$NEWSMON_CONFIG``, ``$NEWSMON_DB`` as a reference, ``$NEWSMON_ALLOW_HOSTS``
        before ``allow_hosts``). A bad allow-list entry is a ConfigError naming where it
        came from."""
        if database is None and environ.get(DB_ENV):
            database = "${" + DB_ENV + "}"
        hosts = [
            *parse_allow_hosts(
                [environ.get(ALLOW_HOSTS_ENV, "")], f"${ALLOW_HOSTS_ENV} (environment)"
            ),
            *parse_allow_hosts(list(allow_hosts), "--allow-host"),
        ]
        return cls(
            config_dir=config_dir or environ.get(CONFIG_ENV) or "config",
            database=database,
            allow_hosts=list(dict.fromkeys(hosts)),
        )

    def database_url(self) -> str | None:
        """The database URL chosen for this run (references resolved), or None."""
        if not self.database:
            return None
        return str(substitute(self.database, "--db", "")) or None

    def has_written_password(self) -> bool:
        """True if the database URL carries a password written out (not a reference):
        a deployment's stored parameters would have it masked."""
        return bool(db_password(self.database)) and "${" not in (self.database or "")

    @property
    def loaded(self) -> bool:
        """True once :meth:`config` has read the config directory."""
        return self._config is not None

    def config(self) -> Config:
        """The config directory loaded with these settings, once per settings object."""
        if self._config is None:
            self._config = load_config(
                self.config_dir, database=self.database_url(), allow_hosts=self.allow_hosts
            )
        return self._config
