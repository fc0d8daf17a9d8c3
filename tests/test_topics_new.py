"""`newsmon topics new`: a topic proposed from example articles (real pages from the demo
data, one fetched over loopback HTTP, texts in Russian and Persian), explained, loadable,
and appended to topics.yaml only when asked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import load_config
from monitor.demo.servers import FixtureServer
from monitor.extract.article import extract_file
from monitor.topics.gazetteer import load_gazetteer
from monitor.topics.match import Classifier
from monitor.topics.propose import Example, load_proposal, propose_topic
from tests.test_topics_learn import _item

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "monitor" / "demo" / "data" / "pages"
FIXTURES = ROOT / "tests" / "fixtures" / "topics"
EXAMPLES = [
    PAGES / "jpost-2025-04-28-pezeshkian-baku.html",
    PAGES / "vestikavkaza-2025-04-28-aliev-pezeshkian.html",  # Russian
    FIXTURES / "caucasus-fa.txt",  # Persian
]
OTHERS = [
    p
    for p in sorted(PAGES.iterdir())
    if p.name.split("-")[0] in {"f1metrics", "guardian", "apnews", "timeslive"}
]
runner = CliRunner()


def _example(p: Path) -> Example:
    ex = extract_file(p)
    return Example(ex.title, ex.text, ex.language, p.name)


def test_a_proposal_from_three_languages_is_explained_and_finds_its_examples() -> None:
    examples = [_example(p) for p in EXAMPLES]
    background = [_example(p) for p in OTHERS]
    prop = propose_topic("iran-azerbaijan", examples, load_gazetteer(), background)
    topic = load_proposal(prop.yaml)  # the YAML loads through the topics.yaml model
    assert topic.id == "iran-azerbaijan"
    # the countries all three examples name, with their names in other scripts too
    assert {"azerbaijan", "iran"} <= set(topic.groups)
    assert "Азербайджан*" in topic.groups["azerbaijan"].languages["ru"]
    assert "ایران" in topic.groups["iran"].languages["fa"]
    assert "places" in topic.groups  # Baku, Aliyev, Pezeshkian from the gazetteer
    assert "# the examples name azerbaijan (3 of 3)" in prop.yaml
    assert "# rule: two of the actors" in prop.yaml
    clf = Classifier([topic], models={})
    for ex in examples:
        assert clf.classify(ex.title, ex.text, ex.language)[0].matched, ex.ref
    assert [h for _, _, h in prop.scores] == [True, True, True]
    for ex in background:  # Formula 1, other news: not the topic
        assert not clf.classify(ex.title, ex.text, ex.language)[0].matched, ex.ref
    assert prop.background == len(background) and prop.background_hits == 0


def test_names_and_phrases_come_from_the_examples_not_the_background() -> None:
    f1 = [_example(p) for p in sorted(PAGES.glob("f1metrics-*"))]
    others = [_example(p) for p in OTHERS if not p.name.startswith("f1metrics")]
    prop = propose_topic("f1-ratings", f1, load_gazetteer(), others)
    topic = load_proposal(prop.yaml)
    words = {str(t).lower() for g in topic.groups.values() for t in g.terms}
    assert not ({"iran", "azerbaijan"} & set(topic.groups))
    assert any("f1" in w or "driver" in w or "formula" in w for w in words), words
    assert not {"the", "and", "said"} & words
    assert [h for _, _, h in prop.scores] == [True] * len(f1)


CORPORA = ROOT.parent / "shared" / "corpora"
NEWS_PAGES = CORPORA / "news-pages" / "tests" / "resources" / "parser" / "test_data"
CAUCASUS = CORPORA / "caucasus-example" / "iran-azerbaijan-thaw.txt"
# real pages about stories outside the shipped gazetteer's region: (page, the countries
# the story is about, names of its places and people that must be proposed, countries
# it mentions only in passing)
WORLD = [
    ("ca/GlobalNews_2026_05_24.html.gz", {"russia", "ukraine"}, {"Kyiv"}, {"united-states"}),
    (
        "ca/NationalPost_2025_05_08.html.gz",
        {"india", "pakistan"},
        {"Kashmir", "Shehbaz Sharif"},
        {"norway", "netherlands", "croatia", "china"},
    ),
    ("us/Reuters_2023_05_16.html.gz", {"nepal"}, {"Kathmandu", "Yeti Airlines"}, set()),
    ("uk/EuronewsEN_2024_04_30.html.gz", {"sweden"}, {"Ulf Kristersson"}, set()),
]
WEEKDAYS_MONTHS = {
    "monday tuesday wednesday thursday friday saturday sunday january february march "
    "april may june july august september october november december"
}


def _words(prop: Any) -> tuple[list[str], list[str]]:
    by_name = {g.name: g for g in prop.groups}
    names = by_name["names"].terms if "names" in by_name else []
    phrases = by_name["phrases"].terms if "phrases" in by_name else []
    return names, phrases


def _is_clean(names: list[str], phrases: list[str]) -> None:
    """No weekday or month, no title before a name, no possessive."""
    from monitor.topics.entities import TITLES

    calendar = set(next(iter(WEEKDAYS_MONTHS)).split())
    for n in names:
        words = n.lower().split()
        assert not calendar & set(words), n
        assert words[0].strip(".") not in TITLES, n
        assert not n.endswith(("'s", "’s")), n
    for p in phrases:
        assert not calendar & set(p.split()), p


@pytest.mark.parametrize("page, actors, named, passing", WORLD, ids=[w[0] for w in WORLD])
def test_a_story_outside_the_gazetteer_is_built_on_its_countries_and_names(
    page: str, actors: set[str], named: set[str], passing: set[str]
) -> None:
    """The countries of a story anywhere (from CLDR, in the gazetteer's languages and
    scripts) and its people and places come first: not the words around them."""
    path = NEWS_PAGES / page
    if not path.is_file():
        pytest.skip(f"corpus absent: {path}")
    ex = extract_file(path)
    prop = propose_topic("story", [Example(ex.title, ex.text, ex.language, page)], load_gazetteer())
    groups = {g.name: g for g in prop.groups}
    countries = [g.name for g in prop.groups if g.name not in {"places", "names", "phrases"}]
    assert actors <= set(countries), countries
    assert not passing & set(countries), countries  # mentioned in passing: no actor
    for c in actors - {"russia"}:  # the CLDR names in other languages and scripts
        assert {"ru", "fa", "ar", "uk", "de"} <= set(groups[c].languages), groups[c]
    names, phrases = _words(prop)
    assert named <= set(names), names
    _is_clean(names, phrases)
    assert "country" in prop.yaml or "the examples name" in prop.yaml
    assert prop.rule is not None and prop.scores[0][2]  # the example is a hit
    clf = Classifier([load_proposal(prop.yaml)], models={})
    assert clf.classify(ex.title, ex.text, ex.language)[0].matched


def test_the_caucasus_example_names_its_actors_people_and_places() -> None:
    if not CAUCASUS.is_file():
        pytest.skip(f"corpus absent: {CAUCASUS}")
    text = CAUCASUS.read_text(encoding="utf-8")
    ex = Example("Iran and Azerbaijan signal a thaw", text, "en", CAUCASUS.name)
    prop = propose_topic("thaw", [ex], load_gazetteer())
    groups = {g.name: g for g in prop.groups}
    assert {"iran", "azerbaijan", "israel"} <= set(groups)
    assert {"Baku", "Aliyev", "Pezeshkian"} <= set(groups["places"].terms)
    names, phrases = _words(prop)
    _is_clean(names, phrases)
    assert "Abraham Accords" in names
    # the gazetteer's people are its entries, not names again with their titles
    assert not [n for n in names if "Pezeshkian" in n or "Aliyev" in n], names
    assert prop.rule_why.startswith("two of the actors")


@pytest.fixture()
def cfg(tmp_path: Path) -> dict[str, Any]:
    c = tmp_path / "config"
    shutil.copytree(ROOT / "config", c)
    db = f"sqlite:///{tmp_path / 'news.db'}"
    from monitor.store import Store

    store = Store(db)
    stored = []
    for i, p in enumerate(OTHERS):
        ex = extract_file(p)
        stored.append(_item(i, ex.title, ex.text, [], ex.language))
    store.store_articles(stored)
    store.close()
    return {"cfg": c, "db": db}


def cli(w: dict[str, Any], *args: str, input: str | None = None) -> Any:
    return runner.invoke(
        app,
        ["--config", str(w["cfg"]), "--db", w["db"], "topics", "new", *args],
        env={"NEWSMON_CONFIG": None, "NEWSMON_DB": None},
        input=input,
    )


def test_cli_fetches_a_url_and_writes_only_when_asked(cfg: dict[str, Any]) -> None:
    with FixtureServer() as server:
        url = server.add("news/pezeshkian.html", EXAMPLES[0].read_bytes(), "text/html")
        args = ["thaw", "-e", url, "-e", str(EXAMPLES[1]), "-e", str(EXAMPLES[2])]
        r = cli(cfg, *args, "--allow-host", "127.0.0.1", "--json")
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert server.hits("news/pezeshkian.html")
        assert out["examples"][0]["ref"] == url and all(e["hit"] for e in out["examples"])
        assert out["background"] == len(OTHERS) and out["background_hits"] == 0
        before = (cfg["cfg"] / "topics.yaml").read_text(encoding="utf-8")
        r = cli(cfg, *args, "--allow-host", "127.0.0.1", "--write", input="n\n")
        assert r.exit_code == 0 and "nothing changed" in r.output
        assert (cfg["cfg"] / "topics.yaml").read_text(encoding="utf-8") == before
        r = cli(cfg, *args, "--allow-host", "127.0.0.1", "--write", input="y\n")
        assert r.exit_code == 0, r.output
        assert "thaw appended to" in r.output
    text = (cfg["cfg"] / "topics.yaml").read_text(encoding="utf-8")
    assert text.startswith(before)  # appended: the file's comments are kept
    topics = load_config(cfg["cfg"]).topics
    assert [t.id for t in topics][-1] == "thaw"
    assert topics[-1].model_dump() == load_proposal(out["yaml"]).model_dump()
    r = cli(cfg, "thaw", "-e", str(EXAMPLES[0]))
    assert r.exit_code == 2 and "exists already" in r.output


def test_examples_with_nothing_to_go_on_are_refused(cfg: dict[str, Any], tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("it is and was what it is\n\nand so on.\n", encoding="utf-8")
    r = cli(cfg, "nothing", "-e", str(empty), "--background", "0")
    assert r.exit_code != 0
    assert "no names, places or recurring phrases" in str(r.exception) + r.output


# --- the same from the desk ---------------------------------------------------------------


def test_the_desk_proposes_from_a_url_and_a_pasted_text(cfg: dict[str, Any]) -> None:
    import re
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from monitor.desk import create_app
    from monitor.store import Store

    settings = cfg["cfg"] / "settings.yaml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace(
            "allow_hosts: []", 'allow_hosts: ["127.0.0.1"]'
        ),
        encoding="utf-8",
    )
    config = load_config(cfg["cfg"])
    store = Store(cfg["db"])
    client = TestClient(
        create_app(store, config.topics, config=config),
        base_url="http://127.0.0.1:8080",
        follow_redirects=False,
    )
    page = client.get("/topics/new").text
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert m and 'id="new-topic"' in page
    assert 'href="/topics/new"' in client.get("/topics").text
    pasted = "\n---\n".join(
        f"{e.title}\n{e.text}" for e in (extract_file(EXAMPLES[1]), extract_file(EXAMPLES[2]))
    )
    with FixtureServer() as server:
        url = server.add("news/pezeshkian.html", EXAMPLES[0].read_bytes(), "text/html")
        form = {"csrf": m.group(1), "id": "thaw", "urls": url, "texts": pasted}
        assert client.post("/topics/new", data={**form, "csrf": "0" * 64}).status_code == 403
        r = client.post("/topics/new", data=form)
        assert r.status_code == 200, r.text
        assert server.hits("news/pezeshkian.html")
    html = r.text
    assert 'id="proposal"' in html and "MISS" not in html
    yaml_text = re.search(r'<pre class="rule" id="proposal-yaml">(.*?)</pre>', html, re.S)
    assert yaml_text
    import html as html_lib

    topic = load_proposal(html_lib.unescape(yaml_text.group(1)))
    assert topic.id == "thaw" and {"azerbaijan", "iran"} <= set(topic.groups)
    assert f"of the {len(OTHERS)} newest stored articles, <b>0</b> would be hits" in html
    # refused with a reason: an existing id, a URL that is not http, a private address
    for data, reason in (
        ({"id": "caucasus-realignment", "texts": pasted}, "exists already"),
        ({"id": "x", "urls": "file:///etc/passwd"}, "http:// or https://"),
        ({"id": "x", "urls": "http://10.1.2.3/a"}, "non-public address"),  # never sent
    ):
        r = client.post("/topics/new", data={"csrf": m.group(1), **data})
        assert r.status_code == 200 and reason in html_lib.unescape(r.text), reason
    client.close()
    store.close()
