"""`export docker-daemon:` in one pass: the archive is described while it is compressed (its output is never
read back), whatever the size of the chunks the engine sends, and failures keep their own meaning (the
engine's, the disk's, a broken archive). A fake engine stands in for Docker: no engine needed."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from ossr_images.errors import InvalidInputError, RemoteError
from ossr_images.images import export as export_mod
from ossr_images.images.compression import open_decompressed
from ossr_images.images.export import export_image
from ossr_images.images.inspect import inspect_image, inspect_tar_stream
from ossr_images.images.synth import build_docker_archive_bytes

from .conftest import LABELS


class FakeEngine:
    """`save_stream` gives `data` in chunks of `chunk` bytes (dockerd's chunked answers come in 32 KiB)."""

    def __init__(self, data: bytes, chunk: int = 32 * 1024, fail_after: int | None = None) -> None:
        self.data = data
        self.chunk = chunk
        self.fail_after = fail_after

    def save_stream(self, ref: str) -> Iterator[bytes]:
        for offset in range(0, len(self.data), self.chunk):
            if self.fail_after is not None and offset >= self.fail_after:
                raise RemoteError(f"docker save {ref}: lost the Docker engine")
            yield self.data[offset : offset + self.chunk]


@pytest.fixture
def archive() -> bytes:
    files = {"big": os.urandom(3 * 1024 * 1024 + 123), "etc/motd": b"hello\n" * 1000}
    data, _ = build_docker_archive_bytes(labels=LABELS, tag="synth:1.0", files=files)
    return data


@pytest.fixture
def no_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path, **_kw):  # noqa: ANN001, ANN003
        raise AssertionError(f"export read {path} back")

    monkeypatch.setattr(export_mod, "inspect_image", refuse)


@pytest.mark.parametrize("chunk", [32 * 1024, 511, 4 * 1024 * 1024])
def test_daemon_export_is_described_in_the_same_pass(
    archive: bytes, tmp_path: Path, chunk: int, no_read_back: None
) -> None:
    out = tmp_path / "img.tar.zst"
    result = export_image("docker-daemon:synth:1.0", out, engine=FakeEngine(archive, chunk))
    written = out.read_bytes()
    assert result.sha256 == hashlib.sha256(written).hexdigest() == result.info.sha256
    assert result.size == len(written) == result.info.size
    with open_decompressed(out) as fh:
        assert fh.read() == archive  # every byte reached the compressor once, in order
    assert zstandard.get_frame_parameters(written).has_checksum  # as zstd(1) writes them
    again = inspect_image(out)  # what a later reader sees is what the export reported
    for field in ("format", "compression", "image_id", "manifest_digest", "repo_tags", "labels", "layers"):
        assert getattr(result.info, field) == getattr(again, field), field
    assert result.image_id == again.image_id and result.info.path == str(out)
    assert [p.name for p in tmp_path.iterdir()] == ["img.tar.zst"]


@pytest.mark.parametrize("method", ["gzip", "none"])
def test_other_compressions_are_described_in_the_same_pass(
    archive: bytes, tmp_path: Path, method: str, no_read_back: None
) -> None:
    out = tmp_path / "img.tar.x"
    result = export_image("docker-daemon:synth:1.0", out, compress=method, engine=FakeEngine(archive))
    with open_decompressed(out) as fh:
        assert fh.read() == archive
    assert result.compression == result.info.compression == method
    assert result.image_id == inspect_image(out).image_id


def test_a_truncated_stream_is_refused_and_leaves_nothing(archive: bytes, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="truncated|end"):
        export_image("docker-daemon:synth:1.0", tmp_path / "x.tar.zst", engine=FakeEngine(archive[:-4096]))
    assert list(tmp_path.iterdir()) == []


def test_an_engine_failure_mid_stream_keeps_its_meaning(archive: bytes, tmp_path: Path) -> None:
    engine = FakeEngine(archive, fail_after=1024 * 1024)
    with pytest.raises(RemoteError, match="lost the Docker engine"):
        export_image("docker-daemon:synth:1.0", tmp_path / "x.tar.zst", engine=engine)
    assert list(tmp_path.iterdir()) == []


def test_a_disk_failure_is_a_write_error_not_a_broken_archive(
    archive: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = export_mod._HashingWriter.write
    seen = 0

    def full_disk(self, data):  # noqa: ANN001
        nonlocal seen
        seen += len(data)
        if seen > 512 * 1024:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, data)

    monkeypatch.setattr(export_mod._HashingWriter, "write", full_disk)
    with pytest.raises(InvalidInputError, match="writing .* failed: No space left") as err:
        export_image(
            "docker-daemon:synth:1.0", tmp_path / "x.tar", compress="none", engine=FakeEngine(archive)
        )
    assert "not a readable" not in err.value.message
    assert list(tmp_path.iterdir()) == []


def test_writeback_is_started_as_the_file_grows(
    archive: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranges: list[tuple[int, int]] = []
    monkeypatch.setattr(export_mod, "WRITEBACK_STEP", 1024 * 1024)
    monkeypatch.setattr(export_mod, "start_writeback", lambda _fd, off, n: ranges.append((off, n)))
    out = tmp_path / "x.tar"
    export_image("docker-daemon:synth:1.0", out, compress="none", engine=FakeEngine(archive))
    assert out.read_bytes() == archive
    assert len(ranges) == 3 and ranges[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in zip(ranges, ranges[1:], strict=False))


def test_inspect_tar_stream_reads_to_the_end_once(archive: bytes) -> None:
    class Counting(io.RawIOBase):
        def __init__(self) -> None:
            self.src = io.BytesIO(archive)
            self.got = bytearray()

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:  # type: ignore[override]
            data = self.src.read(min(size, 1000) if size >= 0 else 1000)  # short reads, as a pipe gives
            self.got += data
            return data

    stream = Counting()
    info = inspect_tar_stream(stream, "stream")  # type: ignore[arg-type]
    assert bytes(stream.got) == archive
    assert info.repo_tags == ["synth:1.0"] and info.labels == LABELS
