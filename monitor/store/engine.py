"""The database engine: connections, transactions, and what every part of the store
shares (:class:`StoreBase`).

SQLModel tables on SQLite (WAL, one writer at a time via ``BEGIN IMMEDIATE``) or
PostgreSQL. Every insert that a re-run could repeat is guarded by a unique
constraint and done as ``INSERT ... ON CONFLICT DO NOTHING``, so running the
same cycle twice adds nothing. Times are stored as UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from monitor.config.settings import data_dir
from monitor.errors import StoreError
from monitor.perms import create_private_file, private_dir


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoreBase:
    """The engine and a transaction at a time; each part of the store
    (:mod:`monitor.store.feeds`, ``articles``, ``hits``, ``outbox``, ``runs``, ``review``)
    adds the methods of its tables on top. Safe to share between threads."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
            if create:  # a new database at the newest schema; an old one must be upgraded
                from monitor.store.migrate import prepare

                prepare(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot open database {mask_db_url(url)}: {short_error(exc)}"
            ) from None
        self.dialect = self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A session in one transaction; ``write`` takes SQLite's write lock up front."""
        bind = self.engine.execution_options(immediate=True) if write else self.engine
        with Session(bind, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except OperationalError as exc:
                s.rollback()
                raise StoreError(f"database error: {short_error(exc)}") from None
            except BaseException:
                s.rollback()
                raise

    def _insert_ignore(
        self,
        s: Session,
        model: type[SQLModel],
        rows: list[dict[str, Any]],
        conflict: Sequence[str],
        *also: Any,
    ) -> list[Any]:
        """Insert rows, skip those that already exist; return the ids that were new
        (with ``also``: tuples of the id and those columns of each new row)."""
        if not rows:
            return []
        dialect = sqlite if self.dialect == "sqlite" else postgresql
        table = model.__table__  # type: ignore[attr-defined]
        cols = [table.c.id, *(table.c[getattr(c, "key", c)] for c in also)]
        stmt = (
            dialect.insert(table)
            .values(rows)
            .on_conflict_do_nothing(index_elements=list(conflict))
            .returning(*cols)
        )
        return [tuple(r) if also else r[0] for r in s.execute(stmt)]


def chunks(items: Sequence[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        # Owner-only: the database holds the outbox and the review labels. A directory
        # made here is 0700, a new database file 0600 before SQLite opens it, and
        # SQLite gives its -wal and -shm files the database file's mode.
        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        # newsmon's own data directory is made owner-only even if something else created
        # it first; a directory the user chose (--db) is left as it is.
        private_dir(path.parent, own=path.parent.absolute() == data_dir().absolute())
        create_private_file(path)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A deferred transaction that reads then writes fails at once with
            # "database is locked" if another writer committed in between.
            immediate = conn.get_execution_options().get("immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def mask_db_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: show nothing of it
        return "<database url>"


def short_error(exc: BaseException) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else exc.__class__.__name__


def ping(url: str) -> None:
    eng = make_engine(url)
    try:
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
    finally:
        eng.dispose()
