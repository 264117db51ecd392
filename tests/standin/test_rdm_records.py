"""Conformance of the stand-in's native InvenioRDM records API (shared/reference/invenio-rdm-api.md), over
real HTTP: drafts, draft files, publish, read side, search, versions, files-import, and the cross-API view
(a deposition made through one API is the same record, ids and DOIs, through the other)."""

from __future__ import annotations

import hashlib
import io

import requests
from tests.helpers.clients import client_for
from tests.helpers.rdm_native import AUTH, METADATA, NATIVE, call, published, upload

# Shapes quoted in the reference (section 2: a published record; section 4: draft-file answers)
RECORD_KEYS = {"id", "is_published", "is_draft", "status", "revision_id", "parent", "pids", "metadata", "access",
               "files", "versions", "links"}  # fmt: skip
PARENT_KEYS = {"id", "communities", "pids"}
FILES_KEYS = {"enabled", "count", "total_bytes", "entries"}
FILE_ENTRY_KEYS = {"key", "size", "checksum", "links"}
RECORD_LINKS = {"self", "files", "latest", "versions", "draft"}
REGISTER_KEYS = {"enabled", "order", "links", "entries"}
PENDING_KEYS = {"key", "status", "size", "checksum", "transfer", "links"}
COMMIT_KEYS = {"key", "status", "size", "checksum", "mimetype", "file_id", "bucket_id", "version_id", "links"}


