"""The stand-in never renames a file whose fsync failed (the .part stays, the error names it), and its logs
never hold a raw query string or a token, not even on its 500 path (issue 12).

An fsync failure cannot be provoked through HTTP on a healthy disk, so `os.fsync` / `os.fdatasync` are made
to fail (EIO) in-process while the real server handles a real request."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
import requests
from tests.helpers.clients import client_for
from tests.helpers.logs import LineCollector, collecting

from conftest import TEST_TOKEN
from ossr_images.standin.faults import Faults

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


def _failing_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    monkeypatch.setattr(os, "fdatasync", fail, raising=False)


def test_upload_whose_fsync_fails_is_not_renamed(standin, monkeypatch: pytest.MonkeyPatch) -> None:
    with client_for(standin) as client:
        dep = client.create_deposition({"title": "durable"})
    tmp_dir = Path(standin.data_dir) / "tmp"
    blobs_before = set((Path(standin.data_dir) / "blobs").iterdir())
    collector = LineCollector()
    with collecting(collector, "ossr_images.standin"):
        _failing_fsync(monkeypatch)
        answer = requests.put(
            f"{dep['links']['bucket']}/image.tar", data=b"x" * 4096, headers=AUTH, timeout=10
        )
        monkeypatch.undo()
    assert answer.status_code == 500
    parts = list(tmp_dir.glob("*.part"))
    assert len(parts) == 1 and parts[0].read_bytes() == b"x" * 4096  # kept under its temporary name
    assert set((Path(standin.data_dir) / "blobs").iterdir()) == blobs_before  # nothing renamed into place
    assert any(str(parts[0]) in line and "not renamed" in line for line in collector.lines), collector.lines
    with client_for(standin) as client:
        assert client.get_deposition(dep["id"])["files"] == []


def test_form_upload_whose_fsync_fails_keeps_its_part(standin, monkeypatch: pytest.MonkeyPatch) -> None:
    with client_for(standin) as client:
        dep = client.create_deposition({"title": "durable form"})
    _failing_fsync(monkeypatch)
    answer = requests.post(
        f"{standin.api_url}/deposit/depositions/{dep['id']}/files",
        files={"file": ("a.txt", io.BytesIO(b"form bytes"))},
        data={"name": "a.txt"},
        headers=AUTH,
        timeout=10,
    )
    monkeypatch.undo()
    assert answer.status_code == 500
    kept = [p.read_bytes() for p in (Path(standin.data_dir) / "tmp").glob("*.part")]
    assert kept == [b"form bytes"]


def test_state_whose_fsync_fails_is_not_renamed(standin, monkeypatch: pytest.MonkeyPatch) -> None:
    state = Path(standin.data_dir) / "state.json"
    before = state.read_bytes() if state.exists() else None
    _failing_fsync(monkeypatch)
    answer = requests.post(f"{standin.api_url}/deposit/depositions", json={}, headers=AUTH, timeout=10)
    monkeypatch.undo()
    assert answer.status_code == 500
    assert (state.read_bytes() if state.exists() else None) == before
    assert list(Path(standin.data_dir).glob(".state.json.*.tmp"))  # the temporary file stays


class _Bug(Faults):
    """A handler bug whose message echoes the raw request line (query and token included)."""

    def before(self, info) -> bool:
        raise RuntimeError(f"cannot handle {info.handler.requestline}")


def test_500_log_holds_no_query_and_no_token(standin) -> None:
    standin.faults = _Bug()
    secret = "s3cr3t-token-value"
    collector = LineCollector()
    with collecting(collector, "ossr_images.standin"):
        answer = requests.get(
            f"{standin.api_url}/records/access_token={secret}?access_token={secret}&q=private-words",
            timeout=10,
        )
        bad = requests.get(
            f"{standin.api_url}/records", headers={"Authorization": f"Bearer {secret}"}, timeout=10
        )
    assert answer.status_code == 500 and bad.status_code == 500
    text = "\n".join(line for line in collector.lines if line.startswith("ossr_images.standin"))
    assert "internal error on GET" in text and "RuntimeError" in text
    assert secret not in text
    assert "private-words" not in text and "q=" not in text, text
