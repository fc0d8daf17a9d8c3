"""py3langid's language-identification model, read from a file of flat arrays mapped into
memory instead of unpacked into each process's heap.

py3langid unpacks its model (4.5 MB of xz) into a 100,053 x 142 float16 table (28 MB), a
9.8-million-entry transition array (39 MB) and two lists of 104,583 Python ints (~8 MB):
0.5-0.7 CPU-s, and ~75 MB of private memory in the workers' forkserver that counted in
the RSS of the forkserver and of every worker (and the lists' ints, read by every
language detection, had their reference counts written: copied into each worker).

Here the same arrays are written once to a cache file (:func:`cache_dirs`) and mapped
read-only: the pages are the file's, shared by every process through the page cache, read
in by the processes that detect a language (a worker soon touches all of them: each byte
of a text moves the detector to a state anywhere in the 39 MB), never by the forkserver,
and never copied. The model, its arithmetic and its answers are py3langid's own
(``tests/test_extract_langid.py``); where no cache directory is writable, py3langid loads
its model as it does by itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import tempfile
from array import array
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_FORMAT = 2  # 2: the header names the model file it was made from
_ALIGN = 4096
_HEADER = 4096 * 4  # JSON: the sections' offsets, the classes


def cache_dirs() -> list[Path]:
    """Where the mapped model may be written, in order: ``$XDG_CACHE_HOME/newsmon`` (or
    ``~/.cache/newsmon``), then newsmon's data directory (``cache/`` under it)."""
    from monitor.config.settings import data_dir

    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [Path(xdg) / "newsmon", data_dir() / "cache"]


def _model_file() -> Path:
    import py3langid.langid as pl

    return Path(pl.MODEL_DIR) / str(pl.MODEL_FILE)


def _cache_name(model: Path) -> str:
    from importlib.metadata import version

    st = model.stat()
    key = f"{_FORMAT} {version('py3langid')} {model} {st.st_size} {st.st_mtime_ns}"
    return f"langid-{hashlib.sha256(key.encode()).hexdigest()[:16]}.bin"


def _write(path: Path, model: Path) -> None:
    """py3langid's model as flat arrays: the file :func:`_map` reads."""
    import numpy as np
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(model)
    sections: dict[str, tuple[str, bytes]] = {
        "ptc": ("e", np.ascontiguousarray(ptc, dtype=np.float16).tobytes()),
        "pc": ("f", np.ascontiguousarray(pc, dtype=np.float32).tobytes()),
        "nextmove": ("I", array("I", nextmove).tobytes()),
        "rowbase": ("I", array("I", [r << 8 for r in row]).tobytes()),
        "output": ("i", array("i", output).tobytes()),
    }
    header: dict[str, Any] = {
        "classes": list(classes),
        "columns": int(ptc.shape[1]),
        "model": str(model),
    }
    offset = _HEADER
    for name, (code, data) in sections.items():
        header[name] = [code, offset, len(data)]
        offset += -(-len(data) // _ALIGN) * _ALIGN
    head = json.dumps(header).encode()
    if len(head) > _HEADER:
        raise ValueError("the model's header does not fit")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".langid-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head.ljust(_HEADER, b" "))
            for name, (_code, data) in sections.items():
                f.seek(header[name][1])
                f.write(data)
            f.truncate(offset)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    for old in path.parent.glob("langid-*.bin"):
        if old != path and _stale(old, model):
            old.unlink(missing_ok=True)


def _stale(path: Path, model: Path) -> bool:
    """Whether another cache file may go: made from this same model file (an earlier
    py3langid or model of this install), from a model file that no longer exists (an
    install since removed), or of an earlier format. Another install's file stays: two
    installs sharing one cache directory (a clone's virtualenv beside another) must not
    evict each other's file on every start, each then loading the model unshared."""
    try:
        with open(path, "rb") as f:
            made_from = json.loads(f.read(_HEADER)).get("model")
    except (OSError, ValueError, AttributeError):
        return True
    return not isinstance(made_from, str) or made_from == str(model) or not Path(made_from).exists()


def _map(path: Path) -> Any:
    """A py3langid ``LanguageIdentifier`` whose arrays are views of the mapped file."""
    import numpy as np
    from py3langid.langid import LanguageIdentifier

    global _mapped
    with open(path, "rb") as f:
        mapped = _mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mapped)
    header = json.loads(bytes(view[:_HEADER]))

    def section(name: str) -> memoryview:
        code, offset, size = header[name]
        return view[offset : offset + size].cast(code)

    pc = np.frombuffer(section("pc"), dtype=np.float32)
    ptc = np.frombuffer(view[header["ptc"][1] : header["ptc"][1] + header["ptc"][2]], np.float16)
    ident = LanguageIdentifier(
        ptc.reshape(-1, header["columns"]),
        pc,
        header["classes"],
        section("nextmove"),
        section("output"),
        tk_row=(),  # py3langid keeps only the row offsets it makes of it: set below
    )
    ident._rowbase = section("rowbase")  # row << 8 per state, as py3langid computes it
    return ident


def identifier() -> Any | None:
    """py3langid's identifier backed by the mapped file (written first if missing), or
    None where no cache directory can hold it."""
    model = _model_file()
    name = _cache_name(model)
    for directory in cache_dirs():
        path = directory / name
        try:
            if not path.exists():
                _write(path, model)
            return _map(path)
        except (OSError, ValueError, KeyError) as exc:
            log.debug("language model not mapped from %s: %s", directory, exc)
    return None


_installed: bool | None = None
_mapped: mmap.mmap | None = None


def unmap_pages() -> None:
    """Drop this process's mappings of the model's pages (they stay in the page cache):
    the forkserver detects a language in its warm-up, and the pages that touched would
    count in its RSS while only its workers use them."""
    if _mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
        _mapped.madvise(mmap.MADV_DONTNEED)


def install() -> bool:
    """Make py3langid (``py3langid.classify``, and trafilatura through it) use the mapped
    model; True if it does. Tried once per process; a forked child inherits the mapping."""
    global _installed
    if _installed is None:
        import py3langid.langid as pl

        ident = identifier() if pl.IDENTIFIER is None else None
        if ident is not None:
            pl.IDENTIFIER = ident
        _installed = ident is not None
    return _installed
