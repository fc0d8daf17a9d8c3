"""The exceptions newsmon raises. Third-party errors are converted at the boundary."""

from __future__ import annotations


class NewsmonError(Exception):
    """Base class: every error newsmon means to show the user as one line."""


class ConfigError(NewsmonError):
    """A configuration file is missing, unreadable or invalid."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")


# Answers that say "not now" rather than "no": worth asking again later.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class FetchError(NewsmonError):
    """An HTTP fetch failed (network, status, size, redirects). ``transient``: it may
    work later (a timeout, a broken connection, 429, 5xx), as opposed to a refusal, an
    invalid URL, a 404 or a page too large."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.transient = transient or status in TRANSIENT_STATUSES


class FeedParseError(NewsmonError):
    """A fetched document is not a usable feed."""

    def __init__(self, message: str, *, discovered: list[str] | None = None) -> None:
        super().__init__(message)
        self.discovered = discovered or []


class ExtractError(NewsmonError):
    """Article text could not be extracted (empty, timeout, crash)."""


class StoreError(NewsmonError):
    """The database could not be opened or written."""


class NotFound(NewsmonError):
    """A record asked for by id does not exist."""
