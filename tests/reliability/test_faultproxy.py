"""The fault proxy itself, against a tiny upstream: each fault does what the reliability tests rely on."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from tests.reliability.faultproxy import FaultProxy

BLOB = bytes(range(256)) * 400  # 100 kB


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[tuple[str, str, int]] = []

    def log_message(self, *args: object) -> None:
        return

    def _json(self, code: int, doc: object, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        type(self).received.append(("GET", self.path, 0))
        if self.path == "/api/blob":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(BLOB)))
            self.end_headers()
            self.wfile.write(BLOB)
        elif self.path == "/api/redirect":
            port = self.server.server_address[1]
            self._json(302, {}, {"Location": f"http://127.0.0.1:{port}/api/x"})
        else:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            self._json(200, {"links": {"self": base + "/api/x"}})

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = b""
        while len(data) < length:
            chunk = self.rfile.read(min(65536, length - len(data)))
            if not chunk:
                break
            data += chunk
        type(self).received.append(("PUT", self.path, len(data)))
        if len(data) < length:
            self.close_connection = True
            return
        self._json(201, {"checksum": "md5:" + hashlib.md5(data).hexdigest(), "size": len(data)})

    do_POST = do_PUT


@pytest.fixture
def upstream():
    _Upstream.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream):
    with FaultProxy(upstream) as p:
        yield p


def test_forwards_and_rewrites_links(proxy):
    r = requests.get(proxy.api_url + "/thing", timeout=5)
    assert r.status_code == 200
    assert r.json()["links"]["self"] == proxy.api_url + "/x"
    r = requests.get(proxy.api_url + "/redirect", allow_redirects=False, timeout=5)
    assert r.headers["Location"] == proxy.api_url + "/x"
    r = requests.put(proxy.api_url + "/up", data=BLOB, timeout=5)
    assert r.json()["checksum"] == "md5:" + hashlib.md5(BLOB).hexdigest()


def test_status_before_and_after_forward(proxy):
    proxy.status(503, "PUT", r"/up$", count=2)
    proxy.status(504, "POST", r"/pub$", after_forward=True)
    proxy.status(429, "GET", r"/rl$", retry_after=2)
    assert requests.put(proxy.api_url + "/up", data=b"x", timeout=5).status_code == 503
    assert requests.put(proxy.api_url + "/up", data=b"x", timeout=5).status_code == 503
    assert requests.put(proxy.api_url + "/up", data=b"x", timeout=5).status_code == 201
    assert [r for r in _Upstream.received if r[1] == "/api/up"] == [("PUT", "/api/up", 1)]
    assert requests.post(proxy.api_url + "/pub", data=b"y", timeout=5).status_code == 504
    assert any(r[1] == "/api/pub" for r in _Upstream.received)  # the server did it, the answer was lost
    r = requests.get(proxy.api_url + "/rl", timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"


def test_skip_lets_first_requests_through(proxy):
    proxy.status(500, "GET", r"/a$", skip=1)
    assert requests.get(proxy.api_url + "/a", timeout=5).status_code == 200
    assert requests.get(proxy.api_url + "/a", timeout=5).status_code == 500
    assert requests.get(proxy.api_url + "/a", timeout=5).status_code == 200


def test_reset_upload_after_bytes(proxy):
    proxy.reset_upload(30_000, path=r"/up$")
    with pytest.raises(requests.ConnectionError):
        requests.put(proxy.api_url + "/up", data=BLOB, timeout=5)
    deadline = time.time() + 5
    while time.time() < deadline and not any(r[1] == "/api/up" for r in _Upstream.received):
        time.sleep(0.05)
    assert ("PUT", "/api/up", 30_000) in _Upstream.received  # upstream saw a short body
    assert requests.put(proxy.api_url + "/up", data=BLOB, timeout=5).status_code == 201


def test_reset_and_delay(proxy):
    proxy.reset("GET", r"/a$")
    with pytest.raises(requests.ConnectionError):
        requests.get(proxy.api_url + "/a", timeout=5)
    proxy.delay(1.5, "GET", r"/b$")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(proxy.api_url + "/b", timeout=(5, 0.5))
    assert requests.get(proxy.api_url + "/b", timeout=5).status_code == 200


def test_wrong_md5(proxy):
    proxy.wrong_md5(path=r"/up$")
    assert requests.put(proxy.api_url + "/up", data=b"abc", timeout=5).json()["checksum"] == "md5:" + "0" * 32


def test_cut_download(proxy):
    proxy.cut_download(40_000, path=r"/blob$")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        r = requests.get(proxy.api_url + "/blob", stream=True, timeout=5)
        got = b"".join(r.iter_content(8192))
        assert len(got) < len(BLOB)
    assert requests.get(proxy.api_url + "/blob", timeout=5).content == BLOB
    assert [e.status for e in proxy.requests("GET", r"/blob$")] == [None, 200]


def test_corrupt_download(proxy):
    proxy.corrupt_download(70_000, path=r"/blob$")
    got = requests.get(proxy.api_url + "/blob", timeout=5).content
    assert len(got) == len(BLOB) and got != BLOB
    assert [i for i in range(len(BLOB)) if got[i] != BLOB[i]] == [70_000]


def test_rewrite(proxy):
    proxy.rewrite(lambda status, body: (200, body.replace(b"self", b"evil")), "GET", r"/thing$")
    assert "evil" in requests.get(proxy.api_url + "/thing", timeout=5).json()["links"]
    assert "self" in requests.get(proxy.api_url + "/thing", timeout=5).json()["links"]
