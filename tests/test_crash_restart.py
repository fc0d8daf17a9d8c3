"""SIGKILL the running pipeline at random points, restart it, check nothing is lost,
half-written or sent twice; and two ``newsmon run`` processes at once on one database.

Each trial adds new stories to a loopback feed, starts ``newsmon run --no-prefect``
in a subprocess and kills it (SIGKILL) during the feed fetch, the page fetches,
the extraction and database write, between a hit being stored and its alert being
sent, during a send (a webhook that reads the message and answers slowly), or at a
random moment. Then the invariants are checked on what the crash left, the clock is
moved past the crash-recovery windows (the 10-minute feed lease and the 15-minute
"stuck in sending" limit: the rows' deadlines are moved back, as if that time had
passed), a normal run restarts the work, and the invariants are checked again:

- every article stored is complete (its feed entries, its hit, the hit's outbox
  rows) or absent - never half-written;
- every story in the feed is stored, once; every hit once;
- every (hit, route, target) is delivered: exactly once, or - only where the kill
  fell inside that send (the channel had the message, the database did not yet
  say "sent") - twice at most; never lost, nothing left pending, sending or failed.

``benchmarks/faults.py`` runs more trials and prints the table (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from monitor.demo.servers import Fault, FixtureServer, SmtpReceiver, WebhookReceiver
from monitor.demo.world import write_config
from monitor.store import Article, ArticleSource, Delivery, Feed, Hit, Store, StoryArticle
from tests.support.hostile import TOPICS

NEWSMON = Path(sys.executable).parent / "newsmon"
PHASES = ("fetch", "pages", "store", "pending", "send", "random")
PER_TRIAL = 3  # new stories per trial
WINDOW = timedelta(minutes=16)  # past the feed lease (10 min) and the stale-send limit (15)
TOPIC = "caucasus-realignment"


def command() -> list[str]:
    if NEWSMON.exists():
        return [str(NEWSMON)]
    return [sys.executable, "-c", "from monitor.cli import main; main()"]


def page(n: int) -> str:
    # Short (under trafilatura's fingerprint length, so no two trials' stories are merged
    # as near-duplicates) and a hit for the Caucasus topic, in the page and in the summary.
    return (
        f"<html><head><title>Story {n}</title></head><body><article>"
        f"<h1>Story {n}: Baku and Tehran sign a corridor deal</h1>"
        f"<p>Iran and Azerbaijan signed agreement number {n} in Baku.</p>"
        f"<p>It covers the North-South Transport Corridor in the South Caucasus.</p>"
        f"</article></body></html>"
    )


SUMMARY = (
    "Iran and Azerbaijan signed an agreement in Baku on the North-South Transport "
    "Corridor in the South Caucasus."
)


class CrashWorld:
    """A feed that grows each trial, its pages, a webhook and an SMTP server, a database."""

    def __init__(self, tmp: Path, *, mirror: bool = False, db_url: str | None = None) -> None:
        self.tmp = tmp
        self.mirror = mirror  # a second feed with the same stories
        self.server = FixtureServer().start()
        self.webhook = WebhookReceiver().start()
        self.smtp = SmtpReceiver().start()
        self.stories: list[int] = []
        self.db_url = db_url or f"sqlite:///{tmp / 'crash.db'}"
        self._publish()
        self.feed_urls = [self.server.url("feeds/trial.xml")]
        if mirror:
            self.feed_urls.append(self.server.url("feeds/mirror.xml"))
        self.config_dir = write_config(
            tmp / "config",
            topics_from=TOPICS,
            feed_urls=self.feed_urls,
            # Every hit alerts (not only a story's first): these stories are one template
            # with a number, which the story step rightly groups, and what is checked
            # here is that each queued alert survives a kill and is sent once.
            routes=[
                {
                    "name": "chat",
                    "topics": ["*"],
                    "urls": [self.webhook.apprise_url()],
                    "stories": "every",
                },
                {
                    "name": "mail",
                    "topics": ["*"],
                    "urls": [self.smtp.apprise_url()],
                    "stories": "every",
                },
            ],
            settings={
                "fetch": {
                    "allow_hosts": ["127.0.0.1"],
                    "per_host_delay_s": 0,
                    "timeout_s": 10,
                    "connect_timeout_s": 5,
                },
                "extract": {"workers": 1, "timeout_s": 20},
                "retention": {"prune_text_after_days": None},
            },
        )
        self.store = Store(self.db_url)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"NEWSMON_CONFIG", "NEWSMON_DB", "PREFECT_API_URL"}
        }
        self.env["NEWSMON_HOME"] = str(tmp / "home")
        # What may arrive twice: (channel, story URL) -> how many kills fell inside its send.
        self.allowance: Counter[tuple[str, str]] = Counter()

    def close(self) -> None:
        self.store.close()
        for s in (self.smtp, self.webhook, self.server):
            s.stop()

    def url(self, n: int) -> str:
        return self.server.url(f"pages/story-{n}.html")

    def _publish(self) -> None:
        items = "".join(
            f"<item><title>Story {n}</title><link>{self.url(n)}</link><guid>story-{n}</guid>"
            f"<description>{SUMMARY}</description></item>"
            for n in reversed(self.stories)
        )
        for name in ("trial", "mirror"):
            self.server.add(
                f"feeds/{name}.xml",
                f'<?xml version="1.0"?><rss version="2.0">'
                f"<channel><title>{name} desk</title>{items}</channel></rss>",
                "application/rss+xml",
            )

    def add_stories(self, k: int) -> list[int]:
        new = list(range(len(self.stories), len(self.stories) + k))
        for n in new:
            self.server.add(f"pages/story-{n}.html", page(n), "text/html")
        self.stories += new
        self._publish()
        return new

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                *command(),
                "--config",
                str(self.config_dir),
                "--db",
                self.db_url,
                "run",
                "--no-prefect",
                "--force",
                *args,
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run(self) -> subprocess.CompletedProcess[str]:
        p = self.start()
        out, err = p.communicate(timeout=300)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    # --- what the channels got -----------------------------------------------------------

    def received(self) -> dict[str, Counter[str]]:
        """Per channel, how many messages carried each story's URL."""
        out: dict[str, Counter[str]] = {"chat": Counter(), "mail": Counter()}
        for msg in self.webhook.received:
            for n in self.stories:
                if self.url(n) in str(msg.get("message", "")):
                    out["chat"][self.url(n)] += 1
        for m in list(self.smtp.messages):
            body = SmtpReceiver.text_of(m)
            for n in self.stories:
                if self.url(n) in body:
                    out["mail"][self.url(n)] += 1
        return out

    # --- the database -------------------------------------------------------------------

    def rows(self, model: Any) -> list[Any]:
        with self.store.session() as s:
            return list(s.exec(select(model)).all())

    def pass_time(self) -> None:
        """Move the crash-recovery deadlines back, as if WINDOW had passed."""
        with self.store.session(write=True) as s:
            for f in s.exec(select(Feed).where(Feed.lease_until != None)).all():  # noqa: E711
                f.lease_until = f.lease_until - WINDOW
                s.add(f)
            for d in s.exec(select(Delivery).where(Delivery.status == "sending")).all():
                d.next_attempt_at = d.next_attempt_at - WINDOW
                s.add(d)


