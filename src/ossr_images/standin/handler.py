"""HTTP plumbing of the stand-in: the request line and headers, authentication token, rate-limit headers,
fault hook calls, dispatch through the route table (`standin.routes`), and writing replies (JSON, redirects,
HTML pages, files with Range and ``sendfile``). Request bodies are read by `standin.bodies`."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ossr_images import __version__
from ossr_images.standin import rdm_ids
from ossr_images.standin.bodies import Body, parse_range
from ossr_images.standin.faults import DropResponse, RequestInfo
from ossr_images.standin.routes import ROUTES
from ossr_images.standin.routing import INTERNAL, URL_NOT_FOUND, FileReply, HtmlReply, Reply, Request, find
from ossr_images.standin.store import ApiError, Store

log = logging.getLogger("ossr_images.standin")

_SLASHES = re.compile(r"/{2,}")
_QUERY = re.compile(r"\?[^\s'\"]+")
_REDACT = re.compile(r"(access_token=)[^&\s'\"]+|(Bearer\s+)[^\s'\"]+", re.I)

__all__ = ["Handler", "log_safe", "parse_range", "redact"]


def redact(text: str) -> str:
    """Hide tokens (query parameter or Bearer header value) in a log line."""
    return _REDACT.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


def log_safe(text: str) -> str:
    """A log line without tokens and without any query string (``?...`` becomes ``?<query>``)."""
    return redact(_QUERY.sub("?<query>", text))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    app: Any  # the LocalZenodo serving


class _RateWindow:
    """Per-client request counts in one-minute windows (headers always; 429 only when a limit is enforced)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: dict[str, tuple[int, int]] = {}

    def hit(self, client: str) -> tuple[int, int]:
        """Count one request of ``client``: (count in this minute, epoch second the window resets)."""
        now = int(time.time())
        start = now - now % 60
        with self.lock:
            wstart, count = self.windows.get(client, (start, 0))
            if wstart != start:
                wstart, count = start, 0
            count += 1
            self.windows[client] = (wstart, count)
        return count, wstart + 60


