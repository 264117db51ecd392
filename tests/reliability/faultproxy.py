"""A threaded loopback HTTP proxy that injects the failures Zenodo is known for (zenodo-api.md section 3).

It sits in front of an upstream API (the stand-in) and forwards every request unchanged, except when a rule
matches (method + path regex, in the order the rules were added, each for a limited number of requests):

- ``reset_upload(after_bytes)``: read that many bytes of the request body, then reset the connection (RST);
  the partial body is forwarded too and the upstream connection dropped, as a real network cut would do.
- ``stall_upload(after_bytes, seconds)``: forward that many bytes of the body, then hold the connection open
  that long before resetting it (time to kill the client mid-upload).
- ``status(code, count=K)``: answer ``code`` to the next K matching requests, without forwarding them, or
  after forwarding them (``after_forward=True``: the server did it, the answer was lost); ``retry_after``
  adds a ``Retry-After`` header (use 429 for rate limiting).
- ``reset(after_forward=...)``: close the connection with no answer at all.
- ``delay(seconds)``: forward, then hold the answer back that long (beyond the client's read timeout).
- ``wrong_md5()``: forward, then rewrite ``"checksum": "md5:..."`` in the JSON answer to a wrong digest.
- ``cut_download(after_bytes)``: forward, send the headers (full Content-Length) and only that many bytes of
  the body, then close the connection (the client keeps what it got and may resume with Range).
- ``rewrite(fn)``: forward, then replace a JSON/text answer by ``fn(status, body) -> (status, body)`` (a
  hostile or broken server: HTML error pages, wrong shapes, unsafe file keys, absurd sizes).
- ``corrupt_upload(at_byte)``: forward the request body with one bit flipped at that offset (the server stores
  and answers the checksum of damaged bytes).
- ``corrupt_download(at_byte)``: forward, flipping one bit of the body at that offset (a bad disk or cache).

``skip=S`` lets the first S matching requests through before a rule starts to fire. Links in JSON bodies and
``Location`` headers that name the upstream are rewritten to name the proxy, so that a client following
``links.bucket`` or a redirect stays behind the proxy. :attr:`log` records what happened to every request.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
CHUNK = 64 * 1024
# Shared state of the test run lives here, in one module object: pytest imports conftest.py under its own
# module name besides the `tests.reliability.conftest` the test files import, so state kept there would split.
REPORT_ROWS: list[dict[str, object]] = []  # results of the reliability tests, for the summary table
SLEEPS: list[float] = []  # every wait the client's retry policy asked for in a test


@dataclass
class Rule:
    """One fault: which requests (method, path regex), how many, and what to do to them."""

    kind: str  # status | reset | reset_upload | delay | wrong_md5 | cut_download | corrupt_download
    method: str | None = None
    path: str = ".*"
    count: int = 1
    skip: int = 0
    code: int = 503
    after_forward: bool = False
    retry_after: int | None = None
    after_bytes: int = 0
    seconds: float = 0.0
    fired: int = 0
    seen: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # extra headers of a status answer
    acted: int = 0  # for data-dependent faults: how often the bytes were really cut, flipped or rewritten
    fn: Callable[[int, bytes], tuple[int, bytes]] | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None

    @property
    def spent(self) -> bool:
        return self.fired >= self.count


@dataclass
class LogEntry:
    method: str
    path: str
    status: int | None  # status sent to the client (None: connection reset / no answer)
    fault: str | None
    upstream_status: int | None = None
    body_bytes: int = 0  # request body bytes received from the client
    headers: dict[str, str] = field(default_factory=dict)


class _Reset(Exception):
    """Abort the exchange with a TCP reset."""


class _Close(Exception):
    """End the exchange by closing the connection (FIN): the client keeps the bytes it got."""


class FaultProxy:
    """Start with ``FaultProxy(upstream_api_url).start()`` (or as a context manager); use :attr:`api_url`."""

    def __init__(self, upstream_api_url: str) -> None:
        parts = urlsplit(upstream_api_url)
        if parts.scheme != "http":
            raise ValueError("the fault proxy forwards to plain http upstreams only")
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.upstream_base = f"http://{parts.netloc}"
        self.api_path = parts.path.rstrip("/")
        self.rules: list[Rule] = []
        self.log: list[LogEntry] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._port is not None, "start the proxy first"
        return self._port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base + self.api_path

    # ------------------------------------------------------------------------------------------- faults
    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def status(
        self,
        code: int,
        method: str | None = None,
        path: str = ".*",
        *,
        count: int = 1,
        skip: int = 0,
        after_forward: bool = False,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Rule:
        return self.add(
            Rule(
                "status",
                method,
                path,
                count,
                skip,
                code,
                after_forward=after_forward,
                retry_after=retry_after,
                headers=dict(headers or {}),
            )
        )

    def reset(
        self,
        method: str | None = None,
        path: str = ".*",
        *,
        count: int = 1,
        skip: int = 0,
        after_forward=False,
    ) -> Rule:
        return self.add(Rule("reset", method, path, count, skip, after_forward=after_forward))

    def reset_upload(
        self, after_bytes: int, method: str = "PUT", path: str = ".*", *, count: int = 1, skip: int = 0
    ) -> Rule:
        return self.add(Rule("reset_upload", method, path, count, skip, after_bytes=after_bytes))

    def stall_upload(
        self, after_bytes: int, seconds: float, method: str = "PUT", path: str = ".*", *, count: int = 1
    ) -> Rule:
        return self.add(
            Rule("stall_upload", method, path, count, 0, after_bytes=after_bytes, seconds=seconds)
        )

    def delay(
        self, seconds: float, method: str | None = None, path: str = ".*", *, count: int = 1, skip: int = 0
    ) -> Rule:
        return self.add(Rule("delay", method, path, count, skip, seconds=seconds))

    def wrong_md5(self, method: str = "PUT", path: str = ".*", *, count: int = 1, skip: int = 0) -> Rule:
        return self.add(Rule("wrong_md5", method, path, count, skip))

    def cut_download(
        self,
        after_bytes: int,
        method: str = "GET",
        path: str = ".*",
        *,
        count: int = 1,
        skip: int = 0,
        hold: float = 0.0,
    ) -> Rule:
        """``hold`` seconds: keep the connection open (stalled) after those bytes before closing it."""
        return self.add(
            Rule("cut_download", method, path, count, skip, after_bytes=after_bytes, seconds=hold)
        )

    def corrupt_download(
        self, at_byte: int = 0, method: str = "GET", path: str = ".*", *, count: int = 1, skip: int = 0
    ) -> Rule:
        return self.add(Rule("corrupt_download", method, path, count, skip, after_bytes=at_byte))

    def rewrite(
        self,
        fn: Callable[[int, bytes], tuple[int, bytes]],
        method: str | None = None,
        path: str = ".*",
        *,
        count: int = 1,
        skip: int = 0,
    ) -> Rule:
        return self.add(Rule("rewrite", method, path, count, skip, fn=fn))

    def corrupt_upload(
        self, at_byte: int = 0, method: str = "PUT", path: str = ".*", *, count: int = 1
    ) -> Rule:
        return self.add(Rule("corrupt_upload", method, path, count, 0, after_bytes=at_byte))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def pick(self, method: str, path: str) -> Rule | None:
        """The rule that fires for this request (consuming one of its uses), or None."""
        with self._lock:
            for rule in self.rules:
                if rule.spent or not rule.matches(method, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                rule.fired += 1
                return rule
        return None

    def faults_fired(self) -> int:
        with self._lock:
            return sum(r.fired for r in self.rules)

    def faults_acted(self) -> int:
        """Faults that really changed something (a cut, a flipped bit, a rewritten md5 happened)."""
        data_dependent = {
            "reset_upload",
            "stall_upload",
            "cut_download",
            "corrupt_upload",
            "corrupt_download",
        }
        with self._lock:
            return sum(r.acted if r.kind in data_dependent | {"wrong_md5"} else r.fired for r in self.rules)

    def record(self, entry: LogEntry) -> None:
        with self._lock:
            self.log.append(entry)

    def requests(self, method: str | None = None, path: str = ".*") -> list[LogEntry]:
        with self._lock:
            return [
                e
                for e in self.log
                if (method is None or e.method == method.upper()) and re.search(path, e.path) is not None
            ]

    # -------------------------------------------------------------------------------------- rewriting
    def rewrite_text(self, data: bytes) -> bytes:
        ups = self.upstream_base.encode()
        mine = self.base.encode()
        out = data.replace(ups, mine)
        if self.upstream_host == "127.0.0.1":
            out = out.replace(f"http://localhost:{self.upstream_port}".encode(), mine)
        return out


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _Reset:
            self._rst()
        except _Close:
            self._fin()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass

    def _rst(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _fin(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def __getattr__(self, name: str):  # do_GET, do_PUT, ... all go to _proxy
        if name.startswith("do_"):
            return self._proxy
        raise AttributeError(name)

    # ------------------------------------------------------------------------------------ body reading
    def _body_chunks(self, limit: int | None):
        """Yield the request body as it arrives (Content-Length or chunked); stop after ``limit`` bytes."""
        got = 0
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    return
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    want = min(left, CHUNK)
                    if limit is not None:
                        want = min(want, limit - got)
                        if want <= 0:
                            return
                    data = self.rfile.read(want)
                    if not data:
                        return
                    got += len(data)
                    left -= len(data)
                    yield data
                self.rfile.readline(3)
            return
        length = int(self.headers.get("Content-Length") or 0)
        while got < length:
            want = min(CHUNK, length - got)
            if limit is not None:
                want = min(want, limit - got)
                if want <= 0:
                    return
            data = self.rfile.read(want)
            if not data:
                return
            got += len(data)
            yield data

    # ----------------------------------------------------------------------------------------- proxying
    def _proxy(self) -> None:
        owner = self.owner
        method = self.command.upper()
        path = self.path
        rule = owner.pick(method, path)
        kind = rule.kind if rule else None
        entry = LogEntry(method, path, None, kind, headers={k.lower(): v for k, v in self.headers.items()})
        owner.record(entry)

        if rule and rule.kind in ("status", "reset") and not rule.after_forward:
            for chunk in self._body_chunks(None):  # swallow the body, the server never sees it
                entry.body_bytes += len(chunk)
            if rule.kind == "reset":
                raise _Reset()
            self._answer_status(rule, entry)
            return

        limit = rule.after_bytes if rule and rule.kind in ("reset_upload", "stall_upload") else None
        upstream = http.client.HTTPConnection(owner.upstream_host, owner.upstream_port, timeout=60)
        try:
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            has_body = (
                self.headers.get("Content-Length") is not None
                or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            )
            for key, value in self.headers.items():
                if key.lower() in HOP_BY_HOP:
                    continue
                upstream.putheader(key, value)
            chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            if chunked:
                upstream.putheader("Transfer-Encoding", "chunked")
            upstream.putheader("Connection", "close")
            upstream.endheaders()
            if has_body:
                flip = rule.after_bytes if rule and rule.kind == "corrupt_upload" else None
                for chunk in self._body_chunks(limit):
                    if flip is not None and entry.body_bytes <= flip < entry.body_bytes + len(chunk):
                        i = flip - entry.body_bytes
                        chunk = chunk[:i] + bytes([chunk[i] ^ 0x01]) + chunk[i + 1 :]
                        rule.acted += 1  # type: ignore[union-attr]
                    entry.body_bytes += len(chunk)
                    if chunked:
                        upstream.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    else:
                        upstream.send(chunk)
                if limit is not None and entry.body_bytes >= limit:
                    rule.acted += 1  # type: ignore[union-attr]
                if limit is not None:
                    if rule is not None and rule.kind == "stall_upload":
                        entry.upstream_status = 0  # marks "stalled mid-body" for the tests
                        time.sleep(rule.seconds)
                    # a cut network: the server gets a short body and a dropped connection
                    upstream.close()
                    raise _Reset()
                if chunked:
                    upstream.send(b"0\r\n\r\n")
            response = upstream.getresponse()
            entry.upstream_status = response.status
            if rule and rule.kind in ("status", "reset"):  # after_forward: the server did it
                response.read()
                if rule.kind == "reset":
                    raise _Reset()
                self._answer_status(rule, entry)
                return
            if rule and rule.kind == "delay":
                body = response.read()
                time.sleep(rule.seconds)
                self._send(response, body, entry)
                return
            self._relay(response, rule, entry)
        finally:
            upstream.close()

    def _answer_status(self, rule: Rule, entry: LogEntry) -> None:
        body = (
            b'{"status": %d, "message": "injected fault (faultproxy)"}' % rule.code
            if rule.code >= 400
            else b"{}"
        )
        self.send_response(rule.code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if rule.retry_after is not None:
            self.send_header("Retry-After", str(rule.retry_after))
        for key, value in rule.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        entry.status = rule.code

    def _headers_out(self, response: http.client.HTTPResponse) -> list[tuple[str, str]]:
        out = []
        for key, value in response.getheaders():
            low = key.lower()
            if low in HOP_BY_HOP or low == "content-length":
                continue
            if low == "location":
                value = self.owner.rewrite_text(value.encode()).decode()
            out.append((key, value))
        return out

    def _send(self, response: http.client.HTTPResponse, body: bytes, entry: LogEntry) -> None:
        ctype = (response.getheader("Content-Type") or "").lower()
        if "json" in ctype or "text" in ctype:
            body = self.owner.rewrite_text(body)
        self.send_response(response.status, response.reason)
        for key, value in self._headers_out(response):
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        entry.status = response.status

    def _relay(self, response: http.client.HTTPResponse, rule: Rule | None, entry: LogEntry) -> None:
        ctype = (response.getheader("Content-Type") or "").lower()
        length = response.getheader("Content-Length")
        textual = "json" in ctype or "text" in ctype or length is None
        if rule and rule.kind == "rewrite" and rule.fn is not None:
            status, body = rule.fn(response.status, self.owner.rewrite_text(response.read()))
            self.send_response(status)
            for key, value in self._headers_out(response):
                if key.lower() not in ("content-type", "etag", "content-range", "accept-ranges"):
                    self.send_header(key, value)
            self.send_header("Content-Type", response.getheader("Content-Type") or "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            entry.status = status
            return
        if rule and rule.kind == "wrong_md5":
            body, n = re.subn(rb'"md5:[0-9a-fA-F]{32}"', b'"md5:' + b"0" * 32 + b'"', response.read())
            rule.acted += 1 if n else 0
            self._send(response, body, entry)
            return
        if textual and not (rule and rule.kind in ("cut_download", "corrupt_download")):
            self._send(response, response.read(), entry)
            return
        # stream a (binary) body as it comes
        self.send_response(response.status, response.reason)
        for key, value in self._headers_out(response):
            self.send_header(key, value)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        entry.status = response.status
        if self.command == "HEAD":
            return
        limit = rule.after_bytes if rule and rule.kind == "cut_download" else None
        flip = rule.after_bytes if rule and rule.kind == "corrupt_download" else None
        sent = 0
        while True:
            want = CHUNK if limit is None else min(CHUNK, limit - sent)
            if want <= 0:
                entry.status = None
                rule.acted += 1  # type: ignore[union-attr]
                if rule is not None and rule.seconds:
                    self.wfile.flush()
                    entry.upstream_status = 0  # marks "stalled mid-body" for the tests
                    time.sleep(rule.seconds)
                raise _Close()
            data = response.read(want)
            if not data:
                break
            if flip is not None and sent <= flip < sent + len(data):
                i = flip - sent
                data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
                rule.acted += 1  # type: ignore[union-attr]
            self.wfile.write(data)
            sent += len(data)
        if limit is not None and sent < (int(length) if length else 0):
            entry.status = None
            raise _Close()