def check_complete_or_absent(w: CrashWorld) -> list[str]:
    """Whatever the crash left: no article without its sources and hit, no grouped hit
    without its outbox rows."""
    problems = []
    arts = w.rows(Article)
    sources = Counter(s.article_id for s in w.rows(ArticleSource))
    hits = w.rows(Hit)
    hits_by_article = Counter(h.article_id for h in hits)
    deliveries = Counter(d.hit_id for d in w.rows(Delivery))
    for a in arts:
        if not sources[a.id]:
            problems.append(f"article {a.url} has no source")
        if hits_by_article[a.id] != 1:
            problems.append(f"article {a.url} has {hits_by_article[a.id]} hits")
        if not a.title or not a.text:
            problems.append(f"article {a.url} stored without title or text")
    # A batch's alerts are queued with its story decision, one transaction after the
    # articles: an article killed between the two has no story yet and its hit no outbox
    # rows until the next run's recovery pass groups it (check_recovered sees that).
    grouped = {sa.article_id for sa in w.rows(StoryArticle)}
    for h in hits:
        if h.article_id not in grouped and deliveries[h.id] == 0:
            continue
        if deliveries[h.id] != 2:
            problems.append(f"hit {h.id} has {deliveries[h.id]} outbox rows, not 2")
    urls = [a.canonical_url for a in arts]
    if len(urls) != len(set(urls)):
        problems.append("an article is stored twice")
    if len({(h.article_id, h.topic_id) for h in hits}) != len(hits):
        problems.append("a hit is stored twice")
    return problems


