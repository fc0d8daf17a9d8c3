"""newsmon throughput benchmark: the real flow against a loopback world, side by side with
the CPU limit of the real work and with a naive cron script.

    .venv/bin/python benchmarks/pipeline.py --quick     # under 2 minutes on 2 cores
    .venv/bin/python benchmarks/pipeline.py             # the full run (10,000 articles)

What it does, in one run (see docs/performance.md for what each figure means):

1. feed parsing: ``monitor.feeds.parse_feed`` over the 200 real feeds, one process;
2. the limit: ``extract_html`` + the classifier over the benchmark's pages already in
   memory, in as many processes as cores, no I/O, no database, no Prefect;
3. end to end: the ``newsmon-cycle`` Prefect flow into a fresh SQLite database, its
   feeds and pages served from many 127.x hosts with ``--latency`` per response, alert
   routes to a local webhook; after one warm-up flow run, as in a long-lived serve;
4. re-poll: the same flow over 1,000 feeds that have not changed (304 or same body);
5. the naive peer: for each feed ``feedparser.parse`` then each link fetched, extracted
   and classified one after the other.

The last line printed is the RESULT line. Exit status 2 when the corpora are missing.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import multiprocessing
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import world as W  # noqa: E402
from tests.support.benchreport import add_record_flag, record  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
STORIES = True  # --no-stories: the cycle without its stories step (the "before" figure)
EXTRACT: dict[str, int] = {}  # --workers, --max-tasks: the extract settings of every run
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def say(msg: str) -> None:
    print(msg, flush=True)


def load_line() -> str:
    try:
        with open("/proc/loadavg") as f:
            one, five, fifteen = f.read().split()[:3]
    except OSError:
        return "load unknown"
    return f"load average {one} {five} {fifteen} on {os.cpu_count()} cores"


# --- processes: CPU and memory from /proc ----------------------------------------------


# Memory goals (issue #19): what the machine spends on the pipeline (PSS: shared pages
# divided among the processes sharing them), and RSS summed over every process.
PIPELINE_PSS_GOAL_MB = 400
PEAK_RSS_GOAL_MB = 800


def _proc(pid: int) -> tuple[int, float, int, str] | None:
    """(ppid, cpu seconds, rss kB, name) of a process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    rss = int(fields[21]) * PAGE_KB
    return ppid, cpu, rss, name


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def descendants(root: int) -> dict[int, tuple[int, float, int, str]]:
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            p = _proc(int(d))
            if p:
                procs[int(d)] = p
    out = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            out[pid] = procs[pid]
            todo.extend(c for c, p in procs.items() if p[0] == pid)
    return out


