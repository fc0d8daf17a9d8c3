"""Stories: which articles report one event, on real text from the labelled sets.

The articles are real headlines and ledes (benchmarks/data/stories/, see its README):
the same event from several outlets and languages, and near misses that share names
with it but are other events (a phone call is not the visit, an apology is not the
accusation a day later).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.stories import Grouper, StoryInputError, cluster_file, cluster_records
from monitor.stories.cluster import load_topics_yaml, parse_published
from monitor.stories.names import skeleton

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "stories"
FIELDS = ("id", "title", "text", "url", "published", "language")


def _load(name: str) -> dict[str, dict[str, Any]]:
    with (DATA / f"{name}.jsonl").open(encoding="utf-8") as fh:
        return {r["id"]: {k: r.get(k) for k in FIELDS} for r in map(json.loads, fh)}


FEEDS = _load("feeds-real")
CAUCASUS = _load("caucasus")


def groups(ids: list[str], source: dict[str, dict[str, Any]]) -> list[set[str]]:
    grouper = Grouper.with_topics(load_topics_yaml(ROOT / "config"))
    out = cluster_records([source[i] for i in ids], grouper=grouper)
    by_story: dict[str, set[str]] = {}
    for row in out:
        by_story.setdefault(row["story"], set()).add(row["id"])
    return sorted(by_story.values(), key=lambda s: sorted(s))


def parts(*sets: list[str]) -> list[set[str]]:
    return sorted((set(s) for s in sets), key=lambda s: sorted(s))


def test_rewritten_wire_copy_from_seven_outlets_is_one_story() -> None:
    # Peru's Congress removes Jerí: AP, Al Jazeera, NYT, NDTV, DW, MercoPress, ABC.
    peru = ["a0259", "a0585", "a0408", "a0006", "a0217", "a0057", "a0576"]
    others = ["a0001", "a0245"]  # the same evening, other events
    assert groups(peru + others, FEEDS) == parts(peru, ["a0001"], ["a0245"])


@pytest.mark.parametrize(
    "first, second",
    [
        # Aliyev-Pezeshkian phone call (30-31 Jan 2026, ru + tr) vs Iran's defence minister
        # received by Aliyev a week later (ru + tr): the same names, two events.
        (["c012", "c125"], ["c014", "c124"]),
        # Putin apologises to Aliyev for the AZAL crash (28 Dec 2024) vs Aliyev accusing
        # Russia of downing it (29 Dec): a day apart, the same three names.
        (["c086", "c090"], ["c091"]),
        # Putin's condolence call on the day of the crash vs his apology three days later.
        (["c094"], ["c092"]),
    ],
)
def test_shared_names_different_events_stay_apart(first: list[str], second: list[str]) -> None:
    assert groups(first + second, CAUCASUS) == parts(first, second)


def test_one_visit_reported_in_four_languages_is_one_story() -> None:
    # Pezeshkian in Baku, 28 April 2025: English, Persian, Russian and Arabic ledes.
    visit = ["c006", "c015", "c011", "c134"]
    assert groups(visit, CAUCASUS) == parts(visit)


def test_names_meet_across_scripts() -> None:
    assert skeleton("Pezeshkian") == skeleton("Пезешкиан") == skeleton("پزشکیان")
    assert skeleton("Пашиняном", "ru") == skeleton("Pashinyan")
    assert skeleton("Pezeşkianın", "az") == skeleton("Pezeshkian")
    # inside a word, a Slavic or Germanic j is the English y: Alijev, Alijew, Pašinjan,
    # Netanjahu; at its start it is left alone (Joe, Johnson keep their spelling there)
    assert skeleton("Alijev", "sr") == skeleton("Alijew", "pl") == skeleton("Aliyev")
    assert skeleton("Pašinjan", "hr") == skeleton("Pashinyan")
    assert skeleton("Netanjahu", "de") == skeleton("Netanyahu")
    assert skeleton("Johnson", "de") == skeleton("Johnson", "pl") == skeleton("Johnson")
    assert skeleton("Hadžijev", "sr") == skeleton("Hajiyev")  # and dž the English j


def test_order_within_a_batch_does_not_matter() -> None:
    ids = sorted(FEEDS)[:200]
    rows = [FEEDS[i] for i in ids]
    partitions = []
    for seed in (1, 2, 3):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        out = cluster_records(shuffled, grouper=Grouper())
        by_story: dict[str, set[str]] = {}
        for row in out:
            by_story.setdefault(row["story"], set()).add(row["id"])
        partitions.append(sorted(sorted(s) for s in by_story.values()))
    assert partitions[0] == partitions[1] == partitions[2]
    assert len(partitions[0]) < len(ids)  # something was grouped at all


_SAME_DEAL = """
import sys
from datetime import UTC, datetime, timedelta
from monitor.stories import Article, Grouper
g = Grouper()
t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
title = "Zorvath Industries agrees to buy Quellmark Systems"
for i in range(40):
    g.seed_story(Article(id=f"same-{i}", title=title, url=f"https://s{i}.example/d",
                         published=t0 + timedelta(minutes=i), language="en"))
