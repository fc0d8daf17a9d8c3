"""apprise with only the plugins of the URLs in use: the shipped scheme table matches
apprise's own full load, each kind of URL works, anything the table does not know falls
back to apprise's full load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from monitor.alerts import plugins

def loaded():  # plugin modules (a plugin may be a package of several)
    return {m.split(".")[2] for m in sys.modules if m.startswith("apprise.plugins.")} - {"base"}

out = {}
for url in json.loads(sys.argv[1]):
    ap = plugins.apprise_for(url)
    obj = ap.Apprise.instantiate(url, suppress_exceptions=True)
    out[url] = {"known": obj is not None, "plugins": len(loaded()), "all": plugins._all}
print(json.dumps(out))
"""


def _python(code: str, *args: str) -> str:
    """What ``code`` prints, run in a fresh interpreter (apprise's plugin state is the
    process's)."""
    run = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def _probe(urls: list[str], table: Path | None = None) -> dict[str, dict[str, object]]:
    code = PROBE
    if table is not None:
        code = code.replace(
            "out = {}", f"plugins.TABLE = __import__('pathlib').Path({str(table)!r})\nout = {{}}"
        )
    result: dict[str, dict[str, object]] = json.loads(_python(code, json.dumps(urls)))
    return result


def test_the_shipped_table_is_apprises_own_map() -> None:
    installed = _python(
        "import json; from monitor.alerts.plugins import schemes_of_installed_apprise as s;"
        " print(json.dumps(s()))"
    )
    shipped = json.loads((ROOT / "monitor" / "alerts" / "apprise_schemas.json").read_text())
    # after an apprise upgrade: python -m monitor.alerts.plugins
    assert shipped["schemes"] == json.loads(installed)
    assert len(shipped["schemes"]) > 100


def test_each_url_loads_only_its_plugin() -> None:
    urls = [
        "json://127.0.0.1:9/hook",
        "mailto://user:pass@localhost:25?to=desk@example.org",
        "json://127.0.0.1:9/other",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
    ]
    out = _probe(urls)
    assert all(r["known"] for r in out.values())
    assert [r["plugins"] for r in out.values()] == [1, 2, 2, 3]
    assert not any(r["all"] for r in out.values())


def test_what_the_table_does_not_know_loads_every_plugin() -> None:
    out = _probe(["json://127.0.0.1:9/hook", "nosuchscheme://x", "tgram://123456789:abcdefg/42"])
    first, unknown, telegram = out.values()
    assert first["known"] and first["plugins"] == 1
    assert not unknown["known"] and unknown["all"]  # apprise's own answer: not a URL it knows
    assert int(str(unknown["plugins"])) > 100
    assert telegram["known"]


def test_a_table_of_another_apprise_version_is_not_used(tmp_path: Path) -> None:
    table = tmp_path / "apprise_schemas.json"
    table.write_text(json.dumps({"apprise": "0.0.1", "schemes": {"json": "custom_json"}}))
    out = _probe(["json://127.0.0.1:9/hook"], table)
    (only,) = out.values()
    assert only["known"] and only["all"] and int(str(only["plugins"])) > 100


def test_a_wrong_table_entry_falls_back_to_every_plugin(tmp_path: Path) -> None:
    from importlib.metadata import version

    table = tmp_path / "apprise_schemas.json"
    table.write_text(json.dumps({"apprise": version("apprise"), "schemes": {"json": "slack"}}))
    out = _probe(["json://127.0.0.1:9/hook"], table)
    (only,) = out.values()
    assert only["known"] and only["all"]


def test_several_urls_in_one_entry_load_each_plugin() -> None:
    out = _probe(["json://127.0.0.1:9/a tgram://123456789:abcdefg/42, slack://T1/A1/TIiajkdnl"])
    (only,) = out.values()
    assert only["plugins"] == 3 and not only["all"]


DIRECT = """
import json
from monitor.alerts import plugins
plugins.apprise_for("json://127.0.0.1:9/hook")
import apprise  # another library in the process, not through apprise_for
ap = apprise.Apprise()
print(json.dumps([ap.add("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"),
                  apprise.Apprise.instantiate("tgram://123456789:abcdefg/42") is not None,
                  plugins._all]))
"""


def test_apprise_reached_directly_after_a_partial_load_finds_every_plugin() -> None:
    assert json.loads(_python(DIRECT)) == [True, True, True]
