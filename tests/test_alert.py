"""monitor.alerts: masking, rendering, and the outbox delivered to real loopback receivers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from monitor.alerts.render import Item, render
from monitor.alerts.routes import Route, check_url, mask_url
from monitor.alerts.send import deliver, route_targets
from monitor.config import Config, FeedConfig, load_config
from monitor.demo.servers import SmtpReceiver, WebhookReceiver
from monitor.store import Delivery, NewArticle, Store, utcnow

ROOT = Path(__file__).resolve().parent.parent
TOPICS = load_config(ROOT / "config").topics
TOPIC = "caucasus-realignment"
HOSTILE = '<img src=x onerror="alert(1)"> Iran & Azerbaijan <script>steal()</script>'
SENTENCE = "Iran and Azerbaijan signed seven cooperation agreements in Baku."


# --- masking --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secrets", "kept"),
    [
        (
            "mailto://analyst:hunter2pass@smtp.example.org?to=desk@example.org",
            ["hunter2pass"],
            ["mailto://", "smtp.example.org"],
        ),
        (
            "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#caucasus",
            ["T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ"],
            ["slack://"],
        ),
        (
            "tgram://123456789:AAHfakeTokenValue0987654321abcdefghi/12315544",
            ["AAHfakeTokenValue0987654321abcdefghi", "123456789:"],
            ["tgram://"],
        ),
        ("tgram://bottoken/chatid", ["bottoken"], ["tgram://"]),
        (
            "json://hookuser:s3cretpw@127.0.0.1:8080/hook?-X-Api-Key=k3y",
            ["s3cretpw", "k3y"],
            ["json://", "127.0.0.1"],
        ),
        ("nosuchservice://s3cret@host/path", ["s3cret", "host"], ["nosuchservice://"]),
    ],
)
def test_mask_url_hides_credentials(url: str, secrets: list[str], kept: list[str]) -> None:
    masked = mask_url(url)
    for s in secrets:
        assert s not in masked, masked
    for k in kept:
        assert k in masked, masked


def test_check_url() -> None:
    assert check_url("json://127.0.0.1:9/hook") is None
    assert check_url("nosuchservice://x") is not None


# --- rendering ---------------------------------------------------------------------------


def hostile_item(**kw: Any) -> Item:
    base: dict[str, Any] = dict(
        topic_name="Caucasus <b>realignment</b>",
        title=HOSTILE,
        link='https://news.example/a?x=1&y="><script>x()</script>',
        source="Evil <iframe> Wire",
        published=None,
        score=0.71,
        sentences=['He said "<script>alert(2)</script>" twice.'],
    )
    return Item(**(base | kw))


def test_render_html_escapes_everything_from_outside() -> None:
    title, body = render([hostile_item()], "html", scheme="mailto")
    for raw in ("<img", "<script>", "<iframe>", "<b>realignment", '"><script'):
        assert raw not in body, raw
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; Iran &amp; Azerbaijan" in body
    assert 'href="https://news.example/a?x=1&amp;y=&quot;&gt;&lt;script&gt;' in body
    assert (
        "<blockquote>He said &quot;&lt;script&gt;alert(2)&lt;/script&gt;&quot; twice."
        "</blockquote>" in body
    )
    assert "score 0.71" in body and "date unknown" in body
    assert title.startswith("[Caucasus <b>realignment</b>] ")  # an e-mail subject is text
    tg_title, _ = render([hostile_item()], "html", scheme="tgram")  # joins the HTML body
    assert tg_title.startswith("[Caucasus &lt;b&gt;realignment&lt;/b&gt;] ")


def test_render_markdown_and_text() -> None:
    _, md = render([hostile_item(title="Iran *and* [Azerbaijan](javascript:x)")], "markdown")
    assert r"Iran \*and\* \[Azerbaijan\](javascript:x)" in md
    assert r"\<script\>" in md
    _, text = render([hostile_item(title="Plain")], "text")
    assert text.startswith("Plain\n") and "\u201cHe said" in text


def test_render_digest_title() -> None:
    items = [hostile_item(topic_name="B"), hostile_item(topic_name="A")]
    title, body = render(items, "html", digest=True)
    assert "digest" in title and "2 hits" in title and title.endswith("(A, B)")
    assert body.count("<h3>") == 2 and "<hr>" in body
    one = render(items[:1], "text", digest=True)[0]
    assert "digest" in one and "1 hit " in one and one.endswith("(B)")


# --- delivery to real receivers ------------------------------------------------------------


# the receivers: tests/support/alerting.py


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'newsmon.db'}")
    s.sync_feeds([FeedConfig(url="https://feeds.example/world.xml", name="World Desk")])
    yield s
    s.close()


def make_config(*routes: Route) -> Config:
    return Config(topics=TOPICS, routes=list(routes))


def add_hit(
    store: Store,
    config: Config,
    n: int = 0,
    title: str = "Iran and Azerbaijan thaw",
    published_hours_ago: float = 1,
) -> None:
    feed_id = store.feeds()[0].id or 0
    url = f"https://news.example/story-{n}"
    store.store_articles(
        [
            NewArticle(
                canonical_url=url,
                url=url,
                guid=None,
                title=title,
                summary="",
                text="...",
                author=None,
                published_at=utcnow() - timedelta(hours=published_hours_ago),
                published_source="feed",
                language="en",
                fingerprint=None,
                extraction="ok",
                extraction_error=None,
                sources=[(feed_id, f"k{n}", url)],
                hits=[(TOPIC, 0.72, "v1", {"sentences": [{"text": SENTENCE}]})],
            )
        ],
        route_targets(config),
    )


def deliveries(store: Store) -> list[Delivery]:
    with store.session() as s:
        return list(s.exec(select(Delivery).order_by(Delivery.id)).all())


def test_delivered_once_to_webhook_and_email(
    store: Store, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    config = make_config(
        Route(name="chat", topics=[TOPIC], urls=[webhook.apprise_url()]),
        Route(name="mail", urls=[smtp.apprise_url()]),
        Route(name="nuclear-only", topics=["iran-nuclear"], urls=[webhook.apprise_url("n")]),
    )
    add_hit(store, config, title=HOSTILE)
    assert [d.route for d in deliveries(store)] == ["chat", "mail"]  # nuclear-only not wanted

    rep = deliver(store, config)
    assert (rep.sent, rep.failed, rep.dead, rep.messages) == (2, 0, 0, 2)
    assert rep.errors == []
    assert [d.status for d in deliveries(store)] == ["sent", "sent"]
    assert len(webhook.received) == 1 and len(smtp.messages) == 1

    chat = webhook.received[0]
    assert "https://news.example/story-0" in chat["message"]
    assert SENTENCE in chat["message"]
    assert "World Desk" in chat["message"]
    mail = smtp.messages[0]
    assert mail["To"] == "analyst@example.org"
    html = SmtpReceiver.text_of(mail)
    assert SENTENCE in html and "https://news.example/story-0" in html
    assert "&lt;img src=x" in html and "<script>steal" not in html  # escaped in the email

    # nothing is sent twice
    rep2 = deliver(store, config, now=utcnow() + timedelta(days=1))
    assert rep2.messages == 0 and rep2.sent == 0
    assert len(webhook.received) == 1 and len(smtp.messages) == 1


def test_failed_delivery_is_retried_after_backoff_and_sent_once(
    store: Store, webhook: WebhookReceiver
) -> None:
    config = make_config(Route(name="chat", urls=[webhook.apprise_url()]))
    add_hit(store, config)
    webhook.fail_with = 500
    t0 = utcnow()
    rep = deliver(store, config, now=t0)
    assert (rep.sent, rep.failed, rep.dead) == (0, 1, 0)
    assert len(rep.errors) == 1 and rep.errors[0].startswith("chat ")
    (d,) = deliveries(store)
    assert d.status == "failed" and d.attempts == 1
    assert d.last_error and "500" in d.last_error  # apprise's reason, kept on the row
    base = config.settings.alerts.retry_base_minutes
    assert d.next_attempt_at == t0 + timedelta(minutes=base)
    assert len(webhook.requests) == 1 and webhook.received == []

    # the receiver is healthy again, but the backoff has not passed: nothing is tried
    webhook.fail_with = None
    rep = deliver(store, config, now=t0 + timedelta(minutes=base / 2))
    assert rep.messages == 0 and len(webhook.requests) == 1

    rep = deliver(store, config, now=t0 + timedelta(minutes=base + 1))
    assert rep.sent == 1 and rep.failed == 0
    (d,) = deliveries(store)
    assert d.status == "sent" and d.attempts == 2 and d.last_error is None
    assert len(webhook.received) == 1

    for later in (2, 60, 24 * 60):
        assert deliver(store, config, now=t0 + timedelta(minutes=later)).messages == 0
    assert len(webhook.received) == 1 and len(webhook.requests) == 2


def test_backoff_grows_and_is_capped(store: Store, webhook: WebhookReceiver) -> None:
    config = make_config(Route(name="chat", urls=[webhook.apprise_url()]))
    add_hit(store, config)
    webhook.fail_with = 503
    s = config.settings.alerts
    now = utcnow()
    waits = []
    for _ in range(8):
        deliver(store, config, now=now)
        (d,) = deliveries(store)
        assert d.status == "failed"
        wait = d.next_attempt_at - now
        waits.append(wait.total_seconds() / 60)
        now = d.next_attempt_at
    assert waits[:3] == [s.retry_base_minutes, 2 * s.retry_base_minutes, 4 * s.retry_base_minutes]
    assert max(waits) == s.retry_max_minutes
    assert len(webhook.requests) == 8


def test_old_failing_delivery_becomes_dead(store: Store, webhook: WebhookReceiver) -> None:
    config = make_config(Route(name="chat", urls=[webhook.apprise_url()]))
    add_hit(store, config)
    webhook.fail_with = 500
    (d,) = deliveries(store)
    hours = config.settings.alerts.dead_after_hours
    rep = deliver(store, config, now=d.created_at + timedelta(hours=hours, minutes=1))
    assert (rep.sent, rep.failed, rep.dead) == (0, 0, 1)
    (d,) = deliveries(store)
    assert d.status == "dead" and d.last_error
    # dead rows are shown, never retried, even once the receiver works again
    webhook.fail_with = None
    assert deliver(store, config, now=d.created_at + timedelta(days=30)).messages == 0
    assert webhook.received == []
    assert [x.status for x in store.deliveries(status="dead")] == ["dead"]


def test_route_removed_from_config_keeps_the_row(store: Store, webhook: WebhookReceiver) -> None:
    config = make_config(Route(name="chat", urls=[webhook.apprise_url()]))
    add_hit(store, config)
    rep = deliver(store, make_config(), now=utcnow())
    assert rep.failed == 1 and "no longer in alerts.yaml" in rep.errors[0]
    (d,) = deliveries(store)
    assert d.status == "failed"
    # back in the config: delivered after the backoff
    rep = deliver(store, config, now=utcnow() + timedelta(hours=1))
    assert rep.sent == 1 and len(webhook.received) == 1


def test_old_articles_are_not_pushed(store: Store, webhook: WebhookReceiver) -> None:
    config = make_config(Route(name="chat", urls=[webhook.apprise_url()]))
    max_age = config.settings.alerts.max_article_age_hours
    assert max_age is not None
    add_hit(store, config, n=1, published_hours_ago=max_age + 1)
    assert store.counts()["hits"] == 1 and deliveries(store) == []


def test_many_hits_for_one_target_become_one_message(
    store: Store, webhook: WebhookReceiver
) -> None:
    config = make_config(Route(name="chat", urls=[webhook.apprise_url()]))
    for n in range(7):
        add_hit(store, config, n=n, title=f"Story {n}")
    rep = deliver(store, config)
    assert rep.messages == 1 and rep.sent == 7
    (msg,) = webhook.received
    assert "7 hits" in msg["title"] and "digest" not in msg["title"]
    assert all(f"Story {n}" in msg["message"] for n in range(7))


def test_digest_mode(store: Store, webhook: WebhookReceiver) -> None:
    config = make_config(Route(name="daily", mode="digest", urls=[webhook.apprise_url()]))
    for n in range(2):
        add_hit(store, config, n=n, title=f"Story {n}")
    assert deliver(store, config, mode="instant").messages == 0
    rep = deliver(store, config, mode="digest")
    assert rep.messages == 1 and rep.sent == 2
    assert "digest" in webhook.received[0]["title"] and "2 hits" in webhook.received[0]["title"]


def test_secret_url_never_reaches_the_database(
    store: Store, webhook: WebhookReceiver, tmp_path: Path
) -> None:
    url = f"json://hookuser:s3cretpw@127.0.0.1:{webhook.port}/hook"
    config = make_config(Route(name="chat", urls=[url]))
    add_hit(store, config)
    (d,) = deliveries(store)
    assert "s3cretpw" not in d.target and "s3cretpw" not in d.target_display
    assert deliver(store, config).sent == 1
    assert webhook.requests[0].headers.get("Authorization", "").startswith("Basic ")
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("newsmon.db*"))
    assert b"s3cretpw" not in blob
