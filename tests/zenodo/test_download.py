"""The download reader (`zenodo/download.py`) against a small scripted HTTP server: the readinto fast path,
the iter_content fallback for a compressed body, cuts (Content-Length and chunked) resumed with Range, a
stalled body, a disk that fails, and the buffer ring shared with the md5 thread."""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ossr_images.zenodo import download
from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.errors import ZenodoError, ZenodoIntegrityError
from ossr_images.zenodo.target import Target
from ossr_images.zenodo.transfer import HashRing

from .conftest import fast_retry

DATA = os.urandom(3 * 1024 * 1024 + 12345)
MD5 = hashlib.md5(DATA).hexdigest()  # noqa: S324
SHA = hashlib.sha256(DATA).hexdigest()


class Script:
    """What the server does, per request number: ("cut", n) sends n bytes then closes; ("stall", n) sends n
    bytes then waits; None serves normally. `gzip` sends the body compressed, `chunked` with chunked
    transfer encoding."""

    def __init__(self, *steps: tuple[str, int] | None, gzip: bool = False, chunked: bool = False) -> None:
        self.steps = list(steps)
        self.gzip = gzip
        self.chunked = chunked
        self.ranges: list[str | None] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        script = self.server.script  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        script.ranges.append(rng)
        step = script.steps.pop(0) if script.steps else None
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        body = gzip.compress(DATA) if script.gzip else DATA[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "application/octet-stream")
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
        if script.gzip:
            self.send_header("Content-Encoding", "gzip")
        if script.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        limit = step[1] if step else len(body)
        sent = 0
        for i in range(0, min(limit, len(body)), 65536):
            piece = body[i : min(i + 65536, limit)]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if script.chunked else piece)
            sent += len(piece)
        self.wfile.flush()
        if step and step[0] == "stall":
            RELEASE.wait(30)  # longer than any client timeout: released when the test ends
        if step:
            self.close_connection = True
            return
        if script.chunked:
            self.wfile.write(b"0\r\n\r\n")


RELEASE = threading.Event()  # ends the stalls of the "stall" steps


@pytest.fixture
def server() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    RELEASE.clear()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_port}"
    finally:
        RELEASE.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def client(server: tuple[ThreadingHTTPServer, str]) -> Iterator[ZenodoClient]:
    with ZenodoClient(Target("custom", server[1] + "/api"), retry=fast_retry(), transfer_timeout=2.0) as c:
        yield c


def _get(server, client, script: Script, dest: Path, *, size: int | None = None, **kw):
    server[0].script = script
    expect = download.Expected(size=size, md5=MD5, sha256=SHA)
    return download.download_file(client.transport, server[1] + "/f", dest, expect=expect, **kw)


@pytest.fixture
def paths(monkeypatch) -> list[str]:
    """Which reader ran: "readinto" or "chunks"."""
    seen: list[str] = []
    fast, slow = download._PartWriter.copy_from, download._PartWriter.copy_chunks

    def copy_from(self, *a, **kw):
        seen.append("readinto")
        return fast(self, *a, **kw)

    def copy_chunks(self, *a, **kw):
        seen.append("chunks")
        return slow(self, *a, **kw)

    monkeypatch.setattr(download._PartWriter, "copy_from", copy_from)
    monkeypatch.setattr(download._PartWriter, "copy_chunks", copy_chunks)
    return seen


@pytest.mark.parametrize("buffer_size", [4096, 65536, download.BUFFER_SIZE])
def test_readinto_path_reuses_buffers_and_verifies(server, client, paths, tmp_path, buffer_size) -> None:
    got: list[int] = []
    res = _get(server, client, Script(), tmp_path / "f.bin", size=len(DATA), progress=got.append,
               buffer_size=buffer_size)  # fmt: skip
    assert (res.md5, res.sha256, res.size) == (MD5, SHA, len(DATA)) and sum(got) == len(DATA)
    assert (tmp_path / "f.bin").read_bytes() == DATA and not (tmp_path / "f.bin.part").exists()
    assert paths == ["readinto"]


def test_compressed_body_falls_back_to_iter_content(server, client, paths, tmp_path) -> None:
    res = _get(server, client, Script(gzip=True), tmp_path / "f.bin", size=len(DATA))
    assert res.md5 == MD5 and (tmp_path / "f.bin").read_bytes() == DATA  # decoded, then hashed
    assert paths == ["chunks"]


