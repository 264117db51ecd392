"""Streaming compression and decompression of image archives: zstd (all cores), gzip, or none.

Nothing here reads a whole file in memory: every function works on file objects in chunks.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ossr_images.errors import InvalidInputError

CHUNK = 1 << 20  # 1 MiB
METHODS = ("zstd", "gzip", "none")
# Multi-threaded zstd works in jobs; the default job (several times the window) keeps ~125 MiB in flight for
# 2 threads at level 3. 4 MiB jobs peak at ~70 MiB, same speed, +0.02% size (benchmarks/RESULTS.md).
ZSTD_JOB_SIZE = 4 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_OTHER_MAGIC = {
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bzip2",
    b"PK\x03\x04": "zip",
}

Progress = Callable[[int], None]


def detect_compression_bytes(head: bytes) -> str:
    """The compression of a stream from its first bytes: "gzip", "zstd" or "none".

    Raises InvalidInputError for a compression ossr-images does not read (xz, bzip2, zip).
    """
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    for magic, name in _OTHER_MAGIC.items():
        if head.startswith(magic):
            raise InvalidInputError(
                f"the file is {name}-compressed, which ossr-images does not read",
                hint="Decompress it and use the plain archive, or recompress it with zstd or gzip.",
            )
    return "none"


def detect_compression(path: Path | str) -> str:
    """The compression of the file at `path` ("gzip", "zstd" or "none"), from its magic bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read {path}: {exc.strerror or exc}", hint="Check the path and its permissions."
        ) from exc
    return detect_compression_bytes(head)


def decompressing_reader(raw: BinaryIO, method: str) -> BinaryIO:
    """A file object that yields the decompressed bytes of `raw` (which it reads sequentially)."""
    if method == "none":
        return raw
    if method == "gzip":
        return _GzipReader(raw)  # type: ignore[return-value]
    if method == "zstd":
        import zstandard

        # read_across_frames: zstd -T writes several frames; read_size keeps reads large.
        return zstandard.ZstdDecompressor().stream_reader(  # type: ignore[return-value]
            raw, read_size=CHUNK, read_across_frames=True, closefd=False
        )
    raise ValueError(f"unknown compression {method!r}")


class _GzipReader(io.RawIOBase):
    """gzip decompression straight on zlib (faster than gzip.GzipFile), bounded output per read,
    several members (pigz, concatenated files); CRC and length are checked by zlib at each member's end;
    a stream that stops inside a member raises EOFError."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = b""  # compressed input not yet given to zlib
        self._in_member = False
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            size = CHUNK
        while not self._eof:
            if not self._pending:
                self._pending = self._raw.read(CHUNK)
                if not self._pending:
                    if self._in_member:
                        raise EOFError("compressed file ended before the end-of-stream marker was reached")
                    self._eof = True
                    return b""
            if self._d.eof:  # the previous member ended: start the next one
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._in_member = False
            out = self._d.decompress(self._pending, size)
            self._in_member = not self._d.eof
            self._pending = self._d.unconsumed_tail or self._d.unused_data
            if self._d.eof and self._pending and not self._pending.lstrip(b"\x00"):
                self._pending = b""  # zero padding after the last member (as gzip(1) accepts)
            if out:
                return out
        return b""

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_decompressed(path: Path | str) -> BinaryIO:
    """Open `path` for reading its decompressed bytes (gzip, zstd or plain), streaming."""
    method = detect_compression(path)
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if method == "none":
        return raw
    return _Closing(decompressing_reader(raw, method), raw)


class _Closing(io.RawIOBase):
    """Wraps a decompressing reader so that closing it also closes the underlying file."""

    def __init__(self, inner: BinaryIO, raw: BinaryIO) -> None:
        self._inner = inner
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            chunks = []
            while True:
                chunk = self._inner.read(CHUNK)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        return self._inner.read(size)

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._raw.close()
            super().close()


def _default_threads(threads: int) -> int:
    if threads and threads > 0:
        return threads
    return os.cpu_count() or 1


def compress_stream(
    src: BinaryIO,
    dst: BinaryIO,
    method: str,
    threads: int = 0,
    progress: Progress | None = None,
    *,
    level: int | None = None,
) -> int:
    """Copy `src` to `dst`, compressing with `method` ("zstd", "gzip" or "none"), in chunks.

    zstd uses all cores when `threads` is 0 (level 3 by default); gzip uses pigz when it is installed and
    more than one thread is wanted, else zlib (level 6). `progress(n)` is called with uncompressed bytes
    read. Returns the number of uncompressed bytes.
    """
    total = 0
    with compressing_writer(dst, method, threads, level=level) as writer:
        while chunk := src.read(CHUNK):
            writer.write(chunk)
            total += len(chunk)
            if progress:
                progress(len(chunk))
    return total


@contextmanager
def compressing_writer(
    dst: BinaryIO, method: str, threads: int = 0, *, level: int | None = None
) -> Iterator[BinaryIO]:
    """A writer whose bytes reach `dst` compressed with `method` (see `compress_stream`); the compressed
    stream is complete when the block exits without an error. `dst` is never closed."""
    if method not in METHODS:
        raise InvalidInputError(f"unknown compression {method!r}", hint=f"Use one of: {', '.join(METHODS)}.")
    if method == "none":
        yield dst
        return
    nthreads = _default_threads(threads)
    if method == "zstd":
        import zstandard

        params = zstandard.ZstdCompressionParameters.from_level(
            level or 3,
            threads=nthreads if nthreads > 1 else 0,
            job_size=ZSTD_JOB_SIZE if nthreads > 1 else 0,
            write_checksum=True,  # as zstd(1) does: a corrupt copy fails its decompression
        )
        cctx = zstandard.ZstdCompressor(compression_params=params)
        with cctx.stream_writer(dst, closefd=False) as writer:
            yield writer  # type: ignore[misc]
        return
    pigz = shutil.which("pigz")
    if pigz and nthreads > 1:
        with _pigz_writer(pigz, dst, nthreads, level or 6) as writer:
            yield writer
        return
    writer = _ZlibWriter(dst, level or 6)
    yield writer  # type: ignore[misc]
    writer.finish()


class _ZlibWriter(io.RawIOBase):
    def __init__(self, dst: BinaryIO, level: int) -> None:
        self._dst = dst
        self._c = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip container

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        self._dst.write(self._c.compress(data))
        return len(data)

    def finish(self) -> None:
        self._dst.write(self._c.flush())


@contextmanager
def _pigz_writer(pigz: str, dst: BinaryIO, threads: int, level: int) -> Iterator[BinaryIO]:
    """gzip through pigz: the caller writes its stdin, a thread copies its stdout to `dst`."""
    import threading

    proc = subprocess.Popen(  # noqa: S603 - fixed argument list
        [pigz, "-c", f"-{level}", "-p", str(threads)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    failure: list[BaseException] = []

    def drain() -> None:
        try:
            while chunk := proc.stdout.read(CHUNK):  # type: ignore[union-attr]
                dst.write(chunk)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)
            proc.kill()  # unblocks the writer

    drainer = threading.Thread(target=drain, name="pigz-drain", daemon=True)
    drainer.start()
    try:
        try:
            yield proc.stdin  # type: ignore[misc]
        except BaseException:
            proc.kill()
            raise
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass
            drainer.join()
            err = proc.stderr.read() if proc.stderr else b""
            code = proc.wait()
    except BrokenPipeError:
        if not failure:
            raise
    if failure:
        raise failure[0]
    if code != 0:
        raise OSError(f"pigz failed: {err.decode(errors='replace').strip()}")
