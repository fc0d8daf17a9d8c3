"""Cost grows as the work grows: one polling cycle's time and memory against the size
of the store (1k, 10k, 100k articles) and the number of feeds (100, 1,000, 10,000).

    .venv/bin/python benchmarks/growth.py                 # the five cases, a few minutes
    .venv/bin/python benchmarks/growth.py --full          # every pair (nine cases)
    .venv/bin/python benchmarks/growth.py --articles 1000 --feeds 100   # one case

Each case runs in a process of its own (the store's and the cycle's memory are not
mixed between cases), on a copy of a seeded SQLite store:

- **Stored articles** are seeded directly through ``Store.store_articles`` (1 in 10
  with a hit, each from one of 100 older feeds), dated 3 to 90 days back: history,
  older than the stories window and the recovery pass, as in a store that has run for
  months. What should not depend on them: a cycle's cost.
- **Feeds** are served by a loopback server (one process of its own, ``--feeds-per-host``
  feeds on each 127.20.x.y address, ``--latency`` per response): every feed answers
  with its ETag and then 304, as quiet feeds do; one more feed brings 20 new entries
  each time it is read (20 new articles per cycle: pages fetched, analysed by a warm
  1-worker pool, stored, grouped into stories, alerts queued).
- A warm-up cycle over every feed stores the validators and builds what a long-lived
  process keeps (the grouper, the pool); the **measured cycle** is the second one
  (``run_cycle(..., force=True)``, no Prefect): its wall time, the CPU time of the
  cycle's process, and the peak RSS of that process during the cycle (``VmHWM`` after
  resetting it) and how much it rose above the RSS before the cycle.

The cycle's time should grow with the feeds (each is one request, one row written) and
not with the stored articles; its memory should grow with neither much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline import BENCH_TOPIC, topics_file  # noqa: E402
from world import bind_port  # noqa: E402

from tests.support.benchreport import add_record_flag, record  # noqa: E402

ARTICLE_SIZES = (1_000, 10_000, 100_000)
FEED_COUNTS = (100, 1_000, 10_000)
NEW_PER_CYCLE = 20
PERFORMANCE_MD = ROOT / "docs" / "performance.md"

WORDS = (
    "government minister election parliament market shares bank inflation storm "
    "flood earthquake football match council city police court trial vaccine health "
    "hospital school university energy oil gas climate summit border trade talks "
    "company profit strike workers rail airport festival museum bridge river harbour"
).split()


def say(msg: str) -> None:
    print(msg, flush=True)


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


# --- the loopback world ------------------------------------------------------------


def host_ip(h: int) -> str:
    return f"127.20.{h // 250}.{h % 250 + 1}"


def _text(seed: int, n: int = 120) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(WORDS) + ("" if rnd.random() < 0.8 else str(seed)) for _ in range(n))


def _fresh_feed(base: str, batch: int, port: int, n_hosts: int) -> bytes:
    items = []
    for i in range(batch * NEW_PER_CYCLE, (batch + 1) * NEW_PER_CYCLE):
        page = f"http://{host_ip(i % n_hosts)}:{port}"  # pages on many hosts, as in news
        items.append(
            f"<item><title>Story {i}: {_text(i, 8)}</title>"
            f"<link>{page}/a/{i}.html</link><guid>{page}/a/{i}.html</guid>"
            f"<description>{_text(i, 30)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>fresh</title><link>{base}/</link><description>d</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def _quiet_feed(i: int) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>quiet {i}</title><link>http://example.org/{i}</link>"
        "<description>nothing new</description></channel></rss>"
    ).encode()


def _page(i: int) -> bytes:
    body = "".join(f"<p>{_text(i * 10 + k, 60)}.</p>" for k in range(6))
    return (
        f"<html><head><title>Story {i}</title></head><body><article><h1>Story {i}: "
        f"{_text(i, 8)}</h1>{body}</article></body></html>"
    ).encode()


def serve(socks: list[socket.socket], latency: float, conn: Any) -> None:
    """The loopback server: /q/<i>.xml quiet feeds (ETag, then 304), /fresh.xml 20 new
    entries per read, /a/<i>.html their pages."""
    fresh_reads = 0

    def respond(path: str, headers: dict[str, str]) -> tuple[int, list[str], bytes]:
        nonlocal fresh_reads
        if path.startswith("/q/"):
            etag = '"v1"'
            if headers.get("if-none-match") == etag:
                return 304, [f"ETag: {etag}"], b""
            i = int(path[3:].split(".")[0])
            return 200, [f"ETag: {etag}", "Content-Type: application/rss+xml"], _quiet_feed(i)
        if path == "/fresh.xml":
            host = headers.get("host", "")
            fresh_reads += 1
            port = int(host.rsplit(":", 1)[1])
            body = _fresh_feed(f"http://{host}", fresh_reads - 1, port, len(socks))
            return 200, ["Content-Type: application/rss+xml"], body
        if path.startswith("/a/"):
            i = int(path[3:].split(".")[0])
            return 200, ["Content-Type: text/html; charset=utf-8"], _page(i)
        return 404, [], b"not found"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                if latency:
                    await asyncio.sleep(latency)
                status, extra, body = respond(path, headers)
                reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
                out = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", *extra]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(handle, sock=s, backlog=256) for s in socks]
        conn.send("ready")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)
        for s in servers:
            s.close()

    asyncio.run(main())
    conn.send("stopped")


# --- the seeded store ----------------------------------------------------------------


def seed(db_path: Path, n: int) -> float:
    """A store of ``n`` articles from 100 older feeds, dated 3 to 90 days back."""
    import sqlite3

    from monitor.store import NewArticle, Store

    t0 = time.perf_counter()
    store = Store(f"sqlite:///{db_path}")
    store.sync_feeds(
        [
            SimpleNamespace(
                url=f"http://old.test/{k}.xml", name=f"old {k}", tags=[], interval_minutes=None
            )
            for k in range(100)
        ]
    )
    feed_ids = [f.id for f in store.feeds()]
    batch: list[NewArticle] = []
    for i in range(n):
        url = f"http://old.test/story/{i}"
        batch.append(
            NewArticle(
                canonical_url=url,
                url=url,
                guid=url,
                title=f"Old story {i}: {_text(i, 8)}",
                summary=_text(i, 30),
                text=_text(i, 300),
                author=None,
                published_at=None,
                published_source="first_seen",
                language="en",
                fingerprint=f"{i:016x}",
                extraction="ok",
                extraction_error=None,
                sources=[(feed_ids[i % len(feed_ids)], url, url)],  # type: ignore[list-item]
                hits=[(str(BENCH_TOPIC["id"]), 1.0, "v1", {})] if i % 10 == 0 else [],
            )
        )
        if len(batch) == 2000:
            store.store_articles(batch)
            batch = []
    if batch:
        store.store_articles(batch)
    store.close()
    span = timedelta(days=87).total_seconds()
    with sqlite3.connect(db_path) as db:
        # Spread over 3-90 days back: history, outside the stories window and recovery.
        db.execute(
            "UPDATE article SET first_seen_at = datetime('now', '-3 days', "
            "'-' || CAST((id * ?) AS INTEGER) || ' seconds')",
            (span / max(n, 1),),
        )
        db.execute(
            "UPDATE articlesource SET seen_at = "
            "(SELECT first_seen_at FROM article WHERE id = article_id)"
        )
        db.execute("UPDATE article SET published_at = first_seen_at")
        db.execute(
            "UPDATE hit SET created_at = (SELECT first_seen_at FROM article WHERE id = article_id)"
        )
    return time.perf_counter() - t0


# --- one case --------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def case(config_dir: str, q: Any, profile: str | None = None) -> None:
    """Warm-up cycle, then the measured one; puts the figures on ``q``."""
    from monitor.config import load_config
    from monitor.pipeline.cycle import run_cycle
    from monitor.pipeline.workers import WorkerPool
    from monitor.store import Store

    config = load_config(config_dir)
    store = Store(config.database_url)
    pool = WorkerPool.for_config(config)
    warm = run_cycle(store, config, pool=pool, force=True)
    before = _rss_mb()
    _reset_hwm()
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0, c0 = time.perf_counter(), time.process_time()
    s = run_cycle(store, config, pool=pool, force=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if prof is not None:
        import io
        import pstats

        prof.disable()
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.sort_stats("tottime").print_stats(40)
        st.sort_stats("cumulative").print_stats(60)
        Path(str(profile)).write_text(buf.getvalue())
    peak = _hwm_mb()
    pool.close()
    store.close()
    q.put(
        {
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "rss_before_mb": round(before, 1),
            "peak_rss_mb": round(peak, 1),
            "rss_rise_mb": round(peak - before, 1),
            "feeds_polled": s.feeds_polled,
            "not_modified": s.feeds_not_modified,
            "articles_new": s.articles_new,
            "warm_articles_new": warm.articles_new,
            "errors": s.errors[:3],
        }
    )


def run_case(
    tmp: Path,
    seeded: Path,
    n_articles: int,
    n_feeds: int,
    port: int,
    per_host: int,
    webhook_url: str,
    profile: str | None = None,
) -> dict[str, Any]:
    from monitor.demo.world import write_config

    d = tmp / f"a{n_articles}-f{n_feeds}"
    d.mkdir()
    db = d / "newsmon.db"
    shutil.copy(seeded, db)
    urls = [f"http://{host_ip(i // per_host)}:{port}/q/{i}.xml" for i in range(n_feeds)]
    fresh_host = host_ip(n_feeds // per_host + 1)
    urls.append(f"http://{fresh_host}:{port}/fresh.xml")
    cfg = write_config(
        d / "config",
        topics_from=topics_file(d),
        feed_urls=urls,
        routes=[{"name": "desk", "topics": ["*"], "urls": [webhook_url]}],
        settings={
            "database": f"sqlite:///{db}",
            "extract": {"workers": 1},
            "alerts": {"max_article_age_hours": None},
        },
    )
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=case, args=(str(cfg), q, profile))
    p.start()
    out: dict[str, Any] = q.get(timeout=3600)
    p.join(60)
    out.update(articles=n_articles, feeds=n_feeds)
    db.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="every pair of sizes (nine cases)")
    ap.add_argument("--articles", type=int, nargs="*", help="stored articles (1000 10000 100000)")
    ap.add_argument("--feeds", type=int, nargs="*", help="feeds (100 1000 10000)")
    ap.add_argument("--latency", type=float, default=0.01, help="seconds per response (0.01)")
    ap.add_argument("--feeds-per-host", type=int, default=10, help="feeds per host (10)")
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--profile", help="cProfile each measured cycle into FILE.<articles>-<feeds>")
    add_record_flag(ap)
    args = ap.parse_args(argv)
    sizes = tuple(args.articles or ARTICLE_SIZES)
    feeds = tuple(args.feeds or FEED_COUNTS)
    if args.full or args.articles or args.feeds:
        cases = [(a, f) for a in sizes for f in feeds]
    else:  # the two axes through the smallest case
        cases = [(a, feeds[0]) for a in sizes] + [(sizes[0], f) for f in feeds[1:]]
    say(f"growth benchmark: {len(cases)} cases; {load_line()}")
    tmp = Path(tempfile.mkdtemp(prefix="newsmon-growth-"))
    n_hosts = max(f for _, f in cases) // args.feeds_per_host + 2
    port, socks = bind_port([host_ip(h) for h in range(n_hosts)])
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(socks, args.latency, child), daemon=True)
    server.start()
    for s in socks:
        s.close()
    parent.recv()
    from monitor.demo.servers import WebhookReceiver

    webhook = WebhookReceiver().start()
    results: list[dict[str, Any]] = []
    seeds: dict[int, float] = {}
    try:
        for n in sorted({a for a, _ in cases}):
            path = tmp / f"seed-{n}.db"
            seeds[n] = round(in_process(seed, path, n), 1)
            say(f"[seed] {n:,} articles in {seeds[n]:.1f}s")
        for a, f in cases:
            r = run_case(
                tmp,
                tmp / f"seed-{a}.db",
                a,
                f,
                port,
                args.feeds_per_host,
                webhook.apprise_url(),
                f"{args.profile}.{a}-{f}" if args.profile else None,
            )
            results.append(r)
            say(
                f"[{a:>7,} articles, {f:>6,} feeds] cycle {r['wall_s']:.2f}s wall, "
                f"{r['cpu_s']:.2f} CPU-s, peak RSS {r['peak_rss_mb']:.0f} MB "
                f"(+{r['rss_rise_mb']:.0f} during the cycle); {r['not_modified']} not modified, "
                f"{r['articles_new']} new articles; {load_line()}"
                + (f"; errors: {r['errors']}" if r["errors"] else "")
            )
    finally:
        webhook.stop()
        parent.send("stop")
        parent.recv()
        server.join(10)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"seed_s": seeds, "cases": results}, indent=1))
    by = {(r["articles"], r["feeds"]): r for r in results}
    a0, f0 = sizes[0], feeds[0]
    figures = {}
    if (sizes[-1], f0) in by and (a0, f0) in by:
        figures["articles_wall_ratio"] = round(
            by[(sizes[-1], f0)]["wall_s"] / by[(a0, f0)]["wall_s"], 2
        )
    if (a0, feeds[-1]) in by and (a0, f0) in by:
        figures["feeds_cpu_per_feed_ratio"] = round(
            (by[(a0, feeds[-1])]["cpu_s"] / feeds[-1]) / (by[(a0, f0)]["cpu_s"] / f0), 2
        )
    result = "RESULT " + " ".join(
        [f"a{r['articles']}_f{r['feeds']}_s={r['wall_s']}" for r in results]
        + [f"a{r['articles']}_f{r['feeds']}_rss_mb={r['peak_rss_mb']:.0f}" for r in results]
        + [f"{k}={v}" for k, v in figures.items()]
    )
    say(result)
    if args.record:
        rows = [
            (
                f"{r['articles']:,}",
                f"{r['feeds']:,}",
                f"{r['wall_s']:.2f} s",
                f"{r['cpu_s']:.2f} s",
                f"{1000 * r['cpu_s'] / (r['feeds'] + 1):.2f} ms",
                f"{r['peak_rss_mb']:.0f} MB",
                f"+{r['rss_rise_mb']:.0f} MB",
            )
            for r in results
        ]
        record(
            "growth",
            rows,
            header=(
                "stored articles",
                "feeds",
                "cycle wall",
                "cycle CPU",
                "CPU per feed",
                "peak RSS",
                "RSS rise in the cycle",
            ),
            title="growth: one cycle against the store's size and the feeds",
            result=result,
            notes=(
                f"Each cycle: every feed answers 304, one more brings {NEW_PER_CYCLE} new "
                "articles (1-worker pool, not counted in the RSS). Goals: the cycle's time "
                "flat in the stored articles (within noise) and about proportional to the "
                "feeds; its memory flat in both. Seeding the stores took "
                + ", ".join(f"{v:.0f} s ({k:,} articles)" for k, v in seeds.items())
                + "."
            ),
            path=PERFORMANCE_MD,
        )
    return 0


def _call_into(q: Any, fn: Any, *args: Any) -> None:
    q.put(fn(*args))


def in_process(fn: Any, *args: Any) -> Any:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_call_into, args=(q, fn, *args))
    p.start()
    out = q.get(timeout=3600)
    p.join(60)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
