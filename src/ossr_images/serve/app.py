"""The ASGI application of `ossr-images serve` (Starlette): the pull side of the OCI Distribution
Specification v1.1. Push, delete and upload routes answer 405 UNSUPPORTED.

Blocking work (Zenodo, the first download of an image, file reads and hashing) runs on worker threads; blobs
are streamed in 512 KiB chunks out of the cached archive by byte range and hashed as they pass: the last
chunk is sent only when the whole blob matched its digest, so a mismatch aborts the response before it
completes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ossr_images.serve.errors import error_response
from ossr_images.serve.names import check_digest, check_reference, parse_name
from ossr_images.workflows.serve_archive import MANIFEST_TYPES, BlobLocation, ServedImage
from ossr_images.workflows.serve_registry import Registry, RegistryError

log = logging.getLogger("ossr_images.serve")
access_log = logging.getLogger("ossr_images.serve.access")

API_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
CHUNK = 512 * 1024  # per response in flight: one chunk read, at most one in the transport's buffer
MAX_TAGS_PAGE = 1000
PUSH_METHODS = ("PUT", "POST", "PATCH", "DELETE")

_UPLOADS = re.compile(r"^(?P<name>.+)/blobs/uploads(?:/(?P<id>[^/]*))?$")
_MANIFEST = re.compile(r"^(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB = re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$")
_TAGS = re.compile(r"^(?P<name>.+)/tags/list$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class BlobMismatch(Exception):
    """A blob's bytes did not match its digest while it was sent: the response is aborted."""


def create_app(registry: Registry) -> Starlette:
    """The registry's ASGI application."""
    handler = _Handler(registry)
    app = Starlette(
        routes=[
            Route("/v2/", handler.base, methods=["GET", "HEAD"]),
            Route("/v2", handler.base, methods=["GET", "HEAD"]),
            Route("/v2/{rest:path}", handler.dispatch, methods=["GET", "HEAD", *PUSH_METHODS]),
        ],
    )
    app.add_middleware(AccessLog)
    return app


class _Handler:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.lookups = anyio.CapacityLimiter(128)  # threads waiting for Zenodo or a first download
        self.reads = anyio.CapacityLimiter(32)  # threads reading and hashing blob chunks

    async def base(self, request: Request) -> Response:
        return Response(b"{}", media_type="application/json", headers=API_HEADER)

    async def dispatch(self, request: Request) -> Response:
        rest = request.path_params["rest"]
        method = request.method
        head = method == "HEAD"
        try:
            if _UPLOADS.match(rest):
                return _unsupported("uploads", head)
            m = _MANIFEST.match(rest)
            if m:
                if method in PUSH_METHODS:
                    return _unsupported("pushing or deleting manifests", head)
                return await self.manifest(request, m.group("name"), m.group("ref"), head)
            m = _BLOB.match(rest)
            if m:
                if method in PUSH_METHODS:
                    return _unsupported("deleting blobs", head)
                return await self.blob(request, m.group("name"), m.group("digest"), head)
            m = _TAGS.match(rest)
            if m and method not in PUSH_METHODS:
                return await self.tags(request, m.group("name"), head)
            if rest.rstrip("/") == "_catalog":
                return _unsupported("listing every repository", head)
            if method in PUSH_METHODS:
                return _unsupported(f"{method} {request.url.path}", head)
            return error_response("NAME_UNKNOWN", f"no such API route: {request.url.path}", head=head)
        except RegistryError as exc:
            request.state.check = exc.check
            return error_response(exc.code, exc.message, exc.detail, head=head)

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.lookups)

    # ----------------------------------------------------------------------------------------- manifests

    async def manifest(self, request: Request, name_text: str, reference: str, head: bool) -> Response:
        name = parse_name(name_text)
        check_reference(reference)
        manifest = await self._call(self.registry.manifest, name, reference, _accepted(request))
        headers = {
            **API_HEADER,
            "Docker-Content-Digest": manifest.digest,
            "Content-Length": str(len(manifest.body)),
            "ETag": f'"{manifest.digest}"',
        }
        return Response(b"" if head else manifest.body, media_type=manifest.media_type, headers=headers)

    # ---------------------------------------------------------------------------------------------- tags

    async def tags(self, request: Request, name_text: str, head: bool) -> Response:
        name = parse_name(name_text)
        tags: list[str] = await self._call(self.registry.tags, name)
        last = request.query_params.get("last")
        if last:
            tags = [t for t in tags if t > last]
        headers = dict(API_HEADER)
        n_text = request.query_params.get("n")
        if n_text is not None:
            n = int(n_text) if n_text.isdigit() else MAX_TAGS_PAGE
            n = min(n, MAX_TAGS_PAGE)
            if len(tags) > n:
                tags = tags[:n]
                if n:
                    headers["Link"] = f'</v2/{name.text}/tags/list?n={n}&last={quote(tags[-1])}>; rel="next"'
        from ossr_images.workflows.serve_archive import canonical_json

        body = canonical_json({"name": name.text, "tags": tags})
        headers["Content-Length"] = str(len(body))
        return Response(b"" if head else body, media_type="application/json", headers=headers)

    # --------------------------------------------------------------------------------------------- blobs

    async def blob(self, request: Request, name_text: str, digest: str, head: bool) -> Response:
        name = parse_name(name_text)
        check_digest(digest)
        served, loc = await self._call(self.registry.blob, name, digest)
        headers = {
            **API_HEADER,
            "Docker-Content-Digest": digest,
            "Accept-Ranges": "bytes",
            "ETag": f'"{digest}"',
        }
        start, end = 0, loc.size - 1
        status = 200
        rng = request.headers.get("range")
        if rng and loc.size > 0:
            parsed = _parse_range(rng, loc.size)
            if parsed is None:
                headers["Content-Range"] = f"bytes */{loc.size}"
                return error_response(
                    "RANGE_INVALID",
                    f"range {rng!r} cannot be satisfied",
                    f"the blob is {loc.size} bytes",
                    head=head,
                    headers=headers,
                )
            if parsed != (0, loc.size - 1):
                start, end = parsed
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{loc.size}"
        length = end - start + 1 if loc.size else 0
        headers["Content-Length"] = str(length)
        if head:
            return Response(b"", status_code=status, media_type="application/octet-stream", headers=headers)
        if loc.data is not None:
            if hashlib.sha256(loc.data).hexdigest() != digest.split(":", 1)[1]:
                raise RegistryError("DENIED", f"blob {digest} failed its digest check", check="blob-digest")
            return Response(
                loc.data[start : end + 1],
                status_code=status,
                media_type="application/octet-stream",
                headers=headers,
            )
        if status == 206 and not self.registry.is_verified(served, digest):
            ok = await anyio.to_thread.run_sync(_hash_range, loc, limiter=self.reads)
            if ok != digest:
                await self._call(self.registry.blob_failed, served, digest, f"its bytes hash to {ok}")
                raise RegistryError("DENIED", f"blob {digest} failed its digest check", check="blob-digest")
            self.registry.mark_verified(served, digest)
        body = self._stream(served, loc, start, length, verify=status == 200)
        return StreamingResponse(
            body, status_code=status, media_type="application/octet-stream", headers=headers
        )

    async def _stream(
        self, served: ServedImage, loc: BlobLocation, start: int, length: int, verify: bool
    ) -> AsyncIterator[bytes]:
        """The blob's bytes [start, start+length) from the archive; a whole blob is hashed as it passes and
        its last chunk is sent only when the digest matched."""
        assert loc.path is not None
        with self.registry.cache.using(served.record_id):
            fd = await anyio.to_thread.run_sync(os.open, str(loc.path), os.O_RDONLY, limiter=self.reads)
            try:
                hasher = hashlib.sha256() if verify else None
                done = 0
                while done < length:
                    size = min(CHUNK, length - done)
                    chunk = await anyio.to_thread.run_sync(
                        _read_chunk, fd, size, loc.offset + start + done, hasher, limiter=self.reads
                    )
                    done += len(chunk)
                    if done >= length and hasher is not None:  # the last chunk: sent only if all matched
                        got = "sha256:" + hasher.hexdigest()
                        if got != loc.digest:
                            await self._call(
                                self.registry.blob_failed, served, loc.digest, f"its bytes hash to {got}"
                            )
                            raise BlobMismatch(
                                f"record {served.record_id}: blob {loc.digest} hashes to {got}; response aborted"
                            )
                        self.registry.mark_verified(served, loc.digest)
                    yield chunk
            finally:
                os.close(fd)


