"""The token never shows, and never travels where it must not.

- publish, fetch, search and validate, with -v / -vv, with and without --json, against healthy and failing
  servers (5xx, resets, cut downloads, wrong md5, wrong token, unknown record): every byte of stdout, stderr,
  every log record (ours, requests', urllib3's), every escaped exception, and every file ossr-images wrote
  (cache/journal, fetched folder) is scanned for the token (raw, URL-encoded, base64);
- a token is refused over plain http to a non-loopback host before any connection (no DNS lookup even),
  unless --allow-insecure-http;
- a redirect to another host (Zenodo sends file downloads elsewhere) does not carry the token;
- TLS verification stays on: no `verify=False` in src/, the client's session verifies, and a self-signed
  https server is refused with a clean error.
"""

from __future__ import annotations

import ast
import base64
import logging
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from tests.conftest import TEST_TOKEN
from tests.helpers.logs import LineCollector, collecting
from tests.reliability.conftest import Project, assert_clean_failure, run_cli
from tests.reliability.faultproxy import FaultProxy

import ossr_images

WRONG_TOKEN = "wrong-secret-token-zz9876543210abcdef"
SECRETS = (TEST_TOKEN, WRONG_TOKEN)


def _forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch):
    """Every log record at DEBUG, wherever it comes from (the CLI re-installs its own handler per run)."""
    import ossr_images.cli as cli_mod

    handler = LineCollector("%(name)s %(levelname)s %(message)s %(args)s")
    original = cli_mod.setup_logging

    def setup_and_collect(verbose: int, quiet: bool) -> None:
        original(verbose, quiet)
        lg = logging.getLogger("ossr_images")
        lg.addHandler(handler)

    monkeypatch.setattr(cli_mod, "setup_logging", setup_and_collect)
    with collecting(handler, "urllib3", "requests"):
        yield handler
    logging.getLogger("ossr_images").removeHandler(handler)


def _scan_files(*folders: Path) -> list[str]:
    texts = []
    for folder in folders:
        if not folder.exists():
            continue
        for path in folder.rglob("*"):
            if path.is_file() and path.stat().st_size < 5_000_000:
                texts.append(f"{path}: " + path.read_bytes().decode("utf-8", "replace"))
    return texts


def test_token_never_shows_anywhere(
    env: FaultProxy,
    project: Project,
    collected: LineCollector,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    _isolated,
) -> None:
    runs = []

    def run(*args: str, json_out: bool = False, expect: tuple[int, ...] = (0,)):  # type: ignore[no-untyped-def]
        r = run_cli(*args, json_out=json_out)
        runs.append(r)
        if r.exit_code == 0 and 0 in expect:
            assert r.exception is None, r.explain()
        else:
            assert_clean_failure(r, tuple(c for c in expect if c != 0))
        return r

    publish_args = project.publish_args()
    # failing servers first (the release is not yet published)
    env.status(502, "POST", r"^/api/deposit/depositions$", count=50)
    run("-vv", *publish_args, json_out=True, expect=(4,))
    env.clear()
    env.wrong_md5(path=r"/api/files/")
    run("-v", *publish_args, expect=(3,))
    env.clear()
    monkeypatch.setenv("ZENODO_TOKEN", WRONG_TOKEN)
    run("-vv", *publish_args, json_out=True, expect=(1, 4))
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    env.reset("PUT", r"/api/deposit/depositions/\d+$", after_forward=True)
    env.status(504, "POST", r"/actions/publish$", after_forward=True)
    published = run("-vv", *publish_args, json_out=True)
    doi = published.json["doi"]
    run("-v", *publish_args)  # already published
    # fetch, healthy and failing
    out = tmp_path / "fetched"
    env.clear()
    env.cut_download(after_bytes=50_000, path=r"hello-.*content$")
    run("-vv", "fetch", doi, "-d", str(out), json_out=True)
    env.status(500, "GET", r"hello-.*content$")
    run("-v", "fetch", doi, "-d", str(tmp_path / "f2"), expect=(4,))
    env.corrupt_download(at_byte=10, path=r"codemeta\.json/content$")
    run("-vv", "fetch", doi, "-d", str(tmp_path / "f3"), json_out=True, expect=(3,))
    env.clear()
    run("-vv", "fetch", "10.5072/zenodo.999999", "-d", str(tmp_path / "f4"), json_out=True, expect=(1, 3, 4))
    token_file = tmp_path_factory.mktemp("secret") / "token.txt"  # outside the scanned folders
    token_file.write_text(TEST_TOKEN + "\n")
    monkeypatch.delenv("ZENODO_TOKEN")
    run("-vv", "fetch", doi, "-d", str(tmp_path / "f5"), "--token-file", str(token_file), json_out=True)
    run("-vv", "search", "--token-file", str(token_file), json_out=True)
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    # the token in OSSR_IMAGES_TOKEN (the variable for servers other than zenodo.org and the sandbox)
    monkeypatch.delenv("ZENODO_TOKEN")
    monkeypatch.setenv("OSSR_IMAGES_TOKEN", TEST_TOKEN)
    run("-vv", *publish_args, json_out=True)  # already published: found again with this token
    run("-vv", "fetch", doi, "-d", str(tmp_path / "f7"), json_out=True)
    run("-v", "search")
    monkeypatch.setenv("OSSR_IMAGES_TOKEN", WRONG_TOKEN)
    run("-vv", "search", json_out=True, expect=(0, 1, 4))
    monkeypatch.delenv("OSSR_IMAGES_TOKEN")
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    # search, healthy and failing
    run("-vv", "search", json_out=True)
    run("-v", "search")
    env.status(503, "GET", r"^/api/records", count=50)
    run("-vv", "search", json_out=True, expect=(4,))
    env.clear()
    monkeypatch.setenv("ZENODO_TOKEN", WRONG_TOKEN)
    run("-vv", "search", json_out=True, expect=(0, 1, 4))
    run("-vv", "fetch", doi, "-d", str(tmp_path / "f6"), expect=(0, 1, 3, 4))
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    # validate (offline, with the token in the environment anyway)
    run(
        "-vv",
        "validate",
        str(project.codemeta),
        "--image",
        str(project.image_path),
        "--repo",
        str(project.path),
    )
    run("-v", "validate", str(project.codemeta), "--image", str(project.image_path), "--json", expect=(0, 1))

    texts = []
    for r in runs:
        texts += [r.stdout, r.stderr, repr(r.exception), str(r.exception)]
    texts += collected.lines
    texts += _scan_files(_isolated, tmp_path)
    assert len(collected.lines) > 50, "the log collector saw almost nothing: the scan would prove little"
    assert any("Authorization" in t or "authorization" in t for t in collected.lines), (
        "no request headers logged"
    )
    leaks = [
        (form, text[max(0, text.find(form) - 120) : text.find(form) + 40])
        for text in texts
        for secret in SECRETS
        for form in _forms(secret)
        if form in text
    ]
    assert leaks == [], f"the token leaked: {leaks[:5]}"


