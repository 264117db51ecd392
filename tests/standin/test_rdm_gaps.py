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
            "metadata": {"title": "Legacy", "creators": [{"name": "CTA Consortium"}, {"name": "Doe, Jane"}]}
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
