"""Owner-only files and directories, where secrets live.

The database holds the outbox, review labels and (for PostgreSQL, in its URL) a
password; config files hold apprise URLs with tokens; private feed URLs carry keys.
newsmon creates all of these readable by their owner alone (files 0600, directories
0700), whatever the umask. It does not change the mode of files the user made: a
config file with secrets that others can read gets a warning instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path, *, own: bool = False) -> Path:
    """Create ``path`` (and missing parents) if it does not exist; the directory itself
    is created 0700. An existing directory is left as it is (it may be the user's),
    unless ``own`` says it is newsmon's own (the data directory): then it is made 0700."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)
    elif own and path.is_dir() and stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        try:
            os.chmod(path, DIR_MODE)
        except OSError:
            pass  # not ours to change (another owner): SQLite will say if it cannot write
    return path


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 if it does not exist; True if created here."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def open_private(path: Path, mode: str = "w", **kw: Any) -> IO[Any]:
    """``open(path, mode)`` for writing, a new file created 0600 (an existing file keeps
    its mode: the user chose it)."""
    create_private_file(Path(path))
    return open(path, mode, **kw)


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, a new file created 0600."""
    with open_private(path, "w", encoding="utf-8") as f:
        f.write(text)


def readable_by_others(path: Path) -> bool:
    """True if users other than the owner may read ``path``."""
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False
