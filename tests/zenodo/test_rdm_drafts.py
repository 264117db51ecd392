"""The native backend's write side: legacy metadata in the RDM schema and back, native JSON as Depositions, the
three-step upload (register, content, commit) against the stand-in, and with `responses` what a server does
not readily produce (a commit with the wrong checksum, Zenodo's 404 right after the content, a key left by an
earlier run)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import responses
from tests.helpers.clients import target_for

from conftest import start_standin
from ossr_images.zenodo.errors import ZenodoError, ZenodoIntegrityError
from ossr_images.zenodo.rdm_client import RdmClient
from ossr_images.zenodo.rdm_metadata import (
    NATIVE_JSON,
    communities_of,
    deposition_of,
    draft_body,
    native_metadata,
)
from ossr_images.zenodo.target import Target
from ossr_images.zenodo.transport import RetryPolicy

LEGACY = {
    "upload_type": "software",
    "title": "hello-publish: container image",
    "description": "A container image.",
    "creators": [
        {"name": "Lovelace, Ada", "orcid": "0000-0002-1825-0097", "affiliation": "Analytical Engines; CERN"},
        {"name": "CTA Consortium"},
    ],
    "contributors": [{"name": "Turing, Alan", "type": "ContactPerson"}],
    "access_right": "open",
    "license": "Apache-2.0",
    "version": "1.2.0",
    "publication_date": "2026-01-15",
    "keywords": ["containers", "ossr-images:release:0123abcd"],
    "communities": [{"identifier": "escape2020"}],
    "grants": [{"id": "10.13039/501100000780::824064"}, {"id": "10.99999/unknown::1"}],
    "related_identifiers": [
        {
            "identifier": "https://github.com/o/r/tree/abc",
            "relation": "isDerivedFrom",
            "resource_type": "software",
        },
        {"identifier": "https://doi.org/10.5281/zenodo.42", "relation": "isNewVersionOf"},
    ],
}


def test_legacy_metadata_in_the_rdm_schema():
    md = native_metadata(LEGACY)
    assert md["resource_type"] == {"id": "software"}
    assert md["creators"] == [
        {
            "person_or_org": {
                "type": "personal",
                "family_name": "Lovelace",
                "given_name": "Ada",
                "identifiers": [{"scheme": "orcid", "identifier": "0000-0002-1825-0097"}],
            },
            "affiliations": [{"name": "Analytical Engines"}, {"name": "CERN"}],
        },
        {"person_or_org": {"type": "organizational", "name": "CTA Consortium"}},
    ]
    assert md["contributors"][0]["role"] == {"id": "contactperson"}
    assert md["rights"] == [{"id": "apache-2.0"}]
    assert md["subjects"] == [{"subject": "containers"}, {"subject": "ossr-images:release:0123abcd"}]
    assert md["related_identifiers"] == [
        {
            "identifier": "https://github.com/o/r/tree/abc",
            "scheme": "url",
            "relation_type": {"id": "isderivedfrom"},
            "resource_type": {"id": "software"},
        },
        {"identifier": "10.5281/zenodo.42", "scheme": "doi", "relation_type": {"id": "isnewversionof"}},
    ]
    # the EC's funder DOI becomes its ROR id; a funder Zenodo does not know is left out
    assert md["funding"] == [
        {"funder": {"id": "00k4n6c32"}, "award": {"id": "00k4n6c32::824064", "number": "824064"}}
    ]
    assert (md["publication_date"], md["version"], md["title"]) == ("2026-01-15", "1.2.0", LEGACY["title"])
    assert "communities" not in md and communities_of(LEGACY) == ("escape2020",)
    body = draft_body(LEGACY)
    assert body["access"] == {"record": "public", "files": "public"} and body["files"] == {"enabled": True}


def _native_draft(**over: Any) -> dict[str, Any]:
    doc = {
        "id": "4d0ns-ntd89",
        "is_published": False,
        "is_draft": True,
        "status": "draft",
        "created": "2026-01-15T12:00:00+00:00",
        "parent": {"id": "a1b2c-3d4e5", "pids": {}},
        "pids": {"doi": {"identifier": "10.1234/4d0ns-ntd89", "provider": "datacite"}},
        "metadata": native_metadata(LEGACY),
        "files": {"enabled": True, "entries": {}},
        "links": {
            "self": "https://rdm.test/api/records/4d0ns-ntd89/draft",
            "self_html": "https://rdm.test/uploads/4d0ns-ntd89",
        },
        "versions": {"index": 1},
    }
    doc.update(over)
    return doc


def test_native_json_as_a_deposition_keeps_string_ids():
    dep = deposition_of(_native_draft(), "https://rdm.test/api")
    assert (dep.id, dep.conceptrecid, dep.state, dep.is_published) == (
        "4d0ns-ntd89",
        "a1b2c-3d4e5",
        "unsubmitted",
        False,
    )
    assert dep.prereserved_doi == dep.doi == "10.1234/4d0ns-ntd89"
    assert dep.bucket_url == "https://rdm.test/api/records/4d0ns-ntd89/draft/files"
    assert "ossr-images:release:0123abcd" in dep.keywords  # the publish marker round-trips through subjects
    assert dep.related[0].identifier == "https://github.com/o/r/tree/abc"
    edit = deposition_of(_native_draft(is_published=True), "https://rdm.test/api")
    assert (edit.state, edit.is_published) == ("inprogress", True)
    entry = {
        "key": "a.tar",
        "size": 3,
        "checksum": "md5:900150983cd24fb0d6963f7d28e17f72",
        "links": {"self": "https://rdm.test/api/records/x/files/a.tar"},
    }
    record = deposition_of(
        _native_draft(is_draft=False, is_published=True, files={"entries": {"a.tar": entry}}),
        "https://rdm.test/api",
    )
    assert (record.state, record.record_ref, record.bucket_url) == ("done", "4d0ns-ntd89", None)
    assert record.files[0].md5 == "900150983cd24fb0d6963f7d28e17f72" and record.files[0].id == "a.tar"
    assert record.files[0].url == "https://rdm.test/api/records/x/files/a.tar/content"


def test_round_trip_through_the_stand_in(tmp_path_factory):
    """Create with legacy metadata, read back natively: what the stand-in stored is what was meant."""
    with start_standin(tmp_path_factory, "rdm") as server:
        server.backend = "rdm"
        with RdmClient(target_for(server)) as client:
            dep = client.create_deposition(LEGACY)
            assert dep.doi == f"10.5072/{dep.id}" and dep.review is not None
            assert (dep.review.status, dep.state) == ("created", "unsubmitted")
            raw = client.transport.request_json(_get(client, f"/records/{dep.id}/draft"))
            md = raw["metadata"]
            assert md["creators"][0]["person_or_org"]["identifiers"][0]["identifier"] == "0000-0002-1825-0097"
            assert md["funding"][0]["funder"]["id"] == "00k4n6c32"
            assert {r["relation_type"]["id"] for r in md["related_identifiers"]} == {
                "isderivedfrom",
                "isnewversionof",
            }
            assert "ossr-images:release:0123abcd" in [s["subject"] for s in md["subjects"]]
            found = list(client.list_depositions(q='keywords:"ossr-images:release:0123abcd"'))
            assert [d.id for d in found] == [dep.id]
            result = client.upload_file(dep.bucket_url, "a.txt", io.BytesIO(b"abc"), 3)
            assert result.md5 == "900150983cd24fb0d6963f7d28e17f72"
            # a re-upload of the same key (an earlier run's file) replaces it
            again = client.upload_file(dep.bucket_url, "a.txt", io.BytesIO(b"abcd"), 4)
            assert [(f.key, f.size, f.md5) for f in client.list_files(dep.id)] == [("a.txt", 4, again.md5)]
            client.delete_deposition(dep.id)  # the created review is taken back first
            assert list(client.list_depositions()) == []


def _get(client: RdmClient, path: str):
    from ossr_images.zenodo.transport import Request

    return Request("GET", client.url(path), True, (200,), headers={"Accept": NATIVE_JSON})


API = "https://rdm.test/api"
FILES = f"{API}/records/7/draft/files"


@pytest.fixture
def client() -> RdmClient:
    policy = RetryPolicy(max_attempts=3, backoff_base=0.0, jitter=0.0, sleep=lambda s: None, max_elapsed=None)
    return RdmClient(Target("custom", API, "responses-token-abcdef", None, api="rdm"), retry=policy)


def _content(key: str = "a.txt") -> None:
    """The content PUT, its streamed body read to the end as a server would."""

    def reply(request):
        body = request.body
        received = body if isinstance(body, bytes) else b"".join(bytes(chunk) for chunk in body)
        return 200, {}, json.dumps({"key": key, "status": "pending", "size": len(received)})

    responses.add_callback(responses.PUT, f"{FILES}/{key}/content", callback=reply)


def _commit(checksum: str, size: int) -> dict[str, Any]:
    return {"key": "a.txt", "status": "completed", "size": size, "checksum": checksum}


@responses.activate
def test_commit_with_the_wrong_checksum_is_an_integrity_error(client: RdmClient):
    responses.post(FILES, status=201, json={"entries": [{"key": "a.txt", "status": "pending"}]})
    _content()
    responses.post(f"{FILES}/a.txt/commit", status=200, json=_commit("md5:" + "0" * 32, 3))
    with pytest.raises(ZenodoIntegrityError) as info:
        client.upload_file(FILES, "a.txt", io.BytesIO(b"abc"), 3)
    assert info.value.exit_code == 3
    assert info.value.details["remote_md5"] == "0" * 32
    assert info.value.details["md5"] == "900150983cd24fb0d6963f7d28e17f72"
    register = json.loads(responses.calls[0].request.body)
    assert register == [{"key": "a.txt", "size": 3}]
    assert responses.calls[0].request.headers["Accept"] == NATIVE_JSON


@responses.activate
def test_commit_404_right_after_the_content_is_retried(client: RdmClient):
    responses.post(FILES, status=201, json={"entries": []})
    _content()
    responses.post(f"{FILES}/a.txt/commit", status=404, json={"status": 404, "message": "not found"})
    responses.post(
        f"{FILES}/a.txt/commit", status=200, json=_commit("md5:900150983cd24fb0d6963f7d28e17f72", 3)
    )
    result = client.upload_file(FILES, "a.txt", io.BytesIO(b"abc"), 3)
    assert (result.size, result.md5) == (3, "900150983cd24fb0d6963f7d28e17f72")
    assert [c.request.method for c in responses.calls] == ["POST", "PUT", "POST", "POST"]


@responses.activate
def test_a_key_left_by_an_earlier_run_is_deleted_and_registered_again(client: RdmClient):
    exists = {"status": 400, "message": "File with key a.txt already exists."}
    responses.post(FILES, status=400, json=exists)
    responses.delete(f"{FILES}/a.txt", status=204)
    responses.post(FILES, status=201, json={"entries": []})
    _content()
    responses.post(
        f"{FILES}/a.txt/commit", status=200, json=_commit("md5:900150983cd24fb0d6963f7d28e17f72", 3)
    )
    client.upload_file(FILES, "a.txt", io.BytesIO(b"abc"), 3)
    assert [c.request.method for c in responses.calls] == ["POST", "DELETE", "POST", "PUT", "POST"]


@responses.activate
def test_a_commit_that_keeps_failing_is_reported(client: RdmClient):
    responses.post(FILES, status=201, json={"entries": []})
    _content()
    responses.post(f"{FILES}/a.txt/commit", status=404, json={"status": 404, "message": "not found"})
    with pytest.raises(ZenodoError) as info:
        client.upload_file(FILES, "a.txt", io.BytesIO(b"abc"), 3)
    assert info.value.status == 404 and "commit" in info.value.message
