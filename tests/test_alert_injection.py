"""A feed cannot ping a chat room or plant a link: feed text is escaped per target format
and mentions are defused, checked on what real receivers get (webhook, Matrix's webhook
API on loopback, SMTP) and on apprise's own mention parsers (Discord, Slack)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import apprise
import pytest

from monitor.alerts.render import Item, message_format, render
from monitor.alerts.routes import Route
from monitor.alerts.send import deliver, route_targets
from monitor.config import Config, FeedConfig, load_config
from monitor.demo.servers import SmtpReceiver, WebhookReceiver
from monitor.store import NewArticle, Store, utcnow

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "caucasus-realignment"
TITLE = "@everyone [click](http://evil.example) <!here> Iran and Azerbaijan"
SENTENCE = "Ping @here and <@U024BE7LH> then see [docs](http://evil.example/x)."
MENTIONS = ["@everyone", "@here", "@channel", "<!here>", "<@U024BE7LH>"]
RAW = [*MENTIONS, "[click](http://evil.example)"]  # a markdown link is text in HTML


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'newsmon.db'}")
    s.sync_feeds([FeedConfig(url="https://feeds.example/world.xml", name="@channel Wire")])
    yield s
    s.close()


def add_hostile_hit(store: Store, config: Config) -> None:
    feed_id = store.feeds()[0].id or 0
    url = "https://news.example/story"
    store.store_articles(
        [
            NewArticle(
                canonical_url=url,
                url=url,
                guid=None,
                title=TITLE,
                summary="",
                text="...",
                author=None,
                published_at=utcnow(),
                published_source="feed",
                language="en",
                fingerprint=None,
                extraction="ok",
                extraction_error=None,
                sources=[(feed_id, "k", url)],
                hits=[(TOPIC, 0.7, "v1", {"sentences": [{"text": SENTENCE}]})],
            )
        ],
        route_targets(config),
    )


def no_raw(text: str, html: bool = False) -> None:
    assert 'href="http://evil' not in text
    for raw in MENTIONS if html else RAW:
        assert raw not in text, (raw, text)


def test_webhook_matrix_and_email_get_no_mention_and_no_link(
    store: Store, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    matrix = f"matrix://bot:tok@127.0.0.1:{webhook.port}/?mode=matrix"
    config = Config(
        topics=load_config(ROOT / "config").topics,
        routes=[
            Route(name="hook", urls=[webhook.apprise_url()]),
            Route(name="matrix", urls=[matrix]),
            Route(name="mail", urls=[smtp.apprise_url()]),
        ],
    )
    add_hostile_hit(store, config)
    rep = deliver(store, config)
    assert rep.sent == 3, rep.errors

    hook = next(r for r in webhook.received if "message" in r)
    no_raw(hook["title"])
    no_raw(hook["message"])
    assert "Iran and Azerbaijan" in hook["title"]
    assert "https://news.example/story" in hook["message"]

    mx = next(r for r in webhook.received if "text" in r)
    assert mx["format"] == "html"  # Matrix gets HTML: raw HTML in markdown is not passed on
    no_raw(mx["text"], html=True)
    assert "<b>" not in mx["text"].split("</h1>")[0]  # the title stays text
    assert "&lt;!here&gt;" in mx["text"]

    (mail,) = smtp.messages
    subject = str(mail["Subject"])  # plain text: only a mention could do harm there
    assert "@everyone" not in subject and "Iran and Azerbaijan" in subject
    no_raw(SmtpReceiver.text_of(mail), html=True)


def item() -> Item:
    return Item(
        topic_name="Caucasus",
        title=TITLE,
        link="https://news.example/a_(b)",
        source="@channel Wire",
        published=None,
        score=0.7,
        sentences=[SENTENCE],
    )


def test_discord_and_slack_parsers_find_no_mention() -> None:
    fmt = message_format(Route(name="d"), "discord://1234/abcd")
    title, body = render([item()], fmt, scheme="discord")
    discord = apprise.Apprise.instantiate("discord://1234/abcd")
    assert discord.ping_payload(title, body) == {}  # apprise would add allow_mentions
    assert discord.ping_payload(TITLE + SENTENCE) != {}  # the raw text would ping
    no_raw(title + body, html=True)

    fmt = message_format(Route(name="s"), "slack://T1/B1/abc")
    assert fmt == "slack"
    title, body = render([item()], fmt, scheme="slack")
    no_raw(body)
    assert "&lt;!here&gt;" in body and "\\" not in body  # Slack has no backslash escapes
    assert title.startswith("[Caucasus] @\u200beveryone")  # apprise escapes Slack titles


def test_telegram_gets_html_with_an_escaped_title() -> None:
    # Telegram's plugin puts the title into the HTML body unescaped: we escape it.
    fmt = message_format(Route(name="t"), "tgram://123456789:AAH/1")
    assert fmt == "html"
    title, body = render([item()], fmt, scheme="tgram")
    assert "&lt;!here&gt;" in title and "<!here>" not in title
    no_raw(title + body, html=True)


def test_markdown_title_cannot_form_a_link() -> None:
    title, body = render([item()], "markdown", scheme="json")
    assert not re.search(r"(?<!\\)\[click(?<!\\)\]\(", title)
    assert "https://news.example/a_%28b%29" in body


def test_health_alerts_carry_no_mention(store: Store, webhook: WebhookReceiver) -> None:
    """A feed's own title ends up in "feed failing" messages, a server's words in its
    last error: both are outside text, sent without mentions."""
    from monitor.alerts.routes import FeedHealth

    config = Config(
        topics=load_config(ROOT / "config").topics,
        routes=[Route(name="ops", urls=[webhook.apprise_url()])],
        feed_health=FeedHealth(after_failures=2),
    )
    store.sync_feeds([FeedConfig(url="https://feeds.example/hostile.xml")])
    feed = next(f for f in store.feeds() if f.url.endswith("hostile.xml"))
    feed.title, feed.last_error, feed.consecutive_failures = TITLE, SENTENCE, 3
    store.save_feed(feed)
    assert deliver(store, config).health_sent == 1
    (got,) = webhook.received
    assert "feed failing" in got["title"]
    for raw in MENTIONS[:3]:
        assert raw not in got["title"] + got["message"], raw
