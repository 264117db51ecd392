"""Choosing the backend (`zenodo/backends.py`): `auto` probes a server that is not zenodo.org (rdm for a plain
InvenioRDM, legacy where the deposit API is there), never probes zenodo.org or its sandbox, an explicit choice
is taken without a request; a server that gives no answer is a clear error naming --api, a definite answer
that is not InvenioRDM's means legacy."""

from __future__ import annotations

import http.server
import json
import logging
import socket
from typing import Any

import pytest
import responses
from click.testing import CliRunner

from conftest import TEST_TOKEN, start_standin
from fetch.records import serve
from ossr_images.cli import main
from ossr_images.zenodo.backends import choose_api, open_client
from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.rdm_client import RdmClient
from ossr_images.zenodo.target import PRODUCTION_API, SANDBOX_API, Target

from .conftest import fast_retry


def target(api_url: str, api: str = "auto", token: str | None = None) -> Target:
    return Target("custom", api_url, token, None, False, api)


@pytest.mark.parametrize(("surface", "expected"), [("rdm", "rdm"), ("zenodo", "legacy")])
def test_auto_probes_a_server_once(surface: str, expected: str, tmp_path_factory, caplog) -> None:
    with start_standin(tmp_path_factory, surface) as server:
        caplog.set_level(logging.INFO, logger="ossr_images.zenodo")
        with open_client(target(server.api_url, token=TEST_TOKEN), retry=fast_retry()) as client:
            assert client.api == expected and client.target.api == expected
            assert isinstance(client, RdmClient if expected == "rdm" else ZenodoClient)
        # the probe: the records search, then (when it answered like InvenioRDM) the deposit API
        asked = [r.getMessage() for r in caplog.records if r.getMessage().startswith("GET ")]
        assert [line.split(" ")[1].split("?")[0].removeprefix(server.api_url) for line in asked] == [
            "/records",
            "/deposit/depositions",
        ]
        assert f"API: {expected} (auto: " in caplog.text


@pytest.mark.parametrize("api_url", [PRODUCTION_API, SANDBOX_API])
def test_zenodo_and_its_sandbox_are_legacy_without_a_request(api_url: str) -> None:
    name = "zenodo" if api_url == PRODUCTION_API else "sandbox"
    with responses.RequestsMock() as mock:  # any request would fail: none is registered
        assert choose_api(Target(name, api_url, None, None, False, "auto")) == "legacy"
        assert len(mock.calls) == 0


@pytest.mark.parametrize(("surface", "given"), [("rdm", "legacy"), ("zenodo", "rdm")])
def test_an_explicit_choice_wins_without_a_request(surface: str, given: str, tmp_path_factory) -> None:
    with start_standin(tmp_path_factory, surface) as server:
        with responses.RequestsMock() as mock:
            assert choose_api(target(server.api_url, given)) == given
            assert len(mock.calls) == 0


def test_a_server_that_is_down_is_a_clear_error_naming_api() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    with pytest.raises(ZenodoError) as err:
        open_client(target(f"http://127.0.0.1:{port}/api"), retry=fast_retry())
    assert "cannot tell which API" in err.value.message and f"127.0.0.1:{port}" in err.value.message
    assert "--api legacy" in (err.value.hint or "") and "--api rdm" in (err.value.hint or "")


def _answering(status: int, body: bytes, ctype: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def test_a_server_error_is_a_clear_error() -> None:
    body = json.dumps({"status": 500, "message": "Internal server error."}).encode()
    with serve(_answering(500, body, "application/json")) as base, pytest.raises(ZenodoError) as err:
        open_client(target(f"{base}/api"), retry=fast_retry())
    assert err.value.status == 500 and "cannot tell which API" in err.value.message


@pytest.mark.parametrize(
    ("body", "ctype"),
    [(b"<html>a web page</html>", "text/html"), (b'{"message": "something else"}', "application/json")],
)
def test_an_answer_that_is_not_invenios_means_legacy(body: bytes, ctype: str) -> None:
    with serve(_answering(200, body, ctype)) as base:
        with open_client(target(f"{base}/api"), retry=fast_retry()) as client:
            assert client.api == "legacy"


def test_cli_auto_picks_rdm_against_a_plain_invenio_and_says_so(tmp_path_factory, monkeypatch) -> None:
    """`--api auto` through the CLI, against `local-zenodo --api-surface rdm`: `"api": "rdm"` in --json, and the
    choice on stderr with -v."""
    monkeypatch.delenv("OSSR_IMAGES_API")
    with start_standin(tmp_path_factory, "rdm") as server:
        result = CliRunner().invoke(
            main, ["-v", "search", "--api", "auto", "--zenodo-url", server.api_url, "--json"]
        )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["api"] == "rdm"
    assert "API: rdm (auto: " in result.stderr


def test_cli_auto_against_the_local_zenodo_command_with_the_rdm_surface(tmp_path, monkeypatch) -> None:
    """`ossr-images local-zenodo --api-surface rdm` as a user starts it; fetch (by the repository's own DOI)
    and search with `--api auto` find out by themselves that it speaks the native API."""
    import subprocess
    import sys

    from fetch.native_records import NativeTestClient
    from fetch.records import image_files, publish_record

    proc = subprocess.Popen(
        [sys.executable, "-m", "ossr_images", "local-zenodo", "--port", "0", "--api-surface", "rdm",
         "--data", str(tmp_path / "data"), "--token", TEST_TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        api = proc.stdout.readline().split(" ", 1)[1].strip()  # "API http://127.0.0.1:PORT/api"
        with NativeTestClient(target(api, "rdm", TEST_TOKEN), retry=fast_retry()) as client:
            record = publish_record(client, image_files(tmp_path / "src"))
        monkeypatch.setenv("OSSR_IMAGES_API", "auto")
        monkeypatch.setenv("OSSR_IMAGES_ZENODO_URL", api)
        runner = CliRunner()
        fetched = runner.invoke(main, ["-v", "fetch", record.doi, "-d", str(tmp_path / "out"), "--json"])
        assert fetched.exit_code == 0, fetched.stderr
        doc = json.loads(fetched.stdout)
        assert (doc["api"], doc["record_id"], doc["doi"]) == ("rdm", record.id, f"10.5072/{record.id}")
        assert "API: rdm (auto: " in fetched.stderr
        found = runner.invoke(main, ["search", "--json"])
        assert found.exit_code == 0, found.stderr
        doc = json.loads(found.stdout)
        assert doc["api"] == "rdm" and [r["doi"] for r in doc["records"]] == [record.doi]
    finally:
        proc.send_signal(2)
        proc.communicate(timeout=20)
