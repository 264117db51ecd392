"""`ossr-images local-zenodo` as a user runs it: first lines, signals, persistence, flat memory on uploads."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.target import Target


class Served:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ossr_images", "local-zenodo", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"local-zenodo exited: {self.proc.stderr.read()}")
            self.lines.append(line.rstrip("\n"))
            if line.startswith("DATA "):
                break
        self.api = self.lines[0].split(" ", 1)[1]
        self.tokens = [ln.split(" ", 1)[1] for ln in self.lines if ln.startswith("TOKEN ")]
        self.data = Path(self.lines[-1].split(" ", 1)[1])

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_prints_api_token_data_and_stops_on_sigint(tmp_path: Path) -> None:
    served = Served("--data", str(tmp_path / "d"), "--token", "tok-one-123456", "--token", "tok-two-123456")
    assert served.lines[0].startswith("API http://127.0.0.1:") and served.lines[0].endswith("/api")
    assert served.lines[1:3] == ["TOKEN tok-one-123456", "TOKEN tok-two-123456"]
    assert served.data == tmp_path / "d"
    r = requests.get(
        f"{served.api}/deposit/depositions", params={"access_token": "tok-two-123456"}, timeout=10
    )
    assert r.status_code == 200
    code, out, err = served.stop(signal.SIGINT)
    assert code == 0, err
    assert "GET /api/deposit/depositions 200" in err  # the request log on stderr
    assert "tok-two-123456" not in err + out  # the query token is never logged


def test_random_token_temp_folder_and_sigterm() -> None:
    served = Served()
    assert len(served.tokens) == 1 and len(served.tokens[0]) >= 20
    assert served.data.is_dir()
    r = requests.post(f"{served.api}/deposit/depositions", json={},
                      headers={"Authorization": f"Bearer {served.tokens[0]}"}, timeout=10)  # fmt: skip
    assert r.status_code == 201
    code, _out, err = served.stop(signal.SIGTERM)
    assert code == 0, err
    assert (served.data / "state.json").exists()  # kept: the user was told where it is
    import shutil

    shutil.rmtree(served.data, ignore_errors=True)


def test_port_in_use_is_a_clear_error(standin) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ossr_images", "local-zenodo", "--port", str(standin.port)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 4
    assert f"Cannot listen on 127.0.0.1:{standin.port}" in proc.stderr and "Hint:" in proc.stderr


@pytest.mark.slow
def test_64_mib_upload_keeps_server_memory_flat(tmp_path: Path) -> None:
    served = Served("--data", str(tmp_path / "d"), "--token", "tok-rss-1234567")
    try:
        client = ZenodoClient(Target("custom", served.api, "tok-rss-1234567", None))
        dep = client.create_deposition({"title": "rss"})
        before = _hwm_kib(served.proc.pid)
        size = 64 * 1024 * 1024
        src = tmp_path / "big.bin"
        with open(src, "wb") as fh:
            for _ in range(64):
                fh.write(os.urandom(1024 * 1024))
        t0 = time.monotonic()
        with open(src, "rb") as fh:
            up = client.upload_file(dep.bucket_url, "big.bin", fh, size)
        elapsed = time.monotonic() - t0
        after = _hwm_kib(served.proc.pid)
        assert up.size == size
        grew_mib = (after - before) / 1024
        print(
            f"64 MiB upload: {elapsed:.2f}s ({size / elapsed / 1e6:.0f} MB/s), server peak RSS grew {grew_mib:.1f} MiB"
        )
        assert grew_mib < 16, f"server peak RSS grew by {grew_mib:.1f} MiB during a 64 MiB upload"
        # and the download back, through sendfile
        out = client.download_file(up.response["links"]["self"], tmp_path / "back.bin", size=size, md5=up.md5)
        assert out.sha256 == up.sha256
        assert (_hwm_kib(served.proc.pid) - before) / 1024 < 16
    finally:
        code, _, err = served.stop()
        assert code == 0, err


def test_bytes_io_wrapper_not_needed_for_small(tmp_path: Path) -> None:
    served = Served("--token", "tok-small-1234567")
    try:
        client = ZenodoClient(Target("custom", served.api, "tok-small-1234567", None))
        dep = client.create_deposition()
        assert (
            client.upload_file(dep.bucket_url, "e.bin", io.BytesIO(b""), 0).md5
            == "d41d8cd98f00b204e9800998ecf8427e"
        )
    finally:
        served.stop()
        import shutil

        shutil.rmtree(served.data, ignore_errors=True)


def test_bad_doi_prefix_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ossr_images", "local-zenodo", "--doi-prefix", "zenodo"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2 and "not a DOI prefix" in proc.stderr


def test_custom_doi_prefix(tmp_path: Path) -> None:
    served = Served("--data", str(tmp_path / "d"), "--token", "tok-prefix-123456", "--doi-prefix", "10.99999")
    try:
        client = ZenodoClient(Target("custom", served.api, "tok-prefix-123456", None))
        dep = client.create_deposition(
            {"title": "abc", "upload_type": "software", "creators": [{"name": "A"}]}
        )
        client.upload_file(dep.bucket_url, "f", io.BytesIO(b"x"), 1)
        pub = client.publish(dep.id)
        pub_json = client.request_json("GET", f"/deposit/depositions/{pub.id}")  # the JSON as sent
        assert pub.doi == f"10.99999/zenodo.{dep.id}" and pub_json["doi_url"] == f"https://doi.org/{pub.doi}"
        assert (
            pub_json["metadata"]["prereserve_doi"]["doi"] == f"10.5281/zenodo.{dep.id}"
        )  # hard-coded, as Zenodo
    finally:
        assert served.stop()[0] == 0


def test_guest_token_is_a_second_user(tmp_path: Path) -> None:
    """--guest-token: a user who owns no community; a curator's listing (--token) is refused to it."""
    served = Served(
        "--data", str(tmp_path / "d"), "--token", "tok-owner-123456", "--guest-token", "tok-guest-1234"
    )
    try:
        assert "GUEST_TOKEN tok-guest-1234" in served.lines
        guest = {"Authorization": "Bearer tok-guest-1234"}
        mine = requests.post(f"{served.api}/deposit/depositions", json={}, headers=guest, timeout=10)
        assert mine.status_code == 201
        owner = {"Authorization": "Bearer tok-owner-123456"}
        seen = requests.get(
            f"{served.api}/deposit/depositions/{mine.json()['id']}", headers=owner, timeout=10
        )
        assert seen.status_code == 403  # another user's deposition
        escape = requests.get(f"{served.api}/communities/escape2020", timeout=10).json()
        assert requests.get(escape["links"]["requests"], headers=guest, timeout=10).status_code == 403
        assert requests.get(escape["links"]["requests"], headers=owner, timeout=10).status_code == 200
    finally:
        served.stop()
