"""Request bodies and byte ranges, without sockets: everything here reads a binary stream (the handler's
``rfile``, or a ``BytesIO`` in a test) and the request's headers.

`Body` reads one request's body once (JSON, chunked or fixed length, to a file) and remembers how much it
consumed, so that the handler can drain what is left or close the connection; `receive_to_file` streams it to
disk with md5 on a worker thread and write-back while it arrives; `parse_range` reads a Range header.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from email.message import Message
from pathlib import Path
from typing import Any, BinaryIO

from ossr_images.standin.faults import DropResponse
from ossr_images.standin.store import ApiError, DurabilityError, sync_file

MAX_JSON = 10 * 1024 * 1024
DRAIN_LIMIT = 16 * 1024 * 1024
IO_CHUNK = 1024 * 1024
RECV_BUFFERS = 4
SYNC_EVERY = 64 * 1024 * 1024


def datasync(fd: int, path: Path) -> None:
    """fdatasync where the platform has it (not macOS), else fsync; an error names ``path``."""
    try:
        getattr(os, "fdatasync", os.fsync)(fd)
    except OSError as exc:
        raise DurabilityError(
            exc.errno, f"Cannot write {path} back to disk (fdatasync: {exc.strerror})"
        ) from exc


def content_type(headers: Message) -> str:
    """The media type of a request, lower case, without parameters."""
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


class Body:
    """The body of one request, read at most once from ``rfile``."""

    def __init__(self, rfile: BinaryIO, headers: Message) -> None:
        self.rfile = rfile
        self.headers = headers
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.done = False  # nothing more to read (or the connection closes after the answer)
        self.read = 0  # bytes of a fixed-length body already consumed

    def length(self) -> int | None:
        """Content-Length (None when absent); a 400 when it is not a number."""
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, "Invalid Content-Length header.") from None

    def json(self) -> Any:
        """The JSON body (None when empty); 415 for a type other than application/json (none given counts as
        application/json: flask-resources parsers/decorators.py default_content_type); 400 when undecodable;
        413 when big."""
        if self.chunked:
            raw = b"".join(self.chunks(limit=MAX_JSON))
        else:
            length = self.length() or 0
            if length > MAX_JSON:
                raise ApiError(413, "Request Entity Too Large")
            raw = self.rfile.read(length) if length > 0 else b""
            if len(raw) < length:
                raise BrokenPipeError("request body cut")
        self.done = True
        if not raw.strip():
            return None
        if (
            content_type(self.headers) or "application/json"
        ) != "application/json":  # flask-resources default
            raise ApiError(415, "Invalid 'Content-Type' header. Expected one of: application/json.")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "Unable to decode JSON data in request body.") from None

    def chunks(self, limit: int | None = None) -> Iterator[bytes]:
        """Decode a chunked body, yielding its data (413 past ``limit`` bytes)."""
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
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                self.done = True
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

    def fixed(self, size: int) -> Iterator[memoryview]:
        """Exactly ``size`` bytes, as views of `RECV_BUFFERS` rotating buffers (no allocation per chunk)."""
        buffers = [bytearray(IO_CHUNK) for _ in range(RECV_BUFFERS)]
        remaining = size
        index = 0
        while remaining > 0:
            view = memoryview(buffers[index])[: min(remaining, IO_CHUNK)]
            got = self.rfile.readinto(view)
            if not got:
                self.done = True
                raise BrokenPipeError(f"upload cut after {size - remaining} of {size} bytes")
            remaining -= got
            self.read += got
            index = (index + 1) % RECV_BUFFERS
            yield view[:got]

    def to_file(self, path: Path, size: int) -> None:
        """Write a fixed-length body of ``size`` bytes to ``path`` (a temporary file, never synced)."""
        with open(path, "wb", buffering=0) as out:
            for data in self.fixed(size):
                out.write(data)
        self.done = True

    def finish(self) -> bool:
        """Read what is left of a small body; True when the connection must close instead (a chunked, large,
        unreadable or cut body)."""
        if self.done:
            return False
        self.done = True
        if self.chunked:
            return True
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return True
        remaining = length - self.read
        if remaining <= 0:
            return False
        if remaining > DRAIN_LIMIT:
            return True
        while remaining > 0:
            data = self.rfile.read(min(remaining, IO_CHUNK))
            if not data:
                return True
            remaining -= len(data)
        return False


def receive_to_file(source: Iterator[bytes | memoryview], temp: Path, cut: int | None) -> tuple[int, str]:
    """Stream ``source`` into ``temp`` and make it durable: (size, md5 hex). md5 runs on a worker thread,
    overlapping reads and writes; write-back (`datasync`) starts every `SYNC_EVERY` bytes so that the final
    fsync has little left to do. ``cut`` (a fault hook's byte count) stops after that many bytes with DropResponse.
    A buffer of ``source`` is reused only once its md5 is done (at most `RECV_BUFFERS` - 2 pending)."""
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
        for data in source:
            if cut is not None and total + len(data) > cut:
                out.write(data[: max(0, cut - total)])
                raise DropResponse()
            pending.append(pool.submit(md5.update, data))
            while len(pending) > RECV_BUFFERS - 2:
                pending.popleft().result()
            view = memoryview(data)
            while view:
                written = out.write(view)
                view = view[written:]
            total += len(data)
            unsynced += len(data)
            if unsynced >= SYNC_EVERY and (flushing is None or flushing.done()):
                if flushing is not None:
                    flushing.result()  # the kernel reports a write-back error once: never drop it
                flushing = syncer.submit(datasync, out.fileno(), temp)
                unsynced = 0
        while pending:
            pending.popleft().result()
        if flushing is not None:
            flushing.result()
        sync_file(out.fileno(), temp)
    return total, md5.hexdigest()


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
