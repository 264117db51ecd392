"""The stand-in's licences are zenodo.org's (its own copy of zenodo-rdm's vocabulary, standin/data): every id
`validate` accepts is published by the stand-in over HTTP with ossr-images' own client, and the crosswalk's
table is checked against the stand-in's vocabulary both ways."""

from __future__ import annotations

import io

import pytest
from tests.helpers.clients import client_for

from ossr_images.errors import RemoteError
from ossr_images.metadata.spdx import canonical_id, deprecated_replacement, known_licenses, zenodo_license_id
from ossr_images.standin import vocabularies
from ossr_images.standin.metadata import accepted_licenses

META = {
    "title": "Licensed image",
    "upload_type": "software",
    "creators": [{"name": "Doe, Jane"}],
    "description": "A record per licence.",
    "access_right": "open",
}


def test_every_table_id_is_published_by_the_standin(standin) -> None:
    table = known_licenses()
    assert len(table) >= 40
    with client_for(standin) as client:
        for spdx_id in table:
            sent = zenodo_license_id(spdx_id)  # what publish sends (through the crosswalk)
            dep = client.create_deposition({**META, "license": sent})
            # the SPDX id as written (mixed case) is accepted too: Zenodo's ids are case-insensitive
            dep = client.update_deposition(dep.id, {**META, "license": {"id": spdx_id}})
            client.upload_file(dep.bucket_url, "f.txt", io.BytesIO(b"x"), 1)
            published = client.publish(dep.id)
            assert published.state == "done", spdx_id
            record = client.get_record(published.id)
            assert record.raw["metadata"]["license"]["id"] == accepted_licenses()[spdx_id.lower()], spdx_id


def test_every_deprecated_id_is_published_as_its_replacement(standin) -> None:
    from ossr_images.metadata.spdx import _table

    with client_for(standin) as client:
        for deprecated in [*_table()["deprecated"], "AGPL-3.0+"]:
            dep = client.create_deposition({**META, "license": zenodo_license_id(deprecated)})
            client.upload_file(dep.bucket_url, "f.txt", io.BytesIO(b"x"), 1)
            assert client.publish(dep.id).state == "done", deprecated


@pytest.mark.parametrize(
    "alias,read_back", [("MIT", "mit-license"), ("apache", "apache2.0"), ("CC0-1.0", "cc-zero")]
)
def test_zenodo_aliases_read_back_as_zenodo_does(standin, alias: str, read_back: str) -> None:
    with client_for(standin) as client:
        dep = client.create_deposition({**META, "license": alias})
        dep = client.request_json("GET", f"/deposit/depositions/{dep.id}")  # the JSON the stand-in keeps
        assert dep["metadata"]["license"] == read_back or dep["metadata"]["license"] == {"id": read_back}


def test_an_id_outside_the_table_is_refused(standin) -> None:
    with client_for(standin) as client, pytest.raises(RemoteError) as err:
        client.create_deposition({**META, "license": "Not-A-Licence-1.0"})
    assert err.value.status == 400
    assert "Invalid license provided: Not-A-Licence-1.0" in str(err.value.field_errors)


def test_crosswalk_output_is_in_the_standins_own_vocabulary() -> None:
    """Crosswalk -> stand-in: every licence the crosswalk sends is one zenodo.org accepts, and it names the same
    licence (the stand-in's vocabulary is zenodo-rdm's, in standin/data, not the crosswalk's table)."""
    from ossr_images.metadata.spdx import _table

    wrong = {}
    for spdx_id in [*known_licenses(), *_table()["deprecated"]]:
        sent = zenodo_license_id(spdx_id)
        meant = deprecated_replacement(spdx_id) or spdx_id
        if (
            vocabularies.rdm_license(sent) != vocabularies.rdm_license(meant)
            or vocabularies.rdm_license(sent) is None
        ):
            wrong[spdx_id] = (sent, vocabularies.rdm_license(sent))
    assert wrong == {}


def test_standins_vocabulary_is_read_the_same_by_the_crosswalk() -> None:
    """Stand-in -> crosswalk: every licence of zenodo.org's vocabulary that the crosswalk recognises as an SPDX
    id is sent as that same licence."""
    wrong = {}
    recognised = 0
    for rdm_id in vocabularies.rdm_licenses():
        spdx_id = canonical_id(rdm_id)
        if spdx_id is None:
            continue
        recognised += 1
        if vocabularies.rdm_license(zenodo_license_id(spdx_id)) != rdm_id:
            wrong[rdm_id] = zenodo_license_id(spdx_id)
    assert wrong == {}
    assert recognised >= len(known_licenses())


def test_standin_vocabulary_is_zenodos_not_the_crosswalks() -> None:
    # facts of zenodo-rdm's legacy_to_rdm map and aliases (standin/data/zenodo-licenses.json)
    assert vocabularies.rdm_license("cc-by") == "cc-by-4.0"
    assert vocabularies.rdm_license("Apache2.0") == "apache-2.0"
    assert vocabularies.rdm_license("Not-A-Licence-1.0") is None
    assert "mit" in accepted_licenses() and "cc-zero" in accepted_licenses()
