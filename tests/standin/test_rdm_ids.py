"""The plain (``rdm``) surface shows InvenioRDM's record ids (``xxxxx-xxxxx``, invenio-rdm-api.md sections 0 and
8) everywhere, reads them back in every route, and refuses a malformed one as InvenioRDM does; the Zenodo
surface keeps Zenodo's digits. Over real HTTP, plus the id scheme's round trip."""

from __future__ import annotations

import re

import pytest
import requests
from tests.helpers.rdm_native import AUTH, METADATA, call, upload

from conftest import TEST_TOKEN
from ossr_images.standin import rdm_ids

SHAPE = re.compile(r"^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$")  # Crockford base32, lower case
NOT_FOUND = {"status": 404, "message": "The persistent identifier does not exist."}


@pytest.mark.parametrize("number", [0, 1, 2, 3, 31, 32, 99, 100, 12345, 2**32, 2**40 - 1])
def test_ids_round_trip(number: int) -> None:
    shown = rdm_ids.encode(number)
    assert SHAPE.match(shown), shown
    assert rdm_ids.decode(shown) == number
    assert rdm_ids.decode(shown.upper()) == number  # base32 is read case-insensitively


def test_ids_are_distinct_and_not_in_creation_order() -> None:
    shown = [rdm_ids.encode(n) for n in range(1, 2001)]
    assert len(set(shown)) == len(shown)
    assert shown != sorted(shown)  # as a real instance's random ids: order tells nothing


@pytest.mark.parametrize(
    "text",
    ["2", "12345", "abcde", "abcde-fghi", "abcde-fghijk", "abcdefghij", "abcde_fghij", "abcde-fghiu"],
)
def test_malformed_ids_do_not_decode(text: str) -> None:
    assert rdm_ids.decode(text) is None


def test_one_wrong_character_fails_the_checksum() -> None:
    shown = rdm_ids.encode(4242)
    for i, c in enumerate(shown):
        if c == "-":
            continue
        for other in "0123456789abcdefghjkmnpqrstvwxyz":
            if other != c:
                assert rdm_ids.decode(shown[:i] + other + shown[i + 1 :]) is None


@pytest.fixture
def plain(tmp_path):
    """A stand-in behaving like a plain InvenioRDM instance."""
    from ossr_images.standin.server import LocalZenodo

    with LocalZenodo(
        tmp_path / "data", tokens=[TEST_TOKEN], doi_prefix="10.1234", api_surface="rdm"
    ) as server:
        yield server


def _ids_in(doc: object) -> list[str]:
    """Every string under an ``id`` key or in a URL path segment after ``/records/``."""
    found: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "id" and isinstance(v, str):
                found.append(v)
            found += _ids_in(v)
    elif isinstance(doc, list):
        for v in doc:
            found += _ids_in(v)
    elif isinstance(doc, str):
        found += re.findall(r"/records/([^/?#]+)", doc)
    return found


