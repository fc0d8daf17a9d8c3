"""Spikes: per topic, the new stories of the last hour against the topic's own usual
for that hour - the same hour of the day on each of the last 7 days and the same hour
of the week 2, 3 and 4 weeks ago (so a Monday-morning rush or a quiet night is its own
baseline). A topic whose hour has at least ``min_stories`` new stories and at least
``factor`` times its usual is spiking: one "spike" message to the configured route,
not repeated while the spike lasts (a ``topicspike`` row per spike). See docs/alerts.md.
"""

from __future__ import annotations

import html
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.alerts.channel import send
from monitor.alerts.render import _md, message_format
from monitor.config import Config
from monitor.redact import redact
from monitor.store import Store, TopicSpike, utcnow

log = logging.getLogger("newsmon.alert")
HOUR = timedelta(hours=1)
DAYS_BACK = 7  # the same hour of each of the last 7 days
WEEKS_BACK = (2, 3, 4)  # ... and of the same weekday these many weeks ago


@dataclass
class SpikeReport:
    started: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def baseline_windows(now: datetime) -> list[tuple[datetime, datetime]]:
    """The hours a topic's usual is taken from (the hour before ``now`` on earlier days)."""
    offsets = [timedelta(days=d) for d in range(1, DAYS_BACK + 1)]
    offsets += [timedelta(weeks=w) for w in WEEKS_BACK]
    return [(now - o - HOUR, now - o) for o in offsets]


def usual_and_now(
    store: Store, now: datetime
) -> tuple[Counter[str], dict[str, float], dict[str, list[str]]]:
    """(new stories per topic in the last hour, the usual per topic, headlines per topic)."""
    base = baseline_windows(now)
    rows = store.new_stories_in([(now - HOUR, now), *base])
    current: Counter[str] = Counter()
    heads: dict[str, list[str]] = {}
    past: Counter[str] = Counter()
    for first_seen, topics, headline in rows:
        for t in topics:
            if first_seen >= now - HOUR:
                current[t] += 1
                heads.setdefault(t, []).append(headline)
            else:
                past[t] += 1
    return current, {t: c / len(base) for t, c in past.items()}, heads


def check_spikes(store: Store, config: Config, *, now: datetime | None = None) -> SpikeReport:
    """Start and end topics' spikes, then send the spikes' messages not yet sent."""
    rep = SpikeReport()
    sp = config.spikes
    if sp.route is None:
        return rep
    now = now or utcnow()
    current, usual, heads = usual_and_now(store, now)
    topic_ids = [t.id for t in config.topics if "*" in sp.topics or t.id in sp.topics]
    for t in topic_ids:
        n, u = current.get(t, 0), usual.get(t, 0.0)
        spiking = n >= sp.min_stories and n >= sp.factor * u
        open_ = store.open_spike(t)
        if spiking and open_ is None:
            if store.start_spike(t, now, n, round(u, 2)) is not None:
                rep.started.append(t)
        elif not spiking and open_ is not None and open_.id is not None:
            store.end_spike(open_.id, now)
            rep.ended.append(t)
    _send(store, config, heads, rep)
    return rep


def _send(store: Store, config: Config, heads: dict[str, list[str]], rep: SpikeReport) -> None:
    route = next((r for r in config.routes if r.name == config.spikes.route), None)
    due = store.due_spikes()
    if route is None or not route.urls or not due:
        return
    for spike in due:
        errors = []
        for url in route.urls:
            fmt = message_format(route, url)
            title, body = spike_message(config, spike, heads.get(spike.topic, []), fmt)
            if (e := send(url, route.name, title, body, fmt)) is not None:
                errors.append(e)
        if spike.id is not None:
            store.finish_spike(spike.id, ok=not errors, error=redact("; ".join(errors)) or None)
        if errors:
            rep.failed += 1
            rep.errors.append(f"spike {spike.topic}: {redact(errors[0])}")
            log.warning("spike message failed route=%s topic=%s", route.name, spike.topic)
        else:
            rep.sent += 1


def spike_message(
    config: Config, spike: TopicSpike, headlines: list[str], fmt: str = "text"
) -> tuple[str, str]:
    """("[topic] spike: N new stories in the last hour, usually M", the headlines)."""
    try:
        name = config.topic(spike.topic).name
    except KeyError:
        name = spike.topic
    usual = f"{spike.usual:.1f}".rstrip("0").rstrip(".")
    title = (f"[{name}] spike: {spike.stories} new stories in the last hour, usually {usual}")[:250]
    if fmt == "html":  # headlines come from the outside world
        items = "".join(f"<li>{html.escape(h)}</li>" for h in headlines[:10])
        return title, f"<p>{html.escape(title)}</p><ul>{items}</ul>"
    lines = [f"- {_md(h) if fmt == 'markdown' else h}" for h in headlines[:10]]
    return title, "\n".join([title, *lines])
