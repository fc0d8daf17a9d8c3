"""The ``newsmon`` CLI: help everywhere, one-line errors, review commands on a real database.

Read-only commands run in-process through typer's CliRunner. Where the exit code of
``main()`` matters (it maps ConfigError to 2 and other library errors to 1), or where
extraction worker processes run, the installed ``newsmon`` script runs as a subprocess
with its own PREFECT_HOME and NEWSMON_HOME.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import load_config
from monitor.demo.world import world
from monitor.store import Article, Hit, Store

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ROOT / "config" / "topics.yaml"
PAGE = ROOT / "monitor" / "demo" / "data" / "pages" / "caucasus-iran-azerbaijan-thaw.html"
NEWSMON = Path(sys.executable).with_name("newsmon")
CAUCASUS_TITLE = "Iran and Azerbaijan signal a thaw as Pezeshkian visits Baku"
SECRET = "s3cretpass"
SECRET_ENV = {
    "NEWSMON_TEST_HOOK": f"json://user:{SECRET}@127.0.0.1:9/hook",
    "NEWSMON_TEST_MAIL": f"mailto://user:{SECRET}@127.0.0.1:9?to=a@b.c&from=newsmon@example.org",
    "NEWSMON_TEST_MAIL2": (
        f"mailto://127.0.0.1:9?to=a@b.c&from=newsmon@example.org"
        f"&login=user&pass={SECRET}&mode=insecure"
    ),
}

runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    """Invoke the app in-process; the caller's NEWSMON_CONFIG / NEWSMON_DB do not leak in."""
    base: dict[str, str | None] = {"NEWSMON_CONFIG": None, "NEWSMON_DB": None}
    return runner.invoke(app, list(args), env={**base, **(env or {})}, catch_exceptions=False)


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = cli(*args, env=env)
    assert result.exit_code == 0, (args, result.output)
    return str(result.stdout)


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PREFECT_API_URL", "NEWSMON_CONFIG", "NEWSMON_DB"}
    }
    env.update(
        PREFECT_HOME=str(home / "prefect-home"),
        NEWSMON_HOME=str(home / "newsmon-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    env.update(extra)
    return env


def newsmon(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSMON), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


# --- help -------------------------------------------------------------------------------


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    # typer ships its own copy of click: tell groups by their ``commands``
    yield path, cmd
    for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
        yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(typer.main.get_command(app)))


def test_command_tree_is_complete() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {
        "",
        "run",
        "serve",
        "digest",
        "demo",
        "alerts",
        "status",
        "extract",
        "feeds",
        "feeds import",
        "hits",
        "hits show",
        "hits mark",
        "hits export",
        "topics",
        "topics list",
        "topics explain",
        "config",
        "config check",
    } <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "newsmon")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    cmd = dict(COMMANDS)[path]
    text = (cmd.help or cmd.short_help or "").strip()
    assert len(text) >= 10, f"`newsmon {' '.join(path)}` has no help text"
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert text.split()[0] in result.stdout  # the help text is what --help shows


# --- configuration errors: exit 2, one line, nothing written -------------------------------


def _config_dir(tmp_path: Path, feeds: str, alerts: str | None = None) -> Path:
    d = tmp_path / "config"
    d.mkdir()
    shutil.copyfile(TOPICS, d / "topics.yaml")
    (d / "feeds.yaml").write_text(feeds, encoding="utf-8")
    if alerts is not None:
        (d / "alerts.yaml").write_text(alerts, encoding="utf-8")
    return d


FEEDS_TYPO = "feeds:\n  - url: https://example.org/feed\n    nmae: Example\n"
FEEDS_OK = "feeds:\n  - url: https://example.org/feed\n    name: Example\n"
ALERTS_BAD_TOPIC = (
    "routes:\n  - name: desk\n    topics: [caucasus-realignmnt]\n"
    "    urls: ['json://127.0.0.1:9/hook']\n"
)
CONFIG_COMMANDS = [
    ["run", "--no-prefect"],
    ["run"],
    ["serve"],
    ["feeds"],
    ["config", "check"],
    ["topics", "list"],
]


