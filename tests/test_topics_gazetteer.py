"""The gazetteer, ``newsmon topics coverage`` and the store's articles per language."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import load_yaml_model
from monitor.config.settings import FeedConfig
from monitor.errors import ConfigError
from monitor.store import Store
from monitor.store.articles import NewArticle
from monitor.topics.gazetteer import (
    apply_proposal,
    coverage,
    load_gazetteer,
    proposal_yaml,
    propose,
)
from monitor.topics.language import TopicConfig, TopicsFile
from monitor.topics.match import Classifier

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"


def _copy_without_spanish(src: Path, dst: Path) -> None:
    """The committed topics file without its Spanish term lists (``es: [...]``, one or
    more lines): a language the gazetteer has names for and the topics then lack."""
    out: list[str] = []
    skipping = False
    for line in src.read_text(encoding="utf-8").split("\n"):
        if not skipping and line.lstrip().startswith("es: ["):
            skipping = True
        if skipping:
            skipping = "]" not in line
            continue
        out.append(line)
    dst.write_text("\n".join(out), encoding="utf-8")


BASE = NewArticle(
    canonical_url="",
    url="",
    guid=None,
    title="A story",
    summary="",
    text="Body.",
    author=None,
    published_at=None,
    published_source="feed",
    language="en",
    fingerprint=None,
    extraction="ok",
    extraction_error=None,
    sources=[],
    hits=[],
)


def _topic(text: str) -> TopicConfig:
    return TopicConfig.model_validate(yaml.safe_load(text))


SMALL = """
id: small
name: Small
groups:
  azerbaijan: {terms: [Azerbaijan, Baku], ru: [Азербайджан*]}
  iran: {terms: [Iran, Tehran]}
  relation: {terms: [visit, talks]}
