"""A few native InvenioRDM API calls over plain requests, for the stand-in's conformance tests."""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from conftest import TEST_TOKEN

NATIVE = "application/vnd.inveniordm.v1+json"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
HEADERS = {**AUTH, "Accept": NATIVE}

METADATA = {
    "access": {"record": "public", "files": "public"},
    "files": {"enabled": True},
    "metadata": {
        "resource_type": {"id": "software"},
        "title": "Native record",
        "publication_date": "2025-10-09",
        "version": "1.2.0",
        "description": "Made through the native API.",
        "rights": [{"id": "mit"}],
        "subjects": [{"subject": "containers"}],
        "creators": [
            {
                "person_or_org": {
                    "type": "personal",
                    "given_name": "Ada",
                    "family_name": "Lovelace",
                    "identifiers": [{"scheme": "orcid", "identifier": "0000-0002-1825-0097"}],
                },
                "affiliations": [{"name": "CERN"}],
            }
        ],
        "related_identifiers": [
            {
                "identifier": "https://github.com/o/r/tree/abc",
                "scheme": "url",
                "relation_type": {"id": "isderivedfrom"},
                "resource_type": {"id": "software"},
            }
        ],
        "funding": [{"funder": {"id": "00k4n6c32"}, "award": {"id": "00k4n6c32::824064"}}],
    },
}


def call(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One request with the token and the native Accept (headers given are added)."""
    headers = {**HEADERS, **kwargs.pop("headers", {})}
    return requests.request(method, url, headers=headers, timeout=30, **kwargs)


def upload(api: str, rid: str, files: dict[str, bytes]) -> None:
    """Register, upload and commit files of a draft (asserting each status)."""
    entries = [
        {"key": k, "size": len(v), "checksum": f"md5:{hashlib.md5(v).hexdigest()}"} for k, v in files.items()
    ]
    assert call("POST", f"{api}/records/{rid}/draft/files", json=entries).status_code == 201
    for key, data in files.items():
        put = call(
            "PUT",
            f"{api}/records/{rid}/draft/files/{key}/content",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 200, put.text
        assert call("POST", f"{api}/records/{rid}/draft/files/{key}/commit").status_code == 200


def published(api: str, files: dict[str, bytes] | None = None, body: dict | None = None) -> dict[str, Any]:
    """A record made and published through the native API (native JSON)."""
    draft = call("POST", f"{api}/records", json=body or METADATA).json()
    upload(api, draft["id"], files or {"a.txt": b"hello"})
    answer = call("POST", f"{api}/records/{draft['id']}/draft/actions/publish")
    assert answer.status_code == 202, answer.text
    return answer.json()
