"""The review desk: its list indexes and the full-text search index.

SQLite: an external-content FTS5 table over article(title, text) kept in step by
triggers, filled from the articles already stored. PostgreSQL: a stored generated
tsvector column with a GIN index (filled by the ALTER). Written with IF NOT EXISTS
throughout: a database made between the first schema and this migration may already
have some of it (``Store.ensure_indexes``, a fresh ``create_all``).

The SQL is copied, not imported, from monitor/store/facade.py: a migration must not change
when the live code does. tests/test_migrations.py checks that the result equals what
a fresh ``Store`` creates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_article_language", "article", ["language"], {}),
    ("ix_articlesource_feed_article", "articlesource", ["feed_id", "article_id"], {}),
    ("ix_hit_recent", "hit", ["created_at", "id"], {}),
    ("ix_hit_topic_recent", "hit", ["topic_id", "created_at", "id"], {}),
    ("ix_hit_label_recent", "hit", ["label", "created_at", "id"], {}),
    ("ix_hit_article_topic_recent", "hit", ["article_id", "topic_id", "created_at", "id"], {}),
    ("ix_hit_labelled", "hit", ["topic_id", "label", "labeled_at"],
     {"sqlite_where": sa.text("label IS NOT NULL"),
      "postgresql_where": sa.text("label IS NOT NULL")}),
)

_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS article_fts USING fts5(title, text, "
    "content='article', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS article_fts_ai AFTER INSERT ON article BEGIN "
    "INSERT INTO article_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS article_fts_ad AFTER DELETE ON article BEGIN "
    "INSERT INTO article_fts(article_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); END",
    "CREATE TRIGGER IF NOT EXISTS article_fts_au AFTER UPDATE OF title, text ON article BEGIN "
    "INSERT INTO article_fts(article_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); "
    "INSERT INTO article_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
)

_PG_SEARCH = (
    "ALTER TABLE article ADD COLUMN IF NOT EXISTS search_document tsvector GENERATED "
    "ALWAYS AS (to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || "
    "coalesce(\"text\", ''))) STORED",
    "CREATE INDEX IF NOT EXISTS ix_article_search ON article USING gin (search_document)",
)


def upgrade() -> None:
    for name, table, cols, kw in _INDEXES:
        op.create_index(name, table, cols, unique=False, if_not_exists=True, **kw)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        found = bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='article_fts'").first()
        for stmt in _FTS:
            bind.exec_driver_sql(stmt)
        if found is None:  # index the articles already stored
            bind.exec_driver_sql("INSERT INTO article_fts(article_fts) VALUES ('rebuild')")
    elif bind.dialect.name == "postgresql":
        for stmt in _PG_SEARCH:
            bind.exec_driver_sql(stmt)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trig in ("ai", "ad", "au"):
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS article_fts_{trig}")
        bind.exec_driver_sql("DROP TABLE IF EXISTS article_fts")
    elif bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_article_search")
        bind.exec_driver_sql("ALTER TABLE article DROP COLUMN IF EXISTS search_document")
    for name, table, _, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table, if_exists=True)