def role(pid: int, info: tuple[int, float, int, str], main: int) -> str:
    if pid == main:
        return "main"
    cmd = _cmdline(pid)
    if "prefect" in cmd or "uvicorn" in cmd:
        return "prefect-server"
    if "forkserver" in cmd and info[0] == main:
        return "forkserver"
    return "workers"


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages divided among the processes sharing them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's live threads, by thread name (numbers stripped)."""
    import re as _re

    out: dict[str, float] = {}
    for t in threading.enumerate():
        try:
            with open(f"/proc/self/task/{t.native_id}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            continue
        name = _re.sub(r"[-_ ]?\d+$", "", t.name.split(" (")[0]) or "thread"
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


class Sampler:
    """Samples RSS and CPU of this process and its descendants (minus excluded ones)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.main = os.getpid()
        self.exclude: set[int] = set()
        self.interval_s = interval_s
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.peak_by_role: dict[str, int] = {}
        self.peak_pss_by_role: dict[str, int] = {}
        self.cpu_seen: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._roles: dict[int, str] = {}
        self._t: threading.Thread | None = None

    def start(self) -> Sampler:
        self._t = threading.Thread(target=self._run, daemon=True, name="bench-sampler")
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        c0 = time.thread_time()
        self._n = getattr(self, "_n", 0) + 1
        # Cheap: the process tree and PSS (smaps) only every 5 s; memory is flat anyway.
        if self._n % 5 == 1 or not getattr(self, "_pids", None):
            self._pids = set(descendants(self.main))
        procs = {pid: p for pid in self._pids if (p := _proc(pid))}
        self._sample(procs, pss_too=self._n % 5 == 1)
        self.cpu_s = getattr(self, "cpu_s", 0.0) + time.thread_time() - c0

    def _sample(self, procs: dict[int, tuple[int, float, int, str]], pss_too: bool) -> None:
        total = pss = 0
        by_role: dict[str, int] = {}
        pss_by_role: dict[str, int] = {}
        for pid, info in procs.items():
            if pid in self.exclude or any(a in self.exclude for a in self._ancestors(pid, procs)):
                continue
            r = self._roles.get(pid)
            if r is None:
                r = self._roles[pid] = role(pid, info, self.main)
            total += info[2]
            if pss_too:
                kb = pss_kb(pid)
                pss += kb
                pss_by_role[r] = pss_by_role.get(r, 0) + kb
            by_role[r] = by_role.get(r, 0) + info[2]
            self.cpu_seen[pid] = (r, info[1])
        if pss > self.peak_pss_kb:
            self.peak_pss_kb = pss
            self.peak_pss_by_role = pss_by_role
        if total > self.peak_rss_kb:
            self.peak_rss_kb = total
            self.peak_by_role = by_role

    @staticmethod
    def _ancestors(pid: int, procs: dict[int, tuple[int, float, int, str]]) -> list[int]:
        out = []
        while pid in procs and procs[pid][0] not in out:
            pid = procs[pid][0]
            out.append(pid)
        return out

    def cpu_by_role(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r, cpu in self.cpu_seen.values():
            out[r] = out.get(r, 0.0) + cpu
        return out

    def reset_peak(self) -> None:
        self.peak_rss_kb = self.peak_pss_kb = 0
        self.peak_by_role = {}
        self.peak_pss_by_role = {}

    def stop(self) -> None:
        self._stop.set()
        if self._t:
            self._t.join()


class MainTrace:
    """What the flow's process holds after a run that it did not before: tracemalloc's
    difference by line and live objects by type (``gc.get_objects``)."""

    def start(self) -> MainTrace:
        import gc
        import tracemalloc

        gc.collect()
        self.types0 = self._types()
        tracemalloc.start(12)
        self.snap0 = tracemalloc.take_snapshot()
        return self

    @staticmethod
    def _types() -> dict[str, int]:
        import gc
        from collections import Counter

        return dict(Counter(type(o).__qualname__ for o in gc.get_objects()))

    def report(self, top: int = 25) -> str:
        import gc
        import tracemalloc

        gc.collect()
        snap = tracemalloc.take_snapshot()
        tracemalloc.stop()
        types = self._types()
        flt = [tracemalloc.Filter(False, tracemalloc.__file__)]
        diff = snap.filter_traces(flt).compare_to(self.snap0.filter_traces(flt), "lineno")
        grown = sorted(((n - self.types0.get(t, 0), t) for t, n in types.items()), reverse=True)[
            :top
        ]
        out = [
            f"traced now {sum(s.size for s in snap.statistics('filename')) / 2**20:.1f} MB",
            "",
            "live objects by type, growth over the run:",
        ]
        out += [f"  {d:+8d}  {t}" for d, t in grown]
        out += ["", "tracemalloc, growth by line:"]
        out += [
            f"  {s.size_diff / 1024:+9.0f} kB {s.count_diff:+7d}  {s.traceback}" for s in diff[:top]
        ]
        tb = snap.filter_traces(flt).compare_to(self.snap0.filter_traces(flt), "traceback")
        out += ["", "the largest growths, with their tracebacks:"]
        for s in tb[:8]:
            out += [f"  {s.size_diff / 1024:+9.0f} kB {s.count_diff:+7d}"]
            out += [f"      {line}" for line in s.traceback.format()[-16:]]
        return "\n".join(out) + "\n"


# --- the steps, timed ------------------------------------------------------------------


@dataclass
class StepTime:
    calls: int = 0
    wall_s: float = 0.0
    thread_cpu_s: float = 0.0


STEP_TIMES: dict[str, StepTime] = {}
ANALYSED: list[float] = []  # perf_counter when each page's analysis came back to the cycle
FETCHED: list[float] = []  # perf_counter when each page's fetch ended (the page stream's)
SPAN: list[float] = []  # perf_counter at the start of the first step and the end of the last


def instrument_steps() -> None:
    """Time each pipeline step (wall, and CPU of the thread that runs it).

    Done before ``flows.cycle`` is imported, so the Prefect tasks wrap the timed
    functions and ``run_cycle`` calls them by the same names: the flow is unchanged."""
    from monitor.pipeline import cycle as pipeline
    from monitor.pipeline import poll

    for name in (
        "claim_feeds",
        "poll_batches",
        "poll_feeds",
        "process_articles",
        "commit_feeds",
        "send_alerts",
        "prune",
    ):
        fn = getattr(pipeline, name, None) or getattr(poll, name)
        if getattr(fn, "_timed", False):
            continue

        def timed(*a: Any, _fn: Any = fn, _name: str = name, **kw: Any) -> Any:
            t0, c0 = time.perf_counter(), time.thread_time()
            if not SPAN:
                SPAN.append(t0)
            try:
                return _fn(*a, **kw)
            finally:
                st = STEP_TIMES.setdefault(_name, StepTime())
                st.calls += 1
                t1 = time.perf_counter()
                st.wall_s += t1 - t0
                st.thread_cpu_s += time.thread_time() - c0
                del SPAN[1:]
                SPAN.append(t1)

        functools.update_wrapper(timed, fn)
        timed._timed = True  # type: ignore[attr-defined]
        if getattr(pipeline, name, None) is fn:
            setattr(pipeline, name, timed)
        if getattr(poll, name, None) is fn:  # the flow's task table names it there
            setattr(poll, name, timed)
    from monitor.pipeline import pages
    from monitor.pipeline.pages import PageStream

    fetch_page = pages.fetch_page
    if not getattr(fetch_page, "_timed", False):

        async def timed_fetch(*a: Any) -> Any:
            try:
                return await fetch_page(*a)
            finally:
                FETCHED.append(time.perf_counter())

        timed_fetch._timed = True  # type: ignore[attr-defined]
        pages.fetch_page = timed_fetch  # type: ignore[assignment]

    analysed = PageStream._analysed
    if not getattr(analysed, "_timed", False):

        def timed_analysed(self: Any, *a: Any) -> None:
            ANALYSED.append(time.perf_counter())
            analysed(self, *a)

        timed_analysed._timed = True  # type: ignore[attr-defined]
        PageStream._analysed = timed_analysed  # type: ignore[method-assign]


# --- 1. feed parsing ---------------------------------------------------------------------


def _parse_bench(root: str, q: Any) -> None:
    from monitor.errors import FeedParseError
    from monitor.feeds.parse import parse_feed

    feeds = [
        (body, {"content-type": W.content_type_for(body)}) for _, body in W.load_feeds(Path(root))
    ]
    parse_feed(feeds[0][0], url="http://127.0.0.2/f", headers=feeds[0][1])  # first-call costs
    t0, c0 = time.perf_counter(), time.process_time()
    entries = errors = 0
    for body, headers in feeds:
        try:
            entries += len(parse_feed(body, url="http://127.0.0.2/f", headers=headers).entries)
        except FeedParseError:
            errors += 1
    q.put(
        {
            "feeds": len(feeds),
            "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "entries": entries,
            "errors": errors,
        }
    )


# --- 2. the limit ------------------------------------------------------------------------


def _limit_worker(
    spec: W.WorldSpec,
    page_paths: list[str],
    items: list[tuple[int, int]],
    topics_file: str,
    barrier: Any,
    q: Any,
) -> None:
    """One process of the limit: the pipeline's own per-page function, ``analyse``
    (extraction, then classification in the page's language), over pages in memory."""
    import monitor.pipeline.jobs as workers  # pipelines, trafilatura's tables, gc.freeze)
    import monitor.pipeline.warmup  # noqa: F401 - the state a pool worker starts in (shared
    from monitor.config import load_config
    from monitor.topics.match import Classifier

    config = load_config(Path(topics_file).parent)
    clf = Classifier(config.topics)
    templates: dict[int, W.PageTemplate] = {}
    paths = [Path(p) for p in page_paths]
    jobs = [
        workers.PageJob(
            f"{i}/{k}",
            W.page_for(spec, paths, templates, i, k),
            f"http://{spec.feeds[i].host}:{spec.port}/a/{i}/{k}",
        )
        for i, k in items
    ]
    templates.clear()
    clf.classify("warm up", "a first call builds caches")
    extract = workers.extract_html
    spent = [0.0]

    def timed_extract(*a: Any, **kw: Any) -> Any:  # splits extraction from classification
        c = time.process_time()
        try:
            return extract(*a, **kw)
        finally:
            spent[0] += time.process_time() - c

    workers.extract_html = timed_extract  # type: ignore[assignment]
    barrier.wait()
    t0, c0 = time.time(), time.process_time()
    failed = sum(1 for job in jobs if workers.analyse(job, clf).extracted is None)
    total = time.process_time() - c0
    q.put(
        {
            "start": t0,
            "end": time.time(),
            "n": len(jobs),
            "extract_cpu_s": spent[0],
            "classify_cpu_s": total - spent[0],
            "failed": failed,
        }
    )


def measure_limit(
    spec: W.WorldSpec,
    page_paths: list[Path],
    items: list[tuple[int, int]],
    config_dir: Path,
    procs: int,
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs)
    q = ctx.Queue()
    ps = [
        ctx.Process(
            target=_limit_worker,
            args=(
                spec,
                [str(p) for p in page_paths],
                items[i::procs],
                str(config_dir / "topics.yaml"),
                barrier,
                q,
            ),
        )
        for i in range(procs)
    ]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    wall = max(r["end"] for r in res) - min(r["start"] for r in res)
    n = sum(r["n"] for r in res)
    ex = sum(r["extract_cpu_s"] for r in res)
    cl = sum(r["classify_cpu_s"] for r in res)
    return {
        "pages": n,
        "wall_s": wall,
        "per_s": n / wall,
        "extract_ms": 1000 * ex / n,
        "classify_ms": 1000 * cl / max(1, n - sum(r["failed"] for r in res)),
        "failed": sum(r["failed"] for r in res),
    }


# --- 5. the naive peer ------------------------------------------------------------------


def naive_peer(urls: list[str], cap: int, config_dir: Path) -> dict[str, Any]:
    """What a cron script does: parse each feed, then fetch and extract each link in turn."""
    import feedparser
    import httpx
    import trafilatura

    from monitor.config import load_config
    from monitor.topics.match import Classifier

    clf = Classifier(load_config(config_dir).topics)
    t0 = time.perf_counter()
    articles = 0
    for url in urls:
        r = httpx.get(url, timeout=20)
        d = feedparser.parse(r.content)
        for e in d.entries[:cap]:
            link = e.get("link")
            if not link:
                continue
            page = httpx.get(link, timeout=20)
            text = trafilatura.extract(page.text, url=link)
            if text:
                clf.classify(e.get("title", ""), text)
            articles += 1
    wall = time.perf_counter() - t0
    return {
        "feeds": len(urls),
        "articles": articles,
        "wall_s": wall,
        "per_s": articles / wall if wall else 0.0,
    }


# --- the world ---------------------------------------------------------------------------


BENCH_TOPIC = {
    "id": "bench-public-affairs",
    "name": "Public affairs (benchmark)",
    "description": "A broad topic so that the benchmark stores hits and sends alerts.",
    "groups": {
        "state": {
            "terms": [
                "government",
                "minister",
                "president",
                "parliament",
                "election",
                "police",
                "court",
                "senator",
                "mayor",
            ]
        }
    },
    "rule": {"group": "state", "min": 3},
    "threshold": 0.3,
}


def topics_file(directory: Path) -> Path:
    """The project's topics, plus one broad topic that many real pages match."""
    import yaml

    data = yaml.safe_load((ROOT / "config" / "topics.yaml").read_text())
    data["topics"].append(BENCH_TOPIC)
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / "bench-topics.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return out


def write_cfg(
    directory: Path,
    urls: list[str],
    db: Path,
    webhook_url: str,
    cap: int,
    stories: bool | None = None,
) -> Path:
    from monitor.demo.world import write_config

    return write_config(
        directory,
        topics_from=topics_file(directory.parent),
        feed_urls=urls,
        routes=[{"name": "desk", "topics": ["*"], "urls": [webhook_url]}],
        settings={
            "database": f"sqlite:///{db}",
            "fetch": {"max_entries_per_feed": cap},
            "stories": {"enabled": STORIES if stories is None else stories},
            **({"extract": dict(EXTRACT)} if EXTRACT else {}),
        },
    )


def prime_validators(config_dir: Path) -> int:
    """Setup for the re-poll: one fetch of every feed stores its validators and body hash,
    as a previous poll would have (no parsing: nothing in the re-poll reads entries)."""
    import asyncio

    from monitor.config import load_config
    from monitor.feeds import health
    from monitor.pipeline import cycle as pipeline
    from monitor.pipeline import poll
    from monitor.store import Store, utcnow

    config = load_config(config_dir)
    store = Store(config.database_url)
    feeds = pipeline.claim_feeds(store, config, owner="bench-prime", force=True)
    results = asyncio.run(poll._fetch_feeds(config, feeds, poll.feed_credentials(config)))
    now = utcnow()
    for f, r in zip(feeds, results, strict=True):
        health.apply_fetch(config, f, r, now)
        f.last_outcome = "ok"
    store.save_feeds(feeds)
    store.close()
    return len(feeds)


def _call_into(q: Any, fn: Any, *args: Any) -> None:
    q.put(fn(*args))


def in_own_process(fn: Any, *args: Any, exclude: set[int] | None = None) -> Any:
    """``fn(*args)`` in a spawned process, left out of the flow's memory and CPU figures
    (the harness's own setup: it holds every feed body at once)."""
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_call_into, args=(q, fn, *args))
    p.start()
    if exclude is not None and p.pid is not None:
        exclude.add(p.pid)
    # A child that died before answering must fail the benchmark, not hang it.
    while True:
        try:
            out = q.get(timeout=5)
            break
        except queue.Empty:
            if not p.is_alive():
                raise RuntimeError(
                    f"{fn.__name__} failed in its process (exit {p.exitcode})"
                ) from None
    p.join()
    return out


def http_only(config_dir: Path) -> tuple[float, int, float]:
    """The HTTP waits of a re-poll alone: every feed fetched once with its stored
    validators, by the same client with the same politeness settings, nothing else (no
    flow, no parsing, no database writes). Wall seconds, the number of 304s, CPU seconds."""
    import asyncio

    from monitor.config import load_config
    from monitor.pipeline import cycle as pipeline
    from monitor.pipeline import poll
    from monitor.store import Store

    config = load_config(config_dir)
    store = Store(config.database_url)
    feeds = pipeline.claim_feeds(store, config, owner="bench-http", force=True)
    t0, c0 = time.perf_counter(), time.process_time()
    results = asyncio.run(poll._fetch_feeds(config, feeds, poll.feed_credentials(config)))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    store.release_feeds([f.id for f in feeds if f.id is not None], "bench-http")
    store.close()
    return seconds, sum(1 for r in results if getattr(r, "not_modified", False)), cpu


def plain_idle(config_dir: Path, runs: int) -> dict[str, Any]:
    """The same idle re-poll on the plain path (``newsmon run --no-prefect``'s
    ``run_cycle``, no flow, no Prefect server), ``runs`` times in one process, as a
    long-lived process would run it: wall and CPU seconds of each cycle (the process's
    imports and config load not counted), and the process's peak RSS."""
    import resource

    from monitor.config import load_config
    from monitor.pipeline.cycle import run_cycle
    from monitor.pipeline.workers import WorkerPool
    from monitor.store import Store

    config = load_config(config_dir)
    store = Store(config.database_url)
    walls, cpus = [], []
    with WorkerPool.for_config(config) as pool:  # nothing new: it starts no worker
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            run_cycle(store, config, force=True, pool=pool)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    store.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall_s": walls, "cpu_s": cpus, "rss_mb": rss_mb}


def stories_paired(
    cycle: Any,
    sampler: Sampler,
    conn: Any,
    args: argparse.Namespace,
    tmp: Path,
    urls: list[str],
    webhook: Any,
) -> dict[str, Any]:
    """The end-to-end run again, stories off then on, each into a fresh database, in
    pairs: what grouping stories costs the throughput (issues 17 and 18: at most 5%)."""
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for k in range(args.stories_paired):
        for label in ("off", "on"):
            d = tmp / f"e2e-stories-{label}-{k}"
            cfg = write_cfg(
                d / "config",
                urls,
                d / "newsmon.db",
                webhook.apprise_url(),
                args.entry_cap,
                stories=label == "on",
            )
            conn.send("reset")
            conn.recv()
            sampler.sample()
            cpu0 = sampler.cpu_by_role()
            t0 = time.perf_counter()
            summary = cycle(config_dir=str(cfg))
            wall = time.perf_counter() - t0
            sampler.sample()
            cpu1 = sampler.cpu_by_role()
            n = summary["articles_new"] + summary["articles_merged"]
            run = {
                "articles": n,
                "wall_s": wall,
                "per_s": n / wall,
                "main_cpu_s": cpu1.get("main", 0) - cpu0.get("main", 0),
                "all_cpu_s": sum(cpu1.values()) - sum(cpu0.values()),
                "stories": summary.get("stories_new", 0),
            }
            runs[label].append(run)
            say(
                f"[stories {label}] pair {k + 1}: {n} articles in {wall:.1f}s = "
                f"{run['per_s']:.1f}/s; CPU main {run['main_cpu_s']:.1f}s, all "
                f"{run['all_cpu_s']:.1f}s; {run['stories']} stories; {load_line()}"
            )
    med = {
        label: {
            key: statistics.median(r[key] for r in rs)
            for key in ("per_s", "main_cpu_s", "all_cpu_s", "articles")
        }
        for label, rs in runs.items()
    }
    drop = 1 - med["on"]["per_s"] / med["off"]["per_s"]
    cpu_more = med["on"]["all_cpu_s"] / med["off"]["all_cpu_s"] - 1
    # The step runs in the flow process: its CPU there, as a share of all the run's CPU,
    # is what it costs a CPU-bound machine (steadier than wall time on a shared one).
    main_share = (med["on"]["main_cpu_s"] - med["off"]["main_cpu_s"]) / med["off"]["all_cpu_s"]
    say(
        f"[stories] median of {args.stories_paired} pairs: on {med['on']['per_s']:.1f} vs off "
        f"{med['off']['per_s']:.1f} articles/s: {100 * drop:.1f}% lower with stories "
        f"(goal <= 5%); the flow process's CPU {med['on']['main_cpu_s']:.1f} vs "
        f"{med['off']['main_cpu_s']:.1f}s: +{100 * main_share:.1f}% of all the run's CPU "
        f"(all processes' CPU {100 * cpu_more:+.1f}%)"
    )
    sampler.reset_peak()  # the figures of memory stay those of the runs they always were
    return {
        "runs": runs,
        "median": med,
        "throughput_drop": drop,
        "cpu_more": cpu_more,
        "flow_cpu_share": main_share,
    }


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run, under 2 minutes")
    ap.add_argument(
        "--articles", type=int, help="articles in the end-to-end run (default 10000, --quick 360)"
    )
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per response (0.1)")
    ap.add_argument(
        "--feeds", type=int, default=1000, help="feeds in the world and the re-poll (1000)"
    )
    ap.add_argument("--feeds-per-host", type=int, default=5)
    ap.add_argument(
        "--entry-cap",
        type=int,
        default=20,
        help="fetch.max_entries_per_feed in the run's settings (20)",
    )
    ap.add_argument("--corpora", help="the corpora folder (default ../shared/corpora)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument(
        "--idle-only",
        action="store_true",
        help="only the cycle with nothing new (the re-poll) and its HTTP waits",
    )
    ap.add_argument(
        "--profile-idle",
        metavar="FILE",
        help="profile the re-poll's flow run with pyinstrument (pip install "
        "pyinstrument) and write the text report to FILE (FILE.all: every frame)",
    )
    ap.add_argument(
        "--stories-paired",
        type=int,
        default=0,
        metavar="N",
        help="after the end-to-end run, N more pairs of the same run into fresh databases, "
        "stories off then on: their throughput side by side (goal: on at most 5%% lower)",
    )
    ap.add_argument(
        "--profile-e2e",
        metavar="FILE",
        help="profile the end-to-end run's flow process, every thread, in CPU time with "
        "yappi (pip install yappi): pstats to FILE, the costliest functions to FILE.txt",
    )
    ap.add_argument(
        "--cprofile-idle",
        metavar="FILE",
        help="cProfile the flow thread's CPU time (time.thread_time) in the last re-poll; "
        "pstats written to FILE",
    )
    ap.add_argument(
        "--idle-runs",
        type=int,
        default=1,
        metavar="N",
        help="re-poll N times in a row and report the median (a shared machine's noise); "
        "--profile-idle profiles the last",
    )
    ap.add_argument(
        "--trace-main",
        metavar="FILE",
        help="what the flow's process holds after the end-to-end run that it "
        "did not after the warm-up: tracemalloc (slows that process) and live "
        "objects by type, written to FILE",
    )
    ap.add_argument(
        "--no-stories",
        action="store_true",
        help="run the cycle without grouping stories (to measure what the step costs)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        help="extract.workers for every run (default: the setting's default, one per "
        "core; the limit still uses one process per core). For a small machine's figures",
    )
    ap.add_argument(
        "--max-tasks",
        type=int,
        help="extract.max_tasks_per_worker for every run (default: the setting's)",
    )
    add_record_flag(ap)
    args = ap.parse_args(argv)
    global STORIES
    STORIES = not args.no_stories
    if args.workers:
        EXTRACT["workers"] = args.workers
    if args.max_tasks:
        EXTRACT["max_tasks_per_worker"] = args.max_tasks
    target = args.articles or (360 if args.quick else 10_000)
    limit_pages = min(target, 240 if args.quick else 2000)
    naive_feeds = 2 if args.quick else 12
    cores = len(os.sched_getaffinity(0))

    try:
        root = W.find_corpora(args.corpora)
        page_paths = W.page_files(root)
    except W.CorpusMissing as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2

    t_start = time.perf_counter()
    say(
        f"newsmon benchmark ({'quick' if args.quick else 'full'}): {target} articles, "
        f"{args.feeds} feeds, {args.latency * 1000:.0f} ms per response; {load_line()}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="newsmon-bench-"))
    os.environ["PREFECT_HOME"] = str(tmp / "prefect")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("NEWSMON_DB", None)
    os.environ["NEWSMON_HOME"] = str(tmp / "newsmon-home")  # the local Prefect server's
    prefect_ctx = contextlib.ExitStack()
    # The harness's own processes are spawned: the forkserver is left to the worker pool,
    # which preloads the heavy modules into it (a forkserver starts once per process).
    ctx = multiprocessing.get_context("spawn")
    server_proc = None
    conn = None
    sampler = Sampler()
    webhook = None
    out: dict[str, Any] = {}
    try:
        # -- the world (built in the server process, while feed parsing is measured here)
        t0 = time.perf_counter()
        n_hosts = -(-args.feeds // args.feeds_per_host)
        port, socks = W.bind_port([W.host_ip(h) for h in range(n_hosts)])
        from monitor.config import FetchSettings

        plan_args = dict(
            n_feeds=args.feeds,
            feeds_per_host=args.feeds_per_host,
            port=port,
            latency_s=args.latency,
            entry_cap=args.entry_cap,
            min_gap_s=FetchSettings().per_host_delay_s - 0.05,
        )
        parent, child = ctx.Pipe()
        server_proc = ctx.Process(
            target=W.serve, args=(str(root), plan_args, target, socks, child), daemon=True
        )
        server_proc.start()
        for s in socks:
            s.close()
        sampler.exclude.add(server_proc.pid)
        conn = parent
        # -- 1. feed parsing (CPU time of its own process: the setup beside it does not
        # change it much), while the local Prefect server starts
        q = ctx.Queue()
        p = ctx.Process(target=_parse_bench, args=(str(root), q))
        p.start()
        sampler.exclude.add(p.pid)
        instrument_steps()
        t1 = time.perf_counter()
        # Prefect's server in a process of its own, as `newsmon run --prefect` and
        # `newsmon serve` start it (flows.serve.prefect_api), its state in the run's
        # folder: Prefect's temporary server would also import its server application
        # into the flow's process, which a production setup does not have.
        from flows.serve import prefect_api

        prefect_ctx.enter_context(prefect_api())
        prefect_start = time.perf_counter() - t1
        parse = q.get()
        p.join()
        planned = conn.recv()
        spec, e2e = planned["spec"], planned["e2e"]
        hosts = spec.hosts
        n_articles = sum(min(spec.feeds[i].entries, spec.entry_cap) for i in e2e)
        ready = conn.recv()
        say(
            f"world: {len(spec.feeds)} feeds on {len(hosts)} loopback hosts "
            f"({len(spec.ignore_validators)} ignore validators), port {port}; "
            f"{planned['rewritten']}/{planned['real_feeds']} real feeds with every link "
            f"local; {len(e2e)} feeds / {n_articles} articles for the end-to-end run; "
            f"ready in {time.perf_counter() - t0:.1f}s ({ready['setup_cpu_s']:.1f}s CPU)"
        )
        parse_per_s = parse["feeds"] / parse["cpu_s"]
        say(
            f"[parse] {parse['feeds']} real feeds, {parse['entries']} entries: "
            f"{parse_per_s:.1f} feeds/s per process (CPU time; wall "
            f"{parse['feeds'] / parse['wall_s']:.1f}/s), {parse['errors']} not feeds"
        )

        # -- 2. the limit
        from monitor.demo.servers import WebhookReceiver

        webhook = WebhookReceiver().start()
        e2e_dir = tmp / "e2e"
        cfg_e2e = write_cfg(
            e2e_dir / "config",
            [spec.feed_url(i) for i in e2e],
            e2e_dir / "newsmon.db",
            webhook.apprise_url(),
            args.entry_cap,
        )
        limit: dict[str, Any] = {}
        if not args.idle_only:
            items = [(i, k) for i in e2e for k in range(min(spec.feeds[i].entries, spec.entry_cap))]
            step = max(1, len(items) // limit_pages)
            sample = items[::step][:limit_pages]
            limit = measure_limit(spec, page_paths, sample, cfg_e2e, cores)
            say(
                f"[limit] {limit['pages']} pages in memory, {cores} processes: "
                f"{limit['per_s']:.1f} articles/s (extract {limit['extract_ms']:.1f} ms, "
                f"classify {limit['classify_ms']:.1f} ms per article = "
                f"{100 * limit['classify_ms'] / limit['extract_ms']:.0f}% of extraction); "
                f"{load_line()}"
            )

        # -- 3. end to end, through the Prefect flow
        sampler.start()
        from flows.cycle import cycle

        # Warm-up: one cycle over one feed, as the first cycle of a long-lived serve
        # process (it starts the worker pool). Its own database.
        warm_dir = tmp / "warm"
        warm_feed = next(
            i
            for i in range(len(spec.feeds))
            if i not in set(e2e) and spec.feeds[i].ok and spec.feeds[i].entries
        )
        cfg_warm = write_cfg(
            warm_dir / "config",
            [spec.feed_url(warm_feed)],
            warm_dir / "newsmon.db",
            webhook.apprise_url(),
            5,
        )
        t0 = time.perf_counter()
        cycle(config_dir=str(cfg_warm))
        warm_s = time.perf_counter() - t0
        say(
            f"[prefect] local server up in {prefect_start:.1f}s; warm-up cycle "
            f"(1 feed, worker pool start) {warm_s:.1f}s"
        )
        e2e_rate = e2e_peak = 0.0
        e2e_peak_roles: dict[str, int] = {}
        e2e_pss_roles: dict[str, int] = {}
        if not args.idle_only:
            STEP_TIMES.clear()
            SPAN.clear()
            ANALYSED.clear()
            FETCHED.clear()
            conn.send("reset")
            conn.recv()
            conn.send("stats")
            srv_cpu0 = conn.recv()["cpu_s"]
            sampler.sample()
            cpu0 = sampler.cpu_by_role()
            threads0 = thread_cpu()
            sampler.reset_peak()
            main_rss0 = pss_kb(os.getpid()), (_proc(os.getpid()) or (0, 0, 0, ""))[2]
            tracer = MainTrace().start() if args.trace_main else None
            if args.profile_e2e:
                import yappi

                yappi.set_clock_type("cpu")
                yappi.start(builtins=False, profile_threads=True)
            t0 = time.perf_counter()
            summary = cycle(config_dir=str(cfg_e2e))
            e2e_s = time.perf_counter() - t0
            if args.profile_e2e:
                yappi.stop()
                stats = yappi.get_func_stats()
                stats.save(args.profile_e2e, type="pstat")
                with open(args.profile_e2e + ".txt", "w") as fh:
                    stats.sort("tsub").print_all(out=fh)
                    yappi.get_thread_stats().print_all(out=fh)
            if tracer is not None:
                Path(args.trace_main).write_text(tracer.report())
                say(f"[memory] flow process growth over the run written to {args.trace_main}")
            sampler.sample()
            cpu1 = sampler.cpu_by_role()
            threads1 = thread_cpu()
            by_thread = {
                k: v - threads0.get(k, 0.0)
                for k, v in threads1.items()
                if v - threads0.get(k, 0.0) >= 0.05
            }
            conn.send("stats")
            srv = conn.recv()
            processed = summary["articles_new"] + summary["articles_merged"]
            e2e_rate = processed / e2e_s
            e2e_peak = sampler.peak_rss_kb / 1024
            e2e_peak_roles = dict(sampler.peak_by_role)
            steps = {k: vars(v) for k, v in STEP_TIMES.items()}
            say(
                f"[e2e] {summary['feeds_polled']} feeds, {processed} articles "
                f"({summary['articles_new']} new, {summary['articles_merged']} merged, "
                f"{summary['extraction_fallbacks']} from the feed summary), "
                f"{summary['hits_new']} hits, {summary['alerts_sent']} alerts sent "
                f"({len(webhook.received)} webhook messages) in {e2e_s:.1f}s = "
                f"{e2e_rate:.1f} articles/s; {load_line()}"
            )
            cpu = {r: cpu1.get(r, 0) - cpu0.get(r, 0) for r in cpu1}
            n_workers = sum(1 for r, _ in sampler.cpu_seen.values() if r == "workers")
            say(f"[e2e] worker processes seen: {n_workers}")
            say(
                "[e2e] CPU seconds by process: "
                + ", ".join(f"{r} {v:.1f}" for r, v in sorted(cpu.items()))
                + f"; loopback server {srv['cpu_s'] - srv_cpu0:.1f} "
                f"({srv['stats'].get('page_200', 0)} pages, {srv['stats'].get('feed_200', 0)} "
                f"feeds served)"
            )
            say(
                f"[e2e] politeness: per host at most {srv['max_in_flight_per_host']} requests "
                f"at once, smallest gap {srv['min_gap_per_host_s'] or 0:.3f}s, "
                f"{srv['stats'].get('gaps_below_politeness', 0)} gaps under "
                f"{spec.min_gap_s:.2f}s (the client spaces request starts by "
                f"{spec.min_gap_s + 0.05:.2f}s; a new connection's handshake delays its arrival)"
            )
            say(
                "[e2e] main process CPU by thread: "
                + ", ".join(
                    f"{k} {v:.1f}" for k, v in sorted(by_thread.items(), key=lambda kv: -kv[1])
                )
            )
            if ANALYSED and SPAN:
                first, last = ANALYSED[0] - t0, ANALYSED[-1] - t0
                say(
                    f"[e2e] timeline (s from the flow call): first step {SPAN[0] - t0:.2f}, "
                    f"first page analysed {first:.2f}, last {last:.2f} ({len(ANALYSED)} pages, "
                    f"{len(ANALYSED) / max(last - first, 1e-9):.1f}/s between them), last step "
                    f"ended {SPAN[-1] - t0:.2f}, flow returned {e2e_s:.2f}: "
                    f"{first + e2e_s - last:.2f}s of the run without pages being analysed "
                    f"({100 * (first + e2e_s - last) / e2e_s:.0f}%)"
                )
                if FETCHED:
                    say(
                        f"[e2e] pages fetched: first {FETCHED[0] - t0:.2f}, last "
                        f"{FETCHED[-1] - t0:.2f} s from the flow call ({len(FETCHED)} fetches)"
                    )
                out["timeline"] = {"first": first, "last": last, "pages": len(ANALYSED)}
            say(
                "[e2e] steps (calls, wall s, CPU s of the calling thread): "
                + ", ".join(
                    f"{k} {v['calls']}x {v['wall_s']:.1f}/{v['thread_cpu_s']:.1f}"
                    for k, v in steps.items()
                )
            )
            e2e_pss = sampler.peak_pss_kb / 1024
            e2e_pss_roles = dict(sampler.peak_pss_by_role)
            main_rss1 = pss_kb(os.getpid()), (_proc(os.getpid()) or (0, 0, 0, ""))[2]
            say(
                f"[e2e] flow process PSS/RSS {main_rss0[0] / 1024:.0f}/{main_rss0[1] / 1024:.0f}"
                f" MB before the run, {main_rss1[0] / 1024:.0f}/{main_rss1[1] / 1024:.0f} MB "
                f"after"
            )
            say(
                f"[e2e] peak RSS {e2e_peak:.0f} MB ("
                + ", ".join(f"{r} {kb / 1024:.0f}" for r, kb in sorted(e2e_peak_roles.items()))
                + f"); peak PSS (shared pages counted once) {e2e_pss:.0f} MB"
            )
            out["e2e"] = {
                "seconds": e2e_s,
                "summary": {k: v for k, v in summary.items() if k != "errors"},
                "errors": summary["errors"][:20],
                "cpu_s": cpu,
                "steps": steps,
                "server": srv,
            }

        if args.stories_paired and not args.idle_only:
            out["stories_paired"] = stories_paired(
                cycle, sampler, conn, args, tmp, [spec.feed_url(i) for i in e2e], webhook
            )

        # -- 4. re-poll 1,000 unchanged feeds
        rp_dir = tmp / "repoll"
        cfg_rp = write_cfg(
            rp_dir / "config",
            [spec.feed_url(i) for i in range(len(spec.feeds))],
            rp_dir / "newsmon.db",
            webhook.apprise_url(),
            args.entry_cap,
        )
        t0 = time.perf_counter()
        primed = in_own_process(prime_validators, cfg_rp, exclude=sampler.exclude)
        prime_s = time.perf_counter() - t0
        conn.send("reset")
        conn.recv()
        STEP_TIMES.clear()
        SPAN.clear()
        conn.send("stats")
        srv_cpu0 = conn.recv()["cpu_s"]
        profiler = None
        runs: list[tuple[float, dict[str, float]]] = []
        for k in range(max(1, args.idle_runs)):
            STEP_TIMES.clear()
            SPAN.clear()
            if args.profile_idle and k == max(1, args.idle_runs) - 1:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.002)
                profiler.start()
            cprof = None
            if args.cprofile_idle and k == max(1, args.idle_runs) - 1:
                import cProfile

                cprof = cProfile.Profile(time.thread_time)  # the flow thread's CPU
                cprof.enable()
            sampler.sample()
            cpu0, threads0 = sampler.cpu_by_role(), thread_cpu()
            t0 = time.perf_counter()
            rp = cycle(config_dir=str(cfg_rp), force=True)
            repoll_s = time.perf_counter() - t0
            sampler.sample()
            cpu1, threads1 = sampler.cpu_by_role(), thread_cpu()
            if cprof is not None:
                cprof.disable()
                cprof.dump_stats(args.cprofile_idle)
            runs.append((repoll_s, {r: cpu1.get(r, 0) - cpu0.get(r, 0) for r in cpu1}))
            say(
                f"[repoll] run {k + 1}: {repoll_s:.2f}s wall; CPU seconds "
                + ", ".join(f"{r} {v:.2f}" for r, v in sorted(runs[-1][1].items()) if v)
                + "; main process by thread "
                + ", ".join(
                    f"{n} {v - threads0.get(n, 0.0):.2f}"
                    for n, v in sorted(threads1.items(), key=lambda kv: kv[0])
                    if v - threads0.get(n, 0.0) >= 0.01
                )
                + f"; {load_line()}"
            )
        if profiler is not None:
            profiler.stop()
            Path(args.profile_idle).write_text(profiler.output_text(show_all=False))
            Path(args.profile_idle + ".all").write_text(profiler.output_text(show_all=True))
        last_s = repoll_s
        repoll_s = statistics.median(r for r, _ in runs)
        idle_cpu_main = statistics.median(c.get("main", 0.0) for _, c in runs)
        idle_cpu_srv = statistics.median(c.get("prefect-server", 0.0) for _, c in runs)
        before_steps, after_steps = SPAN[0] - t0, t0 + last_s - SPAN[-1]
        conn.send("stats")
        srv_rp = conn.recv()
        poll_wall = STEP_TIMES["poll_batches"].wall_s if "poll_batches" in STEP_TIMES else 0.0
        overhead = last_s - poll_wall
        say(
            f"[repoll] flow run: {before_steps:.2f}s before the first step, "
            f"{after_steps:.2f}s after the last; steps "
            + ", ".join(f"{k} {v.calls}x {v.wall_s:.2f}s" for k, v in STEP_TIMES.items())
            + f"; loopback server CPU {srv_rp['cpu_s'] - srv_cpu0:.1f}s"
        )
        say(
            f"[repoll] {rp['feeds_polled']} feeds ({primed} primed in {prime_s:.1f}s): "
            f"{rp['feeds_not_modified']} 304, {rp['feeds_unchanged']} same body, "
            f"{rp['feeds_failed']} failed, {rp['articles_new']} new articles, in "
            f"{repoll_s:.1f}s; flow cost beyond the polling steps {overhead:.2f}s; "
            f"per host at most {srv_rp['max_in_flight_per_host']} requests at once, "
            f"smallest gap {srv_rp['min_gap_per_host_s'] or 0:.3f}s, "
            f"{srv_rp['stats'].get('gaps_below_politeness', 0)} gaps under "
            f"{spec.min_gap_s:.2f}s"
        )
        # The same requests alone, by the same client: what the cycle's HTTP waits cost.
        http_s, http_304, http_cpu = in_own_process(http_only, cfg_rp, exclude=sampler.exclude)
        idle_s = repoll_s - http_s
        say(
            f"[idle] the same {rp['feeds_polled']} requests alone ({http_304} answered 304): "
            f"{http_s:.1f}s, {http_cpu:.2f}s CPU; the flow run costs {idle_s:.2f}s beyond "
            "its HTTP waits "
            f"(median of {len(runs)}); the flow process's CPU {idle_cpu_main:.2f}s "
            f"(Prefect's server {idle_cpu_srv:.2f}s)"
        )
        # The plain path on the same feeds (issue 19: the scheduled path within 1.5x of
        # it in CPU and memory for a cycle with nothing new).
        plain = in_own_process(plain_idle, cfg_rp, max(1, args.idle_runs), exclude=sampler.exclude)
        plain_cpu = statistics.median(plain["cpu_s"])
        flow_cpu = idle_cpu_main + idle_cpu_srv
        flow_rss = ((_proc(os.getpid()) or (0, 0, 0, ""))[2]) / 1024
        srv_rss = sampler.peak_by_role.get("prefect-server", 0) / 1024
        say(
            f"[idle] the plain path (no flow, no Prefect server), same feeds: "
            f"{statistics.median(plain['wall_s']):.1f}s wall, {plain_cpu:.2f}s CPU per cycle "
            f"(median of {len(plain['cpu_s'])}), peak RSS {plain['rss_mb']:.0f} MB; the "
            f"flow path {flow_cpu:.2f}s CPU (its process and Prefect's server) = "
            f"{flow_cpu / plain_cpu if plain_cpu else 0:.1f}x, RSS {flow_rss:.0f} MB + "
            f"server {srv_rss:.0f} MB (goal: within 1.5x of the plain path)"
        )
        out["repoll"] = {
            "plain_cpu_s": plain["cpu_s"],
            "plain_wall_s": plain["wall_s"],
            "plain_rss_mb": plain["rss_mb"],
            "flow_cpu_s": flow_cpu,
            "flow_rss_mb": flow_rss,
            "seconds": repoll_s,
            "summary": {k: v for k, v in rp.items() if k != "errors"},
            "overhead_s": overhead,
            "server": srv_rp,
            "http_only_s": http_s,
            "idle_cycle_s": idle_s,
            "idle_runs_s": [r for r, _ in runs],
            "idle_cpu_s": [c for _, c in runs],
            "http_only_cpu_s": http_cpu,
            "steps": {k: vars(v) for k, v in STEP_TIMES.items()},
        }
        sampler.stop()
        peak = sampler.peak_rss_kb / 1024
        rp_roles, rp_pss_roles = dict(sampler.peak_by_role), dict(sampler.peak_pss_by_role)

        # -- 5. the naive peer, on the first feeds of the end-to-end run
        naive: dict[str, Any] = {"per_s": 0.0}
        if not args.idle_only:
            naive = naive_peer(
                [spec.feed_url(i) for i in e2e[:naive_feeds]], args.entry_cap, cfg_e2e
            )
            say(
                f"[naive] {naive['feeds']} feeds, {naive['articles']} articles one after the "
                f"other: {naive['per_s']:.2f} articles/s; {load_line()}"
            )

        if peak < e2e_peak:
            peak, roles, pss_roles = e2e_peak, e2e_peak_roles, e2e_pss_roles
        else:
            roles, pss_roles = rp_roles, rp_pss_roles
        pipeline_rss = sum(kb for r, kb in roles.items() if r != "prefect-server") / 1024
        pipeline_pss = sum(kb for r, kb in pss_roles.items() if r != "prefect-server") / 1024
        say(
            f"[memory] at the peak: RSS {peak:.0f} MB in all, {pipeline_rss:.0f} MB without "
            f"Prefect's server ({roles.get('prefect-server', 0) / 1024:.0f}); PSS "
            + ", ".join(f"{r} {kb / 1024:.0f}" for r, kb in sorted(pss_roles.items()))
            + f" = {pipeline_pss:.0f} MB without Prefect's server"
        )
        say(
            f"[memory] goals (issue #19): pipeline_pss_mb {pipeline_pss:.0f} MB, goal <= "
            f"{PIPELINE_PSS_GOAL_MB} MB (main, forkserver, workers); peak_rss_mb {peak:.0f} MB,"
            f" goal <= {PEAK_RSS_GOAL_MB} MB (all processes with Prefect's server: RSS "
            + ", ".join(f"{r} {kb / 1024:.0f}" for r, kb in sorted(roles.items()))
            + ")"
        )
        result = {
            "e2e_articles_per_s": round(e2e_rate, 1),
            "limit_articles_per_s": round(limit.get("per_s", 0), 1),
            "e2e_vs_limit": round(e2e_rate / limit["per_s"], 2) if limit else 0,
            "e2e_vs_naive": round(e2e_rate / naive["per_s"], 1) if naive["per_s"] else 0,
            "repoll_1000_s": round(repoll_s, 1),
            "feed_parse_per_s": round(parse_per_s, 1),
            "peak_rss_mb": round(peak),
            "idle_cycle_s": round(idle_s, 2),
            "pipeline_rss_mb": round(pipeline_rss),
            "pipeline_pss_mb": round(pipeline_pss),
            # issue 19: the scheduled (flow) path's idle cycle against the plain path's
            "idle_cpu_vs_plain": round(out["repoll"]["flow_cpu_s"] / plain_cpu, 1)
            if plain_cpu
            else 0,
            "idle_plain_cpu_s": round(plain_cpu, 2),
            "idle_flow_cpu_s": round(out["repoll"]["flow_cpu_s"], 2),
            "idle_rss_vs_plain": round(flow_rss / plain["rss_mb"], 1) if plain["rss_mb"] else 0,
            "idle_rss_with_server_vs_plain": round((flow_rss + srv_rss) / plain["rss_mb"], 1)
            if plain["rss_mb"]
            else 0,
        }
        out.update(
            result=result,
            limit=limit,
            naive=naive,
            parse=parse,
            prefect_start_s=prefect_start,
            warm_up_s=warm_s,
            load=load_line(),
            wall_s=time.perf_counter() - t_start,
        )
        (tmp / "result.json").write_text(json.dumps(out, indent=1, default=str))
        say(
            f"total {time.perf_counter() - t_start:.0f}s; details in "
            f"{tmp / 'result.json' if args.keep else '(use --keep)'}; {load_line()}"
        )
        result_line = "RESULT " + " ".join(f"{k}={v}" for k, v in result.items())
        say(result_line)
        if args.record:
            record_figures(args, result, limit, naive, target, result_line)
        return 0
    finally:
        sampler.stop()
        prefect_ctx.close()
        if webhook is not None:
            webhook.stop()
        if conn is not None:
            try:
                conn.send("stop")
                conn.recv()
            except (OSError, EOFError):
                pass
        if server_proc is not None:
            server_proc.join(timeout=5)
            if server_proc.is_alive():
                server_proc.terminate()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def record_figures(
    args: argparse.Namespace,
    result: dict[str, Any],
    limit: dict[str, Any],
    naive: dict[str, Any],
    target: int,
    result_line: str,
) -> None:
    """The run's figures beside their goals, in docs/benchmarks.md."""
    mode = "idle" if args.idle_only else "quick" if args.quick else "full"
    r = result
    rows: list[tuple[str, str, str]] = []
    if not args.idle_only:
        share = (
            f"{100 * limit['classify_ms'] / limit['extract_ms']:.0f} % "
            f"({limit['classify_ms']:.1f} vs {limit['extract_ms']:.1f} ms per page)"
            if limit.get("extract_ms")
            else "-"
        )
        rows += [
            (
                "end to end vs the CPU floor (articles/s)",
                (
                    f"{r['e2e_articles_per_s']} vs {r['limit_articles_per_s']} = "
                    f"{r['e2e_vs_limit']}×"
                ),
                "≥ 0.85×",
            ),
            (
                "end to end vs a naive cron script",
                f"{r['e2e_vs_naive']}× ({naive['per_s']:.2f} articles/s)",
                "≥ 10× (bounded by cores × (latency + work) / work: docs/performance.md)",
            ),
        ]
    rows += [
        ("re-poll of 1,000 unchanged feeds", f"{r['repoll_1000_s']} s", "≤ 10 s"),
        ("a cycle with nothing new, beyond its HTTP waits", f"{r['idle_cycle_s']} s", "≤ 0.5 s"),
        (
            "that cycle's CPU, flow path (its process + Prefect's server) vs plain path",
            f"{r['idle_flow_cpu_s']} vs {r['idle_plain_cpu_s']} s = {r['idle_cpu_vs_plain']}×",
            "≤ 1.5×",
        ),
        (
            "that cycle's memory (RSS), flow path's process vs plain path's",
            f"{r['idle_rss_vs_plain']}× ({r['idle_rss_with_server_vs_plain']}× with Prefect's "
            "server, which a deployment shares)",
            "≤ 1.5×",
        ),
    ]
    if not args.idle_only:
        rows += [
            ("feed parsing, one process", f"{r['feed_parse_per_s']} feeds/s", "≥ 40 feeds/s"),
            ("classification vs extraction, in the floor", share, "< 10 %"),
            (
                "peak memory without Prefect's server (PSS)",
                f"{r['pipeline_pss_mb']} MB (RSS summed {r['pipeline_rss_mb']} MB)",
                f"≤ {PIPELINE_PSS_GOAL_MB} MB",
            ),
            (
                "peak memory, all processes with Prefect's server (RSS summed)",
                f"{r['peak_rss_mb']} MB",
                f"≤ {PEAK_RSS_GOAL_MB} MB",
            ),
        ]
    section = {"full": "pipeline", "quick": "pipeline-quick", "idle": "pipeline-idle"}[mode]
    title = {
        "full": "pipeline: end to end, full run",
        "quick": "pipeline: end to end, --quick",
        "idle": "pipeline: the cycle with nothing new, --idle-only",
    }[mode]
    small = ""
    if EXTRACT:  # a small machine's settings: a section of their own beside the defaults'
        section += "-small"
        small = ", ".join(f"`extract.{k}: {v}`" for k, v in EXTRACT.items())
        title += f", {small.replace('`', '')}"
        small = f" Settings: {small} (the limit still uses one process per core)."
    record(
        section,
        rows,
        title=title,
        result=result_line,
        notes=f"{target:,} articles, {args.feeds:,} feeds, {args.latency * 1000:.0f} ms per "
        f"response.{small} What each figure measures and why: "
        "[performance.md](performance.md).",
    )


if __name__ == "__main__":
    sys.exit(main())
