"""What is broken, for the banner on every page: alert routes that fail (the facts
``newsmon status`` prints) and feeds that fail or are gone. Looked up at most every
few seconds, not on every page."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from monitor.alerts.health import route_health
from monitor.config import Config
from monitor.store import Store

TTL = 10.0  # seconds a look stays fresh
SHOWN = 3  # names listed before "and N more"


@dataclass(frozen=True)
class Banner:
    kind: str  # error / warn
    text: str
    href: str


def _names(names: list[str]) -> str:
    more = len(names) - SHOWN
    return ", ".join(names[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def look(store: Store, config: Config | None) -> list[Banner]:
    out: list[Banner] = []
    if config is not None:
        health = route_health(store, config)
        broken = [h for h in health if h.state in ("failing", "not in config")]
        dead = sum(h.dead for h in broken)
        labels = [f"{h.route} ({h.target or 'no URL'})" for h in broken]
    else:  # no config: the stored health rows still say what fails
        rows = [h for h in store.route_health() if h.failing_since is not None]
        labels = [f"{h.route} ({h.target_display})" for h in rows]
        dead = 0
    if labels:
        out.append(
            Banner(
                "error",
                f"Alerting is failing: {_names(labels)}"
                + (f"; {dead} alerts given up" if dead else "")
                + ". See newsmon status.",
                "/alerts?status=failed",
            )
        )
    feeds = [f for f in store.feeds() if f.enabled and (f.gone or f.consecutive_failures)]
    if feeds:
        gone = sum(1 for f in feeds if f.gone)
        names = [f.name or f.title or f"feed {f.id}" for f in feeds]
        out.append(
            Banner(
                "warn",
                f"{len(feeds)} {'feed' if len(feeds) == 1 else 'feeds'} failing"
                + (f" ({gone} gone)" if gone else "")
                + f": {_names(names)}.",
                "/feeds",
            )
        )
    return out


class HealthBanners:
    """:func:`look`, cached for :data:`TTL` seconds."""

    def __init__(self, store: Store, config: Config | None) -> None:
        self.store, self.config = store, config
        self._at = -TTL
        self._banners: list[Banner] = []
        self._lock = threading.Lock()

    def now(self) -> list[Banner]:
        with self._lock:
            if time.monotonic() - self._at >= TTL:
                self._banners = look(self.store, self.config)
                self._at = time.monotonic()
            return self._banners

    def forget(self) -> None:
        with self._lock:
            self._at = -TTL
