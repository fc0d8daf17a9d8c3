"""Secrets in the config: masked in every log line, and a warning when a config file
that holds one written out can be read by other users."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from monitor.alerts.routes import has_secret
from monitor.perms import readable_by_others
from monitor.redact import protect, protect_plain

if TYPE_CHECKING:
    from monitor.alerts.routes import Route
    from monitor.config.settings import FeedConfig, Settings

# The user:password part of a database URL, read as the store's URL parser reads it
# (tests/test_store.py holds the two side by side).
_DB_PASSWORD = re.compile(r"^[\w+]+://[^:/]*:([^@]*)@")


def db_password(url: str | None) -> str | None:
    """The password of a database URL (sqlite:///..., postgresql://user:pw@host/db)."""
    m = _DB_PASSWORD.match(url or "")
    return unquote(m.group(1)) if m and m.group(1) else None


def protect_secrets(
    routes: list[Route], database: str | None, feeds: list[FeedConfig] | None = None
) -> None:
    """From now on, mask the secrets of this config in every log record of the process
    (apprise logs tokens and passwords at debug level; exception texts carry URLs), and
    in what newsmon prints: a feed URL's password or ``?apikey=`` value included."""
    protect_plain(f.fetch_url for f in feeds or [])

    secrets = [u for r in routes for u in r.urls]
    password = db_password(database)
    if password:
        secrets.append(password)
    protect(secrets)


def exposed_secrets(d: Path, settings: Settings, routes: list[Route]) -> list[str]:
    """Config files that hold a secret written out (not a ``${VAR}``) and that other
    users can read. A warning, not an error: the file is the user's, and a shared
    read-only config on a single-user machine is their call."""
    out: list[str] = []
    checks: list[tuple[Path, list[str], str]] = [
        (
            d / "alerts.yaml",
            [u for r in routes for u in r.urls if has_secret(u)],
            "apprise URLs with passwords or tokens",
        ),
        (
            d / "settings.yaml",
            [settings.database] if settings.database and db_password(settings.database) else [],
            "a database password",
        ),
    ]
    for path, secrets, what in checks:
        if not secrets or not path.exists() or not readable_by_others(path):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(s in text for s in secrets if s):
            out.append(
                f"{path} holds {what} and other users can read it: "
                f"chmod 600 {path}, or write them as ${{VARIABLE}} references"
            )
    return out
