"""Streaming helpers: read a file once, in large chunks, and hash it (md5 + sha256) on the way.

:class:`HashingReader` wraps a binary file object of known length for a ``requests`` body: it has ``__len__``
so that requests sends ``Content-Length`` (Zenodo does not take chunked uploads), and it iterates in chunks of
``chunk_size`` bytes (views of a few reused buffers) so that urllib3 hands big blocks to the socket.
:class:`HashRing` is the one hashing pipeline of uploads, downloads and :func:`hash_file`: md5 (the slower hash,
serial by nature) on a worker thread, sha256 on the caller's thread, over a few reused buffers: two busy
threads for two CPUs, memory at a few chunks.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from queue import SimpleQueue
from typing import Any, BinaryIO

DEFAULT_CHUNK = 4 * 1024 * 1024
Progress = Callable[[int], None]


class HashRing:
    """md5 on a worker thread, sha256 on the caller's thread, over a ring of reused buffers.

    :meth:`buffer` gives a buffer no hash is still reading; :meth:`update` hands bytes to both hashes. The
    md5 thread holds at most ``depth`` updates (in order) and the ring has ``depth + 1`` buffers, each handed
    out once per update, so the buffer handed out next was last updated at least ``depth`` updates ago:
    its md5 is done.
    """

    def __init__(self, buffer_size: int = DEFAULT_CHUNK, depth: int = 3) -> None:
        self.md5 = hashlib.md5()  # noqa: S324 - Zenodo's checksum algorithm, not used for security
        self.sha256 = hashlib.sha256()
        self._buffer_size = buffer_size
        self._ring: list[memoryview] = []
        self._count = 0
        self._handed: memoryview | None = None
        self._depth = depth
        self._slots = threading.Semaphore(depth)
        self._todo: SimpleQueue[Any] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def buffer(self) -> memoryview:
        if self._handed is None:  # a buffer handed out but not given to update() is handed out again
            index = self._count % (self._depth + 1)
            if index == len(self._ring):  # allocated on first use: a part already complete needs none
                self._ring.append(memoryview(bytearray(self._buffer_size)))
            self._count += 1
            self._handed = self._ring[index]
        return self._handed

    def update(self, data: memoryview | bytes) -> None:
        self._handed = None
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hash-md5", daemon=True)
            self._thread.start()
        self._slots.acquire()
        if self._error is not None:
            self._slots.release()
            raise self._error
        self._todo.put(data)
        self.sha256.update(data)

    def _run(self) -> None:
        while True:
            data = self._todo.get()
            if data is None:
                return
            try:
                self.md5.update(data)
            except BaseException as exc:  # noqa: BLE001 - reported to the caller's thread
                self._error = exc
            finally:
                self._slots.release()

    def wait(self) -> None:
        """Until the md5 thread has hashed everything given so far."""
        for _ in range(self._depth):
            self._slots.acquire()
        for _ in range(self._depth):
            self._slots.release()
        if self._error is not None:
            raise self._error

    def hexdigests(self) -> tuple[str, str]:
        self.wait()
        return self.md5.hexdigest(), self.sha256.hexdigest()

    def close(self) -> None:
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join()
            self._thread = None


class HashingReader:
    """A body of exactly ``size`` bytes read from ``fileobj``, hashed (md5, sha256) as it passes.

    Iterating reads into the buffers of a :class:`HashRing` and yields memoryviews of them (no allocation and
    no page faults per chunk): a chunk is valid only until the next one is asked for, which is how urllib3
    consumes a body (``sendall`` of one chunk, then the next). ``read(n)`` works too (new bytes).
    After the body has been consumed, :attr:`md5` and :attr:`sha256` give the hex digests and
    :attr:`bytes_read` the count. If the file ends early an ``OSError`` is raised (the request then fails
    rather than sending a short body).
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        size: int,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        progress: Progress | None = None,
        buffers: int = 3,
    ) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self._file = fileobj
        self.size = size
        self.len = size  # requests' super_len looks for __len__ or .len
        self.chunk_size = max(64 * 1024, chunk_size)
        self._progress = progress
        self._hashes = HashRing(min(self.chunk_size, max(size, 1)), depth=max(2, buffers) - 1)
        self.bytes_read = 0
        self.ended_early = False

    def __len__(self) -> int:
        return self.size

    def _take(self, chunk: bytes | memoryview) -> None:
        self._hashes.update(chunk)
        self.bytes_read += len(chunk)
        if self._progress is not None:
            self._progress(len(chunk))

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
        while self.bytes_read < self.size:
            view = self._hashes.buffer()[: self.size - self.bytes_read]
            got = readinto(view)
            if not got:
                raise self._short()
            chunk = view[:got]
            self._take(chunk)
            yield chunk

    @property
    def md5(self) -> str:
        """Hex md5 of the bytes read so far (waits for the hashing thread)."""
        return self._hashes.hexdigests()[0]

    @property
    def sha256(self) -> str:
        """Hex sha256 of the bytes read so far."""
        return self._hashes.hexdigests()[1]

    def close(self) -> None:
        """Stop the hashing thread (the wrapped file is left open: it belongs to the caller)."""
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

    def __iter__(self) -> Iterator[memoryview]:
        return iter(self.reader)


def hash_file(
    fileobj: BinaryIO, *, chunk_size: int = DEFAULT_CHUNK, progress: Progress | None = None
) -> tuple[int, str, str]:
    """Read ``fileobj`` to its end: (bytes, md5 hex, sha256 hex), in one pass over a :class:`HashRing`."""
    hashes = HashRing(chunk_size)
    total = 0
    try:
        while True:
            view = hashes.buffer()
            n = fileobj.readinto(view)  # type: ignore[attr-defined]
            if not n:
                break
            hashes.update(view[:n])
            total += n
            if progress is not None:
                progress(n)
        md5, sha = hashes.hexdigests()
    finally:
        hashes.close()
    return total, md5, sha
