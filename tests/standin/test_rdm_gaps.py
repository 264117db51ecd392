"""Conformance of the stand-in's native API on points found missing in an earlier session, one fact per test
with its source: zenodo-rdm (ZR), invenio-rdm-records (RR), invenio-drafts-resources (DR)."""

from __future__ import annotations

import requests
from tests.helpers.rdm_native import AUTH, METADATA, call, upload

ORG = {
    "person_or_org": {"type": "organizational", "name": "CTA Consortium"},
    "affiliations": [{"name": "CTAO"}],
}


def _native_creators(api: str, rid: str) -> list[dict]:
    return call("GET", f"{api}/records/{rid}/draft").json()["metadata"]["creators"]


def test_organisation_creator_written_natively_reads_back_as_organisation(standin) -> None:
    """RR services/schemas/metadata.py: an organizational person_or_org keeps its type and name; the legacy
    serializer shows every creator as ``name`` (person_or_org.name) + affiliation (ZR
    legacy/serializers/schemas/common.py CreatorSchema)."""
    api = standin.api_url
    body = {
        **METADATA,
        "metadata": {**METADATA["metadata"], "creators": [ORG, *METADATA["metadata"]["creators"]]},
    }
    rid = call("POST", f"{api}/records", json=body).json()["id"]
    org, person = _native_creators(api, rid)
    assert org["person_or_org"] == {"type": "organizational", "name": "CTA Consortium"}
    assert org["affiliations"] == [{"name": "CTAO"}]
    assert (
        person["person_or_org"]["type"] == "personal" and person["person_or_org"]["name"] == "Lovelace, Ada"
    )
    legacy = requests.get(f"{api}/deposit/depositions/{rid}", headers=AUTH, timeout=10).json()
    assert legacy["metadata"]["creators"][0] == {"name": "CTA Consortium", "affiliation": "CTAO"}
    upload(api, rid, {"a.txt": b"abc"})
    assert call("POST", f"{api}/records/{rid}/draft/actions/publish").status_code == 202
    record = call("GET", f"{api}/records/{rid}").json()
    assert record["metadata"]["creators"][0]["person_or_org"]["type"] == "organizational"
    zenodo_json = requests.get(f"{api}/records/{rid}", timeout=10).json()
    assert zenodo_json["metadata"]["creators"][0] == {"name": "CTA Consortium", "affiliation": "CTAO"}


def test_legacy_writes_are_always_personal(standin) -> None:
    """ZR legacy/deserializers/metadata.py PersonSchema: ``type = fields.Constant("personal")``; a name with one
    comma is split into family and given names, otherwise it is the family name. So an organisation written
    through the legacy API (or re-sent by a legacy PUT) reads back natively as a personal creator."""
    api = standin.api_url
    dep = requests.post(
        f"{api}/deposit/depositions",
        json={
            "metadata": {
                "title": "Legacy",
                "creators": [{"name": "CTA Consortium", "_organizational": True}, {"name": "Doe, Jane"}],
            }
        },
        headers=AUTH,
        timeout=10,
    ).json()
    org, person = _native_creators(api, str(dep["id"]))
    assert org["person_or_org"] == {
        "type": "personal",
        "name": "CTA Consortium",
        "family_name": "CTA Consortium",
    }
    assert person["person_or_org"]["given_name"] == "Jane"