def check_recovered(w: CrashWorld) -> tuple[list[str], int]:
    """After a normal run: everything there, every alert sent once (or once more where
    allowed). Returns the problems and the number of allowed second copies seen."""
    problems = check_complete_or_absent(w)
    by_url = {a.url: a for a in w.rows(Article)}
    for n in w.stories:
        if w.url(n) not in by_url:
            problems.append(f"story {n} lost: not stored")
    statuses = Counter(d.status for d in w.rows(Delivery))
    if set(statuses) - {"sent"}:
        problems.append(f"outbox not drained: {dict(statuses)}")
    if statuses["sent"] != 2 * len(w.stories):
        problems.append(f"{statuses['sent']} deliveries sent for {len(w.stories)} stories")
    seconds = 0
    for channel, counts in w.received().items():
        for n in w.stories:
            got, url = counts[w.url(n)], w.url(n)
            if got == 0:
                problems.append(f"story {n}: never reached {channel}")
            elif got > 1 + w.allowance[(channel, url)]:
                problems.append(
                    f"story {n}: {got} copies on {channel} (allowed "
                    f"{1 + w.allowance[(channel, url)]})"
                )
            seconds += max(0, got - 1)
    feeds = w.rows(Feed)
    if any(f.lease_owner for f in feeds):
        problems.append("a feed lease was not released")
    return problems, seconds


# --- one trial ----------------------------------------------------------------------------


@dataclass
class Trial:
    n: int
    phase: str
    killed: bool = False  # False: the run finished before the kill point came
    kill_after_s: float = 0.0
    left: str = ""  # what the crash left behind, for the report
    problems: list[str] = field(default_factory=list)
    duplicates: int = 0


def _wait_for(cond: Callable[[], bool], proc: subprocess.Popen[str], limit: float = 60) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def run_trial(w: CrashWorld, n: int, phase: str, rnd: random.Random) -> Trial:
    t = Trial(n, phase)
    new = w.add_stories(PER_TRIAL)
    srv, hook = w.server, w.webhook
    feed_hits = len(srv.hits("feeds/trial.xml"))
    first_page = f"pages/story-{new[0]}.html"
    posts = len(hook.requests)
    if phase == "fetch":
        srv.faults["/feeds/trial.xml"] = Fault(delay_s=2.0, times=1)
    elif phase == "pages":
        for k in new:
            srv.faults[f"/pages/story-{k}.html"] = Fault(delay_s=0.6, times=1)
    elif phase == "send":
        hook.delay_s = 1.0
    before = {ch: Counter(c) for ch, c in w.received().items()}
    t0 = time.monotonic()
    proc = w.start()
    try:
        if phase == "fetch":
            reached = _wait_for(lambda: len(srv.hits("feeds/trial.xml")) > feed_hits, proc)
            delay = rnd.uniform(0.1, 1.8)
        elif phase == "pages":
            reached = _wait_for(lambda: bool(srv.hits(first_page)), proc)
            delay = rnd.uniform(0.0, 1.0)
        elif phase == "store":
            last = f"pages/story-{new[-1]}.html"
            reached = _wait_for(lambda: bool(srv.hits(last)), proc)
            delay = rnd.uniform(0.05, 1.5)
        elif phase == "pending":

            def pending() -> bool:
                with w.store.session() as s:
                    return (
                        s.exec(select(Delivery.id).where(Delivery.status == "pending")).first()
                        is not None
                    )

            reached = _wait_for(pending, proc)
            delay = rnd.uniform(0.0, 0.05)
        elif phase == "send":
            reached = _wait_for(lambda: len(hook.requests) > posts, proc)
            delay = rnd.uniform(0.0, 0.9)
        else:
            reached, delay = True, rnd.uniform(0.5, 9.0)
        if reached:
            time.sleep(delay)
        t.kill_after_s = time.monotonic() - t0
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # the crash: the main process only
            t.killed = True
        proc.wait(timeout=30)
    finally:
        try:  # then tidy up what it left (its extraction workers), by its process group
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.communicate()
        srv.faults.clear()
        hook.delay_s = 0.0
    time.sleep(0.2 if phase != "send" else 1.2)  # a reply the receiver was holding completes
    t.problems += [f"after the kill: {p}" for p in check_complete_or_absent(w)]
    note_in_flight(w, before)
    statuses = Counter(d.status for d in w.rows(Delivery))
    t.left = (
        f"{len(w.rows(Article))} articles, {dict(statuses)}, "
        f"{sum(1 for f in w.rows(Feed) if f.lease_owner)} leases held"
    )
    w.pass_time()
    r = w.run()
    if r.returncode != 0:
        t.problems.append(f"restart failed ({r.returncode}): {r.stderr[-500:]}")
    if "database is locked" in r.stderr + r.stdout:
        t.problems.append("database is locked")
    problems, t.duplicates = check_recovered(w)
    t.problems += problems
    return t


