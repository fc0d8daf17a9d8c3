"""Alembic environment: the Store's database URL and newsmon's SQLModel metadata.

Run through :mod:`monitor.store.migrate` (``newsmon db upgrade``), which passes either an
open connection (``config.attributes["connection"]``) or the URL
(``sqlalchemy.url``); there is no alembic.ini to keep in step.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import monitor.store  # noqa: F401 - registers the tables on SQLModel.metadata

config = context.config
target_metadata = SQLModel.metadata


def _include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # The search index lives outside the models (FTS5 tables and their shadow tables on
    # SQLite, a generated tsvector column on PostgreSQL): the migrations create it by
    # hand, autogenerate must not offer to drop it.
    if type_ == "table" and name and name.startswith("article_fts"):
        return False
    if type_ == "column" and name == "search_document":
        return False
    if type_ == "index" and name == "ix_article_search":
        return False
    return True


# Writing a migration: `alembic -c <ini with script_location=monitor/store/migrations>
# revision --autogenerate` against a database at head, then check it by hand and make it
# pass tests/test_migrations.py (upgraded == created). On SQLite, Store's connections run
# with PRAGMA foreign_keys=ON, which a batch (copy-and-move) migration of a referenced
# table would trip over; such a migration must switch it off outside its transaction.


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite = copy table
        include_object=_include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from monitor.store.engine import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
