"""The ``newsmon`` command starts light: its help needs typer and the commands' own
modules, never Prefect, spaCy, SQLModel, trafilatura or apprise, which the commands that
use them import when they run. Checked in a fresh interpreter (sys.modules), not timed:
``benchmarks/startup.py`` measures the time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HEAVY = ("prefect", "spacy", "sqlmodel", "sqlalchemy", "trafilatura", "apprise", "httpx", "lxml")

# Builds every command's click object (typer resolves each parameter's annotation) and
# renders the top-level help, as `newsmon --help` does.
PROBE = """
import json, sys
import typer.main
from monitor.cli import app, main
typer.main.get_command(app)
sys.argv = ["newsmon", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\nMODULES " + json.dumps(sorted(m for m in sys.modules)))
"""


def _modules(*args: str) -> tuple[str, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    ).stdout
    text, _, mods = out.rpartition("\nMODULES ")
    return text, set(json.loads(mods))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(h for h in HEAVY if h in modules or any(m.startswith(h + ".") for m in modules))


@pytest.mark.parametrize(
    "args",
    [["--help"], ["run", "--help"], ["hits", "--help"], ["topics", "train", "--help"]],
    ids=" ".join,
)
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    text, modules = _modules(*args)
    assert "Usage" in text  # the help was rendered
    assert _heavy(modules) == []


def test_a_command_still_imports_what_it_needs(tmp_path: Path) -> None:
    # The probe can see heavy modules: a command that touches the database loads SQLModel.
    db = f"sqlite:///{tmp_path / 'x.db'}"
    _, modules = _modules("--db", db, "status")
    assert "sqlmodel" in _heavy(modules)
