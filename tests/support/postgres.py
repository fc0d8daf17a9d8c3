"""Throwaway PostgreSQL clusters for tests.

Usage::

    with ThrowawayPostgres() as pg:
        engine = sqlalchemy.create_engine(pg.url)   # postgresql+psycopg://...

    url = fresh_database(pg.url)    # new, empty, uniquely named database
    drop_database(url)

``ThrowawayPostgres`` runs ``initdb`` into a temporary directory and starts a
private ``postgres`` server on 127.0.0.1 with a free port (unix socket in the
temp dir, ``trust`` auth, fsync off) and creates the database
``newsmon_test``.  ``stop()`` shuts it down with ``pg_ctl stop -m immediate``
and deletes the directory.

initdb and postgres refuse to run as root.  When this process is root they
are started as an unprivileged OS user (``postgres``, as created by Debian's
``postgresql`` package, else ``nobody``; override with
``NEWSMON_TEST_PG_OS_USER``) using ``subprocess``'s ``user=``/``group=``/
``extra_groups=[]`` (setgid/setgroups/setuid in the child, i.e. what
``setpriv`` does, without PAM or an intermediate process).  The temp dir is
chowned to that user.  When not root, everything runs as the current user.

If ``NEWSMON_TEST_PG_URL`` is set, that server is used instead and nothing is
started or stopped.

If no PostgreSQL server binaries can be found, ``PostgresUnavailable`` is
raised.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Self

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

__all__ = [
    "ENV_URL",
    "PostgresStartError",
    "PostgresUnavailable",
    "ThrowawayPostgres",
    "drop_database",
    "find_pg_bindir",
    "fresh_database",
    "normalize_url",
]

ENV_URL = "NEWSMON_TEST_PG_URL"
ENV_OS_USER = "NEWSMON_TEST_PG_OS_USER"
SUPERUSER = "postgres"  # database superuser created by initdb
DEFAULT_DB = "newsmon_test"
# Where Debian/Ubuntu packages put the server binaries (not on PATH there).
DEBIAN_BINDIR_GLOB = "/usr/lib/postgresql/*/bin"
REQUIRED_BINARIES = ("initdb", "postgres", "pg_ctl")


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL server installation (binaries / OS user) found."""


class PostgresStartError(RuntimeError):
    """PostgreSQL binaries exist but the throwaway cluster failed to start."""


# --------------------------------------------------------------------------
# Binary discovery
# --------------------------------------------------------------------------


def _has_server_binaries(bindir: str | os.PathLike) -> bool:
    d = Path(bindir)
    return all(os.access(d / name, os.X_OK) and (d / name).is_file() for name in REQUIRED_BINARIES)


def _version_key(path: str) -> list[int]:
    # /usr/lib/postgresql/15/bin -> [15]; 9.6 -> [9, 6]
    return [int(x) for x in re.findall(r"\d+", Path(path).parent.name)] or [0]


def find_pg_bindir(path: str | None = None) -> Path:
    """Return a directory containing initdb, postgres and pg_ctl.

    Looks at, in order: ``pg_config --bindir`` (pg_config found on PATH),
    ``/usr/lib/postgresql/*/bin`` (newest version first), then the
    directories of ``initdb``/``postgres``/``pg_ctl`` on PATH.  ``path``
    overrides ``$PATH`` (for tests).  Raises PostgresUnavailable.
    """
    if path is None:
        path = os.environ.get("PATH", os.defpath)
    tried: list[str] = []

    pg_config = shutil.which("pg_config", path=path)
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            tried.append(f"{pg_config} --bindir failed: {exc}")
        else:
            if out and _has_server_binaries(out):
                return Path(out)
            tried.append(f"pg_config --bindir -> {out or '(empty)'}")
    else:
        tried.append("pg_config not on PATH")

    candidates = sorted(glob.glob(DEBIAN_BINDIR_GLOB), key=_version_key, reverse=True)
    for cand in candidates:
        if _has_server_binaries(cand):
            return Path(cand)
    tried.append(f"{DEBIAN_BINDIR_GLOB}: " + (", ".join(candidates) or "no match"))

    found = {name: shutil.which(name, path=path) for name in REQUIRED_BINARIES}
    if all(found.values()):
        # Resolve symlinks (e.g. /usr/local/bin/pg_ctl -> .../15/bin/pg_ctl) so
        # that all three come from the same installation.
        for name in REQUIRED_BINARIES:
            real_dir = Path(os.path.realpath(found[name])).parent
            if _has_server_binaries(real_dir):
                return real_dir
        d = Path(found["initdb"]).parent
        if _has_server_binaries(d):
            return d
    tried.append("PATH: " + ", ".join(f"{k}={v or 'missing'}" for k, v in found.items()))

    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found; "
        "install them (Debian/Ubuntu: apt-get install postgresql) or set "
        f"{ENV_URL}. Looked at: " + "; ".join(tried)
    )


