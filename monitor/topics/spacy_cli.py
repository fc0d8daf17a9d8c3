"""spaCy imported without its command line.

``import spacy`` runs ``from .cli.info import info``, and ``spacy.cli`` imports every
command spaCy has: typer, weasel, requests, rich, jinja2, httpx... ~18 MB and 0.3 CPU-s
in each process that tokenises (the workers' forkserver), none of it used by newsmon.
While spaCy's own ``__init__`` runs, :class:`_Finder` answers ``spacy.cli`` and
``spacy.cli.info`` with a stub whose ``spacy.info()`` imports the real command when
called; :func:`forget` (``monitor.topics.text``, right after importing spaCy) takes the
stubs out of ``sys.modules``, so a later ``import spacy.cli`` gets the real package.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

_STUBS = ("spacy.cli", "spacy.cli.info")


def _spacy_initialising() -> bool:
    spec = getattr(sys.modules.get("spacy"), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def info(*args: Any, **kwargs: Any) -> Any:
    """``spacy.info``: spaCy's own, imported now."""
    forget()
    from spacy.cli.info import info as real

    return real(*args, **kwargs)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _STUBS or not _spacy_initialising():
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname == "spacy.cli")

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["_newsmon_stub"] = True
        if module.__name__ == "spacy.cli.info":
            module.__dict__["info"] = info


def install() -> None:
    """Answer spaCy's import of its command line with stubs (once per process)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def forget() -> None:
    """Take the stubs out of ``sys.modules`` (the real package is imported on demand)."""
    for name in _STUBS:
        if getattr(sys.modules.get(name), "_newsmon_stub", False):
            del sys.modules[name]
