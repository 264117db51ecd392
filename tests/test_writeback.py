"""start_writeback: the early disk write used by the download and export writers.

Write-back is observed on the file itself: on a filesystem with delayed allocation (ext4, xfs, btrfs) freshly
written bytes have no disk blocks yet, and FIEMAP reports them as a "delalloc" extent. Once the kernel has
started writing a range, that range has blocks, so it leaves the delalloc state, and only that range.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
import sys
from pathlib import Path

import pytest

from ossr_images import writeback

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux only")

MIB = 1024 * 1024
FS_IOC_FIEMAP = 0xC020660B  # _IOWR('f', 11, struct fiemap)
FIEMAP_EXTENT_DELALLOC = 0x4
_HEADER = struct.Struct("=QQIII4x")  # fm_start, fm_length, fm_flags, fm_mapped_extents, fm_extent_count
_EXTENT = struct.Struct("=QQQ16xI12x")  # fe_logical, fe_physical, fe_length, fe_flags


def delalloc_ranges(fd: int) -> list[tuple[int, int]]:
    """(start, end) byte ranges of the file that have no disk blocks yet (dirty, not yet written back)."""
    count = 256
    buf = bytearray(_HEADER.pack(0, 2**64 - 1, 0, 0, count) + bytes(_EXTENT.size * count))
    fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)
    mapped = _HEADER.unpack_from(buf)[3]
    out = []
    for i in range(mapped):
        logical, _physical, length, flags = _EXTENT.unpack_from(buf, _HEADER.size + i * _EXTENT.size)
        if flags & FIEMAP_EXTENT_DELALLOC:
            out.append((logical, logical + length))
    return out


def _fresh_file(path: Path, size: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, os.urandom(size))
    return fd


@pytest.mark.best_effort  # needs a filesystem with delayed allocation (ext4, xfs, btrfs) under tmp_path
def test_only_the_asked_range_is_written_back(tmp_path: Path) -> None:
    # The kernel's own flusher may write the whole file meanwhile (other processes writing a lot): such an
    # attempt proves nothing either way and is repeated; a start_writeback that writes nothing, or the wrong
    # range, fails at every attempt.
    for attempt in range(5):
        path = tmp_path / f"f{attempt}.part"
        fd = _fresh_file(path, 8 * MIB)
        try:
            try:
                before = delalloc_ranges(fd)
            except OSError as exc:
                pytest.skip(f"FIEMAP is not supported on {tmp_path}: {exc}")
            if before != [(0, 8 * MIB)]:
                if attempt == 0 and not before:
                    pytest.skip(
                        f"the filesystem of {tmp_path} has no delayed allocation: write-back not visible"
                    )
                continue
            writeback.start_writeback(fd, 2 * MIB, 4 * MIB)
            after = delalloc_ranges(fd)
            assert (2 * MIB, 6 * MIB) not in after and not any(
                s < 6 * MIB and e > 2 * MIB for s, e in after
            ), f"bytes 2-6 MiB still have no disk blocks after start_writeback: {after}"
            if after != [(0, 2 * MIB), (6 * MIB, 8 * MIB)]:
                continue  # the flusher wrote more than we asked: inconclusive
            os.fsync(fd)
            assert delalloc_ranges(fd) == []
        finally:
            os.close(fd)
        assert path.stat().st_size == 8 * MIB
        return
    pytest.fail("could not observe start_writeback alone in 5 attempts (the kernel flushed the whole file)")


def test_bytes_are_unchanged_and_empty_ranges_are_no_call(tmp_path: Path) -> None:
    path = tmp_path / "g.part"
    data = os.urandom(3 * MIB)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        writeback.start_writeback(fd, 0, len(data))
        ctypes.set_errno(0)
        writeback.start_writeback(-1, 0, 0)  # length 0: nothing is asked of the kernel (no EBADF)
        assert ctypes.get_errno() == 0
        os.fsync(fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == data


@pytest.mark.parametrize(
    "make_fd,offset,expected",
    [("closed", 0, errno.EBADF), ("pipe", 0, errno.ESPIPE), ("file", -1, errno.EINVAL), ("file", 0, 0)],
)
def test_the_kernel_gets_the_call_and_its_errors_are_no_failure(
    tmp_path: Path, make_fd: str, offset: int, expected: int
) -> None:
    """The errno the kernel sets shows the call reached it with this descriptor and offset; start_writeback
    itself never raises (an error only means no head start)."""
    closers: list[int] = []
    if make_fd == "closed":
        fd = os.open(tmp_path / "c", os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    elif make_fd == "pipe":
        fd, w = os.pipe()
        closers += [fd, w]
    else:
        fd = _fresh_file(tmp_path / "h", 4096)
        closers.append(fd)
    try:
        ctypes.set_errno(0)
        writeback.start_writeback(fd, offset, 4096)
        assert ctypes.get_errno() == expected
    finally:
        for c in closers:
            os.close(c)
