"""The cache and the options of `serve`: a cached blob that no longer matches its digest aborts the response
(the client never gets a complete wrong blob) and the record is fetched again; LRU eviction under
--cache-size; --allow rules; --json-log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from fetch.records import image_files
from serve.conftest import start_serve, stop_serve

OCI = "application/vnd.oci.image.manifest.v1+json"


def _manifest(url: str, name: str) -> dict:
    resp = requests.get(f"{url}/v2/{name}/manifests/latest", headers={"Accept": OCI}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_cached_blob_that_changed_aborts_the_response_and_is_fetched_again(
    publish, serve, counting, tmp_path: Path
) -> None:
    record = publish.raw(image_files(tmp_path / "src", payload=b"x" * 300_000))
    name = f"records/{record.id}"
    manifest = _manifest(serve.url, name)
    layer = max(manifest["layers"], key=lambda lay: lay["size"])
    marker = json.loads((serve.cache / "records" / str(record.id) / "serve.json").read_text())
    archive = Path(marker["path"])
    # damage the cached archive inside the layer (as a failing disk would)
    data = bytearray(archive.read_bytes())
    start = bytes(data).find(b"x" * 1000)
    assert start > 0
    data[start + 10] ^= 0xFF
    archive.write_bytes(bytes(data))

    with pytest.raises(requests.exceptions.RequestException):
        resp = requests.get(f"{serve.url}/v2/{name}/blobs/{layer['digest']}", timeout=30, stream=True)
        body = b"".join(resp.iter_content(65536))
        # a complete body would be wrong bytes: the response must have been cut before its end
        assert len(body) < layer["size"], "the whole (wrong) blob was sent"
        raise AssertionError("the response ended without an error")
    assert "failed its check" in serve.log()
    fetched = counting.count(rf"/records/{record.id}/files/.*\.tar/content$")
    # the next pull fetches the record again and serves the right bytes
    resp = requests.get(f"{serve.url}/v2/{name}/blobs/{layer['digest']}", timeout=60)
    import hashlib

    assert resp.status_code == 200
    assert "sha256:" + hashlib.sha256(resp.content).hexdigest() == layer["digest"]
    assert counting.count(rf"/records/{record.id}/files/.*\.tar/content$") == fetched + 1


def test_least_recently_used_records_are_evicted(publish, standin, tmp_path: Path) -> None:
    first = publish.raw(image_files(tmp_path / "a", payload=b"a" * 200_000))
    second = publish.raw(
        image_files(tmp_path / "b", version="2.0.0", payload=b"b" * 200_000), version="2.0.0"
    )
    server = start_serve(standin.api_url, tmp_path / "cache", tmp_path / "serve.log", "--cache-size", "300KB")
    try:
        _manifest(server.url, f"records/{first.id}")
        assert (server.cache / "records" / str(first.id) / "serve.json").exists()
        _manifest(server.url, f"records/{second.id}")
        assert not (server.cache / "records" / str(first.id)).exists(), "the older record was not evicted"
        assert (server.cache / "records" / str(second.id) / "serve.json").exists()
        assert f"evicted record {first.id}" in server.log()
        # and it comes back when asked for
        again = _manifest(server.url, f"records/{first.id}")
        blob = requests.get(
            f"{server.url}/v2/records/{first.id}/blobs/{again['config']['digest']}", timeout=30
        )
        assert blob.status_code == 200
    finally:
        stop_serve(server)


def test_allow_rules_and_json_log(publish, standin, tmp_path: Path) -> None:
    allowed = publish.raw(image_files(tmp_path / "a"))
    other = publish.raw(image_files(tmp_path / "b"))
    server = start_serve(
        standin.api_url,
        tmp_path / "cache",
        tmp_path / "serve.log",
        "--allow",
        f"record:{allowed.id}",
        "--json-log",
    )
    try:
        _manifest(server.url, f"records/{allowed.id}")
        _manifest(server.url, f"doi/{allowed.doi}")
        resp = requests.get(f"{server.url}/v2/records/{other.id}/manifests/latest", timeout=30)
        assert resp.status_code == 403
        err = resp.json()["errors"][0]
        assert err["code"] == "DENIED" and "--allow" in err["message"], err
    finally:
        stop_serve(server)
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [d for d in lines if d.get("logger") == "ossr_images.serve.access"]
    assert any(d["status"] == 403 and d.get("check") == "allow" for d in access), access
    assert any(d["status"] == 200 and d["path"].endswith("/manifests/latest") for d in access)


def test_allow_rule_grammar() -> None:
    from ossr_images.errors import InvalidInputError
    from ossr_images.workflows.serve_registry import AllowRule, parse_allow
    from ossr_images.workflows.serve_source import RecordInfo

    rec = RecordInfo(
        "12", "11", "10.5281/zenodo.12", "10.5281/zenodo.11", "1.0", ("escape2020",), True, "", (), 0
    )
    assert parse_allow("community:escape2020").matches(rec)
    assert not parse_allow("community:other").matches(rec)
    assert parse_allow("doi:10.5281").matches(rec)
    assert parse_allow("doi:10.5281/zenodo.11").matches(rec)  # the concept DOI
    assert not parse_allow("doi:10.5281/zenodo.1").matches(rec)  # not a prefix of a DOI's suffix
    assert parse_allow("record:11").matches(rec) and parse_allow("record:12").matches(rec)
    assert parse_allow("DOI:10.5281/ZENODO.12") == AllowRule("doi", "10.5281/ZENODO.12")
    assert parse_allow("DOI:10.5281/ZENODO.12").matches(rec)
    assert parse_allow("record:4D0NS-NTD89") == AllowRule("record", "4d0ns-ntd89")  # base32: case-insensitive
    for bad in ("escape2020", "user:x", "record:abc", "doi:"):
        with pytest.raises(InvalidInputError):
            parse_allow(bad)


def test_sigterm_lets_a_pull_in_flight_finish(publish, standin, tmp_path: Path) -> None:
    import hashlib
    import signal
    import time

    record = publish.raw(image_files(tmp_path / "src", payload=b"z" * 48_000_000))
    server = start_serve(standin.api_url, tmp_path / "cache", tmp_path / "serve.log")
    try:
        manifest = _manifest(server.url, f"records/{record.id}")
        layer = max(manifest["layers"], key=lambda lay: lay["size"])
        resp = requests.get(
            f"{server.url}/v2/records/{record.id}/blobs/{layer['digest']}", stream=True, timeout=30
        )
        chunks = resp.iter_content(65536)
        got = [next(chunks)]
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.proc.poll() is None, "serve exited with a pull in flight"  # 48 MB do not fit in buffers
        got.extend(chunks)  # the rest still arrives
        body = b"".join(got)
        assert len(body) == layer["size"]
        assert "sha256:" + hashlib.sha256(body).hexdigest() == layer["digest"]
        assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.proc.poll() is None:
            stop_serve(server)
    assert "Shutting down" in server.log()
