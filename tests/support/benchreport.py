"""Measured figures in one place: each benchmark run with ``--record`` rewrites its own
section of ``docs/benchmarks.md``.

A section sits between two markers that name it::

    <!-- begin: ssrf_guard -->
    ...
    <!-- end: ssrf_guard -->

``record`` replaces what is between them (or appends a new section at the end of the
file) and leaves every other byte of the file alone, so the figures of one benchmark
never overwrite another's. Each section carries the exact command, the date and time
(UTC), the commit, the machine's core count and the load average when the benchmark
started and when it ended: figures from a shared machine mean little without them.

Recording is opt-in (``--record``): a run on a busy laptop, or from a test, must not
rewrite the published figures by accident.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # tests/support/ -> the repository
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"

# Load when the benchmark started: every benchmark imports this module at its top.
_STARTED = time.monotonic()


def _loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:  # not available on this platform
        return None


_LOAD_AT_START = _loadavg()


def add_record_flag(ap: argparse.ArgumentParser) -> None:
    """The ``--record`` option every benchmark shares."""
    ap.add_argument(
        "--record",
        action="store_true",
        help="write the figures into docs/benchmarks.md (this benchmark's own "
        "section; the rest of the file is left alone)",
    )


def _command() -> str:
    args = [a for a in sys.argv[1:] if a != "--record"]
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return " ".join([".venv/bin/python", str(script), *args])


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _cell(value: object) -> str:
    text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row {row!r} has {len(row)} cells; the header has {len(header)}")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


def _load_text(load: tuple[float, float, float] | None) -> str:
    return "unknown" if load is None else " / ".join(f"{x:.2f}" for x in load)


def render(
    section: str,
    title: str,
    rows: Sequence[Sequence[object]],
    *,
    command: str,
    header: Sequence[str] = ("figure", "measured", "goal / reference"),
    result: str | None = None,
    notes: str = "",
    when: datetime | None = None,
    load_start: tuple[float, float, float] | None = None,
    load_end: tuple[float, float, float] | None = None,
    cores: int | None = None,
    commit: str = "unknown",
    seconds: float | None = None,
) -> str:
    """The Markdown of one section, markers included."""
    when = when or datetime.now(UTC)
    took = f", {seconds:.0f} s" if seconds is not None else ""
    parts = [
        f"<!-- begin: {section} -->",
        f"## {title}",
        "",
        f"`{command}`",
        "",
        (
            f"Measured {when:%Y-%m-%d %H:%M} UTC{took}, commit `{commit}`, "
            f"{cores if cores is not None else '?'} cores; load average (1 / 5 / 15 min) "
            f"{_load_text(load_start)} at the start, {_load_text(load_end)} at the end."
        ),
        "",
        _table(header, rows),
    ]
    if result:
        parts += ["", "```", result, "```"]
    if notes:
        parts += ["", notes.strip()]
    parts.append(f"<!-- end: {section} -->")
    return "\n".join(parts) + "\n"


def replace_section(text: str, section: str, block: str) -> str:
    """``text`` with the section named ``section`` replaced by ``block`` (appended if new)."""
    begin, end = f"<!-- begin: {section} -->", f"<!-- end: {section} -->"
    start = text.find(begin)
    if start < 0:
        return text.rstrip("\n") + "\n\n" + block if text.strip() else block
    stop = text.find(end, start)
    if stop < 0:
        raise ValueError(f"docs/benchmarks.md: section {section!r} has no end marker {end!r}")
    stop += len(end)
    if text[stop : stop + 1] == "\n":
        stop += 1
    return text[:start] + block + text[stop:]


def record(
    section: str,
    rows: Sequence[Sequence[object]],
    command: str | None = None,
    *,
    title: str | None = None,
    header: Sequence[str] = ("figure", "measured", "goal / reference"),
    result: str | None = None,
    notes: str = "",
    path: Path = BENCHMARKS_MD,
) -> Path:
    """Rewrite this benchmark's section of docs/benchmarks.md with ``rows``.

    ``rows`` are table rows under ``header`` (by default: the figure, what was measured,
    its goal or reference). ``command`` defaults to the command line that ran (without
    ``--record``); ``result`` is the benchmark's RESULT line.
    """
    block = render(
        section,
        title or section,
        rows,
        command=command or _command(),
        header=header,
        result=result,
        notes=notes,
        load_start=_LOAD_AT_START,
        load_end=_loadavg(),
        cores=os.cpu_count(),
        commit=_commit(),
        seconds=time.monotonic() - _STARTED,
    )
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new = replace_section(text, section, block)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)
    print(
        f"recorded in {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
        f"(section {section})"
    )
    return path
