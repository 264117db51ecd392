"""The stand-in accepts exactly the licences of the validator's bundled SPDX -> Zenodo table (plus Zenodo's
aliases): every id `validate` accepts is published by the stand-in, over HTTP with ossr-images' own client."""

from __future__ import annotations

import io

import pytest
from tests.helpers.clients import client_for

from ossr_images.errors import RemoteError
from ossr_images.metadata.spdx import known_licenses, zenodo_license_id, zenodo_license_table
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


def test_the_standin_accepts_nothing_beyond_the_table_and_aliases() -> None:
    from ossr_images.standin.metadata import _ALIASES

    assert set(accepted_licenses()) == set(zenodo_license_table()) | set(_ALIASES)
    assert {k.lower() for k in known_licenses()} <= set(accepted_licenses())