# --------------------------------------------------------------------------
# URL / database helpers
# --------------------------------------------------------------------------


def normalize_url(url: str | URL) -> str:
    """Return ``url`` as a string using the psycopg 3 SQLAlchemy driver."""
    u = make_url(url)
    if u.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _connect(url: str | URL, dbname: str | None = None, timeout: int = 10) -> psycopg.Connection:
    """Autocommit psycopg connection from a SQLAlchemy URL."""
    u = make_url(url)
    params: dict[str, object] = {k: v for k, v in u.query.items() if isinstance(v, str)}
    if u.host:
        params["host"] = u.host
    if u.port:
        params["port"] = u.port
    if u.username:
        params["user"] = u.username
    if u.password:
        params["password"] = u.password
    db = dbname or u.database
    if db:
        params["dbname"] = db
    params.setdefault("connect_timeout", timeout)
    return psycopg.connect(autocommit=True, **params)


def fresh_database(url: str | URL, prefix: str = "newsmon_test_") -> str:
    """Create a new, uniquely named, empty database on ``url``'s server.

    Returns the URL of the new database (same server, user, options).
    """
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with _connect(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return normalize_url(make_url(url).set(database=name))


def drop_database(url: str | URL, maintenance_db: str = "postgres") -> None:
    """Drop ``url``'s database (terminating leftover connections to it)."""
    u = make_url(url)
    if not u.database:
        raise ValueError(f"URL has no database: {u!r}")
    ident = sql.Identifier(u.database)
    try:
        conn = _connect(u, dbname=maintenance_db)
    except psycopg.OperationalError:
        conn = _connect(u, dbname="template1")
    with conn:
        try:  # PostgreSQL >= 13
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        except psycopg.errors.SyntaxError:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))


