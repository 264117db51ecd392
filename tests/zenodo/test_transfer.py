"""HashingReader: reused buffers, md5 on a worker, sha256 inline; every byte hashed once, in order."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from ossr_images.zenodo.transfer import HashingReader, IterBody

CHUNK = 64 * 1024


class OnlyRead:
    """A file object without readinto."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)


class Trickle(io.BytesIO):
    """readinto gives at most 1000 bytes at a time, like a pipe."""

    def readinto(self, buffer):  # type: ignore[override]
        return super().readinto(memoryview(buffer)[:1000])


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 5])
@pytest.mark.parametrize("source", [io.BytesIO, OnlyRead, Trickle])
def test_chunks_and_hashes_match_the_bytes(size: int, source: type) -> None:
    data = os.urandom(size)
    seen: list[int] = []
    reader = HashingReader(source(data), size, chunk_size=CHUNK, progress=seen.append)
    try:
        sent = b"".join(bytes(chunk) for chunk in IterBody(reader))  # copy each view before the next
    finally:
        reader.close()
    assert sent == data
    assert reader.bytes_read == size == sum(seen)
    assert reader.md5 == hashlib.md5(data).hexdigest()
    assert reader.sha256 == hashlib.sha256(data).hexdigest()


def test_buffers_are_reused_not_allocated_per_chunk() -> None:
    size = 10 * CHUNK
    reader = HashingReader(io.BytesIO(os.urandom(size)), size, chunk_size=CHUNK, buffers=3)
    try:
        owners = {id(chunk.obj) for chunk in reader}
    finally:
        reader.close()
    assert len(owners) == 3


def test_a_short_file_raises_and_says_so() -> None:
    reader = HashingReader(io.BytesIO(b"x" * (CHUNK + 10)), 3 * CHUNK, chunk_size=CHUNK)
    with pytest.raises(OSError, match=f"ended after {CHUNK + 10} of {3 * CHUNK} bytes"):
        for _ in reader:
            pass
    reader.close()
    assert reader.ended_early


def test_read_still_works() -> None:
    data = os.urandom(3 * CHUNK)
    reader = HashingReader(io.BytesIO(data), len(data), chunk_size=CHUNK)
    got = reader.read(100) + reader.read()
    reader.close()
    assert got == data and reader.read() == b""
    assert reader.md5 == hashlib.md5(data).hexdigest()
