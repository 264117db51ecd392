"""Streaming helpers: read a file once, in large chunks, and hash it (md5 + sha256) on the way.

:class:`HashingReader` wraps a binary file object of known length for a ``requests`` body: it has ``__len__``
so that requests sends ``Content-Length`` (Zenodo does not take chunked uploads), and it iterates in chunks of
``chunk_size`` bytes (views of a few reused buffers) so that urllib3 hands big blocks to the socket; md5 runs on
a worker thread, overlapping sha256 and the socket write; memory stays at a few chunks. :func:`hash_file` and
the download path use :class:`_Hashes` (each hash on its own worker).
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

DEFAULT_CHUNK = 4 * 1024 * 1024
Progress = Callable[[int], None]


class _Hashes:
    """md5 + sha256, updated inline or each on its own worker thread.

    A single-worker executor per hash keeps the chunks in order; at most ``depth`` chunks are in flight, so
    memory stays bounded (depth x chunk size) while reading, hashing and sending overlap.
    """

    def __init__(self, threaded: bool, depth: int = 3) -> None:
        self.md5 = hashlib.md5()  # noqa: S324 - Zenodo's checksum algorithm, not used for security
        self.sha256 = hashlib.sha256()
        self.depth = depth
        self._pools = (
            [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"hash-{n}") for n in ("md5", "sha256")]
            if threaded
            else []
        )
        self._pending: deque[list[Future[None]]] = deque()

    def update(self, chunk: bytes | memoryview) -> None:
        if not self._pools:
            self.md5.update(chunk)
            self.sha256.update(chunk)
            return
        while len(self._pending) >= self.depth:
            for future in self._pending.popleft():
                future.result()
        self._pending.append(
            [self._pools[0].submit(self.md5.update, chunk), self._pools[1].submit(self.sha256.update, chunk)]
        )

    def wait(self) -> None:
        while self._pending:
            for future in self._pending.popleft():
                future.result()

    def close(self) -> None:
        self.wait()
        for pool in self._pools:
            pool.shutdown(wait=True)
        self._pools = []

    def hexdigests(self) -> tuple[str, str]:
        self.wait()
        return self.md5.hexdigest(), self.sha256.hexdigest()


class HashingReader:
    """A body of exactly ``size`` bytes read from ``fileobj``, hashed (md5, sha256) as it passes.

    Iterating reads into ``buffers`` reused bytearrays and yields memoryviews of them (no allocation and no page
    faults per chunk): a chunk is valid only until the next one is asked for, which is how urllib3 consumes a
    body (``sendall`` of one chunk, then the next). A buffer is refilled only once its md5 is done, and it has
    been sent and sha256-hashed because the caller asked for the next chunk. ``read(n)`` works too (new bytes).

    Threads (2 busy, for 2 CPUs): md5, the slower hash and serial, runs on a worker; reading, sha256 and the
    caller's socket send run on the caller's thread (hashlib releases the GIL). After the body has been
    consumed, :attr:`md5` and :attr:`sha256` give the hex digests and :attr:`bytes_read` the count. If the file
    ends early an ``OSError`` is raised (the request then fails rather than sending a short body).
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        size: int,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        progress: Progress | None = None,
        threaded: bool = True,
        buffers: int = 3,
    ) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self._file = fileobj
        self.size = size
        self.len = size  # requests' super_len looks for __len__ or .len
        self.chunk_size = max(64 * 1024, chunk_size)
        self.buffers = max(2, buffers)
        self._progress = progress
        self._md5 = hashlib.md5()  # noqa: S324 - Zenodo's checksum algorithm, not used for security
        self._sha256 = hashlib.sha256()
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash-md5")
            if threaded and size > self.chunk_size
            else None
        )
        self._md5_pending: deque[Future[None]] = deque()
        self.bytes_read = 0
        self.ended_early = False

    def __len__(self) -> int:
        return self.size

    def _take(self, chunk: bytes | memoryview) -> Future[None] | None:
        """Hash ``chunk`` (md5 queued on the worker, sha256 here) and count it; the md5's future, if any."""
        done: Future[None] | None = None
        if self._pool is None:
            self._md5.update(chunk)
        else:
            done = self._pool.submit(self._md5.update, chunk)
            self._md5_pending.append(done)
            if len(self._md5_pending) > self.buffers:
                self._md5_pending.popleft().result()
        self._sha256.update(chunk)
        self.bytes_read += len(chunk)
        if self._progress is not None:
            self._progress(len(chunk))
        return done

    def _short(self) -> OSError:
        self.ended_early = True
        return OSError(f"the file ended after {self.bytes_read} of {self.size} bytes")

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that remain when ``n`` < 0), hashed on the way."""
        remaining = self.size - self.bytes_read
        if remaining <= 0:
            return b""
        want = remaining if n is None or n < 0 else min(n, remaining)
        data = self._file.read(want)
        if not data:
            raise self._short()
        self._take(data)
        return data

    def __iter__(self) -> Iterator[memoryview]:
        readinto = getattr(self._file, "readinto", None)
        if readinto is None:  # a minimal file object: new bytes per chunk
            while chunk := self.read(self.chunk_size):
                yield memoryview(chunk)
            return
        length = min(self.chunk_size, self.size)
        ring = [memoryview(bytearray(length)) for _ in range(self.buffers if self._pool else 1)]
        md5_of: list[Future[None] | None] = [None] * len(ring)
        index = 0
        while self.bytes_read < self.size:
            if md5_of[index] is not None:
                md5_of[index].result()  # type: ignore[union-attr]
            view = ring[index][: min(length, self.size - self.bytes_read)]
            got = readinto(view)
            if not got:
                raise self._short()
            chunk = view[:got]
            md5_of[index] = self._take(chunk)
            yield chunk
            index = (index + 1) % len(ring)

    def _wait(self) -> None:
        while self._md5_pending:
            self._md5_pending.popleft().result()

    @property
    def md5(self) -> str:
        """Hex md5 of the bytes read so far (waits for the hashing thread)."""
        self._wait()
        return self._md5.hexdigest()

    @property
    def sha256(self) -> str:
        """Hex sha256 of the bytes read so far."""
        return self._sha256.hexdigest()

    def close(self) -> None:
        """Stop the hashing thread (the wrapped file is left open: it belongs to the caller)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._md5_pending.clear()


