"""Making test records through InvenioRDM's native API, for the fetch and search tests on the rdm backend.

`NativeTestClient` is the `RdmClient` (its read side, the code under test, reads the records back) with the
few write calls the record helpers make done here over plain `requests` on the native routes: create a draft,
register + upload + commit files, publish, new version, list / delete draft files, replace the metadata. So
these tests do not depend on the rdm publish backend. Metadata goes in as the helpers write it (legacy deposit
metadata) and is turned into the RDM schema with the stand-in's own translation plus the two fields publish
needs that it leaves out (the date, the licence).
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any, BinaryIO

import requests

from ossr_images.standin.rdm_metadata import to_native
from ossr_images.zenodo.models import Deposition, RemoteFile
from ossr_images.zenodo.rdm_client import RdmClient
from ossr_images.zenodo.rdm_records import NATIVE_JSON
from ossr_images.zenodo.upload import UploadResult


def native_body(metadata: dict[str, Any]) -> dict[str, Any]:
    """A draft body in the RDM schema from legacy deposit metadata."""
    native = to_native(metadata)
    native.setdefault("publication_date", datetime.date.today().isoformat())
    if isinstance(metadata.get("license"), str):
        native["rights"] = [{"id": metadata["license"].lower()}]
    files = "public" if metadata.get("access_right", "open") == "open" else "restricted"
    return {"metadata": native, "access": {"record": "public", "files": files}, "files": {"enabled": True}}


class NativeTestClient(RdmClient):
    """The rdm backend's client, writing test records through the native routes itself."""

    def _call(self, method: str, url: str, expected: int, **kwargs: Any) -> Any:
        headers = {"Accept": NATIVE_JSON, **kwargs.pop("headers", {})}
        if self.target.token:
            headers["Authorization"] = f"Bearer {self.target.token}"
        answer = requests.request(method, self.url(url), headers=headers, timeout=30, **kwargs)
        assert answer.status_code == expected, f"{method} {url}: {answer.status_code} {answer.text[:500]}"
        return answer.json() if answer.content else None

    def _deposition(self, doc: dict[str, Any]) -> Deposition:
        rid = doc["id"]
        return Deposition(
            id=rid,
            record_id=rid if doc.get("is_published") else None,
            conceptrecid=doc["parent"]["id"],
            title=doc.get("metadata", {}).get("title") or "",
            bucket_url=self.url(f"/records/{rid}/draft/files"),
        )

    def create_deposition(self, metadata: dict[str, Any] | None = None) -> Deposition:
        return self._deposition(self._call("POST", "/records", 201, json=native_body(metadata or {})))

    def update_deposition(self, deposition_id: int | str, metadata: dict[str, Any]) -> Deposition:
        doc = self._call("PUT", f"/records/{deposition_id}/draft", 200, json=native_body(metadata))
        return self._deposition(doc)

    def upload_file(
        self, bucket_url: str, key: str, fileobj: BinaryIO, size: int, *, progress: Any = None
    ) -> UploadResult:
        data = fileobj.read()  # test files are small
        md5 = hashlib.md5(data).hexdigest()  # noqa: S324 - the checksum InvenioRDM keeps
        self._call("POST", bucket_url, 201, json=[{"key": key, "size": size, "checksum": f"md5:{md5}"}])
        octets = {"Content-Type": "application/octet-stream"}
        self._call("PUT", f"{bucket_url}/{key}/content", 200, data=data, headers=octets)
        done = self._call("POST", f"{bucket_url}/{key}/commit", 200)
        assert done["checksum"] == f"md5:{md5}" and done["size"] == size
        return UploadResult(key, size, md5, hashlib.sha256(data).hexdigest())

    def publish(self, deposition_id: int | str) -> Deposition:
        return self._deposition(self._call("POST", f"/records/{deposition_id}/draft/actions/publish", 202))

    def new_version(self, deposition_id: int | str) -> Deposition:
        return self._deposition(self._call("POST", f"/records/{deposition_id}/versions", 201))

    def list_files(self, deposition_id: int | str) -> list[RemoteFile]:
        doc = self._call("GET", f"/records/{deposition_id}/draft/files", 200)
        return [RemoteFile.from_json({**e, "id": e["key"]}) for e in doc["entries"]]

    def delete_file(self, deposition_id: int | str, file_id: str) -> None:
        self._call("DELETE", f"/records/{deposition_id}/draft/files/{file_id}", 204)


def add_to_community(standin: Any, record_id: str, slug: str) -> None:
    """Include a published record in a community on either surface (the native inclusion request, accepted
    by the stand-in's curator)."""
    answer = requests.post(
        f"{standin.api_url}/records/{record_id}/communities",
        json={"communities": [{"id": slug}]},
        headers={"Authorization": f"Bearer {standin.tokens[0]}", "Accept": NATIVE_JSON},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    request = answer.json()["processed"][0]
    if request["request"]["status"] != "accepted":
        standin.curate(request["request_id"], "accept")