def note_in_flight(w: CrashWorld, before: dict[str, Counter[str]]) -> None:
    """Messages that reached a channel during a killed run but are not recorded as sent
    were inside their send when the kill came: each may go out once more."""
    sent = {(d.route, d.hit_id) for d in w.rows(Delivery) if d.status == "sent"}
    hit_url = {h.id: a.url for h, a in _hits_with_articles(w)}
    sent_urls = {(route, hit_url[h]) for route, h in sent if h in hit_url}
    after = w.received()
    for ch in after:
        for url, c in after[ch].items():
            if c > before[ch][url] and (ch, url) not in sent_urls:
                w.allowance[(ch, url)] += 1


def _hits_with_articles(w: CrashWorld) -> list[tuple[Hit, Article]]:
    with w.store.session() as s:
        return [
            (h, a)
            for h, a in s.exec(
                select(Hit, Article).join(Article, Article.id == Hit.article_id)
            ).all()
        ]


@pytest.fixture
def crash_world(tmp_path: Path) -> Iterator[CrashWorld]:
    w = CrashWorld(tmp_path)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def pg_crash_world(tmp_path: Path, pg_url: str) -> Iterator[CrashWorld]:
    w = CrashWorld(tmp_path, db_url=pg_url)
    try:
        yield w
    finally:
        w.close()


def run_trials(w: CrashWorld, count: int, seed: int) -> list[Trial]:
    rnd = random.Random(seed)
    first = w.run()  # a baseline run, not killed: the database and the feed exist
    assert first.returncode == 0, first.stderr
    trials = []
    for n in range(count):
        phase = PHASES[n % len(PHASES)] if n < len(PHASES) else rnd.choice(PHASES)
        t = run_trial(w, n, phase, rnd)
        print(
            f"trial {n:3} {phase:8} killed={t.killed!s:5} at {t.kill_after_s:4.1f}s  "
            f"left: {t.left}  problems: {len(t.problems)}"
        )
        trials.append(t)
    return trials


def report(trials: list[Trial]) -> str:
    kills = sum(t.killed for t in trials)
    by_phase = Counter(t.phase for t in trials if t.killed)
    dup = trials[-1].duplicates if trials else 0
    bad = sum(len(t.problems) for t in trials)
    return (
        f"{len(trials)} crash trials, {kills} killed mid-run "
        f"({', '.join(f'{p} {c}' for p, c in sorted(by_phase.items()))}); "
        f"invariant violations: {bad}; second copies (kill inside a send): {dup}"
    )


