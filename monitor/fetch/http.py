"""HTTP fetching: polite, bounded, conditional (:class:`Fetcher`).

Our own httpx client (feedparser and trafilatura have no timeouts): a total time
limit per request, a response size cap (counted after decompression, so a gzip
bomb stops at the cap), a redirect limit with loop detection, conditional GET
with stored validators, ``Retry-After`` on 429/503, and per-host concurrency and
spacing under a bound on overall concurrency.

Feed and article URLs come from strangers, so by default only http(s) to public
addresses is fetched: every hop of a redirect chain is checked, every address a
name resolves to must be public, and the check is made again when the connection
is opened, on the address actually connected to (a name that resolves to a public
address for the check and to 127.0.0.1 a moment later - DNS rebinding - gets
nowhere): :mod:`monitor.fetch.guard`. Its :class:`~monitor.fetch.guard.HostPolicy` opens
named hosts or networks (``fetch.allow_hosts``, ``--allow-host``, ``$NEWSMON_ALLOW_HOSTS``).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.config.settings import FetchSettings
from monitor.errors import FetchError
from monitor.fetch.backend import guard_connections, lean_pool
from monitor.fetch.guard import HostPolicy, resolve

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
MAX_HOST_WAIT_S = 15.0
# Retry-After concerns the URL that got it (as browsers, Scrapy and Miniflux read it);
# a host is held back as a whole only when this many of its paths were throttled.
HOST_THROTTLE_PATHS = 3


@dataclass
class FetchResult:
    url: str  # final URL after redirects
    status: int
    body: bytes | None  # None when the server said 304 Not Modified
    headers: dict[str, str] = field(default_factory=dict)
    moved_to: str | None = None  # set when every redirect on the way was permanent
    elapsed_s: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now_dt = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return max(0.0, (when - now_dt).total_seconds())


class _Host:
    def __init__(self, concurrency: int) -> None:
        self.sem = asyncio.Semaphore(concurrency)
        self.lock = asyncio.Lock()
        self.next_start = 0.0
        self.blocked_until = 0.0  # the whole host: several of its paths were throttled
        self.blocked_urls: dict[str, float] = {}  # URL -> until when it asked us to wait
        self.last_sent = -1e9  # when the last request to this host went out

    def throttle(self, url: str, until: float) -> None:
        """``url`` answered 429/503 with Retry-After: hold back that URL; hold back
        the whole host once :data:`HOST_THROTTLE_PATHS` of its URLs were throttled (then
        until the earliest of them may be asked again)."""
        self.blocked_urls[url] = until
        now = time.monotonic()
        live = [u for u in self.blocked_urls.values() if u > now]
        if len(live) >= HOST_THROTTLE_PATHS:
            self.blocked_until = max(self.blocked_until, min(live))


class Fetcher:
    """An async HTTP client shared by one polling cycle."""

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = s = settings or FetchSettings()
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(s.timeout_s, connect=s.connect_timeout_s),
            headers={"User-Agent": s.user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(
                max_connections=s.concurrency * 2, max_keepalive_connections=s.concurrency
            ),
        )
        lean_pool(self._client)  # httpcore's pool bookkeeping in one pass, not n²
        self.policy = HostPolicy.from_settings(s)
        self.guarded = (
            False if self.policy.all_private else guard_connections(self._client, self.policy)
        )
        self._all = asyncio.Semaphore(s.concurrency)
        self._hosts: dict[str, _Host] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _host(self, url: str) -> _Host:
        key = urlsplit(url).netloc.lower()
        h = self._hosts.get(key)
        if h is None:
            h = self._hosts[key] = _Host(self.settings.per_host_concurrency)
        return h

    async def _polite_start(self, host: _Host, url: str) -> None:
        async with host.lock:
            now = time.monotonic()
            until = max(host.blocked_urls.get(url, 0.0), host.blocked_until)
            wait_blocked = until - now
            if wait_blocked > MAX_HOST_WAIT_S:
                whom = (
                    "this URL"
                    if host.blocked_urls.get(url, 0.0) >= host.blocked_until
                    else f"the host (Retry-After on {HOST_THROTTLE_PATHS} or more of its URLs)"
                )
                raise FetchError(
                    f"not asked: {whom} said to wait {wait_blocked:.0f}s more (Retry-After)",
                    status=429,
                    retry_after=wait_blocked,
                )
            start = max(now, host.next_start, until)
            host.next_start = start + self.settings.per_host_delay_s
        delay = start - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
    ) -> FetchResult:
        """GET ``url``; raise :class:`FetchError` for anything but a usable answer."""
        t0 = time.monotonic()
        try:
            result = await self._fetch(url, etag, last_modified, accept)
        except FetchError:
            raise
        except Exception as exc:  # noqa: BLE001 - a stranger's URL must never fail its batch
            # Whatever httpx, anyio or the socket layer raises on a hostile URL (an
            # OverflowError for port 99999, an InvalidURL, an IDNA error, wrapped in an
            # ExceptionGroup by anyio) stays with this URL, in words a person can read.
            raise FetchError(f"{describe_error(exc)} (fetching {url[:200]})") from None
        result.elapsed_s = time.monotonic() - t0
        return result

    async def _fetch(
        self, url: str, etag: str | None, last_modified: str | None, accept: str
    ) -> FetchResult:
        seen: list[str] = [url]
        all_permanent = True
        current = url
        for _ in range(self.settings.max_redirects + 1):
            await self._check(current)
            headers = {"Accept": accept}
            # Validators belong to the URL they were stored for.
            if current == url:
                if etag:
                    headers["If-None-Match"] = etag
                if last_modified:
                    headers["If-Modified-Since"] = last_modified
            status, resp_headers, body = await self._one(current, headers)
            if status in (301, 302, 303, 307, 308):
                location = resp_headers.get("location")
                if not location:
                    raise FetchError(f"HTTP {status} without a Location header", status=status)
                try:
                    nxt = urljoin(current, location.strip())
                    check_url(nxt)
                except FetchError as exc:
                    raise FetchError(f"HTTP {status} redirect to an {exc}", status=status) from None
                except ValueError as exc:
                    raise FetchError(
                        f"HTTP {status} redirect to an invalid URL ({exc}): {location[:200]!r}",
                        status=status,
                    ) from None
                if nxt in seen:
                    raise FetchError(f"redirect loop: {' -> '.join(seen + [nxt])}", status=status)
                all_permanent = all_permanent and status in (301, 308)
                seen.append(nxt)
                current = nxt
                continue
            moved = current if (current != url and all_permanent) else None
            if status == 304:
                return FetchResult(current, 304, None, resp_headers, moved)
            if status in (429, 503):
                ra = parse_retry_after(resp_headers.get("retry-after"))
                if ra is not None:
                    self._host(current).throttle(current, time.monotonic() + min(ra, 3600))
                raise FetchError(
                    f"HTTP {status}" + (f", Retry-After {ra:.0f}s" if ra else ""),
                    status=status,
                    retry_after=ra,
                )
            if status == 410:
                raise FetchError("HTTP 410 Gone: the publisher removed this URL", status=410)
            if status >= 400:
                raise FetchError(f"HTTP {status}", status=status)
            if status != 200 and status >= 300:
                raise FetchError(f"HTTP {status}", status=status)
            return FetchResult(current, status, body, resp_headers, moved)
        raise FetchError(f"more than {self.settings.max_redirects} redirects: {' -> '.join(seen)}")

    async def _check(self, url: str) -> None:
        """Refuse what must not be fetched: a scheme other than http(s), a URL without a
        host, a host that resolves to any non-public address not on the allow-list."""
        check_url(url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in {"http", "https"}:
            raise FetchError(
                f"refused: unsupported URL scheme {scheme!r} (only http and "
                f"https are fetched): {url[:200]}"
            )
        host = parts.hostname or ""
        if not host:
            raise FetchError(f"refused: no host in URL {url[:200]!r}")
        if self.policy.allows_name(host):
            return
        for _, ip in await resolve(host):
            problem = self.policy.refusal(host, ip)
            if problem:
                raise FetchError(problem)

    async def _one(self, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        host = self._host(url)
        # The host's slot and spacing first, then an overall slot: a request waiting out
        # one host's spacing must not hold a slot that a request to another host could use.
        async with host.sem:
            await self._polite_start(host, url)
            async with self._all:
                # The spacing again, against when the last request to this host really went
                # out: a request that waited for an overall slot (or for the event loop,
                # while the process parsed a feed) must not go out right behind the next.
                gap = host.last_sent + self.settings.per_host_delay_s - time.monotonic()
                if gap > 0:
                    await asyncio.sleep(gap)
                host.last_sent = time.monotonic()
                # The time limit starts when the request goes out: waiting for this host's
                # turn is not the server's fault, and a feed queued behind slow ones on the
                # same host must not be recorded as "timed out" without being asked for.
                total = self.settings.timeout_s * 2 + self.settings.connect_timeout_s
                try:
                    async with asyncio.timeout(total):
                        return await self._get(url, headers)
                except TimeoutError:
                    raise FetchError(f"timed out after {total:.0f}s", transient=True) from None

    async def _get(self, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        try:
            async with self._client.stream("GET", url, headers=headers) as resp:
                h = {k.lower(): v for k, v in resp.headers.items()}
                if resp.status_code != 200:
                    return resp.status_code, h, b""
                declared = h.get("content-length", "")
                if declared.isdigit() and int(declared) > self.settings.max_bytes:
                    raise FetchError(
                        f"response too large: {int(declared):,} bytes "
                        f"(limit {self.settings.max_bytes:,})"
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self.settings.max_bytes:
                        raise FetchError(
                            f"response larger than the limit of {self.settings.max_bytes:,} bytes"
                        )
                    chunks.append(chunk)
                return resp.status_code, h, b"".join(chunks)
        except FetchError:
            raise
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out ({type(exc).__name__})", transient=True) from None
        except httpx.ConnectError as exc:
            raise FetchError(f"cannot connect: {_reason(exc)}", transient=True) from None
        except httpx.DecodingError as exc:
            raise FetchError(f"corrupt compressed body: {_reason(exc)}") from None
        except httpx.RemoteProtocolError as exc:
            text = _reason(exc)
            if text.startswith("Invalid URL in location header"):  # httpx reads Location too
                problem = _url_problem(ValueError(text.split(":", 1)[1]))
                raise FetchError(f"redirect to an invalid URL ({problem})") from None
            if text.startswith("illegal header line"):  # e.g. a newline inside Location
                raise FetchError(f"malformed HTTP response ({text[:200]})") from None
            raise FetchError(f"connection broken: {text}", transient=True) from None
        except httpx.ReadError as exc:
            raise FetchError(f"connection broken: {_reason(exc)}", transient=True) from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {_reason(exc)}") from None


# Characters never found in a host name or address literal: a host with any of them is
# not a host (httpx would percent-encode a space and send it to the resolver).
_BAD_HOST_CHARS = frozenset(' \t\r\n\x0b\x0c<>"{}|\\^`%')


def check_url(url: str) -> None:
    """Raise :class:`FetchError` ("invalid URL (why): url") for a URL no request can be
    made to: a port outside 0-65535, a malformed IPv6 or IPv4 literal (``0177.0.0.1``),
    spaces or control characters, a host name that cannot be encoded."""
    shown = url[:200]
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise FetchError(f"invalid URL (it contains control characters): {shown!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
    except ValueError as exc:
        raise FetchError(f"invalid URL ({_url_problem(exc)}): {shown}") from None
    if port == 0:
        raise FetchError(f"invalid URL (port 0): {shown}")
    if any(ch in _BAD_HOST_CHARS for ch in host):
        raise FetchError(f"invalid URL (the host {host[:100]!r} is not a host name): {shown}")
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError is a ValueError
        raise FetchError(f"invalid URL ({_url_problem(exc)}): {shown}") from None


def _url_problem(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    if "Port out of range" in text or "port must be 0-65535" in text:
        return "the port is outside 0-65535"
    if "Port could not be cast" in text:
        return "the port is not a number"
    if "Invalid IPv4 address" in text:
        return "the host is not a valid IPv4 address: " + text.split(":", 1)[1].strip()
    if "Invalid IPv6" in text:
        return "the host is not a valid IPv6 address"
    return text.splitlines()[0][:200]


def describe_error(exc: BaseException) -> str:
    """An unexpected error while fetching, in words: the innermost cause, never
    "ExceptionGroup: unhandled errors in a TaskGroup"."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, OverflowError) and "port" in str(exc):
        return "invalid URL (the port is outside 0-65535)"
    if isinstance(exc, httpx.InvalidURL | UnicodeError):
        return f"invalid URL ({_url_problem(exc)})"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {_reason(exc)}"
    return f"unexpected error: {type(exc).__name__}: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    inner: BaseException | None = exc
    for _ in range(5):  # httpx often wraps the OS error ("Connection reset by peer") silently
        if inner is None or str(inner).strip():
            break
        inner = inner.__cause__ or inner.__context__
    text = str(inner or "").strip() or type(exc).__name__
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "DNS lookup failed (no such host)"
    return text.splitlines()[0][:300]
