"""Where the extraction workers' memory goes: one real worker pool, page after page.

    .venv/bin/python benchmarks/memory.py workers --pages 300      # PSS/USS per page
    .venv/bin/python benchmarks/memory.py languages                 # one spaCy pipeline each
    .venv/bin/python benchmarks/memory.py soak --cycles 200         # does memory grow?
    .venv/bin/python benchmarks/memory.py breakdown                 # each process, step by step

``workers`` starts :class:`monitor.pipeline.workers.WorkerPool` (its forkserver preloads what
``monitor/pipeline/warmup.py`` says), hands it the benchmark's real pages one at a time
(distinct copies, as ``benchmarks/world.py`` serves them) and after each page reads
``/proc/PID/smaps_rollup`` of the forkserver and of each worker: RSS, PSS (shared pages
divided among the processes sharing them) and USS (pages of that process alone). It
prints the worker's growth by page count and the pages after which it grew most, with
their language. ``languages`` builds ``monitor.topics.text.pipeline(lang)`` for each
language in a process of its own and prints what each costs.

Memory figures do not depend on the machine's load; timings here are not measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import world as W  # noqa: E402
from tests.support.benchreport import add_record_flag, record  # noqa: E402

PERFORMANCE_MD = ROOT / "docs" / "performance.md"


def smaps(pid: int) -> dict[str, int]:
    """RSS, PSS and USS (private clean + dirty) of a process, in kB."""
    out = {"rss": 0, "pss": 0, "uss": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "Rss":
                    out["rss"] = int(rest.split()[0])
                elif key == "Pss":
                    out["pss"] = int(rest.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    out["uss"] += int(rest.split()[0])
    except OSError:
        pass
    return out


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def pool_processes() -> tuple[int | None, list[int]]:
    """(forkserver, workers) below this process."""
    for c in children(os.getpid()):
        try:
            cmd = Path(f"/proc/{c}/cmdline").read_bytes()
        except OSError:
            continue
        if b"forkserver" in cmd:
            return c, children(c)
    return None, []


def pages(n: int, corpora: str | None) -> list[bytes]:
    paths = W.page_files(W.find_corpora(corpora))
    templates: dict[int, W.PageTemplate] = {}
    out = []
    for g in range(n):
        t = templates.get(g % len(paths))
        if t is None:
            t = templates[g % len(paths)] = W.PageTemplate(W.read_page(paths[g % len(paths)]))
        out.append(t.copy(g // len(paths)))
    return out


def mb(kb: float) -> str:
    return f"{kb / 1024:.0f}"


def run_workers(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.pipeline.jobs import PageJob
    from monitor.pipeline.workers import WorkerPool

    config = load_config(ROOT / "config")
    docs = pages(args.pages, args.corpora)
    print(
        f"{len(docs)} pages; {args.workers} worker(s), recycled every {args.max_tasks} "
        f"pages; MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', '(unset)')}",
        flush=True,
    )
    pool = WorkerPool(config.topics, workers=args.workers, max_tasks=args.max_tasks)
    rows: list[tuple[int, str | None, dict[int, dict[str, int]], dict[str, int]]] = []
    seen_langs: dict[str, int] = {}
    cpu: dict[int, float] = {}  # last CPU seen per worker (a recycled one keeps its last)
    t0 = time.perf_counter()
    try:
        for i, html in enumerate(docs):
            a = pool.outcome(str(i), pool.submit(PageJob(str(i), html, f"http://127.0.0.1/a/{i}")))
            lang = a.extracted.language if a.extracted else None
            if lang and lang not in seen_langs:
                seen_langs[lang] = i
            fs, ws = pool_processes()
            cpu.update((w, cpu_s(w)) for w in ws)
            rows.append(
                (
                    i + 1,
                    lang,
                    {w: smaps(w) for w in ws},
                    smaps(fs) if fs else {"rss": 0, "pss": 0, "uss": 0},
                )
            )
        wall = time.perf_counter() - t0
    finally:
        pool.close()
    first = rows[0]
    print("\npages  forkserver PSS  workers: PID RSS/PSS/USS MB")
    marks = sorted({1, 10, 25, 50, 100, 150, 200, 300, 400, 500, 750, 1000, len(rows)})
    for n, _, ws, fs in rows:
        if n in marks:
            print(
                f"{n:5d}  {mb(fs['pss']):>14}  "
                + "  ".join(
                    f"{w} {mb(m['rss'])}/{mb(m['pss'])}/{mb(m['uss'])}" for w, m in ws.items()
                )
            )
    # Growth of the worker's own pages, page by page (same worker only).
    steps = []
    for (_, _, prev, _), (n, lang, cur, _) in zip(rows, rows[1:], strict=False):
        for w, m in cur.items():
            if w in prev:
                steps.append((m["uss"] - prev[w]["uss"], n, lang, w))
    steps.sort(reverse=True)
    print(
        "\nlargest one-page growths of a worker's USS (MB, page, language, "
        "first page in that language?):"
    )
    for d, n, lang, _ in steps[:15]:
        print(
            f"  +{d / 1024:5.1f}  page {n:4d}  {lang}  "
            f"{'first' if lang and seen_langs.get(lang) == n - 1 else ''}"
        )
    langs = [r[1] for r in rows]
    by_count = sorted(seen_langs, key=langs.count, reverse=True)
    print(
        f"\nlanguages met: {len(seen_langs)} "
        f"({', '.join(f'{k} {langs.count(k)}' for k in by_count)})"
    )
    last = rows[-1]
    print(
        f"\nfirst page: worker USS {', '.join(mb(m['uss']) for m in first[2].values())} MB, "
        f"forkserver PSS {mb(first[3]['pss'])}; last: worker USS "
        f"{', '.join(mb(m['uss']) for m in last[2].values())} MB, "
        f"PSS {', '.join(mb(m['pss']) for m in last[2].values())}; "
        f"median worker PSS over the run "
        f"{mb(statistics.median(m['pss'] for r in rows for m in r[2].values()))} MB"
    )
    print(
        f"worker processes: {len(cpu)}; their CPU {sum(cpu.values()):.1f}s "
        f"({1000 * sum(cpu.values()) / len(rows):.1f} ms per page, up to the last page "
        f"each was seen at); wall {wall:.1f}s"
    )
    total = [sum(m["pss"] for m in r[2].values()) + r[3]["pss"] for r in rows]
    result = (
        f"RESULT pool_pss_peak_mb={mb(max(total))} pool_pss_last_mb={mb(total[-1])} "
        f"worker_uss_last_mb={mb(sum(m['uss'] for m in last[2].values()))}"
    )
    print(result)
    if args.record:
        record(
            "memory-workers",
            [
                (
                    "worker pool PSS at its peak (forkserver + workers)",
                    f"{mb(max(total))} MB",
                    "< 500 MB for the whole pipeline (docs/performance.md)",
                ),
                ("forkserver PSS, last page", f"{mb(last[3]['pss'])} MB", "shared by the workers"),
                (
                    "each worker's PSS / USS, last page",
                    ", ".join(f"{mb(m['pss'])} / {mb(m['uss'])} MB" for m in last[2].values()),
                    f"recycled every {args.max_tasks} pages",
                ),
                ("languages met", str(len(seen_langs)), "one spaCy pipeline each"),
            ],
            title="memory: a worker pool, page after page",
            result=result,
            notes=f"{args.workers} worker(s) over {len(rows)} pages. What grows and why: "
            "[performance.md](performance.md#memory).",
        )
    return 0


_LANG_PROBE = """
import json, os, sys
from monitor.pipeline.warmup import *  # noqa: the forkserver's state
def uss():
    out = 0
    for line in open('/proc/self/smaps_rollup'):
        if line.startswith(('Private_Clean', 'Private_Dirty')):
            out += int(line.split()[1])
    return out
