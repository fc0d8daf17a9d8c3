"""The layers of the code: no module imports a higher layer, and no modules import each
other in a circle (read from the source with ast: imports inside functions and under
TYPE_CHECKING count too). The table below is the one place the layers are written
down; CONTRIBUTING.md shows it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top. A module belongs to the layer of the longest name here that starts it;
# it may import its own layer and the ones below.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "base",
        [
            "monitor",
            "monitor.errors",
            "monitor.redact",
            "monitor.perms",
            "monitor.demo",
            "monitor.alerts.plugins",
        ],
    ),
    ("schemas", ["monitor.topics.language", "monitor.alerts.routes", "monitor.fetch.guard"]),
    ("config", ["monitor.config"]),
    (
        "stages",
        ["monitor.feeds", "monitor.fetch", "monitor.extract", "monitor.topics", "monitor.stories"],
    ),
    ("store", ["monitor.store"]),
    (
        "services",
        [
            "monitor.feeds.health",
            "monitor.alerts",
            "monitor.topics.review",
            "monitor.topics.loop",
            "monitor.export",
        ],
    ),
    ("pipeline", ["monitor.pipeline"]),
    ("desk", ["monitor.desk"]),
    ("flows", ["flows"]),
    ("shell", ["monitor.cli"]),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for top in ("monitor", "flows"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "versions" not in path.parts:  # Alembic revisions: frozen, SQL only
                found[module_name(path)] = path
    return found


MODULES = modules()


def imports(path: Path) -> set[str]:
    """The modules of this project that ``path`` imports."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # "from monitor.store import migrate" imports the submodule migrate
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                for a in node.names
            ]
        else:
            continue
        out.update(n for n in names if n in MODULES)
    return out


def layer(module: str) -> int:
    best, index = "", -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > len(best):
                best, index = p, i
    assert index >= 0, f"{module} is in no layer: add it to LAYERS"
    return index


GRAPH = {m: imports(p) - {m} for m, p in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    for m in MODULES:
        layer(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    mine = layer(module)
    higher = {t: LAYERS[layer(t)][0] for t in GRAPH[module] if layer(t) > mine}
    assert not higher, f"{module} ({LAYERS[mine][0]}) imports a higher layer: {higher}"


def test_no_import_circles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for m in sorted(GRAPH):
        if m not in index:
            visit(m)
    assert not circles, f"modules that import each other: {circles}"


def test_only_the_store_speaks_sql() -> None:
    for m, path in MODULES.items():
        if m.startswith("monitor.") and not m.startswith("monitor.store"):
            text = path.read_text(encoding="utf-8").lower()
            assert "sqlalchemy" not in text and "sqlmodel" not in text, m


def test_only_the_shell_starts_flows() -> None:
    starters = {
        m
        for m, deps in GRAPH.items()
        if m.startswith("monitor") and any(d == "flows" or d.startswith("flows.") for d in deps)
    }
    assert starters <= {m for m in MODULES if m.startswith("monitor.cli")}, starters


def test_tests_do_not_import_benchmarks() -> None:
    """Benchmarks may use the tests' scenarios and helpers; never the other way round."""
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n == "benchmarks" or n.startswith("benchmarks.") for n in names), (
                f"{path.relative_to(ROOT)} imports {names}"
            )


def test_contributing_shows_the_layers() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text[text.index("## Layers") :]
    for name, prefixes in LAYERS:
        assert name in section, name
        row = next((ln for ln in section.splitlines() if ln.startswith(f"| {name} |")), "")
        for p in prefixes:
            assert f"`{p}`" in row, (name, p)
