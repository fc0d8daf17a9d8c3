"""apprise with the plugins of the URLs in use, not all of them.

apprise imports every one of its ~160 plugin modules (and what they import:
cryptography, oauthlib, ...) the first time it reads a URL, to learn which schemes each
handles: ~15 MB more in every process that checks or sends an alert (the flow's process,
the desk, the command line) and ~0.1 CPU-s, for the one or two kinds of URL a config
uses. Here a table shipped with newsmon (``apprise_schemas.json``: scheme -> plugin
module, for the apprise version it was made from) tells which module handles a URL's
scheme, and only that module is loaded, through apprise's own loader. Where the table
is of another apprise version, does not know the scheme, or the module turns out not to
handle it, apprise loads all its plugins as it does by itself.

``tests/test_alerts_plugins.py`` checks the table against apprise's own full load; after
an apprise upgrade, ``python -m monitor.alerts.plugins`` writes it again.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

TABLE = Path(__file__).with_name("apprise_schemas.json")

_lock = threading.RLock()
_table: dict[str, str] | None = None
_loaded: set[str] = set()  # plugin modules loaded here
_all = False  # apprise has loaded all its plugins


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].strip().lower() if "://" in url else ""


def _read_table() -> dict[str, str]:
    """The shipped table if it was made from the installed apprise, else {}."""
    global _table
    if _table is None:
        try:
            data = json.loads(TABLE.read_text(encoding="utf-8"))
            same = data.get("apprise") == version("apprise")
            _table = dict(data["schemes"]) if same else {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.debug("apprise's scheme table not read: %s", exc)
            _table = {}
    return _table


def _manager() -> Any:
    from apprise.manager_plugins import NotificationManager

    return NotificationManager()  # apprise's one plugin manager (a singleton)


def _load_all(mgr: Any) -> None:
    """apprise's own full load of its plugins, as without this module (custom plugins
    registered after a partial load are dropped: newsmon registers none)."""
    global _all
    with _lock:
        if _all:
            return
        _all = True  # first: apprise's loader may ask the manager for schemes
        try:
            if _loaded:
                mgr.unload_modules()
                _loaded.clear()
            mgr.load_modules()
        except BaseException:
            _all = False
            raise


def _lean_manager() -> Any:
    """apprise's plugin manager, made to load all plugins the moment anyone asks it for
    a scheme it has not loaded: code that reaches apprise without :func:`apprise_for`
    (another library in the process) still finds every plugin."""
    from apprise.manager_plugins import NotificationManager

    base: Any = NotificationManager

    class LeanManager(base):  # type: ignore[misc]
        def __contains__(self, schema: object) -> bool:
            if not _all and not base.__contains__(self, schema):
                _load_all(self)
            return bool(base.__contains__(self, schema))

        def __getitem__(self, schema: str) -> Any:
            if not _all and not base.__contains__(self, schema):
                _load_all(self)
            return base.__getitem__(self, schema)

        def __iter__(self) -> Any:
            _load_all(self)
            return base.__iter__(self)

        def __len__(self) -> int:
            _load_all(self)
            return int(base.__len__(self))

    mgr = _manager()
    if type(mgr) is NotificationManager:
        mgr.__class__ = LeanManager
    return mgr


def apprise_for(url: str) -> ModuleType:
    """The apprise module, with the plugins that handle ``url`` loaded (an entry may
    hold several URLs, separated by spaces or commas, as apprise reads it)."""
    import apprise
    from apprise.utils.parse import parse_urls

    if _all:
        return apprise
    with _lock:
        if _all:
            return apprise
        mgr = _manager()
        if mgr and not _loaded:  # something loaded apprise's plugins already
            _load_all(mgr)
            return apprise
        table = _read_table()
        schemes = {scheme_of(u) for u in parse_urls(url)} or {scheme_of(url)}
        modules = {table.get(scheme) for scheme in schemes}
        if None in modules:
            _load_all(mgr)
            return apprise
        mgr = _lean_manager()
        for module in sorted(m for m in modules if m is not None):
            if module in _loaded:
                continue
            try:
                # apprise's loader imports each name listed in a folder as a module of
                # its plugins package: a folder listing just this one
                with tempfile.TemporaryDirectory(prefix="newsmon-apprise-") as folder:
                    (Path(folder) / module).touch()
                    mgr.load_modules(path=folder, name=mgr.module_name_prefix)
            except Exception as exc:  # noqa: BLE001 - no temporary folder: load them all
                log.debug("apprise plugin %s not loaded alone: %s", module, exc)
                _load_all(mgr)
                return apprise
            _loaded.add(module)
        # A wrong entry in the table leaves its scheme unknown: asking the manager for
        # it loads them all (LeanManager.__contains__).
        if not all(scheme in mgr for scheme in schemes):
            log.debug("apprise has no plugin for %s", sorted(schemes))
    return apprise


def schemes_of_installed_apprise() -> dict[str, str]:
    """scheme -> plugin module, as apprise's own full load of its plugins maps them
    (run it in a fresh interpreter: it loads them all)."""
    mgr = _manager()
    mgr.load_modules()
    module_of = {
        plugin: entry["path"].rsplit(".", 1)[1] for entry in mgr for plugin in entry["plugin"]
    }
    return {
        scheme: module_of[plugin]
        for scheme, plugin in sorted(mgr._schema_map.items())
        if plugin in module_of
    }


def write_table(path: Path = TABLE) -> None:
    data = {"apprise": version("apprise"), "schemes": schemes_of_installed_apprise()}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_table()
    print(f"wrote {TABLE}")
