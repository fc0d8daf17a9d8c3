"""Helpers for the hostile-world tests: generated bad inputs, memory peaks, a quick world.

Everything here is real: bytes served by a loopback :class:`FixtureServer`, a config
written by :func:`monitor.demo.world.write_config`, the library's own pipeline.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlmodel import select

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ROOT / "config" / "topics.yaml"
CORPORA = ROOT.parent / "shared" / "corpora"

# Settings for a loopback world: private addresses allowed (refused by default), no
# politeness spacing (every feed is on one host here), short time limits. The blunt
# legacy switch, not fetch.allow_hosts: article links to the outside world go through
# the loopback proxy below, and the allow-list's check would first look their names up
# in DNS, which fails offline (behind a real egress proxy the proxy enforces policy).
FAST: dict[str, Any] = {
    "fetch": {
        "allow_private_networks": True,
        "per_host_delay_s": 0.0,
        "per_host_concurrency": 8,
        "timeout_s": 5,
        "connect_timeout_s": 2,
    },
    "extract": {"workers": 1, "timeout_s": 10},
    "retention": {"prune_text_after_days": None},
}


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def rows(store: Any, model: Any) -> list[Any]:
    with store.session() as s:
        return list(s.exec(select(model)).all())


# --- memory ----------------------------------------------------------------------------


def _status_kb(key: str) -> int | None:
    try:
        m = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


@dataclass
class Peak:
    """Peak resident memory of this process while a block ran (Linux /proc)."""

    before_mb: float = 0.0
    peak_mb: float = 0.0

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.before_mb


@contextmanager
def peak_rss() -> Iterator[Peak]:
    """Reset the kernel's high-water mark (VmHWM), run the block, read the new peak."""
    p = Peak()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # then the peak is the process's lifetime peak: an upper bound
    p.before_mb = (_status_kb("VmRSS") or 0) / 1024
    yield p
    p.peak_mb = (_status_kb("VmHWM") or 0) / 1024


# --- generated inputs -------------------------------------------------------------------


def rss(
    items: list[str],
    *,
    title: str = "Hostile",
    prolog: str = '<?xml version="1.0" encoding="utf-8"?>',
    doctype: str = "",
) -> str:
    return (
        f'{prolog}{doctype}<rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://example.org/</link>{''.join(items)}</channel></rss>"
    )


def item(
    link: str | None,
    *,
    title: str = "An item",
    guid: str | None = None,
    date: str | None = None,
    description: str = "A short summary of the story.",
) -> str:
    parts = [f"<title>{title}</title>", f"<description>{description}</description>"]
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if guid is not None:
        parts.append(f"<guid>{guid}</guid>")
    if date is not None:
        parts.append(f"<pubDate>{date}</pubDate>")
    return "<item>" + "".join(parts) + "</item>"


def gzip_bomb(inflated: int = 1 << 30, chunk: int = 1 << 20) -> bytes:
    """A valid gzip stream of ``inflated`` zero bytes, about 1/1000 of that on the wire.

    Built from one compressed block repeated (each chunk ends with a full flush, so
    every block is identical), without ever holding the inflated data.
    """
    assert inflated % chunk == 0
    zeros = bytes(chunk)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert again == block  # identical blocks: the stream can be repeated
    n = inflated // chunk
    crc = 0
    for _ in range(n):  # the trailer's crc32, chunk by chunk (about 0.3 s for 1 GiB)
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = crc.to_bytes(4, "little") + (inflated & 0xFFFFFFFF).to_bytes(4, "little")
    return header + block * n + c.flush(zlib.Z_FINISH) + trailer


def json_feed(items: list[dict[str, Any]], title: str = "JSON hostile") -> bytes:
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": title, "items": items}
    ).encode()


# --- a proxy that stands in for the rest of the internet --------------------------------


class OutsideWorld:
    """A loopback HTTP proxy answering for every host that is not on loopback.

    Real feeds link to real publishers; tests must stay offline and deterministic.
    With ``HTTP_PROXY``/``HTTPS_PROXY`` pointing here (httpx honours them) a plain
    http page gets a small generic article, an https page a refused tunnel (502).
    """

    PAGE = (
        b"<html><head><title>Elsewhere</title></head><body><article><h1>Elsewhere</h1>"
        + b"<p>This page stands in for a publisher's article during an offline test. "
        + b"It has a few sentences so that extraction finds a main text.</p>" * 4
        + b"</article></body></html>"
    )

    def __init__(self) -> None:
        world = self
        self.requests: list[str] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with world._lock:
                    world.requests.append(self.path)
                body = world.PAGE
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_CONNECT(self) -> None:
                with world._lock:
                    world.requests.append("CONNECT " + self.path)
                self.send_response(502, "offline test: no tunnels")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OutsideWorld:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def env(self) -> dict[str, str]:
        return {
            "HTTP_PROXY": self.url,
            "HTTPS_PROXY": self.url,
            "ALL_PROXY": self.url,
            "NO_PROXY": "127.0.0.1,localhost",
        }


# --- feed outcomes ----------------------------------------------------------------------


@dataclass
class Outcome:
    """How one feed ended: its row and the articles that came from it."""

    name: str
    outcome: str | None
    error: str | None
    notice: str | None
    articles: list[Any] = field(default_factory=list)
    failures: int = 0

    @property
    def recorded(self) -> bool:
        """Ended as stored articles, or as a readable error on the feed."""
        if self.outcome == "error" or self.outcome == "gone":
            return bool(self.error and self.error.strip() and self.error.isprintable())
        return self.outcome in {"ok", "not_modified", "unchanged"}


def outcomes(store: Any) -> dict[str, Outcome]:
    from monitor.store import Article, ArticleSource, Feed

    with store.session() as s:
        feeds = list(s.exec(select(Feed)).all())
        pairs = list(
            s.exec(
                select(ArticleSource.feed_id, Article).join(
                    Article, Article.id == ArticleSource.article_id
                )
            ).all()
        )
    by_feed: dict[int, list[Any]] = {}
    for fid, a in pairs:
        by_feed.setdefault(fid, []).append(a)
    return {
        f.name or f.url: Outcome(
            f.name or f.url,
            f.last_outcome,
            f.last_error,
            f.notice,
            by_feed.get(f.id or 0, []),
            f.consecutive_failures,
        )
        for f in feeds
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def env_with(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