class IterBody:
    """A ``requests`` body of known length that yields the reader's big chunks.

    It has no ``read`` on purpose: urllib3 reads file-like bodies 16 KiB at a time, but sends an iterable's
    chunks as they are. ``__len__`` makes requests send ``Content-Length`` rather than chunked encoding.
    """

    def __init__(self, reader: HashingReader) -> None:
        self.reader = reader
        self.len = reader.size

    def __len__(self) -> int:
        return self.reader.size

    def __iter__(self) -> Iterator[memoryview]:
        return iter(self.reader)


def hash_file(
    fileobj: BinaryIO, *, chunk_size: int = DEFAULT_CHUNK, progress: Progress | None = None
) -> tuple[int, str, str]:
    """Read ``fileobj`` to its end: (bytes, md5 hex, sha256 hex)."""
    hashes = _Hashes(threaded=True)
    total = 0
    try:
        while True:
            chunk = fileobj.read(chunk_size)
            if not chunk:
                break
            hashes.update(chunk)
            total += len(chunk)
            if progress is not None:
                progress(len(chunk))
        md5, sha = hashes.hexdigests()
    finally:
        hashes.close()
    return total, md5, sha


def fsync_file(fileobj: BinaryIO) -> None:
    """Flush and fsync (best effort on file systems that do not support it)."""
    fileobj.flush()
    try:
        os.fsync(fileobj.fileno())
    except OSError:
        pass
