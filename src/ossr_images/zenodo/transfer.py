"""Streaming helpers: read a file once, in large chunks, and hash it (md5 + sha256) on the way.

:class:`HashingReader` wraps a binary file object of known length for a ``requests`` body: it has ``__len__``
so that requests sends ``Content-Length`` (Zenodo does not take chunked uploads), and it iterates in chunks of
``chunk_size`` bytes so that urllib3 hands big blocks to the socket. With ``threaded=True`` the two hashes run
on worker threads (hashlib releases the GIL), overlapping the socket write; memory stays at a few chunks.
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
    """A file-like body of exactly ``size`` bytes read from ``fileobj``, hashed (md5, sha256) as it passes.

    Iterating yields chunks; ``read(n)`` works too. After the body has been consumed, :attr:`md5` and
    :attr:`sha256` give the hex digests and :attr:`bytes_read` the count. If the file ends early an
    ``OSError`` is raised (the request then fails rather than sending a short body).
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        size: int,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        progress: Progress | None = None,
        threaded: bool = True,
    ) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self._file = fileobj
        self.size = size
        self.len = size  # requests' super_len looks for __len__ or .len
        self.chunk_size = max(64 * 1024, chunk_size)
        self._progress = progress
        self._hashes = _Hashes(threaded and size > self.chunk_size)
        self.bytes_read = 0
        self.ended_early = False

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that remain when ``n`` < 0), hashed on the way."""
        remaining = self.size - self.bytes_read
        if remaining <= 0:
            return b""
        want = remaining if n is None or n < 0 else min(n, remaining)
        data = self._file.read(want)
        if not data:
            self.ended_early = True
            raise OSError(f"the file ended after {self.bytes_read} of {self.size} bytes")
        self._hashes.update(data)
        self.bytes_read += len(data)
        if self._progress is not None:
            self._progress(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.read(self.chunk_size)
            if not chunk:
                return
            yield chunk

    @property
    def md5(self) -> str:
        """Hex md5 of the bytes read so far (waits for the hashing threads)."""
        return self._hashes.hexdigests()[0]

    @property
    def sha256(self) -> str:
        """Hex sha256 of the bytes read so far (waits for the hashing threads)."""
        return self._hashes.hexdigests()[1]

    def close(self) -> None:
        """Stop the hashing threads (the wrapped file is left open: it belongs to the caller)."""
        self._hashes.close()


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

    def __iter__(self) -> Iterator[bytes]:
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
