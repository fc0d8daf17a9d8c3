"""Configuration faults through the real ``newsmon`` command: each case the issue lists,
for the commands that start things. One line naming the file, the line or key, and the
problem; exit code 2; nothing half-started - no database, no data directory, no
Prefect home, no server.

(newsmon's topics have no regular expressions - terms are words, phrases and
trailing-star prefixes - so "a bad regex" is here a bad cron expression and a value that
must match a pattern, the other places a mini-language is parsed.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import check_cron

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ROOT / "config" / "topics.yaml"
NEWSMON = Path(sys.executable).with_name("newsmon")
FEEDS = "feeds:\n  - url: https://example.org/feed\n"

# case id -> (file, its text, what the one line must contain after "file: ")
CASES: dict[str, tuple[str, str, str]] = {
    "yaml syntax": (
        "feeds.yaml",
        FEEDS + "    name: [unclosed\n",
        "line 4: invalid YAML: did not find expected ',' or ']'",
    ),
    "unknown key": (
        "settings.yaml",
        "fetch:\n  timeout_s: 20\n  max_byte: 5\n",
        "fetch.max_byte: unknown key 'max_byte'",
    ),
    "wrong type": (
        "settings.yaml",
        "fetch:\n  timeout_s: soon\n",
        "fetch.timeout_s: Input should be a valid number",
    ),
    "bad cron": (
        "settings.yaml",
        "schedule:\n  cron: '*/10 * * *'\n",
        "schedule.cron: cron expression '*/10 * * *' has 4 fields; expected 5",
    ),
    "bad pattern": (
        "topics.yaml",
        "topics:\n  - id: Bad Id\n    name: T\n    groups:\n      g: {terms: [a]}\n",
        "topics[0].id: String should match pattern",
    ),
    "empty term group": (
        "topics.yaml",
        "topics:\n  - id: t1\n    name: T\n    groups:\n      g: {terms: []}\n",
        "topics[0].groups.g: a group needs terms",
    ),
    "empty term": (
        "topics.yaml",
        "topics:\n  - id: t1\n    name: T\n    groups:\n      g: {terms: [a, '']}\n",
        "topics[0].groups.g.terms: term '' is empty (terms[1]) (topic 't1')",
    ),
    "punctuation term": (
        "topics.yaml",
        "topics:\n  - id: t1\n    name: T\n    groups:\n      g: {ru: [да, '-']}\n",
        "topics[0].groups.g: term '-' has no letter or digit (ru[1]) (topic 't1')",
    ),
    "match-all term": (
        "topics.yaml",
        "topics:\n  - id: t1\n    name: T\n    groups:\n      g: {terms: [a]}\n"
        "    exclude: [{terms: ['*']}]\n",
        "topics[0].exclude[0].terms: term '*' would match every word (terms[0]) (topic 't1')",
    ),
    "duplicate key": (
        "settings.yaml",
        "fetch:\n  timeout_s: 20\n  timeout_s: 5\n",
        "line 3: invalid YAML: duplicate key 'timeout_s' (first on line 2)",
    ),
    "alias bomb": (
        "feeds.yaml",
        "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
        + "feeds: *a8\n",
        "line 1: invalid YAML: aliases expand to 926,177,115 values (limit 200,000)",
    ),
    "missing env var": (
        "alerts.yaml",
        "routes:\n  - name: desk\n    urls: ['${NEWSMON_NO_SUCH_VAR}']\n",
        "routes[0].urls[0]: environment variable NEWSMON_NO_SUCH_VAR is not set",
    ),
    "unknown apprise scheme": (
        "alerts.yaml",
        "routes:\n  - name: desk\n    urls: ['nosuch://u:pw1234@h/x']\n",
        "routes[0].urls[0]: apprise does not understand this URL (scheme 'nosuch')",
    ),
    "bad allow_hosts entry": (
        "settings.yaml",
        "fetch:\n  allow_hosts: ['http://intranet']\n",
        "fetch.allow_hosts: 'http://intranet' is not a host name",
    ),
}
COMMANDS = [["run", "--no-prefect"], ["serve"], ["config", "check"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("case", list(CASES))
def test_config_fault_is_one_line_exit_2_nothing_started(
    tmp_path: Path, case: str, command: list[str]
) -> None:
    name, text, expected = CASES[case]
    d = tmp_path / "config"
    d.mkdir()
    (d / "topics.yaml").write_text(TOPICS.read_text(encoding="utf-8"), encoding="utf-8")
    (d / "feeds.yaml").write_text(FEEDS, encoding="utf-8")
    (d / name).write_text(text, encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "PREFECT_API_URL",
            "NEWSMON_CONFIG",
            "NEWSMON_DB",
            "NEWSMON_NO_SUCH_VAR",
            "NEWSMON_ALLOW_HOSTS",
        }
    }
    env.update(
        NEWSMON_HOME=str(tmp_path / "home"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    r = subprocess.run(
        [str(NEWSMON), "-c", str(d), *command], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"newsmon: config error: {d / name}: {expected}"), lines[0]
    assert "pw1234" not in lines[0]  # the URL apprise refused is not shown either
    assert r.stdout == ""
    # nothing half-started: no database, no data directory, no Prefect home or server
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]


# Valid for Prefect (which runs the schedule) must be valid here; garbage must not be.
@pytest.mark.parametrize(
    "expr",
    [
        "*/10 * * * *",
        "0 8 * * *",
        "@daily",
        "@hourly",
        "0 8 * * mon-fri",
        "0 0 L * *",
        "0 0 * * 1#2",
        "0 0 1,15 * *",
        "0 0 * jan,jul sun",
        "5-10/2 * * * *",
        "0 */2 * * 7",
        "  0  8 * * *  ",
        "0 8 * * * 30",
    ],
)
def test_cron_accepted_as_prefect_accepts_it(expr: str) -> None:
    from prefect._internal.schemas.validators import validate_cron_string

    validate_cron_string(" ".join(expr.split()))
    assert check_cron(expr) == " ".join(expr.split())


@pytest.mark.parametrize(
    "expr, problem",
    [
        ("not a cron", "has 3 fields"),
        ("0 8 * *", "has 4 fields"),
        ("61 * * * *", "minute '61'"),
        ("0 24 * * *", "hour '24'"),
        ("* * 0 * *", "day of month '0'"),
        ("* * * 13 * ", "month '13'"),
        ("*/0 * * * *", "minute '*/0'"),
        ("0 8 * * 8", "week '8'"),
        ("0 8 * * funday", "day of week 'funday'"),
        ("0 8 * * * 60", "second '60'"),
        ("0 8 * * * 1 2", "has 7 fields"),
    ],
)
def test_bad_cron_refused(expr: str, problem: str) -> None:
    from prefect._internal.schemas.validators import validate_cron_string

    with pytest.raises(ValueError, match="Invalid cron string"):
        validate_cron_string(" ".join(expr.split()))  # Prefect would refuse it too, later
    with pytest.raises(ValueError) as info:
        check_cron(expr)
    assert problem in str(info.value)