def test_draft_lifecycle_and_shapes(standin) -> None:
    api = standin.api_url
    made = call("POST", f"{api}/records", json=METADATA)
    assert made.status_code == 201
    draft = made.json()
    assert isinstance(draft["id"], str) and draft["is_draft"] and not draft["is_published"]
    assert draft["pids"] == {} and draft["status"] == "draft" and draft["links"]["self"].endswith("/draft")
    assert {"publish", "review", "reserve_doi"} <= set(draft["links"])
    assert made.headers["ETag"] == f'"{draft["revision_id"]}"'
    rid = draft["id"]
    assert draft["metadata"]["creators"][0]["person_or_org"]["name"] == "Lovelace, Ada"

    reserved = call("POST", f"{api}/records/{rid}/draft/pids/doi")
    assert reserved.status_code == 201
    doi = reserved.json()["pids"]["doi"]
    assert doi == {"identifier": f"10.5072/zenodo.{rid}", "provider": "datacite", "client": "datacite"}
    again = call("POST", f"{api}/records/{rid}/draft/pids/doi")
    assert again.status_code == 400 and again.json()["message"] == "A PID already exists for type doi"

    data = b"container image bytes"
    md5 = hashlib.md5(data).hexdigest()
    reg = call("POST", f"{api}/records/{rid}/draft/files", json=[{"key": "img.tar", "size": len(data),
                                                                  "checksum": f"md5:{md5}"}])  # fmt: skip
    assert reg.status_code == 201 and REGISTER_KEYS <= set(reg.json())
    (entry,) = reg.json()["entries"]
    assert PENDING_KEYS <= set(entry) and entry["status"] == "pending" and entry["transfer"] == {"type": "L"}
    assert set(entry["links"]) == {"self", "content", "commit"}
    dup = call("POST", f"{api}/records/{rid}/draft/files", json=[{"key": "img.tar"}])
    assert dup.status_code == 400 and dup.json()["message"] == "File with key img.tar already exists."

    early = call("POST", f"{api}/records/{rid}/draft/actions/publish")
    assert early.status_code == 400
    assert {
        "field": "files",
        "messages": ["One or more files have not completed their transfer, please wait."],
    } in (early.json()["errors"])
    put = call("PUT", f"{api}/records/{rid}/draft/files/img.tar/content", data=data,
               headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert put.status_code == 200 and put.json()["status"] == "pending"
    wrong_type = call("PUT", f"{api}/records/{rid}/draft/files/img.tar/content", data=b"x",
                      headers={"Content-Type": "text/plain"})  # fmt: skip
    assert wrong_type.status_code == 415
    done = call("POST", f"{api}/records/{rid}/draft/files/img.tar/commit")
    assert done.status_code == 200 and COMMIT_KEYS <= set(done.json())
    assert done.json()["status"] == "completed" and done.json()["checksum"] == f"md5:{md5}"
    assert done.json()["size"] == len(data)
    late = call("PUT", f"{api}/records/{rid}/draft/files/img.tar/content", data=b"y")
    assert (
        late.status_code == 400 and late.json()["message"] == 'File with key "img.tar" is already committed.'
    )
    listing = call("GET", f"{api}/records/{rid}/draft/files").json()
    assert isinstance(listing["entries"], list) and listing["entries"][0]["status"] == "completed"
    got = call("GET", f"{api}/records/{rid}/draft/files/img.tar/content")
    assert got.content == data

    pub = call("POST", f"{api}/records/{rid}/draft/actions/publish")
    assert pub.status_code == 202
    record = pub.json()
    assert (
        RECORD_KEYS <= set(record)
        and PARENT_KEYS <= set(record["parent"])
        and FILES_KEYS <= set(record["files"])
    )
    assert RECORD_LINKS <= set(record["links"])
    assert record["is_published"] and not record["is_draft"] and record["status"] == "published"
    assert record["pids"]["doi"]["identifier"] == doi["identifier"]
    assert record["parent"]["pids"]["doi"]["identifier"] == f"10.5072/zenodo.{record['parent']['id']}"
    assert isinstance(record["files"]["entries"], dict)
    assert FILE_ENTRY_KEYS <= set(record["files"]["entries"]["img.tar"])
    assert record["versions"] == {"index": 1, "is_latest": True, "is_latest_draft": False}
    assert call("GET", f"{api}/records/{rid}/draft").status_code == 404


def test_saving_never_fails_on_bad_metadata_and_publish_lists_missing_fields(standin) -> None:
    api = standin.api_url
    bad = {"metadata": {"title": "ok title", "resource_type": {"id": "nonsense"}, "rights": [{"id": "no-such"}],
                        "publication_date": "2025-13-40", "creators": [{"person_or_org": {"type": "personal"}}],
                        "related_identifiers": [{"identifier": "x", "scheme": "swh",
                                                 "relation_type": {"id": "isderivedfrom"}}]}}  # fmt: skip
    made = call("POST", f"{api}/records", json=bad)
    assert made.status_code == 201
    fields = {e["field"] for e in made.json()["errors"]}
    assert {"metadata.resource_type", "metadata.rights.0.id", "metadata.publication_date",
            "metadata.creators.0.person_or_org.family_name", "metadata.related_identifiers.0.scheme"} <= fields  # fmt: skip
    assert made.json()["metadata"]["title"] == "ok title"
    rid = made.json()["id"]
    put = call("PUT", f"{api}/records/{rid}/draft", json={"metadata": {"title": "x"}})
    assert put.status_code == 200 and put.json()["metadata"] == {"title": "x", "creators": []}
    pub = call("POST", f"{api}/records/{rid}/draft/actions/publish")
    assert pub.status_code == 400 and pub.json()["message"] == "A validation error occurred."
    fields = {e["field"] for e in pub.json()["errors"]}
    assert {"metadata.publication_date", "metadata.resource_type", "metadata.creators", "metadata.title",
            "files.enabled"} <= fields  # fmt: skip
    stale = call("PUT", f"{api}/records/{rid}/draft", json={"metadata": {}}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    gone = call("DELETE", f"{api}/records/{rid}/draft")
    assert gone.status_code == 204 and gone.content == b""
    missing = call("GET", f"{api}/records/{rid}/draft")
    assert missing.status_code == 404 and missing.json() == {"status": 404,
                                                             "message": "The persistent identifier does not exist."}  # fmt: skip


def test_errors_permissions_and_decoding(standin) -> None:
    api = standin.api_url
    anonymous = requests.post(f"{api}/records", json={}, timeout=10)
    assert anonymous.status_code in (401, 403) and anonymous.json()["status"] == anonymous.status_code
    wrong = requests.post(f"{api}/records", json={}, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 403 and wrong.json() == {"status": 403, "message": "Permission denied."}
    broken = call("POST", f"{api}/records", data=b"{not json", headers={"Content-Type": "application/json"})
    assert (
        broken.status_code == 400
        and broken.json()["message"] == "Unable to decode JSON data in request body."
    )
    assert call("GET", f"{api}/records/999999").status_code == 404
    rid = call("POST", f"{api}/records", json={}).json()["id"]
    nofile = call("DELETE", f"{api}/records/{rid}/draft/files/none.txt")
    assert nofile.status_code == 404 and nofile.json()["message"] == f"Record '{rid}' has no file 'none.txt'."
    call("POST", f"{api}/records/{rid}/draft/files", json=[{"key": "p.txt"}])
    assert call("DELETE", f"{api}/records/{rid}/draft/files/p.txt").status_code == 204
    assert call("GET", f"{api}/records/{rid}/draft/files").json()["entries"] == []


def test_read_side_search_and_dialects(standin) -> None:
    api = standin.api_url
    record = published(api, {"a.txt": b"0123456789"})
    rid = record["id"]
    native = call("GET", f"{api}/records/{rid}")
    assert native.status_code == 200 and native.json()["id"] == rid and native.headers["ETag"]
    zenodo = requests.get(f"{api}/records/{rid}", headers={"Accept": "application/json"}, timeout=10).json()
    assert zenodo["id"] == int(rid) and zenodo["doi"] == record["pids"]["doi"]["identifier"]
    assert zenodo["conceptrecid"] == record["parent"]["id"] and isinstance(zenodo["files"], list)
    assert zenodo["metadata"]["relations"]["version"][0]["index"] == record["versions"]["index"] - 1
    files = call("GET", f"{api}/records/{rid}/files").json()
    assert isinstance(files["entries"], list) and files["entries"][0]["key"] == "a.txt"
    assert call("GET", f"{api}/records/{rid}/files/a.txt").json()["checksum"].startswith("md5:")
    part = requests.get(
        f"{api}/records/{rid}/files/a.txt/content", headers={"Range": "bytes=2-4"}, timeout=10
    )
    assert (
        part.status_code == 206 and part.content == b"234" and part.headers["Content-Range"] == "bytes 2-4/10"
    )
    parent = call("GET", f"{api}/records/{record['parent']['id']}", allow_redirects=False)
    assert parent.status_code == 302 and parent.headers["Location"].endswith(f"/records/{rid}")

    found = call("GET", f"{api}/records", params={"q": 'metadata.subjects.subject:"containers"', "size": 5})
    assert found.status_code == 200
    body = found.json()
    assert {"hits", "aggregations", "links", "sortBy"} <= set(body) and "self" in body["links"]
    assert rid in [h["id"] for h in body["hits"]["hits"]]
    assert all(h["versions"]["is_latest"] for h in body["hits"]["hits"])
    mine = call("GET", f"{api}/user/records", params={"q": f"recid:{rid}"}).json()
    assert [h["id"] for h in mine["hits"]["hits"]] == [rid]


def test_versions_files_import_counts_no_bytes(standin) -> None:
    api = standin.api_url
    first = published(api, {"a.txt": b"a" * 1000, "b.txt": b"b" * 500})
    made = call("POST", f"{api}/records/{first['id']}/versions")
    assert made.status_code == 201
    draft = made.json()
    assert draft["versions"]["index"] == 2 and draft["pids"] == {} and draft["files"]["entries"] == {}
    assert "version" not in draft["metadata"] and draft["status"] == "new_version_draft"
    assert call("POST", f"{api}/records/{first['id']}/versions").json()["id"] == draft["id"]  # retry-safe
    before = standin.bytes_received
    imported = call("POST", f"{api}/records/{draft['id']}/draft/actions/files-import")
    assert imported.status_code == 201
    assert {e["key"]: e["status"] for e in imported.json()["entries"]} == {
        "a.txt": "completed",
        "b.txt": "completed",
    }
    assert standin.bytes_received == before
    twice = call("POST", f"{api}/records/{draft['id']}/draft/actions/files-import")
    assert twice.status_code == 400 and twice.json()["errors"] == [
        {"field": "files.enabled", "messages": ["Please remove all files first."]}
    ]
    assert call("DELETE", f"{api}/records/{draft['id']}/draft/files/b.txt").status_code == 204
    upload(api, draft["id"], {"b.txt": b"B" * 700})
    assert standin.bytes_received == before + 700
    body = dict(METADATA, metadata={**METADATA["metadata"], "version": "2.0"})
    assert call("PUT", f"{api}/records/{draft['id']}/draft", json=body).status_code == 200
    second = call("POST", f"{api}/records/{draft['id']}/draft/actions/publish").json()
    assert second["versions"]["index"] == 2 and second["versions"]["is_latest"]
    assert second["parent"]["id"] == first["parent"]["id"]
    assert call("GET", f"{api}/records/{first['id']}").json()["versions"]["is_latest"] is False
    latest = call("GET", f"{api}/records/{first['id']}/versions/latest", allow_redirects=False)
    assert latest.status_code == 301 and latest.json()["location"].endswith(f"/records/{second['id']}")
    versions = call("GET", f"{api}/records/{first['id']}/versions").json()
    assert [h["id"] for h in versions["hits"]["hits"]] == [second["id"], first["id"]]
    default = call("GET", f"{api}/records", params={"q": f"parent.id:{first['parent']['id']}"}).json()
    assert [h["id"] for h in default["hits"]["hits"]] == [second["id"]]
    every = call(
        "GET", f"{api}/records", params={"q": f"parent.id:{first['parent']['id']}", "allversions": "true"}
    )
    assert {h["id"] for h in every.json()["hits"]["hits"]} == {first["id"], second["id"]}


def test_edit_draft_of_a_published_record(standin) -> None:
    api = standin.api_url
    record = published(api)
    edit = call("POST", f"{api}/records/{record['id']}/draft")
    assert edit.status_code == 201 and edit.json()["is_published"] and edit.json()["is_draft"]
    body = dict(METADATA, metadata={**METADATA["metadata"], "title": "Edited title"})
    assert (
        call("PUT", f"{api}/records/{record['id']}/draft", json=body).json()["metadata"]["title"]
        == "Edited title"
    )
    locked = call("POST", f"{api}/records/{record['id']}/draft/files", json=[{"key": "new.txt"}])
    assert locked.status_code == 403
    again = call("POST", f"{api}/records/{record['id']}/draft/actions/publish")
    assert again.status_code == 202 and again.json()["metadata"]["title"] == "Edited title"
    assert again.json()["pids"] == record["pids"]


def test_legacy_deposition_is_visible_natively_with_same_ids_and_dois(standin) -> None:
    meta = {"title": "Legacy made", "upload_type": "software", "creators": [{"name": "Doe, Jane", "orcid":
            "0000-0002-1825-0097"}], "description": "desc", "license": "mit", "keywords": ["k1"]}  # fmt: skip
    with client_for(standin) as client:
        dep = client.create_deposition(meta)
        client.upload_file(dep.bucket_url, "f.txt", io.BytesIO(b"xyz"), 3)
        draft = call("GET", f"{standin.api_url}/records/{dep.id}/draft").json()
        assert draft["id"] == str(dep.id) and draft["files"]["entries"]["f.txt"]["status"] == "completed"
        pub = client.publish(dep.id)
    native = call("GET", f"{standin.api_url}/records/{pub.id}").json()
    assert native["id"] == str(pub.id) and native["parent"]["id"] == pub.conceptrecid
    assert native["pids"]["doi"]["identifier"] == pub.doi
    assert native["parent"]["pids"]["doi"]["identifier"] == pub.conceptdoi
    md = native["metadata"]
    assert md["resource_type"] == {"id": "software"} and md["rights"] == [{"id": "mit"}]
    assert md["subjects"] == [{"subject": "k1"}]
    assert md["creators"][0]["person_or_org"]["family_name"] == "Doe"


def test_native_record_is_visible_through_the_deposit_api(standin) -> None:
    record = published(standin.api_url)
    dep = requests.get(
        f"{standin.api_url}/deposit/depositions/{record['id']}", headers=AUTH, timeout=10
    ).json()
    assert dep["id"] == int(record["id"]) and dep["conceptrecid"] == record["parent"]["id"]
    assert dep["doi"] == record["pids"]["doi"]["identifier"] and dep["state"] == "done"
    md = dep["metadata"]
    assert md["upload_type"] == "software" and md["creators"][0] == {"name": "Lovelace, Ada", "orcid":
                                                                     "0000-0002-1825-0097", "affiliation": "CERN"}  # fmt: skip
    assert md["license"] == {"id": "mit-license"} and md["keywords"] == ["containers"]
    assert md["related_identifiers"][0]["relation"] == "isDerivedFrom"
    assert md["grants"] == [{"id": "00k4n6c32::824064"}]
    assert [f["filename"] for f in dep["files"]] == ["a.txt"]
    assert requests.get(f"{standin.api_url}/records/{record['id']}", headers={"Accept": NATIVE},
                        timeout=10).json()["metadata"]["funding"][0]["award"]["id"] == "00k4n6c32::824064"  # fmt: skip
