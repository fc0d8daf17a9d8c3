"""Schema versions: Alembic migrations of the store (``newsmon db upgrade``).

The migrations live in ``monitor/store/migrations`` (shipped with the package). A new
database is created from the models and stamped with the newest revision, so a new
database and a migrated one are the same; a database made by an older newsmon is
upgraded in place by :func:`upgrade`. :class:`~monitor.store.Store` refuses to open an
existing database whose schema is behind, with an error that says what to run,
rather than migrating it behind the user's back while workers may be running.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from monitor.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
# Tables of the first schema: any of them in an un-versioned database means it was made
# by a newsmon from before migrations, not that it is someone else's empty database.
_OUR_TABLES = {"feed", "article", "articlesource", "hit", "delivery", "run"}
_LOCK_KEY = 0x6E65_7773  # "news": PostgreSQL advisory lock held while migrating/creating


class SchemaOutOfDate(StoreError):
    """The database's schema is older (or newer) than this newsmon's."""


def alembic_config(url: str | None = None, connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision this newsmon knows."""
    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev


def _version(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _has_our_tables(conn: Connection) -> bool:
    return bool(_OUR_TABLES & set(inspect(conn).get_table_names()))


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection that alone may create or migrate the schema (other processes wait)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_LOCK_KEY})")
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
                conn.commit()
        else:
            # SQLite: BEGIN IMMEDIATE takes the write lock before the schema is read.
            conn.execution_options(immediate=True)
            yield conn


def current(engine: Engine) -> str | None:
    """The database's revision; None if un-versioned (new, or made before migrations)."""
    with engine.connect() as conn:
        return _version(conn)


def state(engine: Engine) -> str:
    """One line: the database's revision against this newsmon's head."""
    rev, top = current(engine), head()
    if rev is None:
        with engine.connect() as conn:
            made = _has_our_tables(conn)
        return (
            "un-versioned (made before migrations): run `newsmon db upgrade`"
            if made
            else "empty: the first `newsmon` command creates it"
        )
    return f"{rev} (head)" if rev == top else f"{rev}, head is {top}: run `newsmon db upgrade`"


def prepare(engine: Engine) -> None:
    """Create a new database at head, or check that an existing one is at head.

    Called by ``Store(create=True)``. Raises :class:`SchemaOutOfDate` for a database
    made by another version of newsmon.
    """
    top = head()
    with engine.connect() as conn:  # the common case, without taking any lock
        if _version(conn) == top:
            return
    with _locked(engine) as conn:
        with conn.begin():
            rev = _version(conn)
            if rev == top:
                return  # another process created it while we waited
            if rev is None and not _has_our_tables(conn):
                SQLModel.metadata.create_all(conn)
                MigrationContext.configure(conn).stamp(
                    ScriptDirectory.from_config(alembic_config()), "head"
                )
                return
    what = "made before schema versions" if rev is None else f"at revision {rev}"
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if rev is not None and rev not in known:
        raise SchemaOutOfDate(
            f"the database is at revision {rev}, which this newsmon does not know "
            f"(its newest is {top}): upgrade newsmon"
        )
    raise SchemaOutOfDate(
        f"the database's schema is out of date ({what}; this newsmon "
        f"needs {top}): run `newsmon db upgrade`"
    )


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database to ``revision``; returns (before, after).

    An un-versioned database made by newsmon before migrations is taken to be at the
    first revision (0001, the first schema) and upgraded from there: the later
    revisions only add, and skip what already exists. An empty database is created.
    """
    try:
        with _locked(engine) as conn:
            with conn.begin():
                before = _version(conn)
                if before is None and _has_our_tables(conn):
                    MigrationContext.configure(conn).stamp(
                        ScriptDirectory.from_config(alembic_config()), "0001"
                    )
                command.upgrade(alembic_config(connection=conn), revision)
                after = _version(conn)
    except SQLAlchemyError as exc:
        raise StoreError(f"migration failed: {str(getattr(exc, 'orig', exc)).strip()}") from None
    return before, after
