"""Tests for tests/support/postgres.py and the pg fixtures."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.support import pg_fixtures, postgres
from tests.support.postgres import (
    ENV_URL,
    PostgresUnavailable,
    ThrowawayPostgres,
    drop_database,
    find_pg_bindir,
    fresh_database,
    normalize_url,
)


def _db_exists(server_url: str, name: str) -> bool:
    engine = sa.create_engine(server_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return bool(
                conn.scalar(
                    sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
                )
            )
    finally:
        engine.dispose()


# --------------------------------------------------------------------------
# Against a real server
# --------------------------------------------------------------------------


@pytest.mark.postgres
def test_server_url_uses_psycopg3(pg_server):
    assert make_url(pg_server).drivername == "postgresql+psycopg"


@pytest.mark.postgres
def test_select_one(pg_url):
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT 1")) == 1
            assert conn.dialect.driver == "psycopg"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_create_insert_select(pg_url):
    metadata = sa.MetaData()
    articles = sa.Table(
        "articles",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    engine = sa.create_engine(pg_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(articles.insert(), [{"title": "hello"}, {"title": "wörld"}])
        with engine.connect() as conn:
            rows = conn.execute(sa.select(articles.c.title).order_by(articles.c.id)).scalars().all()
        assert rows == ["hello", "wörld"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_pg_url_is_a_fresh_empty_database(pg_server, pg_url):
    name = make_url(pg_url).database
    assert name != make_url(pg_server).database
    assert _db_exists(pg_server, name)
    engine = sa.create_engine(pg_url)
    try:
        assert sa.inspect(engine).get_table_names() == []  # previous test's table is not here
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_fresh_and_drop_database(pg_server):
    a, b = fresh_database(pg_server), fresh_database(pg_server)
    name_a, name_b = make_url(a).database, make_url(b).database
    assert name_a != name_b
    assert _db_exists(pg_server, name_a) and _db_exists(pg_server, name_b)

    # A lingering pooled connection must not block the drop.
    engine = sa.create_engine(a)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    drop_database(a)
    drop_database(b)
    engine.dispose()
    assert not _db_exists(pg_server, name_a) and not _db_exists(pg_server, name_b)


@pytest.mark.postgres
def test_throwaway_cluster_lifecycle():
    if os.environ.get(ENV_URL):
        pytest.skip(f"{ENV_URL} is set: not starting local clusters")
    pg = ThrowawayPostgres(use_env=False)
    try:
        url = pg.start()
    except PostgresUnavailable as exc:
        reason = str(exc)
    else:
        reason = None
    if reason is not None:
        pg_fixtures.unavailable(reason)
    try:
        u = make_url(url)
        assert (u.host, u.port, u.database) == ("127.0.0.1", pg.port, "newsmon_test")
        base = pg.base_dir
        assert base is not None and (base / "data" / "PG_VERSION").exists()
        assert (base / f".s.PGSQL.{pg.port}").exists()  # unix socket in the temp dir
        with psycopg.connect(
            host=str(pg.socket_dir), port=pg.port, user="postgres", dbname="newsmon_test"
        ) as c:
            assert c.execute("SHOW fsync").fetchone()[0] == "off"
            assert c.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        if os.geteuid() == 0:
            assert base.stat().st_uid != 0  # ran as an unprivileged user
    finally:
        pg.stop()
    assert not base.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host="127.0.0.1", port=u.port, user="postgres", dbname="postgres", connect_timeout=2
        )
    pg.stop()  # idempotent


# --------------------------------------------------------------------------
# No server needed
# --------------------------------------------------------------------------


def _exe(path: Path, body: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def no_system_pg(tmp_path, monkeypatch):
    """Hide every real PostgreSQL installation from the finder."""
    empty = tmp_path / "emptybin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(
        postgres, "DEBIAN_BINDIR_GLOB", str(tmp_path / "usr-lib-postgresql" / "*" / "bin")
    )
    monkeypatch.delenv(ENV_URL, raising=False)
    return tmp_path


def test_finder_raises_when_nothing_installed(no_system_pg):
    with pytest.raises(PostgresUnavailable, match="not found"):
        find_pg_bindir()


def test_throwaway_start_raises_unavailable(no_system_pg):
    with pytest.raises(PostgresUnavailable):
        ThrowawayPostgres().start()


def test_finder_ignores_client_only_install(no_system_pg):
    # libpq-dev's pg_config reports a bindir that has no server binaries.
    client_only = no_system_pg / "usr-lib-postgresql" / "16" / "bin"
    _exe(client_only / "psql")
    _exe(no_system_pg / "emptybin" / "pg_config", f"#!/bin/sh\necho {client_only}\n")
    _exe(no_system_pg / "emptybin" / "initdb")  # initdb alone on PATH is not enough
    with pytest.raises(PostgresUnavailable, match="pg_config --bindir"):
        find_pg_bindir()


def test_finder_picks_newest_debian_version(no_system_pg):
    for version in ("9.6", "13", "16"):
        for name in ("initdb", "postgres", "pg_ctl"):
            _exe(no_system_pg / "usr-lib-postgresql" / version / "bin" / name)
    assert find_pg_bindir() == no_system_pg / "usr-lib-postgresql" / "16" / "bin"


def test_finder_uses_pg_config_then_path(no_system_pg):
    real = no_system_pg / "opt-pg" / "bin"
    for name in ("initdb", "postgres", "pg_ctl"):
        _exe(real / name)
        os.symlink(real / name, no_system_pg / "emptybin" / name)
    assert find_pg_bindir() == real  # via PATH, symlinks resolved
    _exe(no_system_pg / "emptybin" / "pg_config", f"#!/bin/sh\necho {real}\n")
    assert find_pg_bindir() == real  # via pg_config


def test_unavailable_skips_locally_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        pg_fixtures.unavailable("nope")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        pg_fixtures.unavailable("nope")


def test_normalize_url():
    assert normalize_url("postgresql://u:p@h:5/db") == "postgresql+psycopg://u:p@h:5/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert (
        normalize_url("postgresql+psycopg://u@/db?host=/tmp/x&port=5")
        == "postgresql+psycopg://u@/db?host=%2Ftmp%2Fx&port=5"
    )
