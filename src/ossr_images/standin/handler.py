"""HTTP side of the stand-in: routing, authentication, request bodies (JSON, streamed uploads, chunked),
file serving with Range and ``sendfile``, rate-limit headers, and the fault hook calls."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from ossr_images import __version__
from ossr_images.standin import multipart, views, vocabularies
from ossr_images.standin.faults import DropResponse, RequestInfo
from ossr_images.standin.store import NOT_FOUND, ApiError, DurabilityError, Store, sync_file

log = logging.getLogger("ossr_images.standin")

UNAUTHORIZED = (
    "The server could not verify that you are authorized to access the URL requested. You either supplied the "
    "wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials "
    "required."
)
INTERNAL = (
    "The server encountered an internal error and was unable to complete your request. Either the server is "
    "overloaded or there is an error in the application."
)
URL_NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually please check your spelling "
    "and try again."
)
MISSING_FIELD = "Missing data for required field."
MAX_JSON = 10 * 1024 * 1024
DRAIN_LIMIT = 16 * 1024 * 1024
IO_CHUNK = 1024 * 1024
_RECV_BUFFERS = 4
SYNC_EVERY = 64 * 1024 * 1024
_SLASHES = re.compile(r"/{2,}")
_QUERY = re.compile(r"\?[^\s'\"]+")
_REDACT = re.compile(r"(access_token=)[^&\s'\"]+|(Bearer\s+)[^\s'\"]+", re.I)

# (method, pattern, handler name); the route name of a request is the handler name
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), h)
    for m, p, h in [
        ("GET", r"^/api/deposit/depositions/?$", "dep_list"),
        ("POST", r"^/api/deposit/depositions/?$", "dep_create"),
        ("GET", r"^/api/deposit/depositions/(?P<id>[^/]+)/?$", "dep_get"),
        ("PUT", r"^/api/deposit/depositions/(?P<id>[^/]+)/?$", "dep_update"),
        ("DELETE", r"^/api/deposit/depositions/(?P<id>[^/]+)/?$", "dep_delete"),
        ("POST", r"^/api/deposit/depositions/(?P<id>[^/]+)/actions/(?P<action>[a-z]+)/?$", "dep_action"),
        ("GET", r"^/api/deposit/depositions/(?P<id>[^/]+)/files/?$", "dep_files"),
        ("POST", r"^/api/deposit/depositions/(?P<id>[^/]+)/files/?$", "dep_files_post"),
        ("GET", r"^/api/deposit/depositions/(?P<id>[^/]+)/files/(?P<file_id>[^/]+)/?$", "dep_file_get"),
        ("DELETE", r"^/api/deposit/depositions/(?P<id>[^/]+)/files/(?P<file_id>[^/]+)/?$", "dep_file_delete"),
        ("GET", r"^/api/files/(?P<bucket>[^/]+)/?$", "bucket_get"),
        ("PUT", r"^/api/files/(?P<bucket>[^/]+)/(?P<key>.+)$", "bucket_put"),
        ("GET", r"^/api/files/(?P<bucket>[^/]+)/(?P<key>.+)$", "bucket_file_get"),
        ("HEAD", r"^/api/files/(?P<bucket>[^/]+)/(?P<key>.+)$", "bucket_file_get"),
        ("DELETE", r"^/api/files/(?P<bucket>[^/]+)/(?P<key>.+)$", "bucket_file_delete"),
        ("GET", r"^/api/records/?$", "rec_search"),
        ("GET", r"^/api/records/(?P<id>[^/]+)/?$", "rec_get"),
        ("GET", r"^/api/records/(?P<id>[^/]+)/versions/latest/?$", "rec_latest"),
        ("GET", r"^/api/records/(?P<id>[^/]+)/versions/?$", "rec_versions"),
        ("GET", r"^/api/records/(?P<id>[^/]+)/files/?$", "rec_files"),
        ("GET", r"^/api/records/(?P<id>[^/]+)/files/(?P<key>.+)/content$", "rec_file_content"),
        ("HEAD", r"^/api/records/(?P<id>[^/]+)/files/(?P<key>.+)/content$", "rec_file_content"),
        ("GET", r"^/api/records/(?P<id>[^/]+)/files/(?P<key>.+?)/?$", "rec_file"),
        ("GET", r"^/api/records/(?P<id>[^/]+)/draft/files/(?P<key>.+)/content$", "draft_file_content"),
        ("GET", r"^/records/(?P<id>\d+)(?:/latest)?/?$", "html_record"),
        ("GET", r"^/records/(?P<id>\d+)/files/(?P<key>.+?)/?$", "html_file"),
        ("GET", r"^/record/(?P<id>\d+)/?$", "html_legacy_record"),
        ("GET", r"^/doi/(?P<doi>.+)$", "html_doi"),
        ("GET", r"^/api/licenses/?$", "legacy_licenses"),
        ("GET", r"^/api/vocabularies/licenses/?$", "vocab_licenses"),
        ("GET", r"^/api/funders/?$", "vocab_funders"),
        ("GET", r"^/api/vocabularies/licenses/(?P<id>[^/]+)/?$", "vocab_license"),
        ("GET", r"^/api/funders/(?P<id>[^/]+)/?$", "vocab_funder"),
        ("GET", r"^/api/?$", "api_root"),
    ]
]


def _datasync(fd: int, path: Path) -> None:
    """fdatasync where the platform has it (not macOS), else fsync; an error names ``path``."""
    try:
        getattr(os, "fdatasync", os.fsync)(fd)
    except OSError as exc:
        raise DurabilityError(
            exc.errno, f"Cannot write {path} back to disk (fdatasync: {exc.strerror})"
        ) from exc


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
    """One request of the stand-in (the server runs each connection on its own thread)."""

    protocol_version = "HTTP/1.1"
    server_version = f"ossr-images-local-zenodo/{__version__}"
    server: _Server

    # ------------------------------------------------------------------ plumbing
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

    def _dispatch(self, method: str) -> None:
        t0 = time.monotonic()
        self._status: int | str = "-"
        self._body_done = False
        self._body_read = 0  # bytes of a fixed-length body already consumed
        parts = urlsplit(self.path)
        # zenodo.org's front server merges repeated slashes (eossr sends /api//deposit/...)
        path = _SLASHES.sub("/", parts.path)
        self.params = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.query_token = self.params.pop("access_token", None)
        route, match, allowed = None, None, []
        for m, pattern, name in ROUTES:
            found = pattern.match(path)
            if found:
                if m == method:
                    route, match = name, found
                    break
                allowed.append(m)
        self.info = RequestInfo(method, path, route or "", dict(self.params), self)
        try:
            self._rate_limit()
            if route is None:
                if allowed:
                    raise ApiError(405, "The method is not allowed for the requested URL.")
                raise ApiError(404, URL_NOT_FOUND)
            if self.app.faults.before(self.info):
                self._finish_body()
            else:
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                getattr(self, "h_" + route)(**args)
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
                "internal error on %s %s (route %s):\n%s", method, log_safe(path), route, log_safe(trace)
            )
            self._finish_body()
            try:
                self.send_json(500, {"status": 500, "message": INTERNAL})
            except Exception:  # noqa: BLE001 - connection already broken
                self.close_connection = True
        finally:
            self._finish_body()
            log.info("%s %s %s %.3fs", method, log_safe(path), self._status, time.monotonic() - t0)

    def _drop(self) -> None:
        self.close_connection = True
        self._status = "dropped"
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _finish_body(self) -> None:
        """Read what is left of the request body (small), or close the connection after answering (large)."""
        if self._body_done:
            return
        self._body_done = True
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return
        if length <= 0:
            return
        remaining = length - self._body_read
        if remaining > DRAIN_LIMIT:
            self.close_connection = True
            return
        while remaining > 0:
            data = self.rfile.read(min(remaining, IO_CHUNK))
            if not data:
                self.close_connection = True
                return
            remaining -= len(data)

    def _rate_limit(self) -> None:
        token = self._token()
        authenticated = token is not None and self.app.valid_token(token)
        client = (
            f"t:{hashlib.sha256(token.encode()).hexdigest()[:16]}"
            if authenticated
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

    def redirect(self, location: str, status: int = 302) -> None:
        """A redirect answer with a small JSON body."""
        body = {"status": status, "message": "Redirecting", "location": location}
        self.send_json(status, body, headers={"Location": location})

    # ------------------------------------------------------------------ request helpers
    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        return self.query_token or None

    def authenticated(self) -> bool:
        """True if the request carries a valid token."""
        token = self._token()
        return token is not None and self.app.valid_token(token)

    def owner(self) -> int:
        """The owner id for the request's token; 401 without a token, 403 for a token that is not valid."""
        token = self._token()
        if token is None:
            raise ApiError(401, UNAUTHORIZED)
        if not self.app.valid_token(token):
            raise ApiError(403, "Permission denied.")
        return 1

    def read_json(self) -> Any:
        """The request's JSON body (None when empty); 415 unless application/json; 400 when undecodable."""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        if chunked:
            raw = b"".join(self._chunked_body(limit=MAX_JSON))
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise ApiError(400, "Invalid Content-Length header.") from None
            if length > MAX_JSON:
                raise ApiError(413, "Request Entity Too Large")
            raw = self.rfile.read(length) if length > 0 else b""
            if len(raw) < length:
                raise BrokenPipeError("request body cut")
        self._body_done = True
        if not raw.strip():
            return None
        if ctype != "application/json":
            raise ApiError(415, "Invalid 'Content-Type' header. Expected one of: application/json.")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "Unable to decode JSON data in request body.") from None

    def _chunked_body(self, limit: int | None = None):
        """Decode a chunked request body, yielding its data."""
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise BrokenPipeError("chunked body cut")
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ApiError(400, "Invalid chunked transfer encoding.") from None
            if size == 0:
                while True:  # trailers
                    trailer = self.rfile.readline(1024)
                    if trailer in (b"\r\n", b"\n", b""):
                        break
                self._body_done = True
                return
            total += size
            if limit is not None and total > limit:
                raise ApiError(413, "Request Entity Too Large")
            remaining = size
            while remaining > 0:
                data = self.rfile.read(min(remaining, IO_CHUNK))
                if not data:
                    raise BrokenPipeError("chunked body cut")
                remaining -= len(data)
                yield data
            self.rfile.readline(16)  # CRLF after the chunk

    # ------------------------------------------------------------------ deposit API
    def h_api_root(self) -> None:
        self.send_json(
            200, {"status": 200, "message": "ossr-images local Zenodo stand-in", "version": __version__}
        )

    def h_legacy_licenses(self) -> None:
        # zenodo-rdm config.py API_REDIRECTOR_RULES "redirect_licenses": to the vocabulary, arguments kept
        query = urlencode({k: v for k, v in self.params.items()})
        self.redirect(f"{self._base()}/api/vocabularies/licenses" + (f"?{query}" if query else ""), 301)

    def h_vocab_licenses(self) -> None:
        page, size = views.int_param(self.params, "page", 1), views.int_param(self.params, "size", 10)
        self.send_json(200, vocabularies.search_licenses(self.params.get("q") or "", page, size))

    def h_vocab_funders(self) -> None:
        page, size = views.int_param(self.params, "page", 1), views.int_param(self.params, "size", 10)
        self.send_json(200, vocabularies.search_funders(self.params.get("q") or "", page, size))

    def h_vocab_license(self, id: str) -> None:  # noqa: A002
        doc = vocabularies.license_entry(id)
        if doc is None:
            raise ApiError(404, NOT_FOUND)
        self.send_json(200, doc)

    def h_vocab_funder(self, id: str) -> None:  # noqa: A002
        doc = vocabularies.funder_entry(id)
        if doc is None:
            raise ApiError(404, NOT_FOUND)
        self.send_json(200, doc)

    def h_dep_list(self) -> None:
        owner = self.owner()
        docs, headers = views.list_depositions(self.store, owner, self.params, self._base())
        self.send_json(200, docs, headers=headers)

    def h_dep_create(self) -> None:
        owner = self.owner()
        body = self.read_json()
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ApiError(
                400, "A validation error occurred.", [{"field": "", "messages": ["Invalid input type."]}]
            )
        unknown = [k for k in body if k != "metadata"]
        if unknown:
            raise ApiError(
                400,
                "A validation error occurred.",
                [{"field": k, "messages": ["Unknown field."]} for k in unknown],
            )
        rec = self.store.create(owner, body.get("metadata"))
        doc = views.deposition(self.store, rec, self._base())
        self.send_json(201, doc, headers={"Location": doc["links"]["self"]})

    def _dep(self, id: str) -> dict[str, Any]:  # noqa: A002
        owner = self.owner()
        return self.store.get_owned(id, owner)

    def h_dep_get(self, id: str) -> None:  # noqa: A002
        rec = self._dep(id)
        self.send_json(200, views.deposition(self.store, rec, self._base()))

    def h_dep_update(self, id: str) -> None:  # noqa: A002
        rec = self._dep(id)
        body = self.read_json()
        if not isinstance(body, dict):
            raise ApiError(
                400, "A validation error occurred.", [{"field": "metadata", "messages": [MISSING_FIELD]}]
            )
        unknown = [k for k in body if k not in ("metadata",)]
        if unknown:
            raise ApiError(
                400,
                "A validation error occurred.",
                [{"field": k, "messages": ["Unknown field."]} for k in unknown],
            )
        rec = self.store.update(rec, body.get("metadata") or {})
        self.send_json(200, views.deposition(self.store, rec, self._base()))

    def h_dep_delete(self, id: str) -> None:  # noqa: A002
        rec = self._dep(id)
        self.store.delete(rec)
        self.send_json(204, None)

    def h_dep_action(self, id: str, action: str) -> None:  # noqa: A002
        rec = self._dep(id)
        self.read_json()  # an optional (ignored) JSON body; other types are refused with 415
        base = self._base()
        if action == "publish":
            rec = self.store.publish(rec)
            self.send_json(202, views.deposition(self.store, rec, base))
        elif action == "edit":
            rec = self.store.edit(rec)
            self.send_json(201, views.deposition(self.store, rec, base))
        elif action == "discard":
            self.store.discard(rec)
            self.send_json(204, None)
        elif action == "newversion":
            draft = self.store.new_version(rec)
            self.send_json(201, views.deposition(self.store, draft, base))
        else:
            raise ApiError(404, URL_NOT_FOUND)

    def h_dep_files(self, id: str) -> None:  # noqa: A002
        rec = self._dep(id)
        doc = views.deposition(self.store, rec, self._base())
        self.send_json(200, doc["files"])

    def h_dep_files_post(self, id: str) -> None:  # noqa: A002
        """The legacy form upload (fields ``file`` and ``name``), at most 100 MB like Zenodo's nginx."""
        rec = self._dep(id)
        boundary = multipart.boundary_of(self.headers.get("Content-Type"))
        raw_length = self.headers.get("Content-Length")
        if raw_length is None or not raw_length.isdigit():
            self.close_connection = True
            raise ApiError(411, "A Content-Length header is required.")
        length = int(raw_length)
        if length > multipart.FORM_LIMIT + 64 * 1024:
            raise ApiError(413, "Request Entity Too Large")
        self.store.check_upload(rec, "", None)
        raw, part = self.store.new_temp(), self.store.new_temp()
        keep_part = False
        try:
            with open(raw, "wb", buffering=0) as out:
                for data in self._fixed_body(length):
                    out.write(data)
            self._body_done = True
            name, filename, size, md5 = multipart.split_form(raw, boundary, part)
            key = name or filename
            if not key:
                raise ApiError(
                    400,
                    "A validation error occurred.",
                    [{"field": "name", "messages": ["Missing file name."]}],
                )
            entry = self.store.add_file(rec, key, part, size, md5, "application/octet-stream")
        except DurabilityError:
            keep_part = True  # the .part stays (removed at the next start), the error names it
            raise
        finally:
            raw.unlink(missing_ok=True)
            if not keep_part:
                part.unlink(missing_ok=True)
        self.send_json(201, views.legacy_file(self._base() + "/api", rec, entry, False))

    def h_dep_file_get(self, id: str, file_id: str) -> None:  # noqa: A002
        rec = self._dep(id)
        doc = views.deposition(self.store, rec, self._base())
        for f in doc["files"]:
            if f["id"] == file_id:
                self.send_json(200, f)
                return
        raise ApiError(404, "File does not exist.")

    def h_dep_file_delete(self, id: str, file_id: str) -> None:  # noqa: A002
        rec = self._dep(id)
        self.store.delete_file(rec, file_id=file_id)
        self.send_json(204, None)

    # ------------------------------------------------------------------ files API (buckets)
    def _bucket(self, bucket: str) -> dict[str, Any]:
        owner = self.owner()
        rec = self.store.by_bucket(bucket)
        if rec["owner"] != owner:
            raise ApiError(403, "Permission denied.")
        return rec

    def _files_of(self, rec: dict[str, Any]) -> list[dict[str, Any]]:
        return rec["published"]["files"] if rec.get("published") else rec["files"]

    def h_bucket_get(self, bucket: str) -> None:
        rec = self._bucket(bucket)
        api = self._base() + "/api"
        files = self._files_of(rec)
        self.send_json(
            200,
            {
                "id": bucket,
                "quota_size": self.store.quota_bytes,
                "max_file_size": self.store.quota_bytes,
                "size": sum(f["size"] for f in files),
                "locked": bool(rec.get("published")),
                "contents": [views.bucket_object(api, rec, f) for f in files],
                "links": {"self": f"{api}/files/{bucket}", "versions": f"{api}/files/{bucket}?versions"},
            },
        )

    def h_bucket_put(self, bucket: str, key: str) -> None:
        rec = self._bucket(bucket)
        if not key or "\x00" in key or len(key.encode()) > 1024:
            raise ApiError(400, "Invalid file key.")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in ("", "application/octet-stream"):
            raise ApiError(415, "Invalid 'Content-Type' header. Expected one of: application/octet-stream.")
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        size: int | None = None
        if not chunked:
            raw_length = self.headers.get("Content-Length")
            if raw_length is None:
                self.close_connection = True
                raise ApiError(411, "A Content-Length header (or chunked transfer encoding) is required.")
            try:
                size = int(raw_length)
            except ValueError:
                raise ApiError(400, "Invalid Content-Length header.") from None
            if size < 0:
                raise ApiError(400, "Invalid Content-Length header.")
        self.store.check_upload(rec, key, size)
        cut = self.app.faults.upload_cut(self.info, size)
        temp = self.store.new_temp()
        try:
            total, md5 = self._receive(temp, size, chunked, cut)
        except DurabilityError:
            raise  # the .part stays (removed at the next start), the error names it
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        if size is None:  # chunked: limits are checked once the size is known
            try:
                self.store.check_quota(rec, key, total)
            except ApiError:
                temp.unlink(missing_ok=True)
                raise
        entry = self.store.add_file(rec, key, temp, total, md5, "application/octet-stream")
        self.send_json(201, views.bucket_object(self._base() + "/api", rec, entry))

    def _receive(self, temp: Path, size: int | None, chunked: bool, cut: int | None) -> tuple[int, str]:
        """Stream the request body into ``temp``; md5 runs on a worker thread, overlapping socket reads and
        disk writes. Fixed-length bodies are read into a few reused buffers (no allocation per chunk)."""
        md5 = hashlib.md5()  # noqa: S324 - Zenodo's checksum
        total = 0
        unsynced = 0
        pending: deque[Future[None]] = deque()
        flushing: Future[None] | None = None
        with (
            ThreadPoolExecutor(max_workers=1) as pool,
            ThreadPoolExecutor(max_workers=1) as syncer,
            open(temp, "wb", buffering=0) as out,
        ):
            source = self._chunked_body() if chunked else self._fixed_body(size or 0)
            for data in source:
                if cut is not None and total + len(data) > cut:
                    out.write(data[: max(0, cut - total)])
                    self._body_done = True
                    raise DropResponse()
                pending.append(pool.submit(md5.update, data))
                while len(pending) > _RECV_BUFFERS - 2:  # a buffer is refilled only once its md5 is done
                    pending.popleft().result()
                view = memoryview(data)
                while view:
                    written = out.write(view)
                    view = view[written:]
                total += len(data)
                unsynced += len(data)
                # Write back while receiving, so that the fsync before the answer has little left to do
                # (it took ~0.25 s per GiB after the body when it did all the work).
                if unsynced >= SYNC_EVERY and (flushing is None or flushing.done()):
                    if flushing is not None:
                        flushing.result()  # the kernel reports a write-back error once: never drop it
                    flushing = syncer.submit(_datasync, out.fileno(), temp)
                    unsynced = 0
            while pending:
                pending.popleft().result()
            if flushing is not None:
                flushing.result()
            sync_file(out.fileno(), temp)
        self._body_done = True
        return total, md5.hexdigest()

    def _fixed_body(self, size: int) -> Iterator[memoryview]:
        """Read exactly ``size`` bytes, yielding views of ``_RECV_BUFFERS`` rotating buffers."""
        buffers = [bytearray(IO_CHUNK) for _ in range(_RECV_BUFFERS)]
        remaining = size
        index = 0
        while remaining > 0:
            view = memoryview(buffers[index])[: min(remaining, IO_CHUNK)]
            got = self.rfile.readinto(view)
            if not got:
                self._body_done = True
                raise BrokenPipeError(f"upload cut after {size - remaining} of {size} bytes")
            remaining -= got
            self._body_read += got
            index = (index + 1) % _RECV_BUFFERS
            yield view[:got]

    def h_bucket_file_get(self, bucket: str, key: str) -> None:
        rec = self._bucket(bucket)
        entry = next((f for f in self._files_of(rec) if f["key"] == key), None)
        if entry is None:
            raise ApiError(404, "Object does not exist.")
        self.serve_file(entry)

    def h_bucket_file_delete(self, bucket: str, key: str) -> None:
        rec = self._bucket(bucket)
        self.store.delete_file(rec, key=key)
        self.send_json(204, None)

    # ------------------------------------------------------------------ records API
    def h_rec_search(self) -> None:
        self.send_json(200, views.search_records(self.store, self.params, self._base(), self.authenticated()))

    def _concept_redirect(self, id: str, suffix: str = "") -> bool:  # noqa: A002
        if not self.store.is_concept(id):
            return False
        latest = self.store.latest_published(id.strip())
        if latest is None:
            raise ApiError(404, NOT_FOUND)
        self.redirect(f"{self._base()}/api/records/{latest['id']}{suffix}")
        return True

    def h_rec_get(self, id: str) -> None:  # noqa: A002
        if self._concept_redirect(id):
            return
        rec = self.store.published_record(id)
        self.send_json(200, views.record(self.store, rec, self._base()))

    def h_rec_latest(self, id: str) -> None:  # noqa: A002
        if self._concept_redirect(id):
            return
        rec = self.store.published_record(id)
        latest = self.store.latest_published(rec["conceptrecid"])
        self.redirect(f"{self._base()}/api/records/{latest['id']}")

    def h_rec_versions(self, id: str) -> None:  # noqa: A002
        if self._concept_redirect(id, "/versions"):
            return
        rec = self.store.published_record(id)
        versions = self.store.published_versions(rec["conceptrecid"])
        hits = [views.record(self.store, v, self._base()) for v in reversed(versions)]
        self.send_json(200, {"hits": {"hits": hits, "total": len(hits)}, "links": {}, "sortBy": "version"})

    def h_rec_files(self, id: str) -> None:  # noqa: A002
        rec = self.store.published_record(id)
        doc = views.record(self.store, rec, self._base())
        entries = [dict(f, links={"content": f["links"]["self"]}) for f in doc["files"]]
        self.send_json(200, {"enabled": True, "entries": entries, "links": {"self": doc["links"]["files"]}})

    def h_rec_file(self, id: str, key: str) -> None:  # noqa: A002
        rec = self.store.published_record(id)
        doc = views.record(self.store, rec, self._base())
        for f in doc["files"]:
            if f["key"] == key:
                self.send_json(200, f)
                return
        raise ApiError(404, "The file does not exist.")

    def h_rec_file_content(self, id: str, key: str) -> None:  # noqa: A002
        rec = self.store.published_record(id)
        entry = next((f for f in rec["published"]["files"] if f["key"] == key), None)
        if entry is None:
            raise ApiError(404, "The file does not exist.")
        self.serve_file(entry)

    def h_draft_file_content(self, id: str, key: str) -> None:  # noqa: A002
        rec = self._dep(id)
        entry = next((f for f in self._files_of(rec) if f["key"] == key), None)
        if entry is None:
            raise ApiError(404, "The file does not exist.")
        self.serve_file(entry)

    def serve_file(self, entry: dict[str, Any]) -> None:
        """Send a stored file (200, or 206 for a satisfiable Range; 416 otherwise) with sendfile."""
        path = self.store.blob_path(entry)
        size = entry["size"]
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng:
            parsed = parse_range(rng, size)
            if parsed is None:
                self._status = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Type", "application/json")
                body = json.dumps({"status": 416, "message": "Requested Range Not Satisfiable"}).encode()
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            start, end = parsed
            status = 206
        length = max(0, end - start + 1)
        cut = self.app.faults.download_cut(self.info, length)
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"md5:{entry["md5"]}"')
        self.send_header(
            "Content-Disposition", f"attachment; filename*=UTF-8''{quote(entry['key'], safe='')}"
        )
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        for k, v in getattr(self, "_rate_headers", {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD" or length == 0:
            return
        count = length if cut is None else min(cut, length)
        with open(path, "rb") as fh:
            self.wfile.flush()
            self.connection.sendfile(fh, offset=start, count=count)
        if count < length:
            self._drop()

    # ------------------------------------------------------------------ web pages (minimal)
    def _html(self, status: int, title: str, body: str) -> None:
        data = f"<!doctype html><title>{title}</title><h1>{title}</h1>{body}".encode()
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def h_html_record(self, id: str) -> None:  # noqa: A002
        if self.store.is_concept(id):
            latest = self.store.latest_published(id)
            if latest is None:
                raise ApiError(404, NOT_FOUND)
            self.redirect(f"{self._base()}/records/{latest['id']}")
            return
        rec = self.store.published_record(id)
        import html

        title = html.escape(rec["published"]["metadata"].get("title") or "")
        items = "".join(
            f'<li><a href="/api/records/{rec["id"]}/files/{quote(f["key"], safe="")}/content">'
            f"{html.escape(f['key'])}</a> ({f['size']} bytes)</li>"
            for f in rec["published"]["files"]
        )
        self._html(200, title, f"<p>DOI {html.escape(rec['doi'])}</p><ul>{items}</ul>")

    def h_html_file(self, id: str, key: str) -> None:  # noqa: A002
        self.redirect(f"{self._base()}/api/records/{id}/files/{quote(key, safe='')}/content")

    def h_html_legacy_record(self, id: str) -> None:  # noqa: A002
        self.redirect(f"{self._base()}/records/{id}", 301)

    def h_html_doi(self, doi: str) -> None:
        m = re.match(r"^10\.\d+/zenodo\.(\d+)$", doi.strip(), re.I)
        if not m:
            raise ApiError(404, NOT_FOUND)
        self.redirect(f"{self._base()}/records/{m.group(1)}")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> (start, end) inclusive; None when not satisfiable.
    Several ranges: only the first is served."""
    header = header.strip()
    if not header.lower().startswith("bytes="):
        return None
    first = header[6:].split(",")[0].strip()
    if "-" not in first:
        return None
    a, b = first.split("-", 1)
    try:
        if a == "":
            n = int(b)
            if n <= 0 or size == 0:
                return None
            return max(0, size - n), size - 1
        start = int(a)
        end = int(b) if b else size - 1
    except ValueError:
        return None
    if start >= size or start < 0 or end < start:
        return None
    return start, min(end, size - 1)