# --------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _conf_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temp dir (or ``$NEWSMON_TEST_PG_URL``).

    ``start()`` returns the SQLAlchemy URL of database ``newsmon_test``
    (``postgresql+psycopg://postgres@127.0.0.1:PORT/newsmon_test``); also
    available as ``.url``.  Use as a context manager (``__enter__`` returns
    the instance) or call ``start()``/``stop()``.
    """

    def __init__(
        self,
        *,
        start_timeout: float = 30.0,
        database: str = DEFAULT_DB,
        external_url: str | None = None,
        use_env: bool = True,
        bindir: str | os.PathLike | None = None,
        os_user: str | None = None,
    ) -> None:
        if external_url is None and use_env:
            external_url = os.environ.get(ENV_URL) or None
        self.external_url = external_url
        self.start_timeout = start_timeout
        self.database = database
        self._bindir = Path(bindir) if bindir else None
        self._os_user = os_user
        self.url: str | None = None
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.data_dir: Path | None = None
        self.socket_dir: Path | None = None
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen | None = None
        self._run_as: dict = {}

    # -- public API --------------------------------------------------------

    @property
    def is_external(self) -> bool:
        return bool(self.external_url)

    def start(self) -> str:
        if self.url:
            return self.url
        t0 = time.monotonic()
        if self.external_url:
            url = normalize_url(self.external_url)
            try:
                with _connect(url, timeout=5) as conn:
                    conn.execute("SELECT 1")
            except psycopg.Error as exc:
                raise PostgresStartError(
                    f"{ENV_URL}={self.external_url!r} is not reachable: {exc}"
                ) from exc
            self.url = url
        else:
            bindir = self._bindir or find_pg_bindir()
            if not _has_server_binaries(bindir):
                raise PostgresUnavailable(f"{bindir} lacks one of {', '.join(REQUIRED_BINARIES)}")
            self._bindir = Path(bindir)
            self._run_as = self._privileges()
            atexit.register(self.stop)
            try:
                self._start_cluster()
            except BaseException:
                self.stop()
                raise
        self.startup_seconds = time.monotonic() - t0
        return self.url

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m immediate``) and remove its dir."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None and self.data_dir is not None:
                try:
                    self._run(
                        [
                            self._bin("pg_ctl"),
                            "stop",
                            "-D",
                            str(self.data_dir),
                            "-m",
                            "immediate",
                            "-w",
                            "-t",
                            "15",
                        ],
                        timeout=30,
                    )
                except (OSError, subprocess.SubprocessError):
                    pass
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        if not self.is_external:
            self.url = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------

    def _bin(self, name: str) -> str:
        assert self._bindir is not None
        return str(self._bindir / name)

    def _privileges(self) -> dict:
        """subprocess kwargs to drop root; {} when not root."""
        if os.geteuid() != 0:
            return {}
        import pwd

        names = [self._os_user or os.environ.get(ENV_OS_USER) or "postgres", "nobody"]
        for name in names:
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                continue
            if pw.pw_uid != 0:
                return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        raise PostgresUnavailable(
            "running as root and no unprivileged OS user to run PostgreSQL as "
            f"(tried {', '.join(names)}; set {ENV_OS_USER})"
        )

    def _run(self, cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base_dir,
            env=self._env(),
            **self._run_as,
        )

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        if self._run_as and self.base_dir is not None:
            env["HOME"] = str(self.base_dir)
        return env

    def _make_base_dir(self) -> Path:
        parent = Path(tempfile.gettempdir())
        if self._run_as and not _world_traversable(parent):
            parent = Path("/tmp")
        base = Path(tempfile.mkdtemp(prefix="newsmon-pg-", dir=parent))
        if self._run_as:
            os.chown(base, self._run_as["user"], self._run_as["group"])
        os.chmod(base, 0o700)
        return base

    def _start_cluster(self) -> None:
        self.base_dir = self._make_base_dir()
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir  # short path: unix socket paths are limited to ~107 bytes
        self.log_path = self.base_dir / "postgres.log"

        res = self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        if res.returncode != 0:
            raise PostgresStartError(
                f"initdb failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}"
            )

        for attempt in range(3):
            self.port = _free_port()
            with open(self.data_dir / "postgresql.conf", "a") as f:
                f.write(
                    "\n# --- newsmon throwaway test cluster ---\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"port = {self.port}\n"
                    f"unix_socket_directories = {_conf_quote(str(self.socket_dir))}\n"
                    "fsync = off\n"
                    "synchronous_commit = off\n"
                    "full_page_writes = off\n"
                )
            try:
                self._launch_and_wait()
                break
            except PostgresStartError as exc:
                if attempt < 2 and "already in use" in str(exc):
                    continue  # lost the race for the port; try another one
                raise

        self.url = normalize_url(
            URL.create(
                "postgresql+psycopg",
                username=SUPERUSER,
                host="127.0.0.1",
                port=self.port,
                database=self.database,
            )
        )
        with _connect(self.url, dbname="postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def _launch_and_wait(self) -> None:
        assert self.data_dir is not None and self.log_path is not None
        with open(self.log_path, "ab") as log:
            if self._run_as:
                os.chown(self.log_path, self._run_as["user"], self._run_as["group"])
            self._proc = subprocess.Popen(
                [self._bin("postgres"), "-D", str(self.data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                env=self._env(),
                **self._run_as,
            )
        deadline = time.monotonic() + self.start_timeout
        last_err: Exception | None = None
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise PostgresStartError(
                    f"postgres exited with code {code} during startup; log:\n{self._log_tail()}"
                )
            try:
                with psycopg.connect(
                    host=str(self.socket_dir),
                    port=self.port,
                    user=SUPERUSER,
                    dbname="postgres",
                    connect_timeout=2,
                ) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_err = exc
            if time.monotonic() > deadline:
                raise PostgresStartError(
                    f"postgres did not accept connections within {self.start_timeout:.0f}s "
                    f"(last error: {last_err}); log:\n{self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _world_traversable(path: Path) -> bool:
    """True if every component of ``path`` is o+x (so another user can reach it)."""
    p = path.resolve()
    for d in [p, *p.parents]:
        try:
            if not os.stat(d).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True
