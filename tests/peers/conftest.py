"""Peer Zenodo clients against the stand-in, each pointed at it the way its users point it at the sandbox."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


def md5_of(path: Path) -> str:
    """md5 hex of a file."""
    return hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - Zenodo's checksum


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    """A folder with two small files of known content (one binary)."""
    folder = tmp_path / "payload"
    folder.mkdir()
    (folder / "data.bin").write_bytes(bytes(range(256)) * 300)
    (folder / "README.md").write_text("# A test record\n", encoding="utf-8")
    return folder
