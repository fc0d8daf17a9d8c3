"""Full-text search over articles' title and text.

Both kept up to date by the database itself, so every insert (store_articles), update
(prune_text) and delete reaches the index without the writers doing anything; both
tokenise language-neutrally (feeds come in many languages) and case-insensitively.

SQLite: an FTS5 table over article's title and text ("external content": the text is
not stored twice), kept in step by triggers.
PostgreSQL: a stored generated tsvector column with a GIN index. Stored, not an
expression index: a phrase query must re-check word positions in every candidate
row, and recomputing to_tsvector for 25,000 candidates took 10 s at 100,000 articles.
The column is not in the model: the pipeline never reads or writes it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event, literal_column

from monitor.store.models import Article

FTS_TABLE = "article_fts"
_FTS_STATEMENTS = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(title, text, "
    "content='article', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON article BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON article BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF title, text ON article BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); "
    f"INSERT INTO {FTS_TABLE}(rowid, title, text) VALUES (new.id, new.title, new.text); END",
)


def create_fts(conn: Any) -> bool:
    """Create the SQLite search index and its triggers if missing; True if it was new."""
    found = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (FTS_TABLE,)
    ).first()
    for stmt in _FTS_STATEMENTS:
        conn.exec_driver_sql(stmt)
    if found is None:  # a database older than the index: index what is there
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    return found is None


PG_SEARCH_COLUMN = "search_document"
_PG_SEARCH_STATEMENTS = (
    f"ALTER TABLE article ADD COLUMN IF NOT EXISTS {PG_SEARCH_COLUMN} tsvector GENERATED "
    "ALWAYS AS (to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || "
    "coalesce(\"text\", ''))) STORED",
    f"CREATE INDEX IF NOT EXISTS ix_article_search ON article USING gin ({PG_SEARCH_COLUMN})",
)


def create_pg_search(conn: Any) -> None:
    """Add the PostgreSQL search column and its index if missing (fills it on the way)."""
    for stmt in _PG_SEARCH_STATEMENTS:
        conn.exec_driver_sql(stmt)


@event.listens_for(Article.__table__, "after_create")  # type: ignore[attr-defined]
def _article_created(target: Any, connection: Any, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        create_fts(connection)
    elif connection.dialect.name == "postgresql":
        create_pg_search(connection)


def parse_search(query: str) -> list[list[str]]:
    """Words and "quoted phrases" as lists of words; every one must match.

    Only letters and digits survive, so nothing the user types can become search
    syntax (FTS5 or tsquery operators). ``North-South`` is the phrase North South.
    Case is left to the database, which folds the query as it folded the text.
    """
    phrases = []
    for quoted, bare in re.findall(r'"([^"]*)"?|(\S+)', query or ""):
        words = re.findall(r"[^\W_]+", quoted or bare)
        if words:
            phrases.append(words[:8])
    return phrases[:12]


def fts5_query(phrases: list[list[str]]) -> str:
    # Each phrase matches as a prefix ("iran" finds "iranian"), all phrases are required.
    return " AND ".join('"' + " ".join(p) + '"*' for p in phrases)


def tsquery(phrases: list[list[str]]) -> str:
    return " & ".join("(" + " <-> ".join(p[:-1] + [p[-1] + ":*"]) + ")" for p in phrases)


def pg_search_document() -> Any:
    return literal_column(f"article.{PG_SEARCH_COLUMN}")