@pytest.mark.parametrize("command", CONFIG_COMMANDS, ids=" ".join)
def test_unknown_key_in_feeds_yaml(tmp_path: Path, command: list[str]) -> None:
    d = _config_dir(tmp_path, FEEDS_TYPO)
    db = tmp_path / "x.db"
    r = newsmon("--config", str(d), "--db", f"sqlite:///{db}", *command, env=isolated_env(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    line = one_line(r.stderr)
    assert str(d / "feeds.yaml") in line
    assert "feeds[0].nmae" in line and "unknown key" in line
    assert not db.exists(), "a config error must not touch the database"
    assert not list(tmp_path.glob("x.db*"))


@pytest.mark.parametrize(
    "command", [["run", "--no-prefect"], ["config", "check"], ["feeds"]], ids=" ".join
)
def test_unknown_topic_in_alerts_yaml(tmp_path: Path, command: list[str]) -> None:
    d = _config_dir(tmp_path, FEEDS_OK, ALERTS_BAD_TOPIC)
    db = tmp_path / "x.db"
    r = newsmon("--config", str(d), "--db", f"sqlite:///{db}", *command, env=isolated_env(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    line = one_line(r.stderr)
    assert str(d / "alerts.yaml") in line
    assert "routes[0].topics" in line and "unknown topic 'caucasus-realignmnt'" in line
    assert not db.exists()


# --- a populated database -----------------------------------------------------------------


@dataclass
class Populated:
    config_dir: Path
    db_url: str
    env: dict[str, str]  # for subprocesses: isolated homes and the secret URLs
    run: subprocess.CompletedProcess[str]
    webhooks: list[dict[str, Any]]
    emails: int

    def cli(self, *args: str) -> Any:
        return cli("--config", str(self.config_dir), "--db", self.db_url, *args, env=SECRET_ENV)

    def ok(self, *args: str) -> str:
        return ok("--config", str(self.config_dir), "--db", self.db_url, *args, env=SECRET_ENV)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    """One ``run --no-prefect`` over the demo world, plus routes whose URLs carry a
    password (given through environment variables) and point at a closed port, so
    their deliveries fail and their errors are stored and shown too.
    """
    tmp = tmp_path_factory.mktemp("populated")
    with world(TOPICS, directory=tmp) as w:
        alerts = yaml.safe_load((w.config_dir / "alerts.yaml").read_text())
        alerts["routes"] += [
            {
                "name": "secret-hook",
                "topics": ["caucasus-realignment"],
                "urls": ["${NEWSMON_TEST_HOOK}"],
            },
            {
                "name": "secret-mail",
                "topics": ["*"],
                "urls": ["${NEWSMON_TEST_MAIL}", "${NEWSMON_TEST_MAIL2}"],
            },
        ]
        (w.config_dir / "alerts.yaml").write_text(yaml.safe_dump(alerts, sort_keys=False))
        assert SECRET not in (w.config_dir / "alerts.yaml").read_text()
        db_url = f"sqlite:///{tmp / 'x.db'}"
        env = isolated_env(tmp, **SECRET_ENV)
        r = newsmon("--config", str(w.config_dir), "--db", db_url, "run", "--no-prefect", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        yield Populated(
            w.config_dir, db_url, env, r, list(w.webhook.received), len(w.smtp.messages)
        )


def test_run_stores_the_hit_and_alerts_once(populated: Populated) -> None:
    out = populated.run.stdout
    assert "feeds: 3 polled" in out and "hits: 1 new" in out
    assert "alerts: 2 sent, 3 failed" in out, out
    assert len(populated.webhooks) == 1
    assert CAUCASUS_TITLE in json.dumps(populated.webhooks[0], ensure_ascii=False)
    assert populated.emails == 1


def test_db_option_wins_over_env(tmp_path: Path) -> None:
    d = _config_dir(tmp_path, "feeds: []\n")
    db, decoy = tmp_path / "x.db", tmp_path / "decoy.db"
    env = isolated_env(tmp_path, NEWSMON_DB=f"sqlite:///{decoy}")
    r = newsmon("--config", str(d), "--db", f"sqlite:///{db}", "run", "--no-prefect", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not decoy.exists(), "--db given, but the run wrote into $NEWSMON_DB"
    assert len(Store(f"sqlite:///{db}", create=False).last_runs()) == 1
    r = newsmon("--config", str(d), "--db", f"sqlite:///{db}", "config", "check", env=env)
    assert f"database: sqlite:///{db}" in r.stdout, r.stdout + r.stderr


def test_hits_table(populated: Populated) -> None:
    out = populated.ok("hits")
    assert "caucasus-realignment" in out
    assert CAUCASUS_TITLE in out
    header = out.splitlines()[0].split()
    assert header[:5] == ["id", "found", "topic", "score", "label"]


def test_hits_json(populated: Populated) -> None:
    records = json.loads(populated.ok("hits", "--json"))
    assert isinstance(records, list) and len(records) == 1
    rec = records[0]
    assert rec["id"] == 1
    assert rec["topic"] == "caucasus-realignment"
    assert rec["title"].startswith(CAUCASUS_TITLE)
    assert 0 < rec["score"] <= 1
    sentences = rec["evidence_sentences"]
    assert 1 <= len(sentences) <= 3 and all(isinstance(s, str) and s for s in sentences)
    assert any("Azerbaijan" in s or "Baku" in s for s in sentences)
    assert json.loads(populated.ok("hits", "--topic", "iran-nuclear", "--json")) == []


def test_hits_show(populated: Populated) -> None:
    out = populated.ok("hits", "show", "1")
    assert out.startswith(f"#1  {CAUCASUS_TITLE}")
    assert "topic caucasus-realignment" in out
    for section in ("rule:", "groups:", "evidence:", "alerts:"):
        assert section in out
    assert "azerbaijan" in out and "Baku×" in out
    assert "caucasus-chat -> json://127.0.0.1:" in out
    assert "analysts-email -> mailto://" in out
    assert out.count(": sent") == 2


def test_hits_show_json(populated: Populated) -> None:
    rec = json.loads(populated.ok("hits", "show", "1", "--json"))
    assert rec["id"] == 1 and rec["topic"] == "caucasus-realignment"
    ev = rec["evidence"]
    assert ev["groups"]["azerbaijan"]["count"] > 0 and ev["groups"]["iran"]["count"] > 0
    assert ev["sentences"] and all(s["text"] for s in ev["sentences"])
    assert ev["score"] == pytest.approx(rec["score"])
    assert "Pezeshkian" in rec["text"]
    assert {s["feed"] for s in rec["sources"]} == {"world", "regional"}
    by_route = {a["route"]: a for a in rec["alerts"]}
    assert by_route["caucasus-chat"]["status"] == "sent"
    assert by_route["analysts-email"]["status"] == "sent"
    assert by_route["caucasus-chat"]["sent_at"]
    assert by_route["secret-hook"]["status"] == "failed" and by_route["secret-hook"]["error"]


def test_hits_mark_and_label_filters(populated: Populated) -> None:
    assert (
        populated.ok("hits", "mark", "1", "irrelevant", "--note", "x").strip()
        == "hit 1: irrelevant"
    )
    try:
        marked = json.loads(populated.ok("hits", "--label", "irrelevant", "--json"))
        assert [(r["id"], r["label"], r["label_note"]) for r in marked] == [(1, "irrelevant", "x")]
        assert json.loads(populated.ok("hits", "--label", "unreviewed", "--json")) == []
        assert json.loads(populated.ok("hits", "--label", "relevant", "--json")) == []
        assert "label irrelevant  note: x" in populated.ok("hits", "show", "1")
    finally:
        assert populated.ok("hits", "mark", "1", "clear").strip() == "hit 1: unreviewed"
    assert json.loads(populated.ok("hits", "--label", "irrelevant", "--json")) == []
    assert [
        r["id"] for r in json.loads(populated.ok("hits", "--label", "unreviewed", "--json"))
    ] == [1]
    bad = populated.cli("hits", "mark", "1", "wrong")
    assert bad.exit_code == 2 and "relevant, irrelevant or clear" in bad.output
    bad = populated.cli("hits", "--label", "maybe")
    assert bad.exit_code == 2 and "--label" in bad.output


def test_hits_export_csv(populated: Populated, tmp_path: Path) -> None:
    out = tmp_path / "hits.csv"
    msg = populated.ok("hits", "export", "--format", "csv", "-o", str(out))
    assert msg.strip() == f"1 hits written to {out}"
    with out.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        assert {"id", "topic", "score", "title"} <= set(reader.fieldnames or [])
    assert len(rows) == 1
    assert rows[0]["id"] == "1" and rows[0]["topic"] == "caucasus-realignment"
    assert rows[0]["title"].startswith(CAUCASUS_TITLE)
    assert 0 < float(rows[0]["score"]) <= 1


def test_hits_export_jsonl(populated: Populated, tmp_path: Path) -> None:
    out = tmp_path / "hits.jsonl"
    populated.ok("hits", "export", "--format", "jsonl", "-o", str(out), "--full")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["topic"] == "caucasus-realignment" and rec["evidence"]["sentences"]
    stdout = populated.ok("hits", "export", "--topic", "caucasus-realignment")
    assert [json.loads(ln)["id"] for ln in stdout.splitlines()] == [1]
    assert populated.cli("hits", "export", "--format", "xml").exit_code == 2


def test_alerts_outbox(populated: Populated) -> None:
    out = populated.ok("alerts")
    rows = {ln.split()[2]: ln for ln in out.splitlines()[1:] if ln.strip()}
    assert "sent" in rows["caucasus-chat"].split()
    assert "sent" in rows["analysts-email"].split()
    assert "failed" in rows["secret-hook"].split()
    sent = json.loads(populated.ok("alerts", "--status", "sent", "--json"))
    assert sorted(d["route"] for d in sent) == ["analysts-email", "caucasus-chat"]
    assert all(d["attempts"] == 1 and d["sent_at"] for d in sent)
    assert all("target" not in d for d in sent)  # the hash of a secret URL stays inside


def test_status(populated: Populated) -> None:
    out = populated.ok("status")
    assert out.startswith("database: sqlite:///")
    assert "3 feeds, 10 articles, 1 hits, 5 deliveries" in out
    assert "cycle " in out and "3 feeds, 10 articles, 1 hits, 2 alerts" in out
    data = json.loads(populated.ok("status", "--json"))
    assert data["counts"]["hits"] == 1 and len(data["runs"]) == 1


def test_feeds_health(populated: Populated) -> None:
    out = populated.ok("feeds")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "name", "status"]
    names = [ln.split()[1] for ln in lines[1 : lines.index("")]]
    assert names == ["world", "regional", "f1metrics"]
    assert "3 feeds, 0 failing" in out
    data = json.loads(populated.ok("feeds", "--json"))
    assert len(data) == 3 and all(f["last_status"] == 200 for f in data)
    assert all(f["consecutive_failures"] == 0 and f["last_success_at"] for f in data)
    assert "0 feeds, 0 failing" in populated.ok("feeds", "--failing")


def test_missing_hit_is_one_line_exit_1(populated: Populated) -> None:
    for args in (["hits", "show", "999"], ["hits", "mark", "999", "relevant"]):
        r = newsmon(
            "--config",
            str(populated.config_dir),
            "--db",
            populated.db_url,
            *args,
            env=populated.env,
        )
        assert r.returncode == 1, r.stdout + r.stderr
        assert one_line(r.stderr) == "newsmon: error: no hit with id 999"
        assert r.stdout == ""


def test_secrets_never_shown(populated: Populated) -> None:
    check = populated.ok("config", "check")
    # the secret routes are there (else this test proves nothing), their URLs masked
    assert "route secret-hook" in check and "json://user:****@127.0.0.1:9/hook" in check
    assert "route secret-mail" in check
    outputs = {
        "run": populated.run.stdout + populated.run.stderr,
        "config check": check,
        "alerts": populated.ok("alerts"),
        "alerts --json": populated.ok("alerts", "--json"),
        "hits show 1": populated.ok("hits", "show", "1"),
        "hits show 1 --json": populated.ok("hits", "show", "1", "--json"),
        "hits export --full": populated.ok("hits", "export", "--full"),
        "status --json": populated.ok("status", "--json"),
    }
    failed = [
        a
        for a in json.loads(outputs["hits show 1 --json"])["alerts"]
        if a["route"].startswith("secret-")
    ]
    assert len(failed) == 3 and all(a["status"] == "failed" and a["error"] for a in failed)
    for name, text in outputs.items():
        assert SECRET not in text, f"`{name}` shows the password"


def test_secrets_not_stored(populated: Populated) -> None:
    db = Path(populated.db_url.removeprefix("sqlite:///"))
    for f in db.parent.glob(db.name + "*"):
        assert SECRET.encode() not in f.read_bytes(), f"{f.name} contains the password"


# --- OPML import ------------------------------------------------------------------------------

FEEDS_WITH_COMMENTS = """\
# Our feeds. Keep this comment.
feeds:
  # --- regional ---
  - url: https://oc-media.org/feed/
    name: OC Media   # trailing comment
    tags: [caucasus]
"""

OPML = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Eurasianet" title="Eurasianet" type="rss" xmlUrl="https://eurasianet.org/rss"/>
    <outline text="Regional">
      <outline text="Civil Georgia" type="rss" xmlUrl="https://civil.ge/feed"
               htmlUrl="https://civil.ge/"/>
      <outline text="OC Media (again)" type="rss" xmlUrl="https://oc-media.org/feed/"/>
    </outline>
  </body>
</opml>
"""


@pytest.fixture
def opml_config(tmp_path: Path) -> tuple[Path, Path]:
    d = _config_dir(tmp_path, FEEDS_WITH_COMMENTS)
    opml = tmp_path / "subs.opml"
    opml.write_text(OPML, encoding="utf-8")
    return d, opml


def test_feeds_import_opml(opml_config: tuple[Path, Path]) -> None:
    d, opml = opml_config
    out = ok("--config", str(d), "feeds", "import", str(opml))
    assert "added: https://eurasianet.org/rss  Eurasianet" in out
    assert "added: https://civil.ge/feed  Civil Georgia" in out
    assert "oc-media" not in out.replace("already there", "")
    assert out.splitlines()[-1] == "2 added, 1 already there"
    text = (d / "feeds.yaml").read_text(encoding="utf-8")
    assert text.startswith(FEEDS_WITH_COMMENTS)  # comments and layout kept, appended below
    feeds = load_config(d).feeds
    assert [(f.url, f.name) for f in feeds] == [
        ("https://oc-media.org/feed/", "OC Media"),
        ("https://eurasianet.org/rss", "Eurasianet"),
        ("https://civil.ge/feed", "Civil Georgia"),
    ]
    # importing again adds nothing
    again = ok("--config", str(d), "feeds", "import", str(opml))
    assert again.strip() == "0 added, 3 already there"
    assert (d / "feeds.yaml").read_text(encoding="utf-8") == text


def test_feeds_import_dry_run_writes_nothing(opml_config: tuple[Path, Path]) -> None:
    d, opml = opml_config
    before = (d / "feeds.yaml").read_bytes()
    out = ok("--config", str(d), "feeds", "import", str(opml), "--dry-run")
    assert "would add: https://eurasianet.org/rss" in out
    assert "would add: https://civil.ge/feed" in out
    assert out.splitlines()[-1] == "2 added, 1 already there (dry run: nothing written)"
    assert (d / "feeds.yaml").read_bytes() == before


def test_feeds_import_into_unindented_list(opml_config: tuple[Path, Path]) -> None:
    d, opml = opml_config
    (d / "feeds.yaml").write_text(
        "feeds:\n- url: https://oc-media.org/feed/\n  name: OC Media\n", encoding="utf-8"
    )
    result = cli("--config", str(d), "feeds", "import", str(opml))
    assert result.exit_code == 0
    assert len(load_config(d).feeds) == 3


@pytest.mark.parametrize(
    "content, problem",
    [
        (
            "<opml><body><outline text='x' xmlUrl='https://a.example/rss'>",
            "not a readable OPML file",
        ),
        ("<html><body><p>hello</p></body></html>", "not an OPML file (root element <html>)"),
    ],
    ids=["truncated", "not-opml"],
)
def test_feeds_import_broken_opml(
    opml_config: tuple[Path, Path], content: str, problem: str
) -> None:
    d, _ = opml_config
    bad = d.parent / "broken.opml"
    bad.write_text(content, encoding="utf-8")
    before = (d / "feeds.yaml").read_bytes()
    r = newsmon("--config", str(d), "feeds", "import", str(bad), env=isolated_env(d.parent))
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_line(r.stderr)
    assert line.startswith(f"newsmon: error: {bad}: ") and problem in line
    assert (d / "feeds.yaml").read_bytes() == before


# --- articles and topics ------------------------------------------------------------------------


@pytest.fixture
def topics_only(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    d.mkdir()
    shutil.copyfile(TOPICS, d / "topics.yaml")
    return d


def test_topics_explain(topics_only: Path) -> None:
    out = ok("--config", str(topics_only), "topics", "explain", str(PAGE))
    assert out.startswith(CAUCASUS_TITLE)
    assert "caucasus-realignment: HIT" in out
    assert "iran-nuclear: no" in out
    data = json.loads(
        ok(
            "--config",
            str(topics_only),
            "topics",
            "explain",
            str(PAGE),
            "--topic",
            "caucasus-realignment",
            "--json",
        )
    )
    assert [r["topic"] for r in data] == ["caucasus-realignment"]
    r = data[0]
    assert r["matched"] is True and r["score"] >= r["evidence"]["threshold"]
    assert r["evidence"]["rule_passed"] is True
    assert r["evidence"]["groups"]["azerbaijan"]["terms"]["Baku"] > 0
    assert any("Azerbaijan" in s["text"] for s in r["evidence"]["sentences"])


def test_topics_list(topics_only: Path) -> None:
    out = ok("--config", str(topics_only), "topics", "list")
    assert out.startswith("caucasus-realignment  (Caucasus realignment, version ")


def test_extract_json(topics_only: Path) -> None:
    data = json.loads(ok("--config", str(topics_only), "extract", str(PAGE), "--json"))
    assert data["title"].startswith(CAUCASUS_TITLE)
    assert len(data["text"]) > 2000 and "Pezeshkian" in data["text"]
    text = ok("--config", str(topics_only), "extract", str(PAGE))
    assert text.startswith(f"title: {CAUCASUS_TITLE}")
    paragraphs = [p for p in data["text"].split("\n") if p.strip()]
    assert len(paragraphs) > 5 and all(p in text for p in paragraphs)  # paragraphs kept


# --- hostile text from the outside world --------------------------------------------------------


def test_hostile_title_is_printed_without_control_bytes(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'x.db'}"
    store = Store(db_url)
    title = "\x1b[31mRED ALERT\x1b[0m \x07bell\rback \x9b2Jwipe\x00nul\nsecond line\tend"
    with store.session(write=True) as s:
        a = Article(
            canonical_url="https://evil.example/a",
            url="https://evil.example/a",
            title=title,
            text="body",
        )
        s.add(a)
        s.flush()
        s.add(
            Hit(
                article_id=a.id,
                topic_id="caucasus-realignment",
                score=0.9,
                topic_version="v1",
                evidence={"sentences": [{"field": "body", "text": "\x1b]0;pwned\x07 sentence"}]},
            )
        )
    store.close()
    for args in (["hits"], ["hits", "show", "1"]):
        out = ok("--db", db_url, *args)
        for byte in ("\x1b", "\x07", "\r", "\x9b", "\x00"):
            assert byte not in out, f"`{' '.join(args)}` printed {byte!r}"
        assert "RED ALERT" in out and "wipe" in out
        # a newline or tab in a title must not break the line it is printed on
        title_lines = [ln for ln in out.splitlines() if "RED ALERT" in ln]
        assert len(title_lines) == 1 and "second line" in title_lines[0], out
        assert "\t" not in title_lines[0]
    assert "pwned" in ok("--db", db_url, "hits", "show", "1")


def test_cli_csv_export_defuses_spreadsheet_formulas(tmp_path: Path) -> None:
    """A hostile title such as =HYPERLINK(...) must not run as a formula in a spreadsheet."""
    import csv as _csv

    from monitor.export import lines

    rec = {"id": 1, "title": '=HYPERLINK("http://evil.example","click")', "score": 0.5}
    text = "".join(lines([rec], "csv"))
    row = next(_csv.DictReader(text.splitlines()))
    assert row["title"].startswith("'=") and row["score"] == "0.5"
