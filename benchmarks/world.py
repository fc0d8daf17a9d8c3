"""The benchmark's loopback world: real feeds and real article pages on many 127.x hosts.

A separate process runs a small asyncio HTTP/1.1 server (stdlib only) bound to one
port on each of many loopback addresses (all of 127.0.0.0/8 is loopback on Linux),
so a polite client gets its concurrency from many hosts, as in the real world.
Every response waits ``latency`` seconds before it is written. Feeds carry an ETag
and a Last-Modified; one host in seven ignores them (always 200, same body), the
others answer 304. Responses are prepared before the measured runs (feeds gzipped,
article pages built), so the server's own cost per request is small; the harness
reads its CPU time from /proc and reports it.

Feeds: the real feeds of ``feeds-real`` with every entry link rewritten to
``http://HOST:PORT/a/FEED/K`` on the feed's own host. Pages: the real pages of
``article-extraction-benchmark/html`` and ``news-pages``, repeated; repeats are made
distinct stories (one word in eight of the visible text reversed, chosen per copy)
so near-duplicate detection does not fold them into one article.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import json
import os
import random
import re
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAST_MODIFIED = "Mon, 28 Apr 2025 16:00:00 GMT"
HOST_PLACEHOLDER = b"@@HOST@@"
FEED_PLACEHOLDER = b"@@FEED@@"


class CorpusMissing(Exception):
    pass


@dataclass
class Corpus:
    root: Path
    feeds: list[tuple[str, bytes]]  # (file name, body as served)
    page_files: list[Path]


def find_corpora(explicit: str | None = None) -> Path:
    here = Path(__file__).resolve().parent.parent
    for cand in ([Path(explicit)] if explicit else []) + [
        Path(os.environ.get("NEWSMON_CORPORA", "/nonexistent")),
        here.parent / "shared" / "corpora",
        here / "shared" / "corpora",
    ]:
        if (cand / "feeds-real" / "feeds").is_dir():
            return cand
    raise CorpusMissing(
        "the corpora are not there: expected ../shared/corpora/ (feeds-real, "
        "article-extraction-benchmark, news-pages) next to the project, or NEWSMON_CORPORA"
    )


def page_files(root: Path) -> list[Path]:
    files = sorted((root / "article-extraction-benchmark" / "html").glob("*.html.gz"))
    files += sorted((root / "news-pages").rglob("*.html.gz"))
    if not files:
        raise CorpusMissing(
            f"no article pages under {root}/article-extraction-benchmark/html or {root}/news-pages"
        )
    return files


def load_feeds(root: Path) -> list[tuple[str, bytes]]:
    d = root / "feeds-real" / "feeds"
    feeds = [(p.name, p.read_bytes()) for p in sorted(d.iterdir()) if p.is_file()]
    if not feeds:
        raise CorpusMissing(f"no feeds in {d}")
    return feeds


# --- pages: distinct copies of real pages ---------------------------------------------

_SKIP = re.compile(rb"<(script|style|head|title|noscript)\b.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(rb"<[^>]*>")
_WORD = re.compile(rb"[A-Za-z]{5,}")


class PageTemplate:
    """A page cut into fixed text and reversible words (visible text only)."""

    def __init__(self, page: bytes) -> None:
        self.page = page
        parts: list[bytes] = []
        pos = 0
        # visible text = outside tags and outside script/style/head
        skip_spans = [m.span() for m in _SKIP.finditer(page)]
        si = 0
        for m in _TAG.finditer(page):
            start, end = m.span()
            text_start = pos
            while si < len(skip_spans) and skip_spans[si][1] <= text_start:
                si += 1
            inside_skip = (
                si < len(skip_spans) and skip_spans[si][0] <= text_start < skip_spans[si][1]
            )
            if start > text_start and not inside_skip:
                seg = page[text_start:start]
                last = 0
                for w in _WORD.finditer(seg):
                    parts.append(seg[last : w.start()])
                    parts.append(w.group())
                    last = w.end()
                parts.append(seg[last:] + page[start:end])
            else:
                parts.append(page[text_start:end])
            pos = end
        parts.append(page[pos:])
        # normalise to fixed, word, fixed, word, ..., fixed
        self.fixed: list[bytes] = []
        self.words: list[bytes] = []
        buf = b""
        for p in parts:
            if _WORD.fullmatch(p) and len(self.fixed) == len(self.words):
                self.fixed.append(buf)
                self.words.append(p)
                buf = b""
            else:
                buf += p
        self.fixed.append(buf)

    def copy(self, n: int) -> bytes:
        """Copy ``n`` of the page (0 is the page itself)."""
        if n == 0 or not self.words:
            return self.page
        words = list(self.words)
        rnd = random.Random(n * 7919 + len(self.page))
        for i in rnd.sample(range(len(words)), max(1, len(words) // 8)):
            words[i] = words[i][::-1]
        out = [self.fixed[0]]
        for w, f in zip(words, self.fixed[1:], strict=True):
            out.append(w)
            out.append(f)
        return b"".join(out)


def read_page(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


# --- feeds: real feeds with their links on the loopback hosts ---------------------------


def feed_template(body: bytes, parse: Any) -> tuple[bytes, int, int] | None:
    """The feed with each entry link replaced by ``http://@@HOST@@/a/@@FEED@@/K``.

    Returns (template, entries, entries not rewritten) or None when it is not a feed."""
    headers = {"content-type": content_type_for(body)}
    try:
        parsed = parse(body, url="http://origin.invalid/feed", headers=headers)
    except Exception:  # noqa: BLE001 - not a feed (HTML, SVG): served as it is, fails
        return None
    links: dict[str, int] = {}
    for e in parsed.entries:
        links.setdefault(e.link, len(links))
    out = body
    for link in sorted(links, key=len, reverse=True):
        new = (
            b"http://"
            + HOST_PLACEHOLDER
            + b"/a/"
            + FEED_PLACEHOLDER
            + b"/"
            + str(links[link]).encode()
        )
        raw = link.encode()
        for form in {
            raw,
            html.escape(link, quote=False).encode(),
            html.escape(link).encode(),
            json.dumps(link)[1:-1].encode(),
        }:
            out = out.replace(form, new)
    try:
        check = parse(
            out.replace(HOST_PLACEHOLDER, b"127.0.0.2").replace(FEED_PLACEHOLDER, b"0"),
            url="http://127.0.0.2/feed",
            headers=headers,
        )
    except Exception:  # noqa: BLE001
        return None
    foreign = sum(1 for e in check.entries if "//127.0.0.2/a/0/" not in e.link)
    return out, len(check.entries), foreign


@dataclass
class FeedSpec:
    index: int
    source: str  # corpus file name
    host: str
    entries: int  # entries in the document
    ok: bool  # a feed whose entries all point at the loopback world


@dataclass
class WorldSpec:
    port: int
    latency_s: float
    feeds: list[FeedSpec]
    hosts: list[str]
    entry_cap: int
    ignore_validators: set[str] = field(default_factory=set)
    min_gap_s: float = 0.0  # requests to one host closer than this are counted

    def feed_url(self, i: int) -> str:
        return f"http://{self.feeds[i].host}:{self.port}/f/{i}"


def host_ip(h: int) -> str:
    return f"127.10.{h // 250}.{h % 250 + 1}"


def plan(
    feed_names: list[str],
    entries: dict[str, tuple[int, int] | None],
    *,
    n_feeds: int,
    feeds_per_host: int,
    port: int,
    latency_s: float,
    entry_cap: int,
    min_gap_s: float = 0.0,
) -> WorldSpec:
    """World feed i is real feed i % len(usable), on host i // feeds_per_host."""
    usable = [n for n in feed_names if entries.get(n) and entries[n][1] == 0]  # type: ignore[index]
    bad = [n for n in feed_names if n not in usable]
    # A few feeds that are not feeds (HTML pages, SVG) stay in, as in real life: 1 in 40.
    feeds: list[FeedSpec] = []
    hosts: list[str] = []
    for i in range(n_feeds):
        if bad and i % 40 == 39:
            name = bad[(i // 40) % len(bad)]
            ok = False
        else:
            name = usable[i % len(usable)]
            ok = True
        h = i // feeds_per_host
        if h == len(hosts):
            hosts.append(host_ip(h))
        e = entries.get(name)
        feeds.append(FeedSpec(i, name, hosts[h], e[0] if e else 0, ok))
    ignore = {h for k, h in enumerate(hosts) if k % 7 == 3}
    return WorldSpec(port, latency_s, feeds, hosts, entry_cap, ignore, min_gap_s)


def content_type_for(body: bytes) -> str:
    """What a publisher's server would send for this document."""
    head = body[:600].lower()
    return (
        "application/atom+xml"
        if b"<feed" in head
        else "application/feed+json"
        if head.lstrip().startswith(b"{")
        else "text/html"
        if b"<html" in head or b"<!doctype html" in head
        else "application/rss+xml"
    )


# --- the server process -----------------------------------------------------------------


class _Resources:
    def __init__(
        self,
        spec: WorldSpec,
        templates: dict[str, bytes],
        page_paths: list[Path],
        prebuild: list[int],
    ) -> None:
        self.spec = spec
        self.feeds: dict[int, tuple[bytes, bytes, str, str]] = {}  # body, gz, etag, ctype
        for f in spec.feeds:
            body = templates.get(f.source)
            if body is None:
                continue
            body = body.replace(HOST_PLACEHOLDER, f"{f.host}:{spec.port}".encode()).replace(
                FEED_PLACEHOLDER, str(f.index).encode()
            )
            ctype = content_type_for(body)
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            self.feeds[f.index] = (body, gzip.compress(body, 1), etag, ctype)
        self.page_paths = page_paths
        self._templates: dict[int, PageTemplate] = {}
        self.pages: dict[tuple[int, int], bytes] = {}
        self.article_base = article_bases(spec)
        for i in prebuild:
            for k in range(min(spec.feeds[i].entries, spec.entry_cap)):
                self.pages[(i, k)] = gzip.compress(self.build_page(i, k), 1)

    def build_page(self, i: int, k: int) -> bytes:
        g = self.article_base[i] + k
        n = len(self.page_paths)
        t = self._templates.get(g % n)
        if t is None:
            t = self._templates[g % n] = PageTemplate(read_page(self.page_paths[g % n]))
        return t.copy(g // n)

    def page(self, i: int, k: int) -> bytes:
        p = self.pages.get((i, k))
        if p is None:
            p = self.pages[(i, k)] = gzip.compress(self.build_page(i, k), 1)
        return p


def article_bases(spec: WorldSpec) -> list[int]:
    """Global article number of entry 0 of each feed (pages are chosen by that number)."""
    out, g = [], 0
    for f in spec.feeds:
        out.append(g)
        g += f.entries
    return out


def page_for(
    spec: WorldSpec, page_paths: list[Path], templates: dict[int, PageTemplate], i: int, k: int
) -> bytes:
    """The same page the server sends for /a/i/k (for the limit measurement)."""
    g = article_bases(spec)[i] + k
    n = len(page_paths)
    t = templates.get(g % n)
    if t is None:
        t = templates[g % n] = PageTemplate(read_page(page_paths[g % n]))
    return t.copy(g // n)


class _Protocol(asyncio.Protocol):
    def __init__(self, server: WorldServer) -> None:
        self.server = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.host = ""
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.host = transport.get_extra_info("sockname")[0]
        self.server.stats["connections"] += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.server.handle(self, head)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class WorldServer:
    def __init__(self, spec: WorldSpec, res: _Resources) -> None:
        self.spec = spec
        self.res = res
        self.stats: dict[str, int] = defaultdict(int)
        # per host: start times of requests and how many are open, for the politeness check
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self.last_start: dict[str, float] = {}
        self.min_gap: dict[str, float] = {}

    def handle(self, proto: _Protocol, head: bytes) -> None:
        loop = asyncio.get_running_loop()
        lines = head.split(b"\r\n")
        try:
            _method, target, _ = lines[0].split(b" ", 2)
        except ValueError:
            _method, target = b"GET", b"/"
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            headers[k.strip().lower()] = v.strip()
        host = proto.host
        now = time.monotonic()
        prev = self.last_start.get(host)
        if prev is not None:
            gap = now - prev
            self.min_gap[host] = min(self.min_gap.get(host, gap), gap)
            if gap < self.spec.min_gap_s:
                self.stats["gaps_below_politeness"] += 1
        self.last_start[host] = now
        self.in_flight[host] += 1
        self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])
        status, body, extra = self.respond(target.decode("latin-1"), headers, host)
        self.stats[f"{status}"] += 1
        self.stats["bytes"] += len(body)
        out = [f"HTTP/1.1 {status} {_REASON.get(status, 'OK')}".encode()]
        for k, v in extra.items():
            out.append(f"{k}: {v}".encode())
        out.append(f"Content-Length: {len(body)}".encode())
        close = headers.get(b"connection", b"").lower() == b"close"
        if close:
            out.append(b"Connection: close")
        payload = b"\r\n".join(out) + b"\r\n\r\n" + body

        def send() -> None:
            self.in_flight[host] -= 1
            if proto.transport is not None:
                proto.transport.write(payload)
                if close:
                    proto.transport.close()

        loop.call_later(self.spec.latency_s, send)

    def respond(
        self, target: str, headers: dict[bytes, bytes], host: str
    ) -> tuple[int, bytes, dict[str, str]]:
        parts = target.split("?", 1)[0].strip("/").split("/")
        gz_ok = b"gzip" in headers.get(b"accept-encoding", b"")
        try:
            if parts[0] == "f" and len(parts) == 2:
                i = int(parts[1])
                feed = self.res.feeds.get(i)
                if feed is None or self.spec.feeds[i].host != host:
                    return 404, b"not found", {"Content-Type": "text/plain"}
                body, gz, etag, ctype = feed
                extra = {
                    "Content-Type": ctype + "; charset=utf-8" if ctype == "text/html" else ctype,
                    "ETag": etag,
                    "Last-Modified": LAST_MODIFIED,
                }
                if host not in self.spec.ignore_validators:
                    inm = headers.get(b"if-none-match")
                    ims = headers.get(b"if-modified-since")
                    if (inm is not None and inm.decode() == etag) or (
                        inm is None and ims is not None and ims.decode() == LAST_MODIFIED
                    ):
                        self.stats["feed_304"] += 1
                        return 304, b"", {"ETag": etag, "Last-Modified": LAST_MODIFIED}
                self.stats["feed_200"] += 1
                if gz_ok:
                    extra["Content-Encoding"] = "gzip"
                    return 200, gz, extra
                return 200, body, extra
            if parts[0] == "a" and len(parts) == 3:
                i, k = int(parts[1]), int(parts[2])
                if (
                    not (0 <= i < len(self.spec.feeds))
                    or self.spec.feeds[i].host != host
                    or not 0 <= k < self.spec.feeds[i].entries
                ):
                    return 404, b"not found", {"Content-Type": "text/plain"}
                self.stats["page_200"] += 1
                gz = self.res.page(i, k)
                extra = {"Content-Type": "text/html; charset=utf-8"}
                if gz_ok:
                    extra["Content-Encoding"] = "gzip"
                    return 200, gz, extra
                return 200, gzip.decompress(gz), extra
        except ValueError:
            pass
        return 404, b"not found", {"Content-Type": "text/plain"}


_REASON = {200: "OK", 304: "Not Modified", 404: "Not Found"}


def bind_port(hosts: list[str]) -> tuple[int, list[socket.socket]]:
    """One port, bound on every host address."""
    for _ in range(20):
        probe = socket.socket()
        probe.bind((hosts[0], 0))
        port = probe.getsockname()[1]
        socks = [probe]
        try:
            for h in hosts[1:]:
                s = socket.socket()
                s.bind((h, port))
                socks.append(s)
        except OSError:
            for s in socks:
                s.close()
            continue
        for s in socks:
            s.listen(512)
            s.setblocking(False)
        return port, socks
    raise OSError("no port free on every loopback host")


def serve(
    root: str, plan_args: dict[str, Any], e2e_target: int, socks: list[socket.socket], conn: Any
) -> None:
    """Entry point of the server process: read the corpora, plan the world, send the plan
    back, build the responses, say ready, then serve until told to stop."""
    from monitor.feeds.parse import parse_feed

    t0 = time.process_time()
    names, templates, entries = build_templates(Path(root), parse_feed)
    spec = plan(names, entries, **plan_args)
    e2e = pick_e2e(spec, e2e_target)
    conn.send(
        {
            "spec": spec,
            "e2e": e2e,
            "rewritten": sum(1 for e in entries.values() if e and e[1] == 0),
            "real_feeds": len(names),
        }
    )
    res = _Resources(spec, templates, page_files(Path(root)), e2e)
    del templates
    server = WorldServer(spec, res)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(lambda: _Protocol(server), sock=s, backlog=512) for s in socks
        ]
        conn.send(
            {
                "ready": True,
                "setup_cpu_s": time.process_time() - t0,
                "pages_prebuilt": len(res.pages),
                "feeds": len(res.feeds),
            }
        )
        while True:
            has = await loop.run_in_executor(None, conn.poll, 0.5)
            if has:
                msg = conn.recv()
                if msg == "stats":
                    conn.send(server_stats(server))
                elif msg == "reset":
                    server.stats.clear()
                    server.max_in_flight.clear()
                    server.min_gap.clear()
                    server.last_start.clear()
                    conn.send(True)
                elif msg == "stop":
                    for s in servers:
                        s.close()
                    conn.send(True)
                    return

    asyncio.run(main())


def build_templates(
    root: Path, parse: Any
) -> tuple[list[str], dict[str, bytes], dict[str, tuple[int, int] | None]]:
    names, templates, entries = [], {}, {}
    for name, body in load_feeds(root):
        names.append(name)
        t = feed_template(body, parse)
        if t is None:
            templates[name] = body  # not a feed: served as it is, fails as in real life
            entries[name] = None
        else:
            templates[name], n, foreign = t
            entries[name] = (n, foreign)
    return names, templates, entries


def pick_e2e(spec: WorldSpec, target: int) -> list[int]:
    """Feeds for the end-to-end run: host by host in turn, until ``target`` articles."""
    per_host = max(1, len(spec.feeds) // max(1, len(spec.hosts)))
    chosen, total = [], 0
    for round_ in range(per_host):
        for h in range(len(spec.hosts)):
            i = h * per_host + round_
            if i >= len(spec.feeds) or not spec.feeds[i].ok or spec.feeds[i].entries == 0:
                continue
            chosen.append(i)
            total += min(spec.feeds[i].entries, spec.entry_cap)
            if total >= target:
                return chosen
    return chosen


def server_stats(server: WorldServer) -> dict[str, Any]:
    gaps = list(server.min_gap.values())
    return {
        "stats": dict(server.stats),
        "max_in_flight_per_host": max(server.max_in_flight.values(), default=0),
        "min_gap_per_host_s": min(gaps) if gaps else None,
        "cpu_s": time.process_time(),
    }
