"""Extraction workers share what their forkserver built instead of copying it.

A worker is forked from the forkserver, which imports ``monitor.pipeline.warmup``. What
is built there is shared by every worker as long as nothing writes to it; these checks
fork a child from that state, as the forkserver does, and measure the child's own
memory (USS: private pages) around the work a worker does. Memory, not time: the
figures do not depend on the machine's load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc, json, os
import monitor.pipeline.warmup  # the forkserver's state

def uss_mb():
    kb = 0
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean", "Private_Dirty")):
                kb += int(line.split()[1])
    return kb / 1024

r, w = os.pipe()
pid = os.fork()
if pid == 0:
    out = {}
    u = uss_mb(); gc.collect(); out["full_gc"] = uss_mb() - u
    from monitor.topics.text import pipeline
    u = uss_mb()
    pipeline("id")("Presiden meresmikan jalan tol baru di Jawa Tengah pada hari Senin.")
    pipeline("fr")("Le gouvernement a annoncé une réforme des retraites lundi.")
    out["id_fr_pipelines"] = uss_mb() - u
    import lxml.html
    from trafilatura import external
    u = uss_mb()
    external.try_justext(lxml.html.fromstring(
        "<html><body><p>Un paragraphe sans langue connue, pour justext.</p></body></html>"),
        None, None)
    out["justext_all_languages"] = uss_mb() - u
    os.write(w, json.dumps(out).encode())
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(r, 65536).decode())
"""


@pytest.fixture(scope="module")
def growth() -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_full_collection_in_a_worker_does_not_copy_the_forkservers_objects(
    growth: dict[str, float],
) -> None:
    # Without gc.freeze() in the forkserver: ~30 MB copied by the first full collection.
    assert growth["full_gc"] < 5, growth


def test_the_costly_language_pipelines_are_shared(growth: dict[str, float]) -> None:
    # Built in each worker on first use: Indonesian + French ~80-90 MB of its own.
    assert growth["id_fr_pipelines"] < 10, growth


def test_justexts_stoplist_of_every_language_is_shared(growth: dict[str, float]) -> None:
    # Built in each worker on the first page justext reads without a language: ~8 MB+.
    assert growth["justext_all_languages"] < 4, growth


LANGUAGE_PROBE = """
import gc, json
import spacy
from monitor.topics.text import pipeline

def anon_mb():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) / 1024
    return 0.0

spacy.blank("xx")  # spaCy's own start-up, not the language's
gc.collect()
before = anon_mb()
pipeline("id")
gc.collect()
print(json.dumps({"id": anon_mb() - before}))
"""


def test_the_indonesian_pipeline_is_built_once() -> None:
    """Its ~16,000 special cases are tokenised when a tokenizer is built: building
    spaCy's and then the lean one left ~85 MB (the first one's freed memory in
    fragments); built lean at once, ~55 MB (in the forkserver, shared by the workers)."""
    out = subprocess.run(
        [sys.executable, "-c", LANGUAGE_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    cost = json.loads(out.stdout.strip().splitlines()[-1])
    assert cost["id"] < 70, cost


def test_the_forkserver_imports_no_library_only_the_cycle_uses() -> None:
    """The workers' forkserver reads the settings' schemas (topics, limits), not the
    HTTP client (httpx brings click, rich, pygments; httpcore, anyio and h11 came with
    the allow-list's parsing, ~3 MB), apprise and its plugins, or spaCy's command line
    (typer, weasel, requests): ~30 MB that every worker's RSS counted."""
    heavy = ("httpx", "httpcore", "anyio", "h11", "click", "rich", "apprise", "typer")
    heavy += ("weasel", "requests", "jinja2")
    probe = (
        "import json, sys\nimport monitor.pipeline.warmup\n"
        f"print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
