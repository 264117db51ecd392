"""zenodo_get 3.1.0 against the stand-in over HTTP: download by record id, by DOI link and by concept DOI
link, the md5 list, the URL list, file globs, tokens, and an existing file's checksum check.

zenodo_get has no base URL or constant to change: ``--sandbox`` selects the literal
``https://sandbox.zenodo.org/api/records/`` (metadata/fetch_record_metadata.py:20-24). Its users reach the
sandbox by name, so the test resolves that name to the stand-in, as a hosts-file entry would: its HTTP
transport (the one zenodo_get builds, retries and all) gets requests for sandbox.zenodo.org sent to the
stand-in's address over plain HTTP. Nothing else of zenodo_get is changed.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import httpx2
import pytest
from tests.helpers.clients import client_for
from zenodo_get import downloader
from zenodo_get.zget import download

from conftest import TEST_TOKEN
from ossr_images.zenodo.client import ZenodoClient

SANDBOX = "sandbox.zenodo.org"


class _Hosts(httpx2.BaseTransport):
    """Sends sandbox.zenodo.org's requests to the stand-in (like /etc/hosts, but without TLS)."""

    def __init__(self, inner: httpx2.BaseTransport, host: str, port: int) -> None:
        self.inner, self.host, self.port = inner, host, port

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.host == SANDBOX:
            request.url = request.url.copy_with(scheme="http", host=self.host, port=self.port)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def sandbox_is_standin(standin, monkeypatch: pytest.MonkeyPatch):
    real = downloader._create_client_transport

    def transport(*args, **kwargs):
        return _Hosts(real(*args, **kwargs), "127.0.0.1", standin.port)

    monkeypatch.setattr(downloader, "_create_client_transport", transport)
    yield standin
    downloader._close_client()


def _publish(standin, files: dict[str, bytes], version: str = "1.0.0", concept: int | None = None) -> dict:
    client: ZenodoClient
    with client_for(standin) as client:
        if concept is None:
            dep = client.create_deposition(
                {
                    "title": "zenodo_get peer",
                    "upload_type": "dataset",
                    "creators": [{"name": "Doe, J"}],
                    "version": version,
                }  # fmt: skip
            )
        else:
            dep = client.new_version(concept)
            for f in dep["files"]:
                client.delete_file(dep["id"], f["id"])
            client.update_deposition(dep["id"], {**dep["metadata"], "version": version})
        for name, data in files.items():
            client.upload_file(dep["links"]["bucket"], name, io.BytesIO(data), len(data))
        return client.publish(dep["id"])


FILES = {"a.bin": bytes(range(256)) * 500, "notes.txt": b"hello from the stand-in\n"}


def _check(folder: Path, files: dict[str, bytes]) -> None:
    assert sorted(p.name for p in folder.iterdir() if p.name != "md5sums.txt") == sorted(files)
    for name, data in files.items():
        assert (folder / name).read_bytes() == data


def test_download_by_record_id_with_token(sandbox_is_standin, tmp_path: Path) -> None:
    pub = _publish(sandbox_is_standin, FILES)
    out = tmp_path / "by-id"
    download(str(pub["id"]), output_dir=out, sandbox_url=True, access_token=TEST_TOKEN, verbosity=0)
    _check(out, FILES)


def test_download_by_doi_link_and_concept_doi_link(sandbox_is_standin, tmp_path: Path) -> None:
    first = _publish(sandbox_is_standin, FILES)
    second = _publish(sandbox_is_standin, {"a.bin": b"version two\n"}, "2.0.0", concept=first["id"])
    out = tmp_path / "by-doi"
    download(doi=f"https://{SANDBOX}/doi/{first['doi']}", output_dir=out, sandbox_url=True, verbosity=0)
    _check(out, FILES)
    # the concept DOI resolves (two redirects) to the latest version
    latest = tmp_path / "by-concept"
    download(
        doi=f"https://{SANDBOX}/doi/{first['conceptdoi']}", output_dir=latest, sandbox_url=True, verbosity=0
    )
    assert second["conceptdoi"] == first["conceptdoi"]
    _check(latest, {"a.bin": b"version two\n"})


def test_md5_list_url_list_and_glob(sandbox_is_standin, tmp_path: Path) -> None:
    pub = _publish(sandbox_is_standin, FILES)
    md5_dir = tmp_path / "md5"
    download(str(pub["id"]), output_dir=md5_dir, md5=True, sandbox_url=True, verbosity=0)
    lines = sorted((md5_dir / "md5sums.txt").read_text().splitlines())
    assert lines == sorted(f"{hashlib.md5(d).hexdigest()}  {n}" for n, d in FILES.items())  # noqa: S324

    urls = tmp_path / "urls"
    download(str(pub["id"]), output_dir=urls, wget_file="urls.txt", sandbox_url=True, verbosity=0)
    listed = (urls / "urls.txt").read_text().split()
    assert sorted(u.rsplit("/", 2)[-2] for u in listed) == sorted(FILES)
    # the stand-in builds links from the Host header, which names the sandbox (as on sandbox.zenodo.org)
    assert all(u.startswith(f"http://{SANDBOX}/api/records/{pub['id']}/files/") for u in listed)

    only = tmp_path / "glob"
    download(str(pub["id"]), output_dir=only, file_glob="*.txt", sandbox_url=True, verbosity=0)
    _check(only, {"notes.txt": FILES["notes.txt"]})


def test_existing_file_with_wrong_checksum_is_replaced(sandbox_is_standin, tmp_path: Path) -> None:
    pub = _publish(sandbox_is_standin, FILES)
    out = tmp_path / "again"
    out.mkdir()
    (out / "a.bin").write_bytes(b"corrupt")
    download(str(pub["id"]), output_dir=out, sandbox_url=True, verbosity=0)
    _check(out, FILES)


def test_unknown_record_fails_as_on_zenodo(sandbox_is_standin, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="404"):
        download("999999", output_dir=tmp_path / "none", sandbox_url=True, verbosity=0)
