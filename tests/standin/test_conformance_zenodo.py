"""Facts of zenodo.org the peer clients (tests/peers) showed the stand-in lacked, each with its source."""

from __future__ import annotations

import io

import requests
from tests.helpers.clients import client_for

from conftest import TEST_TOKEN

META = {
    "title": "Conformance record",
    "upload_type": "software",
    "creators": [{"name": "Doe, Jane"}],
    "description": "Read shapes and forgiving paths.",
    "communities": [{"identifier": "escape2020"}],
    "grants": [{"id": "10.13039/501100000780::824064"}, {"id": "00k4n6c32::101057264"}],
}


def _published(standin) -> dict:
    with client_for(standin) as client:
        dep = client.create_deposition(META)
        client.upload_file(dep["links"]["bucket"], "f.txt", io.BytesIO(b"x"), 1)
        return client.publish(dep["id"])


def test_repeated_slashes_are_merged(standin) -> None:
    """zenodo.org's front server merges repeated slashes (nginx merge_slashes, on by default; werkzeug's
    Map(merge_slashes=True)): eossr 2.3.1 builds every URL as f"{host}/api/" + "/deposit/..." and works there."""
    auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
    made = requests.post(f"{standin.base_url}/api//deposit/depositions", json={}, headers=auth, timeout=10)
    assert made.status_code == 201
    got = requests.get(
        f"{standin.base_url}//api//deposit//depositions/{made.json()['id']}/", headers=auth, timeout=10
    )
    assert got.status_code == 200 and got.json()["id"] == made.json()["id"]


def test_record_shows_grants_and_communities_in_read_shapes(standin) -> None:
    """zenodo-rdm site/zenodo_rdm/legacy/serializers/schemas/zenodojson.py: dump_communities gives
    [{"id": slug}], dump_grants gives common.py `_grant`: code, internal_id, funder {name, doi, acronym},
    and the award's title / acronym / program / url from the awards vocabulary (app_data/vocabularies)."""
    pub = _published(standin)
    record = requests.get(f"{standin.api_url}/records/{pub['id']}", timeout=10).json()
    assert record["metadata"]["communities"] == [{"id": "escape2020"}]
    escape, faircore = record["metadata"]["grants"]
    assert escape == {
        "code": "824064",
        "internal_id": "10.13039/501100000780::824064",
        "funder": {
            "name": "European Commission",
            "doi": "10.13039/501100000780",
            "country": "BE",
            "acronym": "EC",
        },
    }
    assert faircore["code"] == "101057264" and faircore["title"] == "Core Components Supporting a FAIR EOSC"
    assert faircore["acronym"] == "FAIRCORE4EOSC" and faircore["program"] == "HORIZON.1.3"
    # the deposit keeps the shapes a deposit takes
    with client_for(standin) as client:
        dep = client.get_deposition(pub["id"])
    assert dep["metadata"]["communities"] == [{"identifier": "escape2020"}]
    assert dep["metadata"]["grants"] == [
        {"id": "10.13039/501100000780::824064"},
        {"id": "00k4n6c32::101057264"},
    ]


def test_licence_and_funder_vocabulary_endpoints(standin) -> None:
    """InvenioRDM's vocabularies API (invenio-rdm-api.md): /api/vocabularies/licenses/<id>, /api/funders/<ror>."""
    lic = requests.get(f"{standin.api_url}/vocabularies/licenses/cc-by-4.0", timeout=10)
    assert (
        lic.status_code == 200
        and lic.json()["title"]["en"] == "Creative Commons Attribution 4.0 International"
    )
    funder = requests.get(f"{standin.api_url}/funders/01cwqze88", timeout=10).json()
    assert funder["name"] == "National Institutes of Health"
    assert {"scheme": "doi", "identifier": "10.13039/100000002"} in funder["identifiers"]
    assert requests.get(f"{standin.api_url}/vocabularies/licenses/no-such", timeout=10).status_code == 404
