"""Schema versions: Alembic migrations of the store (``newsmon db upgrade``).

The migrations live in ``monitor/store/migrations`` (shipped with the package). A new
database is created from the models and stamped with the newest revision, so a new
database and a migrated one are the same; a database made by an older newsmon is
upgraded in place by :func:`upgrade`. :class:`~monitor.store.Store` refuses to open an
existing database whose schema is behind, with an error that says what to run,
rather than migrating it behind the user's back while workers may be running.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from monitor.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# Alembic (and every revision script, which it imports to read the revisions) is loaded
# only to create, stamp or migrate a database: opening one at head, what nearly every
# process does, reads the revision with one query (~10 MB and ~0.1 CPU-s less in each
# process: the flow's, the desk's, every command).

MIGRATIONS = Path(__file__).with_name("migrations")
# Tables of the first schema: any of them in an un-versioned database means it was made
# by a newsmon from before migrations, not that it is someone else's empty database.
_OUR_TABLES = {"feed", "article", "articlesource", "hit", "delivery", "run"}
_LOCK_KEY = 0x6E65_7773  # "news": PostgreSQL advisory lock held while migrating/creating


class SchemaOutOfDate(StoreError):
    """The database's schema is older (or newer) than this newsmon's."""


def alembic_config(url: str | None = None, connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision this newsmon knows."""
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev


_REVISION = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(?:None|[\"']([^\"']+)[\"'])", re.M)


def head_of_files() -> str | None:
    """The newest revision, read from the revision files' text without Alembic (the one
    no other revises); None if that is not clear, and Alembic must tell."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        if not found.get("revision"):
            return None
        revisions.add(found["revision"])
        if found.get("down_revision"):
            revised.add(found["down_revision"])
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def _at(engine: Engine, revision: str) -> bool:
    """Whether the database is at ``revision``, by one query (no Alembic)."""
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except SQLAlchemyError:  # no version table: new, or made before migrations
        return False
    return [r[0] for r in rows] == [revision]


def _version(conn: Connection) -> str | None:
    from alembic.migration import MigrationContext

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
    quick = head_of_files()
    if quick is not None and _at(engine, quick):  # the common case: no lock, no Alembic
        return
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    top = head()
    with engine.connect() as conn:
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
    from alembic import command
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

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
