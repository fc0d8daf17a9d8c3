"""The held-out aggregator set (benchmarks/data/stories/aggregator.jsonl): its builder
parses the UCI News Aggregator CSV head as published (backslash escapes, quoted
commas, a cut in the middle of the last row), and the committed file is what
``newsmon stories cluster`` and benchmarks/stories.py read."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from monitor.stories.cluster import parse_published

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "stories"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_aggregator", DATA / "build_aggregator.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HEAD = (
    "ID,TITLE,URL,PUBLISHER,CATEGORY,STORY,HOSTNAME,TIMESTAMP\n"
    '1,"Fed says weak data, weather",http://a.example/x\\?track=rss,'
    "Reuters UK \\(blog\\),b,dStoryA,a.example,1394470370698\n"
    '2,"MtGox ""fraud""",http://b.example/y,24\\/7 Wall St.,b,dStoryA,b.example,'
    "1394470371207\n"
    "3,no story id,http://c.example/z,Site,b,,c.example,1394470371550\n"
    "4,Cut in the middle,http://d.example/w,Site,b,dSto"
)


def test_builder_keeps_complete_rows_and_undoes_escapes() -> None:
    b = _builder()
    rows, dropped = b.rows(HEAD)
    assert [r["ID"] for r in rows] == ["1", "2"]  # row 3 has no story; row 4 is cut
    assert dropped == 1
    recs = [b.record(r) for r in rows]
    assert recs[0]["title"] == "Fed says weak data, weather"
    assert recs[0]["url"] == "http://a.example/x?track=rss"
    assert recs[0]["publisher"] == "Reuters UK (blog)"
    assert recs[1]["title"] == 'MtGox "fraud"'
    assert recs[1]["publisher"] == "24/7 Wall St."
    assert recs[0]["published"] == "2014-03-10T16:52:50.698Z"
    assert {r["split"] for r in recs} == {"heldout"}
    assert recs[0]["gold"] == recs[1]["gold"] == "dStoryA"


def test_committed_set_is_held_out_and_readable() -> None:
    path = DATA / "aggregator.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len({r["id"] for r in recs}) == len(recs)
    assert {r["split"] for r in recs} == {"heldout"}
    assert all(r["title"] and r["gold"] and r["text"] == "" for r in recs)
    stamps = [parse_published(r["published"], r["id"]) for r in recs]
    assert all(s is not None for s in stamps)


def test_builder_reads_a_cut_from_inside_the_file() -> None:
    # A cut from the middle of the CSV starts and ends inside a row and has no header.
    cut = HEAD.split("\n", 2)[2]  # from row 2 on, the header and row 1 gone
    cut = "ss.example,1394470369000\n" + cut  # the tail of a row before the cut
    b = _builder()
    rows, dropped = b.rows(cut, middle=True)
    assert [r["ID"] for r in rows] == ["2"]  # first row partial, 3 no story, 4 cut
    assert dropped == 1
    assert b.record(rows[0], "dev")["split"] == "dev"
    with pytest.raises(SystemExit):
        b.rows(cut)  # read as a head, its first line is no header


def test_committed_dev_slice_is_dev_and_apart_from_the_held_out_set() -> None:
    dev_path, held_path = DATA / "aggregator-dev.jsonl", DATA / "aggregator.jsonl"
    if not dev_path.is_file() or not held_path.is_file():
        pytest.skip("aggregator sets absent")
    dev = [json.loads(line) for line in dev_path.read_text(encoding="utf-8").splitlines()]
    held = [json.loads(line) for line in held_path.read_text(encoding="utf-8").splitlines()]
    assert {r["split"] for r in dev} == {"dev"}
    assert not {r["id"] for r in dev} & {r["id"] for r in held}
    assert not {r["gold"] for r in dev} & {r["gold"] for r in held}
    assert all(parse_published(r["published"], r["id"]) is not None for r in dev)
