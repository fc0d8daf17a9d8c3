"""spaCy without its command line: none of typer, weasel, requests... in a process that
tokenises, the same tokens, and the real ``spacy.cli`` when something asks for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from monitor.topics.text import pipeline
doc = pipeline("en")("The minister's road, opened in 2026, cost $3.5bn.")
heavy = ("typer", "weasel", "requests", "jinja2", "spacy.cli")
loaded = sorted(m for m in heavy if m in sys.modules)
import spacy.cli
print(json.dumps({"loaded": loaded, "tokens": [t.text for t in doc],
                  "download": callable(getattr(spacy.cli, "download", None))}))
"""


def test_spacy_is_imported_without_its_command_line() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["loaded"] == [], got
    assert got["tokens"] == [
        "The",
        "minister",
        "'s",
        "road",
        ",",
        "opened",
        "in",
        "2026",
        ",",
        "cost",
        "$",
        "3.5bn",
        ".",
    ]
    assert got["download"] is True  # the real package, imported on demand