def test_sigkill_at_random_points_loses_nothing_and_sends_nothing_twice(
    crash_world: CrashWorld,
) -> None:
    trials = run_trials(crash_world, count=len(PHASES), seed=4)  # one per phase
    print("\n" + report(trials))
    assert sum(t.killed for t in trials) >= 4, "most kills should land mid-run"
    problems = [f"trial {t.n} ({t.phase}): {p}" for t in trials for p in t.problems]
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 17 s a trial on 2 busy cores
def test_sigkill_many_trials(crash_world: CrashWorld) -> None:
    trials = run_trials(crash_world, count=30, seed=2025)
    print("\n" + report(trials))
    problems = [f"trial {t.n} ({t.phase}): {p}" for t in trials for p in t.problems]
    assert not problems, "\n".join(problems)


def test_sigkill_on_postgresql_loses_nothing_and_sends_nothing_twice(
    pg_crash_world: CrashWorld,
) -> None:
    """The same trials on the shared store of a scaled-out setup: PostgreSQL's row locks
    and SKIP LOCKED leases instead of SQLite's file lock."""
    trials = run_trials(pg_crash_world, count=len(PHASES), seed=11)
    print("\n" + report(trials))
    assert sum(t.killed for t in trials) >= 4, "most kills should land mid-run"
    problems = [f"trial {t.n} ({t.phase}): {p}" for t in trials for p in t.problems]
    assert not problems, "\n".join(problems)


# --- two runs at once ---------------------------------------------------------------------


def test_two_runs_at_once_on_one_sqlite_database(tmp_path: Path) -> None:
    """Round 0: two plain runs (one leases the feeds, the other finds none due but races
    it to send). Rounds 1-2: each run polls one of two feeds that carry the same stories,
    so both fetch, analyse and store the same articles at the same time."""
    w = CrashWorld(tmp_path, mirror=True)
    try:
        _two_runs(w)
    finally:
        w.close()


def test_two_runs_at_once_on_one_postgresql_database(tmp_path: Path, pg_url: str) -> None:
    w = CrashWorld(tmp_path, mirror=True, db_url=pg_url)
    try:
        _two_runs(w)
    finally:
        w.close()


def _two_runs(w: CrashWorld) -> None:
    for round_ in range(3):
        w.add_stories(4)
        if round_ == 0:
            procs = [w.start(), w.start()]
        else:
            procs = [w.start("--feed", w.feed_urls[0]), w.start("--feed", w.feed_urls[1])]
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (out, err) in zip(procs, outs, strict=True):
            print(f"round {round_}: " + " | ".join(out.strip().splitlines()[:4]))
            assert p.returncode == 0, err[-2000:]
            assert "database is locked" not in out + err, err[-2000:]
            assert "Traceback" not in err, err[-2000:]
        problems, dup = check_recovered(w)
        assert not problems, (round_, problems)
        assert dup == 0  # no kill, so no second copy is allowed


@pytest.mark.slow
def test_three_runs_at_once_with_a_kill_among_them(tmp_path: Path) -> None:
    w = CrashWorld(tmp_path, mirror=True)
    rnd = random.Random(7)
    try:
        assert w.run().returncode == 0
        for round_ in range(4):
            w.add_stories(3)
            before = w.received()
            procs = [
                w.start(),
                w.start("--feed", w.feed_urls[0]),
                w.start("--feed", w.feed_urls[1]),
            ]
            victim = procs[rnd.randrange(3)]
            time.sleep(rnd.uniform(4, 9))
            if victim.poll() is None:
                os.kill(victim.pid, signal.SIGKILL)
            for p in procs:
                out, err = p.communicate(timeout=300)
                if p is not victim:
                    assert p.returncode == 0 and "database is locked" not in err, err[-2000:]
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            assert not check_complete_or_absent(w), round_
            note_in_flight(w, before)
            w.pass_time()
            r = w.run()
            assert r.returncode == 0, r.stderr[-2000:]
            problems, dup = check_recovered(w)
            assert not problems, (round_, problems)
            print(f"round {round_}: victim killed; second copies so far {dup}")
    finally:
        w.close()
