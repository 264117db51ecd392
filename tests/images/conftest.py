"""Helpers for the image tests: tiny synthetic archives and hand-made (broken) tars."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"

FIXTURE_REPO = "https://github.com/escape2020/ossr-images-example"
FIXTURE_COMMIT = "0123456789abcdef0123456789abcdef01234567"
LABELS = {
    "org.opencontainers.image.source": FIXTURE_REPO,
    "org.opencontainers.image.revision": FIXTURE_COMMIT,
    "org.opencontainers.image.version": "1.0.0",
}


def make_tar(entries: list[tuple]) -> bytes:
    """A tar from entries: (name, bytes) for files, (name, "symlink"|"hardlink", target), (name, "dir")."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            name = entry[0]
            info = tarfile.TarInfo(name)
            if len(entry) == 2 and isinstance(entry[1], bytes):
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
            elif entry[1] == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.type = tarfile.SYMTYPE if entry[1] == "symlink" else tarfile.LNKTYPE
                info.linkname = entry[2]
                tar.addfile(info)
    return buf.getvalue()


def tar_members(data: bytes) -> dict[str, bytes]:
    """The regular files of a tar, by name."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for ti in tar:
            if ti.isfile():
                f = tar.extractfile(ti)
                assert f is not None
                out[ti.name] = f.read()
    return out


@pytest.fixture
def synth_bytes() -> tuple[bytes, str]:
    """A synthetic docker archive (bytes) and its image ID."""
    from ossr_images.images.synth import build_docker_archive_bytes

    return build_docker_archive_bytes(labels=LABELS, tag="synth:1.0", created="2026-01-01T00:00:00Z")