from monitor.topics.match import Classifier
from monitor.topics.text import pipeline
from monitor.config import load_config
clf = Classifier(load_config(sys.argv[1]).topics)
res = {}
for lang in sys.argv[2:]:
    before = uss()
    nlp = pipeline(lang)
    clf.classify("Title", "Some words of text. " * 50, language=lang)
    res[lang] = (uss() - before) / 1024
print(json.dumps(res))
"""

_BREAKDOWN_PROBE = r"""
import gc, json, os, sys, time
sys.path.insert(0, sys.argv[1])

def mem():
    out = {"rss": 0, "anon": 0, "uss": 0, "shared": 0}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            kb = int(v.split()[0]) if v.split() else 0
            if k == "Rss": out["rss"] = kb
            elif k == "Anonymous": out["anon"] = kb
            elif k in ("Private_Clean", "Private_Dirty"): out["uss"] += kb
            elif k in ("Shared_Clean", "Shared_Dirty"): out["shared"] += kb
    return out

def mapped_model_kb():
    # Pages of the mapped language model (monitor/extract/langid.py) in this process:
    # private here (no other process maps the file), shared by the workers of a pool.
    kb, name = 0, ""
    with open("/proc/self/smaps") as f:
        for line in f:
            p = line.split()
            if "-" in p[0] and len(p) >= 5:
                name = p[-1] if len(p) >= 6 else ""
            elif p[0] == "Rss:" and "/langid-" in name:
                kb += int(p[1])
    return kb

