"""What the alert tests share: real receivers (one per test module, reset per test) and
hits stored straight into the outbox.

A pytest plugin (``tests/conftest.py``), so every test can ask for ``webhook`` and
``smtp``; the helpers are imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from monitor.alerts.send import route_targets
from monitor.config import Config
from monitor.demo.servers import SmtpReceiver, WebhookReceiver
from monitor.store import NewArticle, Store, utcnow

TOPIC = "caucasus-realignment"


@pytest.fixture(scope="module")
def webhook_server() -> Iterator[WebhookReceiver]:
    # one receiver a module: stopping one takes half a second (its poll interval)
    with WebhookReceiver() as w:
        yield w


@pytest.fixture
def webhook(webhook_server: WebhookReceiver) -> WebhookReceiver:
    webhook_server.fail_with = None
    with webhook_server._lock:
        webhook_server.requests.clear()
    return webhook_server


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as s:
        yield s


@pytest.fixture
def smtp(smtp_server: SmtpReceiver) -> SmtpReceiver:
    smtp_server.messages.clear()
    smtp_server.reply = None
    return smtp_server


def add_hits(store: Store, config: Config, n: int = 1, start: int = 0) -> None:
    """``n`` stored articles, each a hit of :data:`TOPIC`, queued for ``config``'s routes."""
    feed_id = store.feeds()[0].id or 0
    items = []
    for i in range(start, start + n):
        url = f"https://news.example/story-{i}"
        items.append(
            NewArticle(
                canonical_url=url,
                url=url,
                guid=None,
                title=f"Story {i}",
                summary="",
                text="...",
                author=None,
                published_at=utcnow(),
                published_source="feed",
                language="en",
                fingerprint=None,
                extraction="ok",
                extraction_error=None,
                sources=[(feed_id, f"k{i}", url)],
                hits=[(TOPIC, 0.7, "v1", {"sentences": [{"text": "Iran met Azerbaijan."}]})],
            )
        )
    store.store_articles(items, route_targets(config))


def table(store: Store, model: type) -> list[Any]:
    """Every row of ``model``'s table, in id order."""
    with store.session() as s:
        return list(s.exec(select(model).order_by(model.id)).all())