def test_plain_surface_shows_invenio_ids_everywhere(plain) -> None:
    api = plain.api_url
    draft = call("POST", f"{api}/records", json=METADATA).json()
    rid = draft["id"]
    assert SHAPE.match(rid) and SHAPE.match(draft["parent"]["id"]) and rid != draft["parent"]["id"]
    assert set(_ids_in(draft["links"])) == {rid, draft["parent"]["id"]}
    reserved = call("POST", f"{api}/records/{rid}/draft/pids/doi").json()
    assert reserved["pids"]["doi"]["identifier"] == f"10.1234/{rid}"
    upload(api, rid, {"a.bin": b"abc"})
    files = call("GET", f"{api}/records/{rid}/draft/files").json()
    assert {i for i in _ids_in(files) if "-" in i} == {rid}
    record = call("POST", f"{api}/records/{rid}/draft/actions/publish").json()
    parent = record["parent"]["id"]
    assert record["id"] == rid and record["parent"]["pids"]["doi"]["identifier"] == f"10.1234/{parent}"
    record_ids = {i for i in _ids_in({k: record[k] for k in ("links", "files", "parent")}) if "-" in i}
    assert record_ids <= {rid, parent}
    assert not any(i.isdigit() for i in _ids_in(record) if i not in ("1",))  # owner "1" is a user id

    concept = requests.get(f"{api}/records/{parent}", allow_redirects=False, timeout=10)
    assert concept.status_code == 302 and concept.headers["Location"].endswith(f"/records/{rid}")
    latest = requests.get(f"{api}/records/{rid}/versions/latest", allow_redirects=False, timeout=10)
    assert latest.status_code == 301 and latest.headers["Location"].endswith(f"/records/{rid}")
    content = requests.get(f"{api}/records/{rid.upper()}/files/a.bin/content", timeout=10)
    assert content.status_code == 200 and content.content == b"abc"

    version = call("POST", f"{api}/records/{rid}/versions").json()
    assert SHAPE.match(version["id"]) and version["parent"]["id"] == parent and version["id"] != rid
    for q in (f'id:"{rid}"', f'parent.id:"{parent}"', f'pids.doi.identifier:"10.1234/{rid}"'):
        hits = requests.get(f"{api}/records", params={"q": q, "allversions": "true"}, timeout=10).json()
        assert [h["id"] for h in hits["hits"]["hits"]] == [rid], q
    mine = call("GET", f"{api}/user/records", params={"allversions": "true"}).json()
    assert {h["id"] for h in mine["hits"]["hits"]} == {rid, version["id"]}

    page = requests.get(f"{plain.base_url}/records/{rid}", timeout=10)
    assert page.status_code == 200 and f"/api/records/{rid}/files/a.bin/content" in page.text
    doi = requests.get(f"{plain.base_url}/doi/10.1234/{rid}", allow_redirects=False, timeout=10)
    assert doi.headers["Location"].endswith(f"/records/{rid}")


def test_review_topics_and_inclusions_name_invenio_ids(plain) -> None:
    api = plain.api_url
    escape = call("GET", f"{api}/communities/escape2020").json()
    rid = call("POST", f"{api}/records", json=METADATA).json()["id"]
    upload(api, rid, {"a.bin": b"abc"})
    body = {"receiver": {"community": escape["id"]}, "type": "community-submission"}
    review = call("PUT", f"{api}/records/{rid}/draft/review", json=body).json()
    assert review["topic"] == {"record": rid}
    sent = call("POST", f"{api}/records/{rid}/draft/actions/submit-review").json()
    assert sent["topic"] == {"record": rid}
    listed = call("GET", f"{api}/records/{rid}/requests").json()
    assert [r["topic"]["record"] for r in listed["hits"]["hits"]] == [rid]
    included = call(
        "POST", f"{api}/records/{rid}/communities", json={"communities": [{"id": "zenodo"}]}
    ).json()
    assert included["processed"][0]["request"]["topic"] == {"record": rid}


@pytest.mark.parametrize("path", ["/api/records/{n}", "/api/records/{n}/draft", "/api/records/abcde-fghij",
                                  "/api/records/{n}/files", "/api/records/{bad}/versions"])  # fmt: skip
def test_plain_surface_refuses_digits_and_malformed_ids(plain, path: str) -> None:
    api = plain.api_url
    rid = call("POST", f"{api}/records", json=METADATA).json()["id"]
    bad = rid[:-1] + ("0" if rid[-1] != "0" else "1")  # checksum broken
    number = str(rdm_ids.decode(rid))  # the store's own key is not a public id there
    url = plain.base_url + path.format(n=number, bad=bad)
    answer = requests.get(url, headers=AUTH, timeout=10)
    assert answer.status_code == 404 and answer.json() == NOT_FOUND


def test_zenodo_surface_keeps_digit_ids(standin) -> None:
    api = standin.api_url
    draft = call("POST", f"{api}/records", json=METADATA).json()
    assert draft["id"].isdigit() and draft["parent"]["id"].isdigit()
    reserved = call("POST", f"{api}/records/{draft['id']}/draft/pids/doi").json()
    assert reserved["pids"]["doi"]["identifier"] == f"10.5072/zenodo.{draft['id']}"
