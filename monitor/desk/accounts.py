"""Desk accounts: password hashes (scrypt), and login throttling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

ROLE_RANK = {"viewer": 0, "analyst": 1, "admin": 2}
_N, _R, _P = 2**14, 8, 1  # scrypt: ~16 MB, tens of milliseconds per try
MIN_PASSWORD = 12


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    enc = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${enc(salt).decode()}${enc(key).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, key = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(base64.b64decode(key)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(key))


def may(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (viewer < analyst < admin)."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[needed]


class Throttle:
    """At most ``limit`` failed logins per ``window`` seconds for one client address and
    for one user name; past that, refused until the oldest failure ages out."""

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def wait(self, *keys: str) -> float:
        """Seconds to wait before another try (0: go ahead)."""
        now = time.monotonic()
        with self._lock:
            waits = [
                q[0] + self.window - now
                for q in (self._recent(k, now) for k in keys)
                if len(q) >= self.limit
            ]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)