class Handler(BaseHTTPRequestHandler):
    """One connection of the stand-in (the server runs each on its own thread)."""

    protocol_version = "HTTP/1.1"
    server_version = f"ossr-images-local-zenodo/{__version__}"
    server: _Server

    def setup(self) -> None:
        super().setup()
        try:  # headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:  # logged in _dispatch
        pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("%s %s", self.client_address[0], log_safe(format % args))

    @property
    def app(self) -> Any:
        return self.server.app

    @property
    def store(self) -> Store:
        return self.server.app.store

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def _base(self) -> str:
        host = self.headers.get("Host") or f"{self.app.url_host}:{self.app.port}"
        if not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
            host = f"{self.app.url_host}:{self.app.port}"
        return f"http://{host}"

    def _token(self, query_token: str | None) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        return query_token or None

    def _dispatch(self, method: str) -> None:
        t0 = time.monotonic()
        self._status: int | str = "-"
        self._rate_headers: dict[str, str] = {}
        self.body = Body(self.rfile, self.headers)
        parts = urlsplit(self.path)
        # zenodo.org's front server merges repeated slashes (eossr sends /api//deposit/...)
        path = _SLASHES.sub("/", parts.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        token = self._token(params.pop("access_token", None))
        route, args, allowed = find(ROUTES, method, path)
        if route is not None and getattr(self.app, "api_surface", "zenodo") == "rdm" and route.is_legacy:
            route, allowed = None, []  # a plain InvenioRDM instance has no deposit API
        route_name = route.name if route else ""
        self.info = RequestInfo(method, path, route_name, dict(params), self)
        try:
            self._rate_limit(token)
            if route is None:
                if allowed:
                    raise ApiError(405, "The method is not allowed for the requested URL.")
                raise ApiError(404, URL_NOT_FOUND)
            if not self.app.faults.before(self.info):
                args = {k: unquote(v) for k, v in args.items()}
                if getattr(self.app.store, "plain_ids", False):
                    plain = rdm_ids.route_args(route.pattern.pattern, args)
                    if plain is None:
                        raise ApiError(404, rdm_ids.NOT_FOUND)
                    args = plain
                req = Request(method, path, args, params, self.headers,
                              token, self._base(), self.app, self.body, self.info)  # fmt: skip
                try:
                    self._answer(route.function(req))
                finally:
                    self.close_connection = self.close_connection or req.close_connection
        except ApiError as exc:
            self._finish_body()
            try:
                self.send_json(exc.status, exc.body())
            except DropResponse:
                self._drop()
        except DropResponse:
            self._drop()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            # never the raw path or query: a token may sit in `access_token=` or in a mistyped path
            trace = "".join(traceback.format_exception(exc))
            log.error(
                "internal error on %s %s (route %s):\n%s", method, log_safe(path), route_name, log_safe(trace)
            )
            self._finish_body()
            try:
                self.send_json(500, {"status": 500, "message": INTERNAL})
            except Exception:  # noqa: BLE001 - connection already broken
                self.close_connection = True
        finally:
            self._finish_body()
            log.info("%s %s %s %.3fs", method, log_safe(path), self._status, time.monotonic() - t0)

    def _answer(self, reply: Reply | FileReply | HtmlReply) -> None:
        self._finish_body()
        if isinstance(reply, FileReply):
            self.serve_file(reply)
        elif isinstance(reply, HtmlReply):
            self._html(reply)
        else:
            self.send_json(reply.status, reply.body, headers=reply.headers)

    def _drop(self) -> None:
        self.close_connection = True
        self._status = "dropped"
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _finish_body(self) -> None:
        """Read what is left of the request body (small), or close the connection after answering."""
        if self.body.finish():
            self.close_connection = True

    def _rate_limit(self, token: str | None) -> None:
        authenticated = token is not None and self.app.valid_token(token)
        client = (
            f"t:{hashlib.sha256(token.encode()).hexdigest()[:16]}"
            if authenticated and token is not None
            else f"ip:{self.client_address[0]}"
        )
        count, reset = self.app.rates.hit(client)
        limit = self.app.rate_limit or (1000 if authenticated else 133)
        self._rate_headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - count)),
            "X-RateLimit-Reset": str(reset),
        }
        if self.app.rate_limit and count > limit:
            self._rate_headers["Retry-After"] = str(max(1, reset - int(time.time())))
            raise ApiError(429, f"{limit} per 1 minute")

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Write a JSON answer (fault hook ``after`` may change it or drop it)."""
        changed = self.app.faults.after(self.info, status, body) if hasattr(self, "info") else None
        if changed is not None:
            status, body = changed
        data = b"" if status == 204 or body is None else json.dumps(body).encode("utf-8")
        self._status = status
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        if status != 204:
            self.send_header("Content-Length", str(len(data)))
        for k, v in {**getattr(self, "_rate_headers", {}), **(headers or {})}.items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def serve_file(self, reply: FileReply) -> None:
        """Send a stored file (200, or 206 for a satisfiable Range; 416 otherwise) with sendfile."""
        entry, size = reply.entry, reply.entry["size"]
        start, end, status = 0, size - 1, 200
        if self.headers.get("Range"):
            parsed = parse_range(self.headers["Range"], size)
            if parsed is None:
                self._unsatisfiable(size)
                return
            (start, end), status = parsed, 206
        length = max(0, end - start + 1)
        cut = self.app.faults.download_cut(self.info, length)
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"md5:{entry["md5"]}"')
        self.send_header("Content-MD5", base64.b64encode(bytes.fromhex(entry["md5"])).decode())
        self.send_header(
            "Content-Disposition", f"attachment; filename*=UTF-8''{quote(entry['key'], safe='')}"
        )
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        for k, v in self._rate_headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD" or length == 0:
            return
        count = length if cut is None else min(cut, length)
        with open(reply.blob, "rb") as fh:
            self.wfile.flush()
            self.connection.sendfile(fh, offset=start, count=count)
        if count < length:
            self._drop()

    def _unsatisfiable(self, size: int) -> None:
        self._status = 416
        self.send_response(416)
        self.send_header("Content-Range", f"bytes */{size}")
        self.send_header("Content-Type", "application/json")
        body = json.dumps({"status": 416, "message": "Requested Range Not Satisfiable"}).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _html(self, reply: HtmlReply) -> None:
        data = f"<!doctype html><title>{reply.title}</title><h1>{reply.title}</h1>{reply.body}".encode()
        self._status = reply.status
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
