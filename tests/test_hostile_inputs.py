"""Bad inputs through the real fetch -> parse -> store path, served from loopback.

Every generated case (and, when ../shared/corpora is present, every file of the
feed corpora) is a feed in one config; one cycle runs them all. Each must end as
stored articles or a readable error on its own feed row, the rest of the run goes
on, and memory stays bounded. The figures are printed (``-s``) and collected by
``benchmarks/faults.py``.
"""

from __future__ import annotations

import gzip
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.demo.servers import Fault, FixtureServer
from monitor.demo.world import DEMO_DATA, write_config
from monitor.errors import FeedParseError
from monitor.feeds.parse import canonical_url, parse_feed, plain_text
from monitor.pipeline.cycle import run_cycle
from monitor.pipeline.workers import WorkerPool
from monitor.store import Store, utcnow
from tests.support.hostile import (
    CORPORA,
    FAST,
    TOPICS,
    Outcome,
    OutsideWorld,
    gzip_bomb,
    item,
    json_feed,
    merge,
    outcomes,
    peak_rss,
    rss,
)

MB = 1 << 20
PASSWD = "root:x:0:0"


@dataclass
class Case:
    name: str
    body: bytes
    ctype: str = "application/rss+xml"
    fault: Fault | None = None  # served as is (no on-the-fly gzip), with these headers
    expect: str = "articles"  # articles / error / empty (nothing usable) / notice
    error: str | None = None  # a phrase the recorded error must contain
    check: Callable[[Outcome], None] | None = None


def _links(case: str, n: int) -> list[str]:
    return [f"{{BASE}}/page/{case}/{i}" for i in range(n)]


def _items(case: str, n: int, **kw: Any) -> list[str]:
    return [
        item(link, title=f"{case} story {i}", guid=f"{case}-{i}", **kw)
        for i, link in enumerate(_links(case, n))
    ]


def _laughs(levels: int = 12) -> bytes:
    ents = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, levels + 1)
    )
    return rss(
        [item("{BASE}/page/laughs/0", title=f"&l{levels};", description=f"&l{levels};")],
        doctype=f"<!DOCTYPE r [{ents}]>",
        title=f"&l{levels};",
    ).encode()


def _xxe() -> bytes:
    doctype = (
        '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
        '<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>'
    )
    return rss(
        [item("{BASE}/page/xxe/0", title="XXE &xxe;", description="&xxe; here")], doctype=doctype
    ).encode()


def _big_feed(size: int) -> bytes:
    one = item(
        "{BASE}/page/big/%d",
        title="A story of a big feed",
        description="Lorem ipsum dolor sit amet. " * 30,
    )
    n = size // len(one) + 1
    return rss([one.replace("%d", str(i)) for i in range(n)]).encode()


def _attribute_bomb(n: int = 30_000) -> bytes:
    # feedparser's strict parser looks each attribute up by a linear scan: O(n^2).
    attrs = " ".join(f'a{i}="v"' for i in range(n))
    return rss(
        [f"<item {attrs}><title>attrs</title><link>{{BASE}}/page/attrs/0</link></item>"]
    ).encode()


def _check_first_seen(o: Outcome) -> None:
    a = next(a for a in o.articles if a.url.endswith("/page/no-fields/3"))
    assert a.published_source == "first_seen"


def _check_future(o: Outcome) -> None:
    for a in o.articles:
        assert a.published_at <= utcnow() + timedelta(days=1), a.published_at


def _check_title_cut(o: Outcome) -> None:
    (a,) = o.articles
    assert 0 < len(a.title) <= 500 and len(a.summary) <= 4000


def _check_no_passwd(o: Outcome) -> None:
    for a in o.articles:
        assert PASSWD not in (a.title + a.summary + (a.text or ""))


def _check_utf16(o: Outcome) -> None:
    assert any("Новости" in a.title for a in o.articles), [a.title for a in o.articles]


def _check_latin1(o: Outcome) -> None:
    assert any("caf" in a.title for a in o.articles)


def _check_200(o: Outcome) -> None:
    assert len(o.articles) == 200  # fetch.max_entries_per_feed


def _check_laughs(o: Outcome) -> None:
    for a in o.articles:
        assert len(a.title) <= 500 and len(a.summary) <= 4000


