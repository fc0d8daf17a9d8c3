"""A hit's rank by score in its topic ("#3 of 120"): scores crowd near 1.0, ranks do
not. Counted from each topic's score distribution (buckets of 1/10,000), which is
looked up at most once a minute per topic, so a page of 100 costs nothing."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Sequence

from monitor.store import Hit, Store

TTL = 60.0
RESOLUTION = 10_000


class Ranks:
    def __init__(self, store: Store) -> None:
        self.store = store
        # topic -> (when, descending bucket keys negated, hits above each bucket, total)
        self._cache: dict[str, tuple[float, list[int], list[int], int]] = {}
        self._lock = threading.Lock()

    def _topics(self, topics: set[str]) -> None:
        now = time.monotonic()
        with self._lock:
            stale = sorted(t for t in topics if now - self._cache.get(t, (-TTL,))[0] >= TTL)
        if not stale:
            return
        dist = self.store.score_buckets(stale, RESOLUTION)
        with self._lock:
            for t in stale:
                keys, above, total = [], [], 0
                for b, n in dist.get(t, []):  # highest bucket first
                    keys.append(-b)
                    above.append(total)
                    total += n
                self._cache[t] = (now, keys, above, total)

    def of(self, hits: Sequence[Hit]) -> dict[int, tuple[int, int]]:
        """Per hit id: (rank, hits in its topic); hits in one bucket share a rank."""
        self._topics({h.topic_id for h in hits})
        out: dict[int, tuple[int, int]] = {}
        with self._lock:
            for h in hits:
                _, keys, above, total = self._cache[h.topic_id]
                i = bisect.bisect_left(keys, -int(h.score * RESOLUTION))
                rank = (above[i] if i < len(above) else total) + 1
                out[h.id or 0] = (min(rank, max(total, 1)), total)
        return out