print(g.add(Article(id="late", title=title, url="https://x.example/d", language="en")).story_id)
"""


def test_the_grouping_does_not_depend_on_the_hash_seed() -> None:
    # Forty stories the index finds alike, more than are scored: which ones are scored,
    # and so which one an undated copy (which bridges none) joins, must be the same in
    # every process. Set order changes with PYTHONHASHSEED.
    chosen = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", _SAME_DEAL],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            check=True,
        )
        chosen.add(run.stdout.strip())
    assert len(chosen) == 1, chosen


def test_cluster_command_writes_every_input_id_once(tmp_path: Path) -> None:
    ids = ["a0259", "a0585", "a0408", "a0001", "a0245"]
    lines = [dict(FEEDS[i]) for i in ids]
    lines[1]["published"] = None  # null, as real feeds have
    del lines[2]["published"]  # and missing
    del lines[3]["language"]  # language is optional
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        app, ["--config", str(ROOT / "config"), "stories", "cluster", str(path)]
    )
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ids
    assert all(o["story"] for o in out)
    assert out[0]["story"] == out[1]["story"] == out[2]["story"]  # Peru, dated or not


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"id": "x2", "title": "A", "text": ', "line 2: not valid JSON"),
        ('{"title": "no id"}', "line 2: 'id' is missing"),
        ('{"id": "x2", "title": "A", "published": "yesterday"}', "line 2: published"),
        ('{"id": "x1", "title": "again"}', "line 2: id 'x1' already given at"),
        ('["not", "an", "object"]', "line 2: expected a JSON object"),
    ],
)
def test_malformed_line_gives_an_error_naming_the_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x1", "title": "Fine"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(StoryInputError) as err:
        cluster_file(path)
    assert problem in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2025-06-10T04:00:00Z", datetime(2025, 6, 10, 4, 0, tzinfo=UTC)),
        ("2025-06-10 07:30:00+03:30", datetime(2025, 6, 10, 4, 0, tzinfo=UTC)),
        ("2025-06-10", datetime(2025, 6, 10, tzinfo=UTC)),
        ("Tue, 10 Jun 2025 04:00:00 GMT", datetime(2025, 6, 10, 4, 0, tzinfo=UTC)),
        ("Tue, 10 Jun 2025 08:00:00 +0400", datetime(2025, 6, 10, 4, 0, tzinfo=UTC)),
        (1749528000, datetime(2025, 6, 10, 4, 0, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_published_as_feeds_and_datasets_write_it(value: Any, expected: datetime | None) -> None:
    """ISO 8601, RFC 2822 (what RSS feeds carry), epoch seconds, or nothing."""
    got = parse_published(value, "line 1")
    assert got == expected and (got is None or got.tzinfo is not None)


def test_state_survives_a_round_trip_through_json() -> None:
    # The store will persist the active window between cycles: a grouper reloaded from
    # its JSON state must put the rest of the event into the same story.
    peru = ["a0259", "a0585", "a0408", "a0006", "a0217"]
    g = Grouper()
    first = g.add_batch([_article(FEEDS[i]) for i in peru[:2]])
    state = json.loads(json.dumps(g.to_state()))
    g2 = Grouper.from_state(state)
    later = g2.add_batch([_article(FEEDS[i]) for i in peru[2:]])
    assert {a.story_id for a in first} == {a.story_id for a in later}
    story = g2.story_of(first[0].story_id)
    assert story is not None and len(story.articles) == 5
    assert len(story.sources) == 5 and story.first_seen < story.last_seen


def test_two_concurrent_runs_are_reconciled_into_one_story() -> None:
    # Two leases group at the same time from the same saved state: each starts its own
    # story for the Putin-Aliyev meeting. Absorbing one run's stories into the other
    # merges those two and leaves the unrelated story alone.
    base = Grouper().to_state()
    a, b = Grouper.from_state(base), Grouper.from_state(base)
    a.add_batch([_article(CAUCASUS[i]) for i in ("c098", "c102", "c091")])
    b.add_batch([_article(CAUCASUS[i]) for i in ("c101", "c105")])
    assert len(a.stories) == 2 and len(b.stories) == 1
    merges = a.absorb(b.to_state()["stories"])
    assert len(merges) == 1
    assert len(a.stories) == 2
    meeting = a.story_of(merges[0][1])
    assert meeting is not None
    assert set(meeting.articles) == {"c098", "c102", "c101", "c105"}


def _article(rec: dict[str, Any]) -> Any:
    from monitor.stories.cluster import to_article

    return to_article(rec, rec["id"])


def test_an_undated_article_that_names_the_day_joins_its_story() -> None:
    # Aliyev and Pashinyan in Abu Dhabi, 10 Jul 2025: dated reports, and an undated one
    # whose lede says "on July 10, 2025", among all the other dev articles (their talks
    # there on 4 Feb 2026 among them). Without the day named, the undated report is held
    # to the bar of days away and misses its story.
    with (DATA / "caucasus.jsonl").open(encoding="utf-8") as fh:
        dev = [r["id"] for r in map(json.loads, fh) if r["split"] == "dev"]

    def story_of(source: dict[str, dict[str, Any]]) -> set[str]:
        return next(g for g in groups(dev, source) if "c153" in g)

    assert {"c151", "c152"} <= story_of(CAUCASUS)
    assert not {"c162", "c163"} & story_of(CAUCASUS)
    text = CAUCASUS["c153"]["text"].replace("on July 10, 2025, ", "")
    assert "c151" not in story_of({**CAUCASUS, "c153": dict(CAUCASUS["c153"], text=text)})


def test_which_stories_are_scored_does_not_depend_on_set_order() -> None:
    # Many active stories tie for an article's index votes and only one is scored:
    # the tie is broken by story id, not by the order of the index's sets (which
    # differs between processes with their string hashes), so every run picks the same.
    from datetime import UTC, datetime

    from monitor.stories import Article, StorySettings

    g = Grouper(StorySettings(max_candidates=1, idf_floor_docs=100_000))
    title, text = "Ferry capsizes off Sumatra", "A ferry capsized off Sumatra on Monday."
    when = datetime(2026, 2, 16, 9, tzinfo=UTC)
    stories = [
        g.seed_story(Article(f"a{i:03d}", title, text, f"https://e.org/{i}", when))
        for i in range(200)
    ]
    joined = g.add(Article("new", title, text, "https://e.org/new", when))
    assert joined.story_id == min(st.id for st in stories)