def _read_chunk(fd: int, size: int, offset: int, hasher: Any) -> bytes:
    chunk = os.pread(fd, size, offset)
    if len(chunk) != size:
        raise BlobMismatch(f"the cached archive ends early at offset {offset + len(chunk)}")
    if hasher is not None:
        hasher.update(chunk)
    return chunk


def _hash_range(loc: BlobLocation) -> str:
    assert loc.path is not None
    h = hashlib.sha256()
    fd = os.open(str(loc.path), os.O_RDONLY)
    try:
        done = 0
        while done < loc.size:
            chunk = os.pread(fd, min(CHUNK, loc.size - done), loc.offset + done)
            if not chunk:
                break
            h.update(chunk)
            done += len(chunk)
    finally:
        os.close(fd)
    return "sha256:" + h.hexdigest()


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range, or None when it cannot be satisfied."""
    m = _RANGE.match(value.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):
        suffix = int(m.group(2))
        return (max(0, size - suffix), size - 1) if suffix else None
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else size - 1
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)


def _accepted(request: Request) -> set[str] | None:
    """The manifest media types the client accepts; None when it accepts anything (no Accept, */*)."""
    values = request.headers.getlist("accept")
    types = {part.split(";")[0].strip().lower() for v in values for part in v.split(",") if part.strip()}
    if not types or "*/*" in types or not types & set(MANIFEST_TYPES):
        return None
    return types


def _unsupported(what: str, head: bool) -> Response:
    return error_response(
        "UNSUPPORTED",
        f"this registry is read-only: {what} is not supported",
        "ossr-images serve only serves images archived on Zenodo; publish with `ossr-images publish`",
        head=head,
        headers={"Allow": "GET, HEAD"},
    )


class AccessLog:
    """One log line per request: client, method, path, status, bytes sent, seconds, and the failed check."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        state = {"status": 0, "bytes": 0}

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, counting_send)
        except BaseException as exc:
            error = exc
            raise
        finally:
            check = (scope.get("state") or {}).get("check")
            client = scope.get("client") or ("-", 0)
            extra = {
                "client": client[0],
                "method": scope["method"],
                "path": scope["path"],
                "status": state["status"],
                "bytes": state["bytes"],
                "seconds": round(time.monotonic() - started, 3),
            }
            if check:
                extra["check"] = check
            if error is not None:
                extra["aborted"] = str(error)
                access_log.error(
                    "%s %s %s %s aborted after %d bytes: %s",
                    client[0],
                    scope["method"],
                    scope["path"],
                    state["status"],
                    state["bytes"],
                    error,
                    extra={"fields": extra},
                )
            else:
                access_log.info(
                    "%s %s %s %s %d bytes %.3fs%s",
                    client[0],
                    scope["method"],
                    scope["path"],
                    state["status"],
                    state["bytes"],
                    extra["seconds"],
                    f" check={check} failed" if check else "",
                    extra={"fields": extra},
                )
