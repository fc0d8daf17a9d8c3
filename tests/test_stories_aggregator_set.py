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
