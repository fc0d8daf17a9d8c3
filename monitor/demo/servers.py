"""Real local servers for the offline demo and the tests.

- :class:`FixtureServer`: a threaded HTTP server on loopback serving feeds and
  pages from a folder (``{BASE}`` in a file becomes the server's origin), with
  ETag / Last-Modified answered by 304, and injectable faults.
- :class:`WebhookReceiver`: an HTTP endpoint that records what chat alerts POST.
- :class:`SmtpReceiver`: an aiosmtpd SMTP server that keeps the emails it gets.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import mimetypes
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LAST_MODIFIED = "Mon, 28 Apr 2025 16:00:00 GMT"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Fault:
    """What the server does instead of answering normally."""

    status: int | None = None  # answer with this status (and no body)
    delay_s: float = 0.0  # wait before answering
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # answer with this body instead of the file
    drop: bool = False  # close the connection without answering
    times: int | None = None  # apply this many times, then answer normally
    drip_s: float = 0.0  # send the body one byte at a time, this many seconds apart
    cut_after: int | None = None  # send this many body bytes, then reset the connection


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    status: int
    body: bytes = b""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops connections when a cycle opens dozens
    # at once; the client then sees a connect timeout that no real server would cause.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client gave up (a timeout, a fault under test): nothing to report
        super().handle_error(request, client_address)


class _Base:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._httpd = _Server((host, port), self._handler_class())
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + "/" + path.lstrip("/")

    def start(self) -> Any:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, r: Request) -> None:
        with self._lock:
            self.requests.append(r)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError


class FixtureServer(_Base):
    """Serves a folder of feeds and pages; ``{BASE}`` is replaced by the origin."""

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        validators: bool = True,
    ) -> None:
        self.root = Path(root) if root else None
        self.files: dict[str, tuple[bytes, str]] = {}  # path -> (body, content type)
        self.faults: dict[str, Fault] = {}
        self.validators = validators
        super().__init__(host, port)

    def add(self, path: str, body: bytes | str, content_type: str | None = None) -> str:
        """Serve ``body`` at ``path`` (overrides the folder); return its URL."""
        data = body.encode() if isinstance(body, str) else body
        ctype = content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
        self.files["/" + path.lstrip("/")] = (data, ctype)
        return self.url(path)

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == "/" + path.lstrip("/")]

    def _load(self, path: str) -> tuple[bytes, str] | None:
        if path in self.files:
            body, ctype = self.files[path]
        elif self.root is not None:
            f = (self.root / path.lstrip("/")).resolve()
            if not f.is_file() or self.root.resolve() not in f.parents:
                return None
            body = f.read_bytes()
            name = f.name
            if name.endswith(".gz"):  # stored gzipped, served as the page itself
                body, name = gzip.decompress(body), name[:-3]
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if name.endswith(".xml"):
                ctype = "application/xml"
        else:
            return None
        if ctype.startswith(
            (
                "text/",
                "application/xml",
                "application/rss",
                "application/atom",
                "application/json",
                "application/feed",
            )
        ):
            body = body.replace(b"{BASE}", self.base.encode())
        return body, ctype

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                headers = {k.lower(): v for k, v in self.headers.items()}
                fault = server.faults.get(path)
                times = fault.times if fault is not None else None
                if fault is not None and times is not None:
                    if times <= 0:
                        fault = None
                    else:
                        fault.times = times - 1
                if fault is not None:
                    if fault.delay_s:
                        time.sleep(fault.delay_s)
                    if fault.drop:
                        server._record(Request("GET", path, headers, 0))
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if fault.status is not None:
                        body = fault.body or b""
                        server._record(Request("GET", path, headers, fault.status))
                        self._send(fault.status, body, "text/plain", fault.headers, fault)
                        return
                loaded = server._load(path)
                if loaded is None:
                    server._record(Request("GET", path, headers, 404))
                    self._send(404, b"not found", "text/plain")
                    return
                body, ctype = loaded
                if fault is not None and fault.body is not None:
                    body = fault.body
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                extra = {"ETag": etag, "Last-Modified": LAST_MODIFIED} if server.validators else {}
                extra.update(fault.headers if fault else {})
                if server.validators and (
                    headers.get("if-none-match") == etag
                    or (
                        "if-none-match" not in headers
                        and headers.get("if-modified-since") == LAST_MODIFIED
                    )
                ):
                    server._record(Request("GET", path, headers, 304))
                    self._send(304, b"", None, extra)
                    return
                if "gzip" in headers.get("accept-encoding", "") and len(body) > 1024:
                    body = gzip.compress(body)
                    extra["Content-Encoding"] = "gzip"
                # Recorded before answering: a client that has the answer can rely on
                # the record being there (tests count requests right after a fetch).
                server._record(Request("GET", path, headers, 200))
                self._send(200, body, ctype, extra, fault)

            def _send(
                self,
                status: int,
                body: bytes,
                ctype: str | None,
                headers: dict[str, str] | None = None,
                fault: Fault | None = None,
            ) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header(
                        "Content-Type",
                        ctype + ("; charset=utf-8" if ctype.startswith("text/") else ""),
                    )
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fault is not None and fault.cut_after is not None:
                    self.wfile.write(body[: fault.cut_after])
                    self.wfile.flush()
                    # RST instead of FIN: "connection reset by peer" in the middle of the body.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None and fault.drip_s and body:
                    self.wfile.flush()
                    for i in range(len(body)):
                        try:
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                        except OSError:  # the client gave up
                            return
                        time.sleep(fault.drip_s)
                    return
                if body:
                    self.wfile.write(body)

        return Handler


class WebhookReceiver(_Base):
    """Records POSTed alerts (apprise ``json://``); ``fail_with`` makes it answer an error.

    ``delay_s`` waits after a message is read and recorded, before answering: a sender
    killed or timing out then has delivered a message it never saw acknowledged.
    ``fail_headers`` go with an error answer (e.g. ``Retry-After``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fail_with: int | None = None
        self.fail_headers: dict[str, str] = {}
        self.delay_s: float = 0.0
        super().__init__(host, port)

    @property
    def received(self) -> list[dict[str, Any]]:
        out = []
        for r in self.requests:
            if r.status == 200:
                try:
                    out.append(json.loads(r.body))
                except ValueError:
                    out.append({"raw": r.body.decode("utf-8", "replace")})
        return out

    def apprise_url(self, path: str = "hook") -> str:
        return f"json://{self.host}:{self.port}/{path}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                status = server.fail_with or 200
                server._record(Request("POST", self.path, dict(self.headers.items()), status, body))
                payload = b'{"ok": true}' if status == 200 else b'{"ok": false}'
                if server.delay_s:
                    time.sleep(server.delay_s)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in (server.fail_headers if status != 200 else {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from aiosmtpd.controller import Controller

        self.host, self.port = host, port or free_port(host)
        self.messages: list[EmailMessage] = []
        self.reply: str | None = None  # e.g. "554 5.7.1 Rejected": refuse every message
        self.delay_s: float = 0.0  # wait this long before answering DATA
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if receiver.delay_s:
                    await asyncio.sleep(receiver.delay_s)
                if receiver.reply:
                    return receiver.reply
                msg = message_from_bytes(envelope.content, policy=policy.default)
                receiver.messages.append(msg)
                return "250 OK"

        self._controller = Controller(Handler(), hostname=host, port=self.port)

    def apprise_url(
        self, to: str = "analyst@example.org", sender: str = "newsmon@example.org"
    ) -> str:
        return (
            f"mailto://{self.host}:{self.port}?from={sender}&to={to}"
            f"&mode=insecure&login=newsmon&pass=x"
        )

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def text_of(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("html", "plain"))
        return part.get_content() if part is not None else ""
