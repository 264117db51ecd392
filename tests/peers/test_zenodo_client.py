"""zenodo-client 0.4.2 against the stand-in over HTTP: create (with and without publishing), publish, edit,
discard, new version, update as a new version, ensure, records, latest record, downloads.

Its users reach the sandbox with ``Zenodo(token, sandbox=True)``, which sets the instance's base URLs
(``base``, ``api_base``, ``depositions_base``: api.py:100-126); those are pointed at the stand-in. Downloads
go through pystow, whose home is a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from tests.peers.conftest import md5_of
from zenodo_client import Creator, Metadata, Zenodo

from conftest import TEST_TOKEN


@pytest.fixture
def zen(standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Zenodo:
    monkeypatch.setenv("PYSTOW_HOME", str(tmp_path / "pystow"))
    monkeypatch.setenv("PYSTOW_CONFIG_HOME", str(tmp_path / "pystow-config"))
    client = Zenodo(access_token=TEST_TOKEN, sandbox=True)
    client.base = standin.base_url
    client.api_base = standin.api_url
    client.depositions_base = f"{standin.api_url}/deposit/depositions"
    return client


def _metadata(version: str = "1.0.0") -> Metadata:
    return Metadata(
        title="zenodo-client peer record",
        upload_type="dataset",
        description="Made by zenodo-client against the local stand-in.",
        creators=[Creator(name="Doe, Jane", affiliation="Example Lab")],
        keywords=["peer"],
        version=version,
        license="CC-BY-4.0",
    )


def test_create_publish_and_download(zen: Zenodo, payload: Path, tmp_path: Path) -> None:
    res = zen.create(_metadata(), [payload / "data.bin", payload / "README.md"])
    assert res.status_code == 202
    dep = res.json()
    assert dep["state"] == "done" and dep["doi"] == f"10.5072/zenodo.{dep['id']}"
    record = zen.get_record(dep["id"]).json()
    checksums = {f["key"]: f["checksum"] for f in record["files"]}
    assert checksums == {n: f"md5:{md5_of(payload / n)}" for n in ("data.bin", "README.md")}
    assert record["metadata"]["license"] == {"id": "cc-by-4.0"}
    path = zen.download(dep["id"], name="data.bin")
    assert path.read_bytes() == (payload / "data.bin").read_bytes()
    everything = zen.download_all(dep["id"])
    assert sorted(p.name for p in everything) == ["README.md", "data.bin"]
    assert all(p.read_bytes() == (payload / p.name).read_bytes() for p in everything)


def test_create_unpublished_then_publish_edit_discard(zen: Zenodo, payload: Path) -> None:
    draft = zen.create(_metadata(), [payload / "README.md"], publish=False)
    assert draft.status_code == 200 and draft.json()["state"] == "unsubmitted"
    dep_id = draft.json()["id"]
    assert zen.publish(dep_id, sleep=False).json()["state"] == "done"
    assert zen.edit(dep_id, sleep=False).json()["state"] == "inprogress"
    assert zen.discard(dep_id, sleep=False).status_code == 204
    assert zen.get_record(dep_id).json()["state"] == "done"


def test_update_makes_a_new_version(zen: Zenodo, payload: Path, tmp_path: Path) -> None:
    first = zen.create(_metadata(), [payload / "data.bin"]).json()
    changed = tmp_path / "data.bin"
    changed.write_bytes(b"a new version of the data\n")
    res = zen.update(first["id"], [changed])
    assert res.status_code == 202
    second = res.json()
    assert second["id"] != first["id"] and second["conceptrecid"] == first["conceptrecid"]
    assert second["doi"] == f"10.5072/zenodo.{second['id']}"
    # zenodo-client forces a date-based version (api.py:519-532)
    assert second["metadata"]["version"] != "1.0.0"
    record = zen.get_record(second["id"]).json()
    assert [(f["key"], f["checksum"]) for f in record["files"]] == [("data.bin", f"md5:{md5_of(changed)}")]
    assert zen.download(second["id"], name="data.bin").read_bytes() == changed.read_bytes()


def test_new_version_action(zen: Zenodo, payload: Path) -> None:
    first = zen.create(_metadata(), [payload / "README.md"]).json()
    draft = zen.new_version(first["id"], sleep=False).json()
    # Zenodo-RDM answers newversion with the new draft (zenodo-api.md section 1), files imported
    assert draft["id"] != first["id"] and draft["links"]["latest_draft"].endswith(f"/{draft['id']}")
    assert [f["filename"] for f in draft["files"]] == ["README.md"]


def test_get_latest_record_reads_the_wrong_link_segment(zen: Zenodo, payload: Path) -> None:
    """zenodo-client's get_latest_record returns links.latest.split("/")[-3] (api.py:397). On zenodo.org
    `links.latest` is .../api/records/<this id>/versions/latest (a redirect; zenodo-api.md section 4), so the
    segment is the record's own id: the client never finds a newer version, on zenodo.org as here."""
    first = zen.create(_metadata(), [payload / "README.md"]).json()
    second = zen.update(first["id"], [payload / "data.bin"]).json()
    record = zen.get_record(first["id"]).json()
    assert record["links"]["latest"] == f"{zen.api_base}/records/{first['id']}/versions/latest"
    assert zen.get_latest_record(first["id"]) == str(first["id"])  # the client's bug, not the latest
    followed = requests.get(record["links"]["latest"], timeout=10)
    assert followed.json()["id"] == second["id"]  # what following the link gives
    # download_latest therefore downloads the first version's file
    assert zen.download_latest(first["id"], "README.md").read_bytes() == (payload / "README.md").read_bytes()


def test_ensure_creates_once_then_updates(zen: Zenodo, payload: Path) -> None:
    data = _metadata()
    created = zen.ensure("peer-key", data, [payload / "README.md"]).json()
    again = zen.ensure("peer-key", data, [payload / "data.bin"]).json()
    assert again["conceptrecid"] == created["conceptrecid"] and again["id"] != created["id"]
    keys = sorted(f["key"] for f in zen.get_record(again["id"]).json()["files"])
    assert keys == ["README.md", "data.bin"]  # the new version keeps the imported file
