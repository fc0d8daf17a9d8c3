"""pytest plugin: PostgreSQL fixtures.

Register with ``pytest_plugins = ["tests.support.pg_fixtures"]`` in the
top-level tests/conftest.py.

* ``pg_server`` (session): SQLAlchemy URL (postgresql+psycopg) of a throwaway
  cluster's ``newsmon_test`` database, or of ``$NEWSMON_TEST_PG_URL``.
* ``pg_url`` (function): URL of a fresh, empty database on that server,
  dropped after the test.
* ``sqlite_or_pg_store`` (function, twice): a ``Store`` on a fresh SQLite file, then
  on a fresh PostgreSQL database.

If no PostgreSQL binaries are installed the tests are skipped, except when
``CI`` is true (CI=true/1/yes), where they fail instead.  Tests using these
fixtures automatically get the ``postgres`` marker (``-m "not postgres"``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from monitor.store import Store
from tests.support.postgres import (
    PostgresUnavailable,
    ThrowawayPostgres,
    drop_database,
    fresh_database,
)

PG_FIXTURES = ("pg_server", "pg_url")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI."""
    if in_ci():
        pytest.fail(f"PostgreSQL unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "postgres: test needs a PostgreSQL server (throwaway cluster or $NEWSMON_TEST_PG_URL)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in PG_FIXTURES):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_server():
    server = ThrowawayPostgres()
    try:
        url = server.start()
    except PostgresUnavailable as exc:
        reason = str(exc)
    else:
        reason = None
    if reason is not None:
        unavailable(reason)  # outside the except block: no chained traceback
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: str):
    url = fresh_database(pg_server)
    try:
        yield url
    finally:
        try:
            drop_database(url)
        except psycopg.OperationalError as exc:  # server already gone (e.g. Ctrl-C reached it too)
            warnings.warn(f"could not drop test database: {exc}", stacklevel=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def sqlite_or_pg_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on SQLite, then on PostgreSQL (the test runs once on each)."""
    url = (
        f"sqlite:///{tmp_path / 'n.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    s = Store(url)
    yield s
    s.close()
