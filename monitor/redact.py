"""Secrets never printed or logged: the parts of apprise URLs (and the database
password) that are secret, and a log-record factory that masks them everywhere.

Masking a URL for display is apprise's privacy mode (:func:`monitor.alerts.routes.mask_url`).
That does not cover what third-party code writes: apprise's own debug log carries the
full webhook URL, bot tokens, ``Authorization`` headers and passwords in payloads;
requests' exception texts carry the URL path; a plugin may put its URL in the message
of the exception it raises. So :func:`protect` learns the secret parts of every URL
when the config is loaded, and from then on every log record of the process (Python
logging, and Prefect's loggers, which are Python logging too) has them replaced by
``****`` as it is created, before any handler - a console, a file, Prefect's API - sees
it. :func:`redact` does the same for text that is printed or stored.

Parts shorter than :data:`MIN_SECRET` characters are not masked in free text (a
one-letter password would garble every message); they are still masked in displays.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

MASK = "****"
MIN_SECRET = 4
_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_installed = False
_SPLIT = re.compile(r"[/:@?&=#,;+\s]+")
_SECRET_KEY = re.compile(r"pass|pwd|token|key|secret|auth|sig|cred", re.I)


def secret_parts(url: str) -> set[str]:
    """The secret parts of an apprise URL: what its privacy mode hides (passwords,
    tokens, keys: apprise knows which parts of each of its 100+ URL kinds are secret),
    and what it shows but is secret all the same (see :func:`plain_parts`)."""
    from monitor.alerts.plugins import apprise_for

    apprise = apprise_for(url)
    parts = plain_parts(url)
    try:
        obj = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001
        obj = None
    if obj:
        try:
            full, private = str(obj.url(privacy=False)), str(obj.url(privacy=True))
        except Exception:  # noqa: BLE001
            full, private = url, ""
        shown = set(_SPLIT.split(unquote(private)))
        parts |= {p for p in _SPLIT.split(unquote(full)) if len(p) >= MIN_SECRET and p not in shown}
    if parts:
        parts.add(url)  # whole, as written, so a quoted URL is masked as one
    return parts


def plain_parts(url: str) -> set[str]:
    """Secrets readable without apprise: the password of the URL as written, query
    values named like secrets (``pass=``, ``token=``, ``apikey=``) and custom headers
    (``+X-Api-Key=...``), which apprise logs in the clear."""
    parts: set[str] = set()
    try:
        split = urlsplit(url)
        password = split.password
    except ValueError:
        split, password = None, None
    if password:
        parts.add(unquote(password))
    for key, value in parse_qsl(split.query if split else "", keep_blank_values=False):
        if key.startswith(("+", " ")) or _SECRET_KEY.search(key):  # "+" reads as " "
            parts.add(value)
    return {p for p in parts if len(p) >= MIN_SECRET}


Credentials = tuple[str, str]


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """(``url`` without its ``user:password@``, the (user, password) it carried or None).

    A feed's credentials belong to its fetch only: the URL without them is what is
    stored, resolved against, shown and exported."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), (unquote(user), unquote(password))


def strip_credentials(url: str) -> str:
    return split_credentials(url)[0]


def with_credentials(url: str, creds: Credentials | None) -> str:
    """``url`` carrying ``creds`` (httpx sends them as HTTP Basic auth)."""
    if not creds:
        return url
    parts = urlsplit(strip_credentials(url))
    userinfo = quote(creds[0], safe="") + (":" + quote(creds[1], safe="") if creds[1] else "")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def same_origin(a: str, b: str) -> bool:
    """Scheme, host and port equal (RFC 6454), whatever credentials either carries."""
    try:
        pa, pb = urlsplit(a), urlsplit(b)
        default = {"http": 80, "https": 443}
        return (pa.scheme.lower(), pa.hostname, pa.port or default.get(pa.scheme.lower())) == (
            pb.scheme.lower(),
            pb.hostname,
            pb.port or default.get(pb.scheme.lower()),
        )
    except ValueError:
        return False


def protect(values: Iterable[str]) -> None:
    """Mask ``values`` (apprise URLs, or other secrets given whole) in every log record
    from now on, and in :func:`redact`."""
    values = [v for v in values if v]
    # What can be known without apprise first: apprise logs a URL as it reads it.
    _add({p for v in values if "://" in v for p in plain_parts(v)})
    _add(
        {
            p
            for v in values
            for p in (secret_parts(v) if "://" in v else ({v} if len(v) >= MIN_SECRET else set()))
        }
    )


def protect_plain(urls: Iterable[str]) -> None:
    """Mask the secrets readable in plain http(s) URLs (feeds: ``user:pass@``,
    ``?apikey=``, ``?token=``) from now on; cheap, no apprise lookup."""
    _add({p for u in urls if "://" in u for p in plain_parts(u)})


def _add(new: set[str]) -> None:
    global _pattern
    if not new:
        return
    variants = {x for p in new for x in (p, quote(p, safe=""), quote(p, safe="/:@"))}
    with _lock:
        if variants <= _secrets:
            return
        _secrets.update(variants)
        # longest first, so a whole URL is masked as one, not piece by piece
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))
    _install()


def redact(text: Any) -> str:
    """``text`` with every protected secret replaced by ``****``."""
    s = str(text)
    pat = _pattern
    return pat.sub(MASK, s) if pat is not None and s else s


def _install() -> None:
    """Wrap the log-record factory once: records are masked as they are made."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _pattern is not None:
            _mask_record(record)
        return record

    logging.setLogRecordFactory(factory)


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: leave it to logging to report
        return
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        masked = redact(text)
        if masked != text:
            record.exc_text = masked  # formatters use exc_text when it is set
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def protected() -> int:
    """How many secret strings are masked (for tests and ``config check``)."""
    return len(_secrets)
