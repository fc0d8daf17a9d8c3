"""Schema migrations: a database made by the first schema (revision 0001, commit d260e74)
upgrades in place, keeps its data, and ends identical to a database created new."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from monitor.cli import app
from monitor.errors import StoreError
from monitor.store import HitFilter, Store, migrate
from monitor.store.engine import make_engine

T0 = datetime(2025, 5, 1, 12, 0)


def schema(engine: Engine) -> dict[str, Any]:
    """Everything about the schema that inspection sees, in comparable form."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for t in sorted(insp.get_table_names()):
        if t.startswith("article_fts_"):  # FTS5's shadow tables: compared through sqlite_master
            continue
        cols = [
            (
                c["name"],
                str(c["type"]),
                c["nullable"],
                str(c.get("computed") or ""),
                str(c.get("default")),
            )
            for c in insp.get_columns(t)
        ]
        idx = sorted(
            (
                i["name"],
                tuple(i["column_names"]),
                bool(i["unique"]),
                str({k: str(v) for k, v in (i.get("dialect_options") or {}).items()}),
            )
            for i in insp.get_indexes(t)
        )
        uqs = sorted(
            (u["name"] if engine.dialect.name == "postgresql" else None, tuple(u["column_names"]))
            for u in insp.get_unique_constraints(t)
        )
        fks = sorted(
            (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
            for f in insp.get_foreign_keys(t)
        )
        pk = tuple(insp.get_pk_constraint(t)["constrained_columns"])
        out[t] = {"columns": cols, "indexes": idx, "unique": uqs, "fks": fks, "pk": pk}
    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            # triggers, the FTS5 table, partial-index predicates: compare their SQL
            out["sqlite_master"] = sorted(
                (r[0], r[1], " ".join((r[2] or "").split()))
                for r in c.exec_driver_sql(
                    "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                    "AND name NOT LIKE 'article_fts_%' OR name LIKE 'article_fts_a_'"
                )
            )
        else:
            out["pg_indexes"] = sorted(
                c.execute(
                    text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
                ).all()
            )
            out["pg_constraints"] = sorted(
                c.execute(
                    text(
                        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE connamespace = 'public'::regnamespace"
                    )
                ).all()
            )
    return out


def make_first_schema_db(url: str) -> None:
    """A database as newsmon d260e74 left it: revision 0001's tables, data, no version."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, "0001")
        with engine.begin() as c:
            c.execute(text("DROP TABLE alembic_version"))
            c.execute(
                text(
                    "INSERT INTO feed (id, url, name, tags, enabled, consecutive_failures, gone, "
                    "entries_total, added_at) VALUES (1, 'http://f.test/rss', 'F', "
                    "'[\"caucasus\"]', true, 0, false, 3, :t)"
                ),
                {"t": T0},
            )
            c.execute(
                text(
                    "INSERT INTO article (id, canonical_url, url, title, summary, text, "
                    "published_source, extraction, first_seen_at) VALUES (1, 'http://f.test/a', "
                    "'http://f.test/a?x', 'Talks in Baku', 's', 'Ministers met in Baku.', 'feed', "
                    "'ok', :t)"
                ),
                {"t": T0},
            )
            c.execute(
                text(
                    "INSERT INTO articlesource (article_id, feed_id, entry_key, link, seen_at) "
                    "VALUES (1, 1, 'k1', 'http://f.test/a', :t)"
                ),
                {"t": T0},
            )
            c.execute(
                text(
                    "INSERT INTO hit (id, article_id, topic_id, score, topic_version, evidence, "
                    "created_at) VALUES (1, 1, 'caucasus', 0.9, 'v1', "
                    '\'{"terms": ["baku"]}\', :t)'
                ),
                {"t": T0},
            )
            c.execute(
                text(
                    "INSERT INTO delivery (hit_id, route, target, target_display, mode, status, "
                    "attempts, created_at) VALUES (1, 'ops', 'abc', 'json://x', 'instant', 'sent', "
                    "1, :t)"
                ),
                {"t": T0},
            )
            c.execute(
                text(
                    "INSERT INTO run (kind, started_at, summary) VALUES "
                    "('cycle', :t, '{\"feeds_polled\": 1}')"
                ),
                {"t": T0},
            )
    finally:
        engine.dispose()


def check_upgraded(url: str, fresh_url: str) -> None:
    with pytest.raises(migrate.SchemaOutOfDate, match="newsmon db upgrade"):
        Store(url)  # an old database is not silently changed by any command
    result = CliRunner().invoke(app, ["--db", url, "db", "current"])
    assert result.exit_code == 0 and "un-versioned" in result.output
    result = CliRunner().invoke(app, ["--db", url, "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "upgraded from un-versioned to " + migrate.head() in result.output
    result = CliRunner().invoke(app, ["--db", url, "db", "upgrade"])
    assert "already at" in result.output

    store = Store(url)
    try:
        assert store.counts() == {"feeds": 1, "articles": 1, "hits": 1, "deliveries": 1}
        feed = store.feeds()[0]
        assert (feed.url, feed.tags, feed.entries_total) == ("http://f.test/rss", ["caucasus"], 3)
        hit, art = store.hit(1)
        assert hit.evidence == {"terms": ["baku"]} and art.text == "Ministers met in Baku."
        assert art.first_seen_at is not None and art.first_seen_at.replace(tzinfo=None) == T0
        assert store.last_runs()[0].summary == {"feeds_polled": 1}
        # the search index covers the articles stored before it existed, and new ones
        assert [h.id for h, _ in store.find_hits(HitFilter(search="baku")).rows] == [1]
        assert store.article_sources(1)[0][1].id == 1
    finally:
        store.close()

    fresh = Store(fresh_url)
    try:
        assert migrate.current(fresh.engine) == migrate.head()  # a new database is stamped
        upgraded = make_engine(url)
        try:
            assert schema(upgraded) == schema(fresh.engine)
        finally:
            upgraded.dispose()
    finally:
        fresh.close()


def test_sqlite_first_schema_upgrades_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_first_schema_db(url)
    check_upgraded(url, f"sqlite:///{tmp_path / 'fresh.db'}")


def test_postgres_first_schema_upgrades_in_place(pg_url: str) -> None:
    from tests.support.postgres import drop_database, fresh_database

    make_first_schema_db(pg_url)
    fresh = fresh_database(pg_url)
    try:
        check_upgraded(pg_url, fresh)
    finally:
        drop_database(fresh)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_of_an_empty_database_equals_create(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Running every migration from nothing gives what Store(create=True) gives."""
    if backend == "sqlite":
        a, b = (f"sqlite:///{tmp_path / n}" for n in ("a.db", "b.db"))
        cleanup = None
    else:
        from tests.support.postgres import drop_database, fresh_database

        a = request.getfixturevalue("pg_url")
        b = fresh_database(a)
        cleanup = lambda: drop_database(b)  # noqa: E731
    try:
        ea = make_engine(a)
        assert migrate.upgrade(ea, "head") == (None, migrate.head())
        created = Store(b)
        assert schema(ea) == schema(created.engine)
        created.close()
        ea.dispose()
    finally:
        if cleanup:
            cleanup()


def test_a_database_made_between_first_schema_and_migrations_upgrades(tmp_path: Path) -> None:
    """Un-versioned but already with some of the later indexes (ensure_indexes ran)."""
    url = f"sqlite:///{tmp_path / 'mid.db'}"
    make_first_schema_db(url)
    with create_engine(url).begin() as c:
        c.exec_driver_sql("CREATE INDEX ix_hit_recent ON hit (created_at, id)")
    engine = make_engine(url)
    assert migrate.upgrade(engine) == (None, migrate.head())
    engine.dispose()
    Store(url).close()


def test_unknown_newer_revision_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    Store(url).close()
    with create_engine(url).begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="does not know"):
        Store(url)


def test_migrations_ship_inside_the_package() -> None:
    assert (migrate.MIGRATIONS / "env.py").is_file()
    assert (migrate.MIGRATIONS / "script.py.mako").read_text().count("import sqlmodel") == 1
    versions = sorted(p.name for p in (migrate.MIGRATIONS / "versions").glob("0*.py"))
    assert versions[0].startswith("0001") and migrate.head() == versions[-1][:4]


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert migrate.head_of_files() == migrate.head()


def test_opening_a_database_at_head_needs_no_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'at-head.db'}"
    Store(url).close()  # created and stamped (this one loads Alembic)
    probe = (
        "import sys; from monitor.store import Store; Store(sys.argv[1]).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", probe, url], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
    # a database behind head is still refused, with what to run (that path loads Alembic)
    with create_engine(url).begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '0010'")
    with pytest.raises(StoreError, match="newsmon db upgrade"):
        Store(url)