def test_discarding_a_reserved_doi(standin) -> None:
    """RR resources/resources.py pids_discard: 200 with the draft, whose ``pids`` no longer hold the DOI (the
    docs say 204; the stand-in follows the code, invenio-rdm-api.md section 9). RR services/pids/manager.py
    discard: a registered DOI cannot be discarded (400 on ``pids.doi``); nothing reserved: 404."""
    api = standin.api_url
    rid = call("POST", f"{api}/records", json=METADATA).json()["id"]
    assert call("DELETE", f"{api}/records/{rid}/draft/pids/doi").status_code == 404
    reserved = call("POST", f"{api}/records/{rid}/draft/pids/doi").json()
    assert reserved["pids"]["doi"]["identifier"] == f"10.5072/zenodo.{rid}"
    discarded = call("DELETE", f"{api}/records/{rid}/draft/pids/doi")
    assert discarded.status_code == 200 and discarded.json()["pids"] == {} and discarded.json()["id"] == rid
    assert call("GET", f"{api}/records/{rid}/draft").json()["pids"] == {}
    upload(api, rid, {"a.txt": b"abc"})
    assert call("POST", f"{api}/records/{rid}/draft/actions/publish").status_code == 202
    assert call("POST", f"{api}/records/{rid}/draft").status_code == 201  # an edit draft keeps the DOI
    refused = call("DELETE", f"{api}/records/{rid}/draft/pids/doi")
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"field": "pids.doi", "messages": ["Cannot discard a reserved or registered persistent identifier."]}
    ]


def test_a_legacy_put_moves_the_native_revision(standin) -> None:
    """One store behind both APIs: the ETag is the draft's revision_id (DR resources/records/resource.py), and
    a legacy PUT is a draft update like a native one, so it moves the revision and an If-Match of the old one
    then fails with 412."""
    api = standin.api_url
    rid = call("POST", f"{api}/records", json=METADATA).json()["id"]
    before = call("GET", f"{api}/records/{rid}/draft")
    etag = before.headers["ETag"]
    assert etag == f'"{before.json()["revision_id"]}"'
    legacy = requests.put(
        f"{api}/deposit/depositions/{rid}",
        json={
            "metadata": {"title": "Renamed", "upload_type": "software", "creators": [{"name": "Doe, Jane"}]}
        },
        headers=AUTH,
        timeout=10,
    )
    assert legacy.status_code == 200
    after = call("GET", f"{api}/records/{rid}/draft")
    assert after.json()["revision_id"] == before.json()["revision_id"] + 1 and after.headers["ETag"] != etag
    stale = call("PUT", f"{api}/records/{rid}/draft", json=METADATA, headers={"If-Match": etag})
    assert stale.status_code == 412
    fresh = call(
        "PUT", f"{api}/records/{rid}/draft", json=METADATA, headers={"If-Match": after.headers["ETag"]}
    )
    assert fresh.status_code == 200 and fresh.json()["revision_id"] == after.json()["revision_id"] + 1


def test_an_expired_review(standin) -> None:
    """RQ customizations/request_types.py: submitted -> expired; RQ services/permissions.py can_action_expire
    is the system's alone (a user gets 403); RR records/systemfields/draft_status.py: the draft shows
    ``expired``, and an expired review no longer blocks publishing."""
    api = standin.api_url
    guest = "guest-token-expire-0123456789"
    standin.guest_tokens.append(guest)
    auth = {"Authorization": f"Bearer {guest}"}
    rid = call("POST", f"{api}/records", json=METADATA, headers=auth).json()["id"]
    escape = call("GET", f"{api}/communities/escape2020").json()["id"]
    body = {"receiver": {"community": escape}, "type": "community-submission"}
    assert call("PUT", f"{api}/records/{rid}/draft/review", json=body, headers=auth).status_code == 200
    files = call("POST", f"{api}/records/{rid}/draft/files", json=[{"key": "a.txt"}], headers=auth)
    assert files.status_code == 201
    octets = {**auth, "Content-Type": "application/octet-stream"}
    assert call("PUT", f"{api}/records/{rid}/draft/files/a.txt/content", data=b"abc", headers=octets).ok
    assert call("POST", f"{api}/records/{rid}/draft/files/a.txt/commit", headers=auth).ok
    request_id = call("POST", f"{api}/records/{rid}/draft/actions/submit-review", headers=auth).json()["id"]
    assert call("POST", f"{api}/requests/{request_id}/actions/expire").status_code == 403
    assert standin.curate(request_id, "expire")["status"] == "expired"
    assert call("GET", f"{api}/records/{rid}/draft", headers=auth).json()["status"] == "expired"
    assert call("POST", f"{api}/records/{rid}/draft/actions/publish", headers=auth).status_code == 202