# ----------------------------------------------------------------------------------- plain http refusal
@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) every DNS lookup and connection attempt."""
    attempts: list[str] = []

    def fake_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        attempts.append(f"getaddrinfo {host}")
        raise socket.gaierror(socket.EAI_NONAME, "lookups are refused in this test")

    real_connect = socket.socket.connect

    def fake_connect(self, address):  # type: ignore[no-untyped-def]
        attempts.append(f"connect {address}")
        if isinstance(address, tuple) and str(address[0]).startswith("127."):
            return real_connect(self, address)
        raise OSError("connections are refused in this test")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", fake_connect)
    return attempts


def _commands(project: Project, url: str) -> dict[str, list[str]]:
    return {
        "publish": [*project.publish_args(), "--zenodo-url", url],
        "fetch": ["fetch", "10.5281/zenodo.1234", "--zenodo-url", url],
        "search": ["search", "--zenodo-url", url],
    }


@pytest.mark.parametrize("command", ["publish", "fetch", "search"])
def test_token_over_plain_http_to_remote_host_is_refused_before_any_connection(
    command: str, project: Project, no_network: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OSSR_IMAGES_TOKEN", TEST_TOKEN)  # the variable for a server such as this one
    monkeypatch.delenv("OSSR_IMAGES_ZENODO_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    args = _commands(project, "http://example.invalid/api")[command]
    r = run_cli(*args)
    assert_clean_failure(r, (1,))
    assert "example.invalid" in r.stderr and "--allow-insecure-http" in r.stderr, r.explain()
    assert TEST_TOKEN not in r.stderr + r.stdout
    assert no_network == [], f"a connection was attempted before refusing: {no_network}"


@pytest.mark.parametrize("command", ["publish", "fetch", "search"])
def test_allow_insecure_http_lets_it_through(
    command: str, project: Project, no_network: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    monkeypatch.delenv("OSSR_IMAGES_ZENODO_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSSR_IMAGES_TOKEN", TEST_TOKEN)
    args = [*_commands(project, "http://example.invalid/api")[command], "--allow-insecure-http"]
    r = run_cli(*args)
    assert_clean_failure(r, (4,))  # it tried: the (refused) lookup is a remote failure
    assert any("example.invalid" in a for a in no_network), no_network
    assert TEST_TOKEN not in r.stderr + r.stdout


@pytest.mark.parametrize("variable", ["ZENODO_TOKEN", "ZENODO_SANDBOX_TOKEN"])
def test_a_zenodo_token_is_not_taken_for_another_host(
    variable: str, project: Project, no_network: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """publish to another host with only a zenodo.org / sandbox token set: refused before any connection,
    naming the variable to set; the token is neither used nor shown."""
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    monkeypatch.delenv("OSSR_IMAGES_TOKEN", raising=False)
    monkeypatch.setenv(variable, TEST_TOKEN)
    monkeypatch.delenv("OSSR_IMAGES_ZENODO_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    r = run_cli(*_commands(project, "https://zenodo.example.invalid/api")["publish"])
    assert_clean_failure(r, (1,))
    assert (
        "OSSR_IMAGES_TOKEN" in r.stderr and f"{variable} is set, but only sent to its own server" in r.stderr
    )
    assert TEST_TOKEN not in r.stderr + r.stdout
    assert no_network == [], f"a connection was attempted: {no_network}"


# ------------------------------------------------------------------------------ redirects to another host
class _Capture(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []
    body = b""

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(self.body)


def test_redirect_to_another_host_does_not_carry_the_token(
    env: FaultProxy, project: Project, tmp_path: Path
) -> None:
    """Zenodo answers file downloads with a redirect to its storage; the token must not follow it."""
    published = run_cli(*project.publish_args(), json_out=True)
    assert published.exit_code == 0, published.explain()
    codemeta_bytes = project.codemeta.read_bytes()
    _Capture.seen = []
    _Capture.body = codemeta_bytes
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        elsewhere = f"http://localhost:{server.server_address[1]}/storage/codemeta.json"

        # answer the codemeta download with a redirect to the other host
        rule = env.status(302, "GET", r"codemeta\.json/content$")
        import tests.reliability.faultproxy as fp

        real_answer = fp._ProxyHandler._answer_status

        def answer(self, rule_, entry):  # type: ignore[no-untyped-def]
            if rule_ is rule:
                self.send_response(302)
                self.send_header("Location", elsewhere)
                self.send_header("Content-Length", "0")
                self.end_headers()
                entry.status = 302
                return
            real_answer(self, rule_, entry)

        fp._ProxyHandler._answer_status = answer  # type: ignore[method-assign]
        try:
            r = run_cli("fetch", published.json["doi"], "-d", str(tmp_path / "out"), json_out=True)
        finally:
            fp._ProxyHandler._answer_status = real_answer  # type: ignore[method-assign]
        assert r.exit_code == 0, r.explain()
        assert _Capture.seen, "the redirect was not followed"
        assert all("authorization" not in h for h in _Capture.seen), _Capture.seen
        assert all(TEST_TOKEN not in str(h) for h in _Capture.seen)
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------- TLS verification
def test_no_verify_false_in_the_sources() -> None:
    src = Path(ossr_images.__file__).resolve().parent
    found = []
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "verify":
                if isinstance(node.value, ast.Constant) and node.value.value is False:
                    found.append(f"{path}:{node.value.lineno}")
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr == "verify":
                        if isinstance(node.value, ast.Constant) and node.value.value is False:
                            found.append(f"{path}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr in ("_create_unverified_context", "CERT_NONE"):
                found.append(f"{path}:{node.lineno} {node.attr}")
            if isinstance(node, ast.Attribute) and node.attr == "disable_warnings":
                found.append(f"{path}:{node.lineno} disable_warnings")
    assert found == [], found


def test_client_session_verifies_tls() -> None:
    from ossr_images.zenodo.client import ZenodoClient
    from ossr_images.zenodo.target import resolve_target

    for kwargs in ({}, {"sandbox": True}, {"zenodo_url": "https://zenodo.example.org/api"}):
        with ZenodoClient(resolve_target(**kwargs)) as client:
            assert client.session.verify is not False
            assert client.session.verify in (True,) or Path(str(client.session.verify)).exists()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("command", ["fetch", "search"])
def test_self_signed_https_server_is_refused(
    command: str, self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = self_signed
    _Capture.seen = []
    _Capture.body = b"{}"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    monkeypatch.chdir(tmp_path)
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/api"
        args = (
            ["fetch", "1234", "--zenodo-url", url] if command == "fetch" else ["search", "--zenodo-url", url]
        )
        r = run_cli(*args)
        assert_clean_failure(r, (4,))
        assert _Capture.seen == [], "a request got through an unverified TLS connection"
    finally:
        server.shutdown()
        server.server_close()


def test_certificate_failure_is_named(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    cert, key = self_signed
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    try:
        r = run_cli("search", "--zenodo-url", f"https://127.0.0.1:{server.server_address[1]}/api")
        assert_clean_failure(r, (4,))
        assert "certificate" in r.stderr.lower(), r.explain()
    finally:
        server.shutdown()
        server.server_close()


class _CaptureAll(_Capture):
    def do_PUT(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"checksum": "md5:00000000000000000000000000000000", "size": 1}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT


def test_bucket_link_to_another_host_gets_no_token(env: FaultProxy, project: Project) -> None:
    """A server whose deposition names a bucket on another host: the upload may go there, the token not."""
    _CaptureAll.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CaptureAll)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    elsewhere = f"http://localhost:{server.server_address[1]}".encode()
    try:
        env.rewrite(
            lambda status, body: (
                status,
                body.replace(env.base.encode() + b"/api/files", elsewhere + b"/api/files"),
            ),
            "POST",
            r"^/api/deposit/depositions$",
        )
        r = run_cli(*project.publish_args(), json_out=True)
        if r.exit_code != 0:
            assert_clean_failure(r, (1, 3, 4))
        assert _CaptureAll.seen, "the hostile bucket link was not used: the test proves nothing"
        assert all("authorization" not in h for h in _CaptureAll.seen), _CaptureAll.seen
        assert TEST_TOKEN not in r.stdout + r.stderr
    finally:
        server.shutdown()
        server.server_close()
