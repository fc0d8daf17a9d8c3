"""tests/support/benchreport.py: a benchmark rewrites only its own section of docs/benchmarks.md."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.benchreport import record, replace_section

PAGE = """# Measured figures

Intro written by hand.

<!-- begin: alpha -->
## alpha
old alpha figures
<!-- end: alpha -->

Text between sections, by hand.

<!-- begin: beta -->
## beta
beta figures
<!-- end: beta -->
"""


def test_a_section_is_replaced_and_every_other_byte_kept() -> None:
    block = "<!-- begin: alpha -->\nnew alpha\n<!-- end: alpha -->\n"
    out = replace_section(PAGE, "alpha", block)
    assert "old alpha figures" not in out
    assert out == PAGE.replace("## alpha\nold alpha figures\n", "new alpha\n")


def test_a_new_section_is_appended_at_the_end() -> None:
    block = "<!-- begin: gamma -->\ngamma\n<!-- end: gamma -->\n"
    out = replace_section(PAGE, "gamma", block)
    assert out.startswith(PAGE)
    assert out.endswith("\n\n" + block)


def test_a_section_without_its_end_marker_is_an_error_not_a_truncated_page() -> None:
    broken = PAGE.replace("<!-- end: beta -->\n", "")
    with pytest.raises(ValueError, match="beta"):
        replace_section(broken, "beta", "<!-- begin: beta -->\nx\n<!-- end: beta -->\n")


def test_record_writes_the_figures_with_command_date_cores_and_load(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE, encoding="utf-8")
    record(
        "beta",
        [("checks per second", "1,234", "≥ 1,000"), ("pipes | bars", 5, "-")],
        "python benchmarks/beta.py --quick",
        title="beta: checks",
        result="RESULT checks_per_s=1234",
        path=page,
    )
    text = page.read_text(encoding="utf-8")
    assert "old alpha figures" in text and "Text between sections, by hand." in text
    section = text[text.index("<!-- begin: beta -->") :]
    assert "beta figures" not in section
    assert "## beta: checks" in section
    assert "`python benchmarks/beta.py --quick`" in section
    assert "| checks per second | 1,234 | ≥ 1,000 |" in section
    assert "| pipes \\| bars | 5 | - |" in section  # a cell cannot break the table
    assert "RESULT checks_per_s=1234" in section
    assert f"{os.cpu_count()} cores" in section
    assert re.search(r"Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC", section)
    assert re.search(
        r"load average \(1 / 5 / 15 min\) [\d.]+ / [\d.]+ / [\d.]+ at the start", section
    )
    # Recording again replaces the section instead of adding a second one.
    record("beta", [("checks per second", "999", "≥ 1,000")], "x", path=page)
    text = page.read_text(encoding="utf-8")
    assert text.count("<!-- begin: beta -->") == 1 and "1,234" not in text


def test_a_row_of_the_wrong_width_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    with pytest.raises(ValueError, match="cells"):
        record("alpha", [("only two", "cells")], "x", path=page)
    assert not page.exists()