def _check_alternate(o: Outcome) -> None:
    assert o.error and "/feeds/world.xml" in o.error


def generated_cases() -> list[Case]:
    rnd = random.Random(4)
    good = rss(_items("gz", 3)).encode()
    gz = gzip.compress(good.replace(b"{BASE}", b"http://127.0.0.1:9"))
    ce = {"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}
    no_fields = [
        "<item><title>no link, no guid</title></item>",
        '<item><title>no link, guid not a URL</title><guid isPermaLink="false">opaque-1</guid>'
        "</item>",
        "<item><title>guid is a permalink</title><guid>{BASE}/page/no-fields/2</guid></item>",
        "<item><title>no guid, no date</title><link>{BASE}/page/no-fields/3</link></item>",
    ]
    bad_links = [
        "javascript:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "file:///etc/passwd",
        "mailto:x@example.org",
        "http://[::1",
        "http://127.0.0.1:99999/x",
        "http://",
    ]
    hostile_links = [item(link, title=f"bad link {i}") for i, link in enumerate(bad_links)]
    dup = [item(link, title="dup", guid="same-guid") for link in _links("dup", 3)]
    html_alt = (
        b"<!DOCTYPE html><html><head><title>A news site</title>"
        b'<link rel="alternate" type="application/rss+xml" title="RSS" '
        b'href="/feeds/world.xml"></head><body><p>Welcome</p></body></html>'
    )
    return [
        Case("empty", b"", expect="error", error="empty"),
        Case(
            "random-bytes",
            rnd.randbytes(64 * 1024),
            "application/octet-stream",
            expect="error",
            error="not a feed",
        ),
        # zlib does not notice a stream that just stops: what arrived is parsed, and the
        # feed says it is not well-formed
        Case(
            "truncated-gzip",
            b"",
            fault=Fault(status=200, body=gz[: len(gz) // 2], headers=ce),
            expect="notice",
        ),
        Case(
            "corrupt-gzip",
            b"",
            fault=Fault(status=200, body=gz[:10] + rnd.randbytes(4000), headers=ce),
            expect="error",
            error="corrupt",
        ),
        Case(
            "gzip-bomb-1GiB",
            b"",
            fault=Fault(status=200, body=gzip_bomb(), headers=ce),
            expect="error",
            error="limit",
        ),
        Case(
            "feed-50MB",
            b"",
            fault=Fault(
                status=200, body=_big_feed(50 * MB), headers={"Content-Type": "application/rss+xml"}
            ),
            expect="error",
            error="too large",
        ),
        Case("feed-50MB-gzip-on-the-wire", _big_feed(50 * MB), expect="error", error="limit"),
        Case("billion-laughs", _laughs(), check=_check_laughs),
        Case("xxe", _xxe(), check=_check_no_passwd),
        Case(
            "utf-16",
            rss(
                [item("{BASE}/page/utf16/0", title="Новости дня")],
                prolog='<?xml version="1.0" encoding="utf-16"?>',
            ).encode("utf-16"),
            check=_check_utf16,
        ),
        Case(
            "latin1-labelled-utf8",
            rss([item("{BASE}/page/latin1/0", title="café crème")]).encode("latin-1"),
            check=_check_latin1,
        ),
        Case(
            "utf8-labelled-latin1",
            rss(
                [item("{BASE}/page/mislabel/0", title="café Ελλάδα")],
                prolog='<?xml version="1.0"?>',
            ).encode(),
            "application/rss+xml; charset=iso-8859-1",
            check=_check_latin1,
        ),
        Case("entries-10000", rss(_items("e10k", 10_000)).encode(), check=_check_200),
        Case(
            "entries-100000-tiny",
            rss(
                [f"<item><link>{{BASE}}/page/e100k/{i}</link></item>" for i in range(100_000)]
            ).encode(),
            check=_check_200,
        ),
        Case("no-link-guid-date", rss(no_fields).encode(), check=_check_first_seen),
        Case(
            "future-dates",
            rss(
                _items("future", 3, date="Fri, 01 Jan 2100 00:00:00 GMT")
                + _items("future2", 1, date="Mon, 01 Jan 0001 00:00:00 GMT")
            ).encode(),
            check=_check_future,
        ),
        Case("duplicate-guids", rss(dup).encode()),
        Case("javascript-data-links", rss(hostile_links).encode(), expect="empty"),
        Case(
            "title-100KB",
            rss(
                [item("{BASE}/page/title/0", title="T" * 100_000, description="D" * 100_000)]
            ).encode(),
            check=_check_title_cut,
        ),
        Case(
            "json-feed",
            json_feed(
                [
                    {
                        "id": f"j{i}",
                        "url": f"{{BASE}}/page/json/{i}",
                        "title": f"JSON {i}",
                        "content_text": "Text.",
                        "date_published": "2025-01-02T03:04:05Z",
                    }
                    for i in range(3)
                ]
            ),
            "application/feed+json",
        ),
        Case(
            "json-feed-wrong-types",
            json_feed(
                [
                    {
                        "id": 1,
                        "url": "{BASE}/page/jsonwt/0",
                        "title": 5,
                        "summary": ["x"],
                        "date_published": 12,
                    },
                    {"id": {"a": 1}, "url": ["{BASE}/page/jsonwt/1"]},
                    {
                        "id": "ok",
                        "url": "{BASE}/page/jsonwt/2",
                        "title": "fine",
                        "date_published": "not a date",
                    },
                    "not an object",
                    None,
                ]
            ),
            "application/feed+json",
        ),
        Case(
            "json-deeply-nested",
            b'{"items": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
            "application/json",
            expect="error",
            error="JSON",
        ),
        Case(
            "html-with-feed-link",
            html_alt,
            "text/html",
            expect="error",
            error="HTML page",
            check=_check_alternate,
        ),
        Case(
            "html-without-feed-link",
            b"<html><body><p>Just a page</p></body></html>",
            "text/html",
            expect="error",
            error="not a feed",
        ),
        Case("attribute-bomb", _attribute_bomb(), expect="error", error="attributes"),
    ]


@dataclass
class Run:
    outcomes: dict[str, Outcome]
    seconds: float
    peak_mb: float
    growth_mb: float
    summary: Any
    cases: dict[str, Case] = field(default_factory=dict)
    again: dict[str, Outcome] = field(default_factory=dict)  # after a second cycle
    again_summary: Any = None


def run_generated(tmp: Path) -> Run:
    """Every generated case as a feed (plus the demo's world feed as a control) in one
    config; two cycles, the second forced (validators answered, failures re-read)."""
    cases = {c.name: c for c in generated_cases()}
    with FixtureServer(DEMO_DATA) as server:
        for c in cases.values():
            server.add(f"gen/{c.name}", c.body, c.ctype)
            if c.fault is not None:
                server.faults[f"/gen/{c.name}"] = c.fault
        urls = [server.url(f"gen/{n}") for n in cases] + [server.url("feeds/world.xml")]
        cfg = write_config(
            tmp / "config",
            topics_from=TOPICS,
            feed_urls=urls,
            routes=[],
            settings=merge(FAST, {"extract": {"timeout_s": 5}}),
        )
        config = load_config(cfg)
        store = Store(f"sqlite:///{tmp / 'db.sqlite'}")
        with WorkerPool.for_config(config) as pool:
            with peak_rss() as peak:
                t0 = time.monotonic()
                summary = run_cycle(store, config, pool=pool)
                seconds = time.monotonic() - t0
            out = outcomes(store)
            again_summary = run_cycle(store, config, pool=pool, force=True)
            again = outcomes(store)
    # names come from the URL's stem: "gen/<case>" -> "<case>", the control is "world"
    return Run(out, seconds, peak.peak_mb, peak.growth_mb, summary, cases, again, again_summary)


def print_generated(run: Run) -> None:
    print(
        f"\nhostile inputs: {len(run.cases)} generated feeds + 1 control in "
        f"{run.seconds:.1f}s, peak RSS {run.peak_mb:.0f} MB (+{run.growth_mb:.0f} MB)"
    )
    for name, o in sorted(run.outcomes.items()):
        print(
            f"  {name:28} {o.outcome or '-':8} {len(o.articles):4} articles  "
            f"{(o.error or o.notice or '')[:90]}"
        )


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    run = run_generated(tmp_path_factory.mktemp("hostile-inputs"))
    yield run
    print_generated(run)


@pytest.mark.parametrize("name", [c.name for c in generated_cases()])
def test_each_bad_feed_ends_as_articles_or_a_readable_error(generated_run: Run, name: str) -> None:
    case = generated_run.cases[name]
    o = generated_run.outcomes[name]
    assert o.recorded, (name, o)
    if case.expect == "error":
        assert o.outcome == "error" and not o.articles, (name, o.outcome, o.error)
        if case.error:
            assert case.error.lower() in (o.error or "").lower(), (name, o.error)
    elif case.expect == "empty":
        assert o.outcome == "ok" and not o.articles
        assert o.notice and "skipped" in o.notice, o.notice  # said, not silent
    elif case.expect == "notice":
        assert o.outcome == "ok" and o.notice and "not well-formed" in o.notice, o
    else:
        assert o.outcome == "ok" and o.articles, (name, o.outcome, o.error)
        for a in o.articles:
            assert a.url.startswith(("http://", "https://"))
    if case.check:
        case.check(o)


def test_the_rest_of_the_run_goes_on(generated_run: Run) -> None:
    control = generated_run.outcomes["world"]
    assert control.outcome == "ok" and len(control.articles) == 6
    assert generated_run.summary.hits_new >= 1
    # no batch-level failure: every feed was committed with its own outcome
    assert not [e for e in generated_run.summary.errors if e.startswith("batch")]
    assert generated_run.summary.feeds_polled == len(generated_run.cases) + 1


def test_time_and_memory_stay_bounded(generated_run: Run) -> None:
    # 1 GiB bomb, two 50 MB feeds, 100,000 entries: refused or capped, not held in memory.
    assert generated_run.growth_mb < 600, generated_run.growth_mb
    assert generated_run.seconds < 180, generated_run.seconds


def test_duplicate_guids_become_one_article(generated_run: Run) -> None:
    assert len(generated_run.outcomes["duplicate-guids"].articles) == 1


def test_a_second_cycle_adds_nothing_and_broken_feeds_stay_broken(generated_run: Run) -> None:
    # A feed whose body could not be used must not look healthy next time because the
    # server answers 304 or the same bytes: it is read again, fails again, backs off more.
    for name, first in generated_run.outcomes.items():
        second = generated_run.again[name]
        if first.outcome == "error":
            assert second.outcome == "error" and second.error == first.error, name
            assert (first.failures, second.failures) == (1, 2), name
        else:
            assert second.outcome in {"not_modified", "unchanged"}, (name, second.outcome)
            assert len(second.articles) == len(first.articles), name
    assert generated_run.again_summary.articles_new == 0
    urls = [a.canonical_url for o in generated_run.again.values() for a in o.articles]
    assert len(urls) == len(set(urls))


# --- memory of the parser itself --------------------------------------------------------


@pytest.mark.parametrize("case", ["entries-10000", "entries-100000-tiny", "billion-laughs"])
def test_parser_memory_and_time_are_bounded(case: str) -> None:
    c = next(c for c in generated_cases() if c.name == case)
    with peak_rss() as peak:
        t0 = time.monotonic()
        parsed = parse_feed(
            c.body.replace(b"{BASE}", b"http://127.0.0.1:9"),
            url="http://127.0.0.1:9/feed",
            max_entries=200,
        )
        seconds = time.monotonic() - t0
    print(
        f"\n{case}: {len(c.body) / MB:.1f} MB parsed in {seconds:.2f}s, "
        f"peak RSS +{peak.growth_mb:.0f} MB, {len(parsed.entries)} entries"
    )
    assert len(parsed.entries) <= 200
    assert seconds < 15
    assert peak.growth_mb < 300


# --- the corpora ------------------------------------------------------------------------

EDGE = CORPORA / "feeds-edge"
REAL = CORPORA / "feeds-real" / "feeds"
NOT_FEEDS = {"LICENSE", "LICENSE-MIT", "SOURCE.txt", "README.md"}
CTYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/json",
    ".html": "text/html",
    ".opml": "text/x-opml",
    ".txt": "text/plain",
    "": "application/xml",
}


def corpus_files(*, wellformed: bool) -> list[Path]:
    files: list[Path] = []
    if EDGE.is_dir():
        for p in sorted(EDGE.rglob("*")):
            if not p.is_file() or p.name in NOT_FEEDS:
                continue
            if not wellformed and "/wellformed/" in str(p):
                continue
            files.append(p)
    if REAL.is_dir():
        files += sorted(p for p in REAL.iterdir() if p.is_file())
    return files


def run_corpus(tmp: Path, files: list[Path]) -> tuple[dict[str, Outcome], Any, float, float]:
    """Serve every file on loopback as a feed, run one cycle, return each feed's outcome."""
    with FixtureServer() as server, OutsideWorld() as outside:
        names = {}
        for i, p in enumerate(files):
            path = f"c/{i}"
            server.add(path, p.read_bytes(), CTYPES.get(p.suffix.lower(), "application/xml"))
            names[str(i)] = str(p.relative_to(CORPORA))
        cfg = write_config(
            tmp / "config",
            topics_from=TOPICS,
            feed_urls=[server.url(f"c/{i}") for i in range(len(files))],
            routes=[],
            settings=merge(
                FAST,
                {
                    "fetch": {
                        "max_entries_per_feed": 3,
                        "concurrency": 16,
                        "per_host_concurrency": 16,
                        "timeout_s": 10,
                    },
                    "extract": {"batch_size": 200},
                },
            ),
        )
        config = load_config(cfg)
        store = Store(f"sqlite:///{tmp / 'db.sqlite'}")
        mp = pytest.MonkeyPatch()
        for k, v in outside.env().items():
            mp.setenv(k, v)
        try:
            with WorkerPool.for_config(config) as pool, peak_rss() as peak:
                t0 = time.monotonic()
                summary = run_cycle(store, config, pool=pool, feed_batch=100)
                seconds = time.monotonic() - t0
        finally:
            mp.undo()
    out = {names[k]: v for k, v in outcomes(store).items()}
    return out, summary, seconds, peak.growth_mb


def _report(label: str, out: dict[str, Outcome], seconds: float, growth: float) -> None:
    ok = sum(1 for o in out.values() if o.outcome == "ok")
    err = sum(1 for o in out.values() if o.outcome == "error")
    arts = sum(len(o.articles) for o in out.values())
    print(
        f"\n{label}: {len(out)} files in {seconds:.0f}s, {ok} ok ({arts} articles), "
        f"{err} recorded errors, peak RSS +{growth:.0f} MB"
    )
    kinds: dict[str, int] = {}
    for o in out.values():
        if o.outcome == "error":
            k = (o.error or "").split(":")[0][:50]
            kinds[k] = kinds.get(k, 0) + 1
    for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {n:5}  {k}")


def _assert_corpus(out: dict[str, Outcome], files: list[Path], summary: Any) -> None:
    assert len(out) == len(files)
    bad = {n: (o.outcome, o.error) for n, o in out.items() if not o.recorded}
    assert not bad, bad
    assert not [e for e in summary.errors if e.startswith("batch")], summary.errors[:5]
    # every real feed is read; one that gives no articles says why (two in the corpus:
    # one is not well-formed XML, one has entries without links)
    real = {n: o for n, o in out.items() if n.startswith("feeds-real/")}
    assert all(o.outcome == "ok" for o in real.values()), {
        n: o.error for n, o in real.items() if o.outcome != "ok"
    }
    silent = {n for n, o in real.items() if not o.articles and not o.notice}
    assert not silent, silent
    assert sum(1 for o in real.values() if o.articles) >= len(real) - 2
    # the RSParser HTML pages are "this is HTML, not a feed" errors, with their feed links
    for n, o in out.items():
        if n.startswith("feeds-edge/rsparser/") and n.endswith(".html"):
            assert (
                o.outcome == "error"
                and "HTML page" in (o.error or "")
                or "not a feed" in (o.error or "")
            ), (n, o.error)


def _need_corpora() -> None:
    if not EDGE.is_dir() or not REAL.is_dir():
        pytest.skip(f"feed corpora not present under {CORPORA} (see its README)")


def test_corpus_edge_and_real_feeds(tmp_path: Path) -> None:
    """feedparser's illformed/encoding/entities cases, feed-rs, RSParser, 200 real feeds."""
    _need_corpora()
    files = corpus_files(wellformed=False)
    out, summary, seconds, growth = run_corpus(tmp_path, files)
    _report("corpus (edge without wellformed, real)", out, seconds, growth)
    _assert_corpus(out, files, summary)
    assert growth < 800, growth


@pytest.mark.slow
def test_corpus_including_feedparser_wellformed(tmp_path: Path) -> None:
    """The same with feedparser's 1,749 well-formed cases too."""
    _need_corpora()
    files = [p for p in corpus_files(wellformed=True) if "/wellformed/" in str(p)]
    out, summary, seconds, growth = run_corpus(tmp_path, files)
    _report("corpus (feedparser wellformed)", out, seconds, growth)
    _assert_corpus(out, files, summary)


# --- fuzzing ----------------------------------------------------------------------------

SEEDS = [DEMO_DATA / "feeds" / n for n in ("world.xml", "regional.xml", "f1metrics.xml")]


def _mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.randrange(6)
        if not b:
            b += rnd.randbytes(8)
        i = rnd.randrange(len(b))
        if op == 0:  # flip bytes
            for j in range(i, min(len(b), i + rnd.randint(1, 4))):
                b[j] = rnd.randrange(256)
        elif op == 1:  # cut
            del b[i : i + rnd.randint(1, 200)]
        elif op == 2:  # duplicate a slice
            j = rnd.randrange(len(b))
            b[i:i] = b[j : j + rnd.randint(1, 300)]
        elif op == 3:  # insert something markup-like
            b[i:i] = rnd.choice(
                [
                    b"<",
                    b">",
                    b"&",
                    b"&amp;",
                    b"<![CDATA[",
                    b"]]>",
                    b"\x00",
                    b"<item>",
                    b"</item>",
                    b"<link>javascript:x</link>",
                    b"&#xD800;",
                    b"\xff\xfe",
                    b"<!ENTITY a 'b'>",
                    b"%",
                    b"<entry>",
                    b'"',
                    b"http://",
                    b"\r\n",
                    b"\xe2\x80\xae",
                ]
            )
        elif op == 4:  # truncate
            del b[i:]
        else:  # random bytes
            b[i:i] = rnd.randbytes(rnd.randint(1, 32))
    return bytes(b)


def fuzz(n: int, seed: int = 20250428) -> dict[str, int]:
    """Mutated feeds through parse_feed; what came out through canonical_url,
    plain_text and the classifier. Only FeedParseError may come out of the parser."""
    from monitor.topics.match import Classifier

    rnd = random.Random(seed)
    config = load_config(
        write_config(
            Path(__import__("tempfile").mkdtemp()) / "c",
            topics_from=TOPICS,
            feed_urls=[],
            routes=[],
        )
    )
    clf = Classifier(config.topics)
    seeds = [p.read_bytes().replace(b"{BASE}", b"http://127.0.0.1:9") for p in SEEDS]
    seeds.append(json_feed([{"id": "1", "url": "http://x.example/a", "title": "T"}]))
    stats = {"cases": 0, "parsed": 0, "rejected": 0, "entries": 0, "classified": 0}
    for _ in range(n):
        data = _mutate(rnd.choice(seeds), rnd)
        stats["cases"] += 1
        try:
            parsed = parse_feed(
                data,
                url="http://127.0.0.1:9/feed",
                headers={
                    "content-type": rnd.choice(
                        [
                            "application/rss+xml",
                            "application/json",
                            "text/html",
                            "application/xml; charset=utf-16",
                            "",
                        ]
                    )
                },
                max_entries=20,
            )
        except FeedParseError as exc:
            assert str(exc)
            stats["rejected"] += 1
            continue
        stats["parsed"] += 1
        for e in parsed.entries:
            stats["entries"] += 1
            assert canonical_url(e.link) == canonical_url(canonical_url(e.link))
            assert e.link.startswith(("http://", "https://"))
            assert len(e.title) <= 500 and len(e.summary) <= 4000
            assert "<b>" not in plain_text(e.title + "<b>x</b>", 600)
            if stats["classified"] < n // 10:  # the classifier is the slow part
                clf.classify(e.title, e.summary)
                stats["classified"] += 1
    return stats


def test_fuzz_feed_parsing_quick() -> None:
    stats = fuzz(2_000)
    print(f"\nfuzz: {stats}")
    assert stats["parsed"] and stats["rejected"]


@pytest.mark.slow
def test_fuzz_feed_parsing_10000_cases() -> None:
    stats = fuzz(10_000, seed=4)
    print(f"\nfuzz: {stats}")
    assert stats["cases"] == 10_000
