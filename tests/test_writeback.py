"""start_writeback: the early disk write used by the download and export writers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ossr_images import writeback


def test_start_writeback_on_a_real_file_leaves_its_bytes_alone(tmp_path: Path) -> None:
    path = tmp_path / "f.part"
    data = os.urandom(3 * 1024 * 1024)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        writeback.start_writeback(fd, 0, len(data))
        writeback.start_writeback(fd, 0, 0)  # nothing to do, no error
        os.fsync(fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == data


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux only")
def test_linux_has_sync_file_range() -> None:
    assert writeback._sync_file_range() is not None


def test_a_closed_descriptor_is_no_error(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "g", os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    writeback.start_writeback(fd, 0, 4096)  # EBADF only means no head start
