"""axe-core (Deque's accessibility engine, from the npm registry) for the browser tests.

Installed once with npm into ``.cache/axe`` (``.ci/run`` does it before the tests);
run inside the page by :func:`violations`."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from tests.support.deskdata import ROOT

AXE_VERSION = "4.14.1"
AXE_DIR = ROOT / ".cache" / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_source() -> str | None:
    """axe.min.js, installed with npm when missing; None when npm is not there."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None
        subprocess.run(
            [npm, "install", "--prefix", str(AXE_DIR), f"axe-core@{AXE_VERSION}"]
            + ["--no-save", "--no-audit", "--no-fund", "--no-package-lock"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return AXE_JS.read_text(encoding="utf-8")


def violations(
    page: Any, source: str, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[dict[str, Any]]:
    """The page's WCAG 2.1 A/AA violations of those impacts (rule, impact, targets)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)  # through the debugger protocol: not subject to the page's CSP
    result = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_AA
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in impacts
    ]


__all__ = ["AXE_JS", "axe_source", "violations"]
