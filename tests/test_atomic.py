"""The write-to-temp-then-rename helper: the final name only ever holds complete, fsynced bytes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ossr_images import atomic
from ossr_images.atomic import atomic_path, atomic_write, commit


def test_a_complete_write_appears_under_the_final_name_only(tmp_path: Path) -> None:
    final = tmp_path / "out.bin"
    with atomic_write(final) as fh:
        fh.write(b"first half ")
        assert not final.exists()
        assert [p.name for p in tmp_path.iterdir()][0].endswith(".part")
        fh.write(b"second half")
    assert final.read_bytes() == b"first half second half"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_failure_in_the_middle_leaves_no_final_file_and_no_temporary(tmp_path: Path) -> None:
    final = tmp_path / "out.json"
    with pytest.raises(RuntimeError, match="disk gone"), atomic_write(final, text=True) as fh:
        fh.write('{"half": ')
        raise RuntimeError("disk gone")
    assert not list(tmp_path.iterdir())


def test_a_failure_keeps_the_old_file_untouched(tmp_path: Path) -> None:
    final = tmp_path / "state.json"
    final.write_text("old", encoding="utf-8")
    with pytest.raises(ValueError), atomic_write(final, text=True) as fh:
        fh.write("new but partial")
        raise ValueError("stop")
    assert final.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_named_part_is_kept_for_a_resume_when_asked(tmp_path: Path) -> None:
    final = tmp_path / "image.tar"
    part = tmp_path / "image.tar.part"
    with pytest.raises(ConnectionError), atomic_path(final, part=part, keep_part=True) as temp:
        assert temp == part
        temp.write_bytes(b"some bytes")
        raise ConnectionError("cut")
    assert part.read_bytes() == b"some bytes" and not final.exists()
    with atomic_path(final, part=part) as temp:  # a named part is started afresh (truncated)
        assert temp.read_bytes() == b""
        temp.write_bytes(b"all the bytes")
    assert final.read_bytes() == b"all the bytes" and not part.exists()


def test_an_fsync_error_is_raised_naming_the_file_and_nothing_is_renamed(tmp_path: Path, monkeypatch) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)  # a disk that fails fsync cannot be made on demand
    final = tmp_path / "out.bin"
    part = tmp_path / "out.bin.part"
    part.write_bytes(b"bytes")
    with pytest.raises(OSError) as info:
        commit(part, final)
    assert info.value.errno == errno.EIO and info.value.filename == str(part)
    assert part.exists() and not final.exists()
    with pytest.raises(OSError) as info, atomic_write(final) as fh:
        fh.write(b"bytes")
    assert info.value.filename.endswith(".part") and not final.exists()
    assert not list(tmp_path.glob(".out.bin.*"))


def test_the_temporary_file_respects_the_umask_or_the_mode_given(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "public") as fh:
            fh.write(b"x")
        with atomic_write(tmp_path / "private", mode=0o600) as fh:
            fh.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "public").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o600