rule: {all: [azerbaijan, iran, relation]}
"""


def test_proposes_the_groups_names_in_missing_languages() -> None:
    t = _topic(SMALL)
    g = load_gazetteer()
    cov = coverage(t, ["en", "ru", "fr"])
    assert cov["en"] == []
    assert cov["ru"] == ["iran", "relation"]
    assert cov["fr"] == ["azerbaijan", "iran", "relation"]
    p = propose(t, ["en", "ru", "fr", "ka"], g)
    assert "Bakou" in p["azerbaijan"]["fr"] and "Azerbaïdjan*" in p["azerbaijan"]["fr"]
    assert "ru" not in p["azerbaijan"]  # the group has Russian terms already
    assert "Иран*" in p["iran"]["ru"] and "Тегеран*" in p["iran"]["ru"]
    assert "ირან*" in p["iran"]["ka"]  # Georgian: no spaCy tokenizer, terms all the same
    assert "relation" not in p  # not names: nothing in the gazetteer
    # the proposal, pasted, is a valid topic that now matches French and Georgian
    data = yaml.safe_load(SMALL)
    for group, langs in yaml.safe_load(proposal_yaml("small", p)).items():
        data["groups"][group].update(langs)
    data["groups"]["relation"].update(fr=["visite*", "entretien*"], ka=["ვიზიტ*"])
    t2 = TopicConfig.model_validate(data)
    clf = Classifier([t2], models={})
    fr = clf.classify("Le président iranien en visite à Bakou", "", "fr")[0]
    assert fr.evidence["rule_passed"], fr.evidence
    before = Classifier([t], models={}).classify("Le président iranien en visite à Bakou", "", "fr")
    assert not before[0].evidence["rule_passed"]
    ka = clf.classify("ირანის პრეზიდენტის ვიზიტი აზერბაიჯანში", "", "ka")[0]
    assert ka.evidence["rule_passed"], ka.evidence


def test_user_gazetteer_extends_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "gazetteer.yaml").write_text(
        "entries:\n  azerbaijan:\n    names:\n      fr: [Azerbaïdjanaise]\n"
        "  shusha:\n    kind: place\n    names:\n      en: [Shusha]\n      ru: [Шуш*]\n"
    )
    g = load_gazetteer(tmp_path)
    assert "Azerbaïdjanaise" in g.entries["azerbaijan"].names["fr"]
    assert "Bakou" in g.entries["baku"].names["fr"]  # the shipped names stay
    t = _topic(SMALL.replace("[Azerbaijan, Baku]", "[Azerbaijan, Baku, Shusha]"))
    assert "Шуш*" in propose(t, ["de", "ru"], g).get("azerbaijan", {}).get("ru", ["Шуш*"])
    (tmp_path / "gazetteer.yaml").write_text("entries:\n  x:\n    names:\n      qq: [X]\n")
    with pytest.raises(ConfigError):
        load_gazetteer(tmp_path)


def test_apply_writes_the_topics_file_and_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    _copy_without_spanish(CONFIG / "topics.yaml", path)
    topic = next(
        t for t in load_yaml_model(path, TopicsFile).topics if t.id == "caucasus-realignment"
    )
    p = propose(topic, ["es", "xx"], load_gazetteer())
    assert p and all(set(langs) <= {"es", "xx"} for langs in p.values())
    before = path.read_text()
    (tmp_path / "before.yaml").write_text(before)
    added = apply_proposal(path, topic.id, p)
    after = path.read_text()
    assert added == sum(len(v) for v in p.values())
    assert after.count("\n#") == before.count("\n#")  # comments kept
    new = next(
        t for t in load_yaml_model(path, TopicsFile).topics if t.id == "caucasus-realignment"
    )
    assert "Azerbaiyán" in new.groups["azerbaijan"].languages["es"]
    assert new.version != topic.version
    assert "azerbaijan" not in coverage(new, ["es"])["es"]
    # the other topics are untouched
    others = [t.version for t in load_yaml_model(path, TopicsFile).topics if t.id != topic.id]
    orig = [t.version for t in load_yaml_model(tmp_path / "before.yaml", TopicsFile).topics]
    assert set(others) <= set(orig)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'newsmon.db'}"


def test_articles_per_language(db_url: str) -> None:
    store = Store(db_url)
    try:
        store.sync_feeds([FeedConfig(url="https://feeds.example/a.xml", name="A")])
        fid = store.feeds()[0].id or 0
        langs = ["ru", "ru", "fa", "en", None, "ru"]
        store.store_articles(
            [
                replace(
                    BASE,
                    canonical_url=f"https://x/{i}",
                    url=f"https://x/{i}",
                    language=lg,
                    sources=[(fid, f"k{i}", f"https://x/{i}")],
                )
                for i, lg in enumerate(langs)
            ]
        )
        counts = store.articles_per_language()
        assert counts == {"ru": 3, "": 1, "en": 1, "fa": 1}
        assert list(counts)[0] == "ru"  # most first
        assert store.articles_per_language(since=datetime.now(UTC) + timedelta(days=1)) == {}
    finally:
        store.close()


def test_coverage_command(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONFIG, conf)
    _copy_without_spanish(CONFIG / "topics.yaml", conf / "topics.yaml")
    db = f"sqlite:///{tmp_path / 'newsmon.db'}"
    runner = CliRunner()
    env = {"NEWSMON_CONFIG": None, "NEWSMON_DB": None}
    args = ["--config", str(conf), "--db", db, "topics", "coverage", "-t", "caucasus-realignment"]
    out = runner.invoke(app, [*args, "--lang", "es", "--lang", "fr"], env=env)
    assert out.exit_code == 0, out.output
    assert "es (0 articles)" in out.output and "Bakú" in out.output
    before = (conf / "topics.yaml").read_text()
    out = runner.invoke(app, [*args, "--lang", "es", "--apply"], env=env, input="n\n")
    assert "nothing changed" in out.output and (conf / "topics.yaml").read_text() == before
    out = runner.invoke(app, [*args, "--lang", "es", "--apply", "--yes"], env=env)
    assert out.exit_code == 0, out.output
    topic = next(
        t
        for t in load_yaml_model(conf / "topics.yaml", TopicsFile).topics
        if t.id == "caucasus-realignment"
    )
    assert "Bakú" in topic.groups["azerbaijan"].languages["es"]
    out = runner.invoke(app, [*args, "--lang", "es"], env=env)
    assert "Bakú" not in out.output  # nothing left to propose for names
