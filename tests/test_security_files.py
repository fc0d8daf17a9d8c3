"""Owner-only files where secrets live: the database, the data directory, the files
newsmon writes (demo config, OPML import, exports), and a warning for config files
that hold secrets and that others can read.

Every test runs under the common umask 022, which would otherwise give 0644 files and
0755 directories.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import add_feeds, load_config
from monitor.demo.world import write_config
from monitor.store import Store

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ROOT / "config" / "topics.yaml"
SECRET_URL = "json://hookuser:s3cretpw@127.0.0.1:9/hook"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def write_some(store: Store) -> None:
    with store.session(write=True) as s:
        s.exec(text("CREATE TABLE IF NOT EXISTS t (x)"))  # type: ignore[call-overload]
        s.exec(text("INSERT INTO t VALUES (1)"))  # type: ignore[call-overload]


def test_new_database_and_its_directory_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "new" / "dir" / "newsmon.db"
    store = Store(f"sqlite:///{db}")
    try:
        write_some(store)
        files = {p.name: mode(p) for p in db.parent.iterdir()}
        # WAL mode: the -wal and -shm files exist while a connection is open
        assert set(files) == {"newsmon.db", "newsmon.db-wal", "newsmon.db-shm"}, files
        assert all(m == 0o600 for m in files.values()), {k: oct(v) for k, v in files.items()}
        assert mode(db.parent) == 0o700
    finally:
        store.close()


def test_data_directory_is_owner_only_even_if_made_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)  # e.g. a model saved before the first run
    assert mode(home) == 0o755
    monkeypatch.setenv("NEWSMON_HOME", str(home))
    monkeypatch.delenv("NEWSMON_DB", raising=False)
    cfg = load_config(make_config(tmp_path))
    store = Store(cfg.database_url)
    try:
        write_some(store)
    finally:
        store.close()
    assert cfg.database_url == f"sqlite:///{home / 'newsmon.db'}"
    assert mode(home) == 0o700 and mode(home / "newsmon.db") == 0o600


def test_directory_the_user_chose_is_left_alone(tmp_path: Path) -> None:
    """--db into an existing directory (a project folder, /var/lib/...) keeps its mode;
    an existing database file too (its owner chose it). Only what newsmon makes is
    made owner-only."""
    shared = tmp_path / "shared"
    shared.mkdir()
    old = shared / "old.db"
    old.touch()
    old.chmod(0o640)
    for name in ("new.db", "old.db"):
        Store(f"sqlite:///{shared / name}").close()
    assert mode(shared) == 0o755
    assert mode(shared / "new.db") == 0o600
    assert mode(old) == 0o640


def make_config(tmp_path: Path, **files: str) -> Path:
    d = tmp_path / "config"
    d.mkdir(parents=True, exist_ok=True)
    (d / "topics.yaml").write_text(TOPICS.read_text(encoding="utf-8"), encoding="utf-8")
    for name, body in files.items():
        (d / f"{name}.yaml").write_text(body, encoding="utf-8")
    return d


def test_demo_config_is_owner_only(tmp_path: Path) -> None:
    d = write_config(
        tmp_path / "demo" / "config",
        topics_from=TOPICS,
        feed_urls=["http://127.0.0.1:1/feed.xml"],
        routes=[{"name": "r", "urls": [SECRET_URL]}],
    )
    assert mode(d) == 0o700
    files = {p.name: mode(p) for p in d.iterdir()}
    assert set(files) == {"topics.yaml", "feeds.yaml", "alerts.yaml", "settings.yaml"}
    assert all(m == 0o600 for m in files.values()), {k: oct(v) for k, v in files.items()}
    cfg = load_config(d)
    assert cfg.warnings == []
    assert cfg.settings.fetch.allow_hosts == ["127.0.0.0/8"]  # loopback only, not every
    assert cfg.settings.fetch.allow_private_networks is False  # private network


def test_opml_import_creates_feeds_yaml_owner_only(tmp_path: Path) -> None:
    d = make_config(tmp_path)
    add_feeds(d, [{"url": "https://example.org/private-feed?key=abc123", "name": "x"}])
    assert mode(d / "feeds.yaml") == 0o600
    # an existing file keeps the mode its owner gave it
    (d / "feeds.yaml").chmod(0o644)
    add_feeds(d, [{"url": "https://example.org/other", "name": "y"}])
    assert mode(d / "feeds.yaml") == 0o644
    assert len(load_config(d).feeds) == 2


def test_hits_export_file_is_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "hits.csv"
    db = f"sqlite:///{tmp_path / 'x.db'}"
    r = CliRunner().invoke(
        app,
        ["--db", db, "hits", "export", "-f", "csv", "-o", str(out)],
        env={"NEWSMON_CONFIG": None, "NEWSMON_DB": None},
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert out.exists() and mode(out) == 0o600


# --- config files with secrets that others can read: a warning ------------------------------


def alerts(url: str) -> str:
    return yaml.safe_dump({"routes": [{"name": "desk", "urls": [url]}]})


def check(d: Path, **env: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(
        app,
        ["-c", str(d), "config", "check"],
        env={"NEWSMON_CONFIG": None, "NEWSMON_DB": None, **env},
        catch_exceptions=False,
    )
    return r.exit_code, r.stdout, r.stderr


def test_world_readable_alerts_with_a_secret_warns(tmp_path: Path) -> None:
    d = make_config(tmp_path, alerts=alerts(SECRET_URL))
    (d / "alerts.yaml").chmod(0o644)
    code, out, err = check(d)
    assert code == 0, err
    assert err.strip() == (
        f"newsmon: warning: {d / 'alerts.yaml'} holds apprise URLs with passwords or tokens "
        f"and other users can read it: chmod 600 {d / 'alerts.yaml'}, or write them as "
        "${VARIABLE} references"
    )
    assert "s3cretpw" not in out + err
    (d / "alerts.yaml").chmod(0o600)
    assert check(d)[2] == ""


def test_no_warning_when_the_secret_comes_from_the_environment(tmp_path: Path) -> None:
    d = make_config(tmp_path, alerts=alerts("${HOOK_URL}"))
    (d / "alerts.yaml").chmod(0o644)
    code, out, err = check(d, HOOK_URL=SECRET_URL)
    assert code == 0 and err == "" and "route desk" in out and "s3cretpw" not in out


def test_no_warning_for_a_url_without_secrets(tmp_path: Path) -> None:
    d = make_config(tmp_path, alerts=alerts("json://127.0.0.1:9/hook"))
    (d / "alerts.yaml").chmod(0o644)
    assert check(d)[2] == ""


def test_world_readable_database_password_warns(tmp_path: Path) -> None:
    d = make_config(tmp_path, settings="database: postgresql://u:pw4db@db.example/newsmon\n")
    (d / "settings.yaml").chmod(0o644)
    warnings = load_config(d).warnings
    assert len(warnings) == 1 and "settings.yaml holds a database password" in warnings[0]
    assert "pw4db" not in warnings[0]
