"""The cycle's own process stays light: spaCy, numpy, trafilatura and the language model
live in the worker pool only.

They are ~150 MB per process; the main process needs none of them when it has a pool -
pages are analysed there, and so are the feed summaries of pages that gave no text.
Nor Babel: the stories' CLDR names are built in a child process.
The check runs a real cycle in a fresh interpreter (this one has imported everything)
and reads its ``sys.modules`` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from monitor.demo.servers import Fault, FixtureServer
from monitor.demo.world import DEMO_DATA, write_config
from tests.support.hostile import FAST, TOPICS, merge

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
from monitor.config import load_config
from monitor.pipeline.cycle import run_cycle
from monitor.store import Store
from monitor.pipeline.workers import WorkerPool

config = load_config(sys.argv[1])
pool = WorkerPool.shared(config)  # as the flow takes it: it checks the models' files too
try:
    s = run_cycle(Store(config.database_url), config, pool=pool)
finally:
    WorkerPool.close_shared()
heavy = [m for m in ("spacy", "numpy", "trafilatura", "py3langid", "monitor.topics.text",
                     "monitor.topics.model", "monitor.extract.article", "babel")
         if m in sys.modules]
print(json.dumps({"articles_new": s.articles_new, "fallbacks": s.extraction_fallbacks,
                  "hits_new": s.hits_new, "stories_new": s.stories_new, "heavy": heavy}))
"""


def test_a_cycle_with_a_pool_loads_no_nlp_in_the_main_process(tmp_path: Path) -> None:
    with FixtureServer(DEMO_DATA) as srv:
        # One page of the world feed is gone: its article is classified by its summary.
        srv.faults["/pages/caucasus-iran-azerbaijan-thaw.html"] = Fault(status=404)
        cfg = write_config(
            tmp_path / "config",
            topics_from=TOPICS,
            feed_urls=[srv.url("feeds/world.xml")],
            routes=[],
            settings=merge(FAST, {"database": f"sqlite:///{tmp_path / 'db.sqlite'}"}),
        )
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(cfg)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["articles_new"] == 6 and res["fallbacks"] == 1, res
    assert res["hits_new"] >= 1, res
    # Babel's CLDR names are read in a child process (monitor.stories.names): ~37 MB of
    # locale data that would stay in this process's heap.
    assert res["stories_new"] >= 1, res
    assert res["heavy"] == [], res