@pytest.mark.parametrize("chunked", [False, True])
def test_cut_body_is_resumed_from_the_last_byte_written(server, client, paths, tmp_path, chunked) -> None:
    script = Script(("cut", 1_000_003), ("cut", 1_500_000), chunked=chunked)
    got: list[int] = []
    res = _get(server, client, script, tmp_path / "f.bin", size=len(DATA), progress=got.append,
               buffer_size=65536)  # fmt: skip
    assert res.md5 == MD5 and (tmp_path / "f.bin").read_bytes() == DATA
    assert script.ranges == [None, "bytes=1000003-", "bytes=2500003-"]  # no byte fetched twice
    assert sum(got) == len(DATA) and paths == ["readinto"] * 3


def test_cut_without_known_size_is_resumed_too(server, client, tmp_path) -> None:
    script = Script(("cut", 700_000))  # Content-Length tells the reader the body is short
    res = _get(server, client, script, tmp_path / "f.bin")
    assert res.size == len(DATA) and script.ranges == [None, "bytes=700000-"]


def test_resume_of_an_existing_part_through_the_reader(server, client, paths, tmp_path) -> None:
    (tmp_path / "f.bin.part").write_bytes(DATA[:1_234_567])
    script = Script()
    got: list[int] = []
    res = _get(server, client, script, tmp_path / "f.bin", size=len(DATA), progress=got.append,
               buffer_size=100_000)  # fmt: skip
    assert (res.md5, res.sha256) == (MD5, SHA) and script.ranges == ["bytes=1234567-"]
    assert sum(got) == len(DATA) - 1_234_567 and paths == ["readinto"]


def test_stalled_body_times_out_and_resumes(server, client, tmp_path) -> None:
    script = Script(("stall", 300_000))
    res = _get(server, client, script, tmp_path / "f.bin", size=len(DATA), buffer_size=65536)
    # the buffer being filled when the read timed out is fetched again: the part ends on a buffer boundary
    assert res.md5 == MD5 and script.ranges == [None, f"bytes={4 * 65536}-"]


def test_wrong_bytes_are_an_integrity_error_and_the_part_is_deleted(server, client, tmp_path) -> None:
    (tmp_path / "f.bin.part").write_bytes(b"\0" * 1000)  # wrong first bytes: the resumed file cannot match
    with pytest.raises(ZenodoIntegrityError):
        _get(server, client, Script(), tmp_path / "f.bin", size=len(DATA))
    assert not (tmp_path / "f.bin.part").exists() and not (tmp_path / "f.bin").exists()


def test_cut_every_time_gives_up_cleanly(server, client, tmp_path) -> None:
    script = Script(*[("cut", 1000)] * 10)
    with pytest.raises(ZenodoError) as info:
        _get(server, client, script, tmp_path / "f.bin", size=len(DATA))
    assert "after 4 attempts" in info.value.message and not (tmp_path / "f.bin").exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 4000  # kept for the next run


def test_disk_error_is_not_taken_for_a_network_error(server, client, tmp_path, monkeypatch) -> None:
    real_write = download._write_all
    calls = []

    def full_disk(fd: int, data) -> None:
        calls.append(len(data))
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, data)

    monkeypatch.setattr(download, "_write_all", full_disk)
    script = Script()
    with pytest.raises(OSError) as info:
        _get(server, client, script, tmp_path / "f.bin", size=len(DATA), buffer_size=65536)
    assert info.value.errno == errno.ENOSPC and len(script.ranges) == 1  # not retried
    monkeypatch.setattr(download, "_write_all", real_write)
    assert (tmp_path / "f.bin.part").stat().st_size == 2 * 65536  # what was written is resumed
    res = _get(server, client, Script(), tmp_path / "f.bin", size=len(DATA))  # the re-run completes
    assert res.md5 == MD5


class SlowMd5:
    """Stands in for hashlib.md5 on the worker thread: slow, and it copies what it is given, so a buffer
    reused too early shows as different bytes."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def update(self, data) -> None:
        time.sleep(0.002)
        self.seen.append(bytes(data))


def test_a_buffer_is_reused_only_after_the_md5_thread_is_done(tmp_path) -> None:
    hashes = HashRing(buffer_size=64)
    slow = SlowMd5()
    hashes.md5 = slow
    sent: list[bytes] = []
    for i in range(60):
        view = hashes.buffer()
        if i % 7 == 3:  # a buffer handed out and not used (the end of a body): handed out again
            view = hashes.buffer()
        view[:] = os.urandom(64)
        sent.append(bytes(view))
        hashes.update(view)
    hashes.wait()
    hashes.close()
    assert slow.seen == sent and len(hashes._ring) == 4  # depth 3 + the one being filled
