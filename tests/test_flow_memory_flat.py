"""The cycle's process keeps nothing from one cycle to the next (stream, don't accumulate).

A long-lived ``newsmon serve`` runs a cycle every few minutes in the same process with
the same worker pool and database; anything a cycle leaves behind (a list of articles,
futures, results, sessions) would grow with every cycle. Each cycle here finds new
articles in every feed, and the live Python objects are counted by type after the
second and after the sixth cycle: counts, not time or RSS.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlmodel import select

from monitor.config import load_config
from monitor.demo.servers import FixtureServer
from monitor.demo.world import DEMO_DATA, write_config
from monitor.pipeline import stories_step
from monitor.pipeline.cycle import run_cycle
from monitor.pipeline.workers import WorkerPool
from monitor.store import Store, Story
from tests.support.hostile import FAST, TOPICS, item, merge, rss

FEEDS, PER_FEED = 6, 4


def _held_by(root: object) -> set[int]:
    """Ids of the containers and story objects reachable from ``root`` (not through
    classes, functions or modules, which would reach everything)."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        t = type(o)
        if not (
            isinstance(o, (dict, list, set, frozenset, tuple, Counter))
            or t.__module__.startswith("monitor.stories")
        ):
            continue
        seen.add(id(o))
        todo.extend(gc.get_referents(o))
    return seen


def live_objects() -> Counter[str]:
    """Live objects by type, leaving out the story grouper's cache: the stories active in
    the window are kept between cycles on purpose (docs/stories.md) and leave with the
    window; that there is one per stored story at most is checked in the test."""
    gc.collect()
    held: set[int] = set()
    for entry in stories_step._CACHE.values():
        held |= _held_by(entry[1])
    return Counter(type(o).__qualname__ for o in gc.get_objects() if id(o) not in held)


def test_live_objects_do_not_grow_with_the_number_of_cycles(tmp_path: Path) -> None:
    with FixtureServer(DEMO_DATA) as srv:

        def publish(n: int) -> None:  # every feed's entries new in cycle n
            srv.requests.clear()  # the test server's own record of requests
            for f in range(FEEDS):
                srv.add(
                    f"x/f{f}.xml",
                    rss(
                        [
                            item(
                                f"{{BASE}}/x/p{f}-{n}-{k}",
                                title=f"story {f} {n} {k}",
                                guid=f"g{f}-{n}-{k}",
                            )
                            for k in range(PER_FEED)
                        ]
                    ),
                    "application/rss+xml",
                )

        publish(0)
        cfg = write_config(
            tmp_path / "config",
            topics_from=TOPICS,
            feed_urls=[srv.url(f"x/f{f}.xml") for f in range(FEEDS)],
            routes=[],
            settings=merge(FAST, {"extract": {"workers": 1}}),
        )
        config = load_config(cfg)
        counts: dict[int, Counter[str]] = {}
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        with WorkerPool.for_config(config) as pool:
            for n in range(1, 7):
                publish(n)
                s = run_cycle(store, config, pool=pool, force=True, feed_batch=2)
                assert s.articles_new == FEEDS * PER_FEED, s
                if n in (2, 6):
                    counts[n] = live_objects()
        with store.session() as s:
            stored = len(s.exec(select(Story)).all())
        grouper = stories_step._CACHE[store.url][1]
        assert len(grouper.stories) <= stored, (len(grouper.stories), stored)
        store.close()
    grown = counts[6] - counts[2]
    # Four more cycles of 24 articles each: a leak of even one object per article per
    # cycle is 96 objects of one type. A few dozen come and go with caches.
    assert sum(grown.values()) < 400 and max(grown.values(), default=0) < 90, grown.most_common(10)


RELEASE_PROBE = """
import json
from monitor.pipeline.workers import release_memory

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024

release_memory()
# ~100 MB of blocks too big for Python's small-object allocator (glibc's heap), one in
# fifty kept: the heap cannot shrink from its top, its free middle stays resident.
blocks = [bytes(4000) + bytes([i % 256]) for i in range(25_000)]
kept = blocks[::50]
del blocks
before = rss_mb()
ok = release_memory()
print(json.dumps({"ok": ok, "freed_mb": before - rss_mb(), "kept": len(kept)}))
"""


def test_release_memory_gives_the_free_heap_back() -> None:
    # The cycle calls it after each stored batch: a threaded process otherwise keeps its
    # heap's high-water mark.
    out = subprocess.run(
        [sys.executable, "-c", RELEASE_PROBE], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["ok"] and res["freed_mb"] > 50, res