steps = []
def step(name, fn):
    m0, t0 = mem(), time.process_time()
    fn()
    m1 = mem()
    steps.append([name, (m1["rss"] - m0["rss"]) / 1024, time.process_time() - t0])

which = sys.argv[2]
if which == "forkserver":  # monitor/pipeline/warmup.py, step by step, in its order
    step("newsmon's modules, pydantic, httpx, pebble",
         lambda: __import__("monitor.pipeline.workers"))
    step("spaCy (without its command line: monitor/topics/spacy_cli.py)",
         lambda: __import__("monitor.topics.text"))
    step("trafilatura (and lxml, htmldate, justext...)",
         lambda: __import__("monitor.extract.article"))
    from monitor.extract import langid
    from monitor.extract.article import detect_language, extract_html
    step("language identification model (py3langid; mapped from a file if it can be)",
         lambda: langid.install()
         or detect_language("The model is loaded once, in the forkserver."))
    from monitor.topics.text import pipeline
    from monitor.pipeline.workers import SHARED_LANGUAGES
    for lang in SHARED_LANGUAGES:
        step(f"spaCy pipeline {lang}", lambda: pipeline(lang))
    def jt():
        from trafilatura import external
        external.JT_STOPLIST or external.jt_stoplist_init()  # as hashes: monitor.extract.stopwords
    step("justext's stoplist of every language", jt)
    step("one small page through trafilatura", lambda: extract_html(
        b"<html><body><article><p>" + b"One small page, before the workers fork. " * 8
        + b"</p></article></body></html>", "https://example.org/warm-up"))
    step("the classifier's modules", lambda: __import__("monitor.topics.match"))
    from monitor.pipeline.workers import release_memory
    step("the language model's pages unmapped, gc.collect, malloc_trim, gc.freeze",
         lambda: (langid.unmap_pages(), gc.collect(), release_memory(), gc.freeze()))
    fs_rss = mem()["rss"] / 1024
    # A worker forked from that state, page after page (the benchmark's pages).
    from benchmarks.memory import pages
    from monitor.config import load_config
    from monitor.pipeline.jobs import PageJob, analyse, make_classifier
    docs = pages(int(sys.argv[3]), None)
    clf_topics = load_config(os.path.join(sys.argv[1], "config")).topics
    gc.freeze()  # the probe's own objects (pages, config): a worker's collection skips them
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        clf = make_classifier(clf_topics)
        m0 = mem()
        rows = []
        for i, d in enumerate(docs, 1):
            analyse(PageJob(str(i), d, f"http://127.0.0.1/a/{i}"), clf)
            if i in (1, 10, 50, 100, 200, 300, 400, 500) or i == len(docs):
                m = mem()
                model = mapped_model_kb()
                rows.append([i, (m["uss"] - m0["uss"] - model) / 1024,
                             (m0["shared"] - m["shared"]) / 1024, model / 1024])
        os.write(w, json.dumps(rows).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    worker = json.loads(os.read(r, 1 << 20).decode())
    print(json.dumps({"steps": steps, "total_rss": fs_rss, "worker": worker}))
else:  # the pipeline's main process (plain path and Prefect's client)
    step("flows.cycle (Prefect's client, SQLModel, config, apprise, httpx)",
         lambda: __import__("flows.cycle"))
    from monitor.stories.names import entries_gazetteer
    step("stories: CLDR names (built in a child) and the gazetteer", entries_gazetteer)
    print(json.dumps({"steps": steps, "total_rss": mem()["rss"] / 1024}))
"""


def run_breakdown(args: argparse.Namespace) -> int:
    """Where each process's memory goes, step by step (RSS each step adds, in a fresh
    process): the forkserver as monitor/pipeline/warmup.py builds it, a worker forked
    from it page after page (its own pages, USS, and the forkserver's pages it copied),
    and the main process's imports."""
    import json

    res = {}
    for which in ("forkserver", "main"):
        out = subprocess.run(
            [sys.executable, "-c", _BREAKDOWN_PROBE, str(ROOT), which, str(args.pages)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        res[which] = json.loads(out.stdout.strip().splitlines()[-1])
    rows: list[tuple[str, str, str]] = []
    for which, label in (("forkserver", "forkserver"), ("main", "main process")):
        for name, mb_, cpu in res[which]["steps"]:
            rows.append((f"{label}: {name}", f"+{mb_:.1f} MB", f"{cpu:.2f} CPU-s"))
        rows.append((f"{label}: RSS in all", f"{res[which]['total_rss']:.0f} MB", "-"))
    for n, own, copied, model in res["forkserver"]["worker"]:
        rows.append(
            (
                f"a worker after {n} pages",
                f"+{own:.0f} MB of its own (USS)",
                f"{copied:.0f} MB of it in pages it shared with the forkserver; and "
                f"{model:.0f} MB of the mapped language model, shared by the workers",
            )
        )
    for name, value, ref in rows:
        print(f"{name:70s} {value:>28s}  {ref}")
    fs_total = res["forkserver"]["total_rss"]
    last = res["forkserver"]["worker"][-1]
    result = (
        f"RESULT forkserver_rss_mb={fs_total:.0f} worker_own_mb={last[1]:.0f} "
        f"worker_pages={last[0]} main_rss_mb={res['main']['total_rss']:.0f}"
    )
    print(result)
    if args.record:
        record(
            "memory-breakdown",
            rows,
            title="memory: where each process's memory goes",
            header=("step", "memory", "CPU / note"),
            result=result,
            path=PERFORMANCE_MD,
        )
    return 0


def run_languages(args: argparse.Namespace) -> int:
    langs = args.langs.split(",")
    out = subprocess.run(
        [sys.executable, "-c", _LANG_PROBE, str(ROOT / "config"), *langs],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    res = json.loads(out.stdout.strip().splitlines()[-1])
    for lang, m in sorted(res.items(), key=lambda kv: -kv[1]):
        print(f"{lang:4s} +{m:5.1f} MB")
    print(f"total +{sum(res.values()):.0f} MB for {len(res)} languages")
    if args.record:
        record(
            "memory-languages",
            [(lang, f"+{m:.1f} MB") for lang, m in sorted(res.items(), key=lambda kv: -kv[1])],
            title="memory: one spaCy pipeline per language",
            header=("language", "worker memory (USS)"),
        )
    return 0


def _tree_pss() -> dict[str, int]:
    """PSS (kB) of this process, its forkserver and the workers below it."""
    fs, ws = pool_processes()
    return {
        "main": smaps(os.getpid())["pss"],
        "forkserver": smaps(fs)["pss"] if fs else 0,
        "workers": sum(smaps(w)["pss"] for w in ws),
    }


def run_soak(args: argparse.Namespace) -> int:
    """Cycle after cycle in one process, as a long-lived serve: does memory grow?"""
    import gzip

    from monitor.config import load_config
    from monitor.demo.servers import FixtureServer
    from monitor.demo.world import DEMO_DATA, write_config
    from monitor.pipeline.cycle import run_cycle
    from monitor.pipeline.workers import WorkerPool
    from monitor.store import Store
    from tests.support.hostile import FAST, TOPICS, item, merge, rss

    feeds, per_feed = 6, 4
    pages = []
    for f in sorted((DEMO_DATA / "pages").iterdir()):
        body = f.read_bytes()
        pages.append(gzip.decompress(body) if f.suffix == ".gz" else body)
    tmp = Path(tempfile.mkdtemp(prefix="newsmon-soak-"))
    rows: list[tuple[int, dict[str, int], float]] = []
    with FixtureServer(DEMO_DATA) as srv:

        def publish(n: int) -> None:  # every feed's entries are new in cycle n
            srv.requests.clear()  # the server's own record of requests would grow
            for old in [k for k in srv.files if k.startswith("/x/p")]:
                del srv.files[old]  # the server runs in this process: its pages would too
            for f in range(feeds):
                items = []
                for k in range(per_feed):
                    path = f"x/p{f}-{n}-{k}.html"
                    page = pages[(n * feeds * per_feed + f * per_feed + k) % len(pages)]
                    # A different story each time: a word of its own in the text.
                    srv.add(path, page.replace(b"</p>", f" soak{n}x{f}x{k}</p>".encode(), 1))
                    items.append(
                        item(f"{{BASE}}/{path}", title=f"story {f} {n} {k}", guid=f"g{f}-{n}-{k}")
                    )
                srv.add(f"x/f{f}.xml", rss(items), "application/rss+xml")

        publish(0)
        cfg = write_config(
            tmp / "config",
            topics_from=TOPICS,
            feed_urls=[srv.url(f"x/f{f}.xml") for f in range(feeds)],
            routes=[],
            settings=merge(FAST, {"extract": {"workers": args.workers}}),
        )
        config = load_config(cfg)
        store = Store(f"sqlite:///{tmp / 'soak.db'}")
        print(
            f"{args.cycles} cycles of {feeds * per_feed} new articles ({feeds} feeds), "
            f"{args.workers} worker(s) recycled every "
            f"{config.settings.extract.max_tasks_per_worker} jobs; PSS in MB",
            flush=True,
        )
        print("cycle   main  forkserver  workers  total")
        t0 = time.perf_counter()
        try:
            with WorkerPool.for_config(config) as pool:
                for n in range(1, args.cycles + 1):
                    publish(n)
                    s = run_cycle(store, config, pool=pool, force=True, feed_batch=2)
                    if s.articles_new + s.articles_merged != feeds * per_feed:
                        print(f"cycle {n}: {s.as_dict()}", file=sys.stderr)
                        return 1
                    m = _tree_pss()
                    rows.append((n, m, time.perf_counter() - t0))
                    if n in {1, 2, 5} or n % max(1, args.cycles // 10) == 0:
                        print(
                            f"{n:5d}  {mb(m['main']):>5}  {mb(m['forkserver']):>10}  "
                            f"{mb(m['workers']):>7}  {mb(sum(m.values())):>5}",
                            flush=True,
                        )
        finally:
            store.close()
            shutil.rmtree(tmp, ignore_errors=True)
    # Growth: the second half against the second quarter (the first quarter warms up:
    # caches, the languages met, the heap's high-water mark). Workers are recycled, so
    # their memory is a saw: compare peaks, and the main process's median.
    q = max(1, len(rows) // 4)
    early, late = rows[q : 2 * q], rows[len(rows) // 2 :]
    main_growth = statistics.median(r[1]["main"] for r in late) - statistics.median(
        r[1]["main"] for r in early
    )
    total_growth = max(sum(r[1].values()) for r in late) - max(sum(r[1].values()) for r in early)
    peak = max(sum(r[1].values()) for r in rows)
    result = (
        f"RESULT soak_cycles={len(rows)} soak_peak_pss_mb={mb(peak)} "
        f"soak_main_growth_mb={main_growth / 1024:.1f} "
        f"soak_peak_growth_mb={total_growth / 1024:.1f}"
    )
    print(
        f"\nmain process, median PSS: second half vs second quarter {main_growth / 1024:+.1f} MB "
        f"(goal: ~0); all processes, peak PSS: {total_growth / 1024:+.1f} MB; peak {mb(peak)} MB "
        f"(goal <= 400 MB for the pipeline); {rows[-1][2]:.0f} s"
    )
    print(result)
    if args.record:
        record(
            "memory-soak",
            [
                ("cycles, each with new articles", str(len(rows)), "200 for the soak"),
                (
                    "main process: PSS growth (median, 2nd half vs 2nd quarter)",
                    f"{main_growth / 1024:+.1f} MB",
                    "~0",
                ),
                (
                    "all processes: peak PSS growth (2nd half vs 2nd quarter)",
                    f"{total_growth / 1024:+.1f} MB",
                    "~0 (workers are recycled)",
                ),
                ("all processes: peak PSS", f"{mb(peak)} MB", "<= 400 MB"),
            ],
            title="memory: cycle after cycle in one process",
            result=result,
            path=PERFORMANCE_MD,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("workers", help="a worker pool's memory, page after page")
    w.add_argument("--pages", type=int, default=300)
    w.add_argument("--workers", type=int, default=1)
    w.add_argument("--max-tasks", type=int, default=500)
    w.add_argument("--corpora")
    add_record_flag(w)
    lg = sub.add_parser("languages", help="what one spaCy pipeline per language costs")
    lg.add_argument(
        "--langs", default="en,de,fr,es,it,pt,ru,uk,ar,fa,tr,id,ja,ko,zh,nl,pl,sv,he,hi,vi"
    )
    add_record_flag(lg)
    bd = sub.add_parser("breakdown", help="where each process's memory goes, step by step")
    bd.add_argument("--pages", type=int, default=200)
    add_record_flag(bd)
    sk = sub.add_parser("soak", help="cycle after cycle in one process: does memory grow?")
    sk.add_argument("--cycles", type=int, default=30, help="30 (the soak: 200)")
    sk.add_argument("--workers", type=int, default=2)
    add_record_flag(sk)
    args = ap.parse_args(argv)
    os.environ.setdefault("TMPDIR", tempfile.gettempdir())
    if args.cmd == "soak":
        return run_soak(args)
    if args.cmd == "breakdown":
        return run_breakdown(args)
    return run_workers(args) if args.cmd == "workers" else run_languages(args)


if __name__ == "__main__":
    sys.exit(main())
