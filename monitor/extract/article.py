"""Article text extraction (trafilatura) and language detection (py3langid).

trafilatura has no timeout and is not safe to call from several threads, so the
pipeline runs :func:`extract_html` inside worker processes (:mod:`monitor.pipeline.workers`)
with a per-article time limit. This module is the plain function.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import trafilatura

from monitor.config import MAX_PAGE_BYTES
from monitor.errors import ExtractError
from monitor.extract import langid, stopwords
from monitor.extract.fingerprint import content_fingerprint  # not trafilatura's: no cache

stopwords.install()  # justext's stoplist of every language as hashes, not ~30 MB of words

MIN_FINGERPRINT_CHARS = 300
# Caps on what a hostile page can make us hold or analyse. The page itself is capped by
# fetch.max_bytes when fetched; a page that is itself a gzip file is inflated here, up
# to the same limit (the pipeline passes fetch.max_bytes; MAX_PAGE_BYTES is its default). The text
# and title caps are the classifier's own limits (spaCy refuses a document longer than
# its max_length): no article is longer.
MAX_TEXT_CHARS = 200_000
MAX_TITLE_CHARS = 500


@dataclass
class Extracted:
    title: str
    text: str
    author: str | None
    published: datetime | None
    language: str | None
    fingerprint: str | None
    hostname: str | None = None
    sitename: str | None = None

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["published"] = self.published.isoformat() if self.published else None
        return d


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when there is too little text.

    py3langid: a pure-Python, offline, fast re-packaging of langid.py (97 languages),
    the same detector trafilatura itself uses for its language filter.
    """
    sample = text[:3000].strip()
    if len(sample) < 20:
        return None
    import py3langid

    langid.install()  # the model mapped from a file, shared by every process
    lang, _ = py3langid.classify(sample)
    return str(lang)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def gunzip(data: bytes, limit: int = MAX_PAGE_BYTES) -> bytes:
    """Inflate gzip ``data`` (all members), refusing to make more than ``limit`` bytes:
    a small file that inflates to gigabytes (a gzip bomb) stops at the limit."""
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = d.decompress(rest, limit + 1 - size)
            size += len(chunk)
            out.append(chunk)
            if size > limit or d.unconsumed_tail:
                raise ExtractError(f"page larger than {limit:,} bytes when decompressed")
            if not d.eof:
                break  # truncated: keep what arrived, as the fetcher does
            rest = d.unused_data.lstrip(b"\x00")
            if rest[:2] != b"\x1f\x8b":
                break
    except zlib.error as exc:
        raise ExtractError(f"corrupt gzip: {exc}") from None
    return b"".join(out)


def extract_html(
    html: bytes | str, url: str | None = None, max_bytes: int = MAX_PAGE_BYTES
) -> Extracted:
    """Main text and metadata of an HTML page; ExtractError when there is none.

    A gzip file is inflated up to ``max_bytes``. The title and text are cut to
    :data:`MAX_TITLE_CHARS` and :data:`MAX_TEXT_CHARS`."""
    if isinstance(html, bytes) and html[:2] == b"\x1f\x8b":
        html = gunzip(html, max_bytes)
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, deduplicate=False
        )
    except Exception as exc:  # noqa: BLE001 - trafilatura raises a wide variety on hostile input
        raise ExtractError(f"extraction failed: {type(exc).__name__}: {exc}"[:300]) from None
    if doc is None or isinstance(doc, dict) or not (doc.text or "").strip():
        raise ExtractError("no article text found on the page")
    text = (doc.text or "").strip()[:MAX_TEXT_CHARS]
    return Extracted(
        title=" ".join((doc.title or "").split())[:MAX_TITLE_CHARS],
        text=text,
        author=(doc.author or None),
        published=_date(doc.date),
        language=detect_language(text),
        fingerprint=content_fingerprint(text) if len(text) >= MIN_FINGERPRINT_CHARS else None,
        hostname=doc.hostname,
        sitename=doc.sitename,
    )


def extract_text(text: str, title: str | None = None) -> Extracted:
    """A plain-text article: the first line is the title unless one is given."""
    text = text.strip()[:MAX_TEXT_CHARS]
    if not text:
        raise ExtractError("empty text")
    if title is None:
        first, _, rest = text.partition("\n")
        if len(first) <= 200 and rest.strip():
            title, text = first.strip(), rest.strip()
        else:
            title = ""
    return Extracted(
        title=title,
        text=text,
        author=None,
        published=None,
        language=detect_language(text),
        fingerprint=content_fingerprint(text) if len(text) >= MIN_FINGERPRINT_CHARS else None,
    )


def extract_file(path: str | Path) -> Extracted:
    """An HTML page (optionally gzipped) or a plain-text file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ExtractError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gunzip(data)
        except ExtractError as exc:
            raise ExtractError(f"{p}: {exc}") from None
    head = data[:2000].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")) or re.search(
        rb"<(p|div|article|body)[\s>]", data[:20000], re.I
    ):
        return extract_html(data)
    return extract_text(data.decode("utf-8", errors="replace"))
