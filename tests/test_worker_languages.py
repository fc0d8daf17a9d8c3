"""Which spaCy pipelines a worker pool builds before its workers fork: a long-lived pool
the costly ones (shared by every worker), a one-shot run only those recent articles
were in; every other language is built by the worker that first meets it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.pipeline.workers import PRELOAD_ENV, SHARED_LANGUAGES, languages_to_share
from monitor.store import NewArticle, Store

ROOT = Path(__file__).resolve().parents[1]

BASE = NewArticle(
    canonical_url="",
    url="",
    guid=None,
    title="A story",
    summary="",
    text="Body text.",
    author=None,
    published_at=None,
    published_source="feed",
    language=None,
    fingerprint=None,
    extraction="ok",
    extraction_error=None,
    sources=[],
    hits=[],
)


def _store(tmp_path: Path, languages: list[str | None]) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    store.store_articles(
        [
            dataclasses.replace(BASE, canonical_url=f"https://x.example/{i}", language=lang)
            for i, lang in enumerate(languages)
        ]
    )
    return store


def test_recent_languages_counts_the_last_articles(tmp_path: Path) -> None:
    store = _store(tmp_path, ["id", "id", "de", None, "en", "fr", "fr", "fr"])
    assert store.recent_languages() == {"id": 2, "de": 1, "en": 1, "fr": 3}
    assert store.recent_languages(limit=3) == {"fr": 3}


def test_a_one_shot_pool_shares_only_the_costly_languages_it_met(tmp_path: Path) -> None:
    # Indonesian twice, Malay once (too rare), German often (cheap: built where met).
    store = _store(tmp_path, ["id", "ms", "de", "de", "de", "id", "en", "en"])
    assert languages_to_share(store) == ["en", "id"]
    assert languages_to_share(_store(tmp_path / "empty", [])) == []


def _built_in_forkserver(languages: list[str] | None) -> int:
    """How many pipelines a worker of a fresh pool finds built (inherited from the
    forkserver), in a process of its own: a process has one forkserver."""
    code = (
        "import json, sys\n"
        "from monitor.pipeline.workers import WorkerPool\n"
        "from tests.support.workers import pipelines_built\n"
        "langs = json.loads(sys.argv[1])\n"
        "with WorkerPool([], workers=1, languages=langs) as pool:\n"
        "    print(pool._queue(pipelines_built, None, 300, urgent=True).result())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != PRELOAD_ENV}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(languages)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert PRELOAD_ENV not in os.environ
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("languages", "built"),
    [([], 1), (["en", "nl"], 2), (None, len(SHARED_LANGUAGES))],
    ids=["one-shot, nothing met", "one-shot, Dutch met", "long-lived"],
)
def test_the_forkserver_builds_the_languages_asked_for(
    languages: list[str] | None, built: int
) -> None:
    assert _built_in_forkserver(languages) == built
