"""A loopback world with many feeds for the work-sharing tests: feeds that share
articles (so two workers race to store the same story), one story that matches a
topic (so hits and alerts are made), a webhook and an SMTP server that count alerts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from monitor.demo.servers import FixtureServer, SmtpReceiver, WebhookReceiver
from monitor.demo.world import DEMO_DATA, write_config

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ROOT / "config" / "topics.yaml"
WORDS = (
    "harbour council budget railway minister grain tariff drought vaccine election "
    "court pipeline strike museum festival bridge reactor satellite refinery bond "
    "currency coalition senate treaty border drone wheat copper lithium port"
).split()


@dataclass
class ManyFeeds:
    server: FixtureServer
    webhook: WebhookReceiver
    smtp: SmtpReceiver
    config_dir: Path
    feed_paths: list[str]
    page_paths: list[str]

    def polls(self, path: str) -> int:
        return len(self.server.hits(path))


def _page(j: int) -> str:
    rnd = random.Random(j)
    paras = "".join(
        "<p>"
        + " ".join(rnd.choice(WORDS) for _ in range(40)).capitalize()
        + f". Report number {j} paragraph {k}.</p>"
        for k in range(6)
    )
    return (
        f"<html><head><title>Story {j}</title></head><body><article>"
        f"<h1>Story {j}: {' '.join(rnd.sample(WORDS, 4))}</h1>{paras}</article></body></html>"
    )


def _feed(i: int, links: list[tuple[str, str]]) -> str:
    items = "".join(
        f"<item><title>{title}</title><link>{{BASE}}/{path}</link>"
        f'<guid isPermaLink="false">feed{i}-{path}</guid>'
        "<pubDate>Mon, 28 Apr 2025 16:00:00 GMT</pubDate></item>"
        for path, title in links
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>'
        f"<link>{{BASE}}/</link><description>d</description>{items}</channel></rss>"
    )


@contextmanager
def many_feeds(
    directory: Path,
    *,
    feeds: int = 24,
    pages: int = 30,
    per_feed: int = 3,
    settings: dict[str, object] | None = None,
    delay_s: float = 0.0,
) -> Iterator[ManyFeeds]:
    """``feeds`` feeds of ``per_feed`` entries over ``pages`` pages (shared between feeds);
    page 0 is the demo's Caucasus story, which matches the caucasus topic."""
    server = FixtureServer(DEMO_DATA).start()
    webhook = WebhookReceiver().start()
    smtp = SmtpReceiver().start()
    try:
        page_paths = ["pages/caucasus-iran-azerbaijan-thaw.html"]
        for j in range(1, pages):
            page_paths.append(
                server.add(f"gen/story-{j}.html", _page(j), "text/html").split("/", 3)[3]
            )
        feed_paths = []
        for i in range(feeds):
            links = [
                (page_paths[(i * per_feed + k) % pages], f"Entry {i}-{k}") for k in range(per_feed)
            ]
            feed_paths.append(
                server.add(f"gen/feed-{i}.xml", _feed(i, links), "application/rss+xml").split(
                    "/", 3
                )[3]
            )
        if delay_s:
            from monitor.demo.servers import Fault

            for p in feed_paths:
                server.faults["/" + p] = Fault(delay_s=delay_s)
        routes = [
            {"name": "analysts-email", "topics": ["*"], "urls": [smtp.apprise_url()]},
            {
                "name": "caucasus-chat",
                "topics": ["caucasus-realignment"],
                "urls": [webhook.apprise_url()],
            },
        ]
        base: dict[str, object] = {
            "fetch": {"per_host_delay_s": 0, "per_host_concurrency": 8},
            "extract": {"batch_size": 10},
        }
        for k, v in (settings or {}).items():
            old = base.get(k)
            base[k] = {**old, **v} if isinstance(v, dict) and isinstance(old, dict) else v
        cfg = write_config(
            directory / "config",
            topics_from=TOPICS,
            feed_urls=[server.url(p) for p in feed_paths],
            routes=routes,
            settings=base,
        )
        yield ManyFeeds(server, webhook, smtp, cfg, feed_paths, page_paths)
    finally:
        smtp.stop()
        webhook.stop()
        server.stop()
