"""The stand-in checks `contributors[].type` and `grants` as Zenodo-RDM's legacy deposit API does, over HTTP with
ossr-images' own client; everything the crosswalk makes of the real CodeMeta files is accepted and published."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from tests.helpers.clients import client_for

from ossr_images.errors import RemoteError
from ossr_images.metadata.codemeta import load_codemeta
from ossr_images.metadata.crosswalk import to_zenodo_metadata
from ossr_images.metadata.funding import ESCAPE_GRANT_ID
from ossr_images.metadata.source import SourceLink
from ossr_images.standin.metadata import accepted_licenses

REAL = Path(__file__).parents[1] / "metadata" / "data" / "real-codemeta"
META = {
    "title": "Funded image",
    "upload_type": "software",
    "creators": [{"name": "Doe, Jane"}],
    "description": "A record with contributors and grants.",
    "access_right": "open",
}


def refused(standin, **metadata: object) -> RemoteError:
    with client_for(standin) as client, pytest.raises(RemoteError) as err:
        client.create_deposition({**META, **metadata})
    assert err.value.status == 400
    return err.value


@pytest.mark.parametrize("path", sorted(REAL.glob("*.json")), ids=lambda p: p.name)
def test_crosswalk_of_every_real_file_is_published(standin, path: Path) -> None:
    report = load_codemeta(path)
    if not report.valid:
        return  # nothing to publish (verdicts in tests/metadata)
    source = SourceLink(report.codemeta.code_repository, "a" * 40)
    metadata = to_zenodo_metadata(report.codemeta, source).to_deposit()
    with client_for(standin) as client:
        dep = client.create_deposition(metadata)
        client.upload_file(dep.bucket_url, "image.tar", io.BytesIO(b"x"), 1)
        published = client.publish(dep.id)
        record = client.get_record(published.id)
    # the licence is kept: a deprecated id (one file's GPL-3.0+) is sent as its replacement
    assert record.raw["metadata"]["license"]["id"] == accepted_licenses()[metadata["license"]]
    assert record.raw["metadata"].get("contributors", []) == metadata.get("contributors", [])
    # a record shows grants in their read shape (zenodo-rdm zenodojson dump_grants): the deposit's id is internal_id
    shown = record.raw["metadata"].get("grants", [])
    assert [g["internal_id"] for g in shown] == [g["id"] for g in metadata.get("grants", [])]
    assert all(g["code"] == g["internal_id"].split("::")[1] and g["funder"]["name"] for g in shown)


def test_roles_are_case_insensitive_and_grants_normalised(standin) -> None:
    contributors = [
        {"name": "Doe, John", "type": "contactperson"},
        {"name": "European Commission", "type": "Sponsor"},
        {"name": "Example Lab", "type": "RightsHolder"},
    ]
    grants = [{"id": "824064"}, {"id": ESCAPE_GRANT_ID}, {"id": "00k4n6c32::101129751"}]
    with client_for(standin) as client:
        dep = client.create_deposition({**META, "contributors": contributors, "grants": grants})
        dep = client.request_json("GET", f"/deposit/depositions/{dep.id}")  # the JSON the stand-in keeps
    # a bare id is a European Commission award (Zenodo's rule); the same award is kept once
    assert dep["metadata"]["grants"] == [{"id": ESCAPE_GRANT_ID}, {"id": "00k4n6c32::101129751"}]
    assert dep["metadata"]["contributors"] == contributors


@pytest.mark.parametrize(
    "metadata,message",
    [
        # "Funder" is the official CodeMeta crosswalk's type; Zenodo-RDM has no such role
        ({"contributors": [{"name": "NSF", "type": "Funder"}]}, "Invalid value funder."),
        ({"contributors": [{"name": "X", "type": "Maintainer"}]}, "Invalid value maintainer."),
        # the ERC's own funder DOI is not in Zenodo's table (its awards are filed under the EC)
        ({"grants": [{"id": "10.13039/501100000781::101001332"}]}, "Invalid value 10.13039/501100000781."),
        ({"grants": [{"id": "10.3030/101131928::101131928"}]}, "Invalid value 10.3030/101131928."),
    ],
)
def test_unknown_vocabulary_values_are_refused_like_rdm(standin, metadata: dict, message: str) -> None:
    err = refused(standin, **metadata)
    assert message in str(err)
    assert not err.field_errors  # RDM's relation errors carry no per-field list


@pytest.mark.parametrize(
    "metadata,field",
    [
        ({"grants": {"id": ESCAPE_GRANT_ID}}, "metadata.grants"),
        ({"grants": [ESCAPE_GRANT_ID]}, "metadata.grants.0"),
        ({"grants": [{"code": "824064"}]}, "metadata.grants.0.id"),
        ({"contributors": {"name": "X", "type": "Other"}}, "metadata.contributors"),
        ({"contributors": [{"type": "Other"}]}, "metadata.contributors.0.name"),
        ({"contributors": [{"name": "X", "type": ["Other"]}]}, "metadata.contributors.0.type"),
    ],
)
def test_malformed_shapes_are_field_errors(standin, metadata: dict, field: str) -> None:
    err = refused(standin, **metadata)
    assert field in [f for f, _ in err.field_errors]


def test_contributor_without_type_is_refused_at_publish(standin) -> None:
    with client_for(standin) as client:
        dep = client.create_deposition(
            {**META, "contributors": [{"name": "Doe, John"}]}
        )  # a draft may be incomplete
        client.upload_file(dep.bucket_url, "f.txt", io.BytesIO(b"x"), 1)
        with pytest.raises(RemoteError) as err:
            client.publish(dep.id)
    assert err.value.status == 400
    assert ("metadata.contributors.0.role", ["Missing data for required field."]) in [
        (f, list(m)) for f, m in err.value.field_errors
    ]


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_keys = st.sampled_from(
    ["funder", "funding", "copyrightHolder", "contributor", "maintainer", "@id", "identifier", "name", "@type",
     "value", "url", "sameAs", "givenName", "familyName"]
)  # fmt: skip
_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "824064",
            "Grant",
            ESCAPE_GRANT_ID,
            "00k4n6c32::1",
            "https://doi.org/10.3030/824064",
            "::",
            "1::",
            "https://doi.org/10.13039/100000001",
            "https://ror.org/00k4n6c32",
            "European Commission",
            "10.3030/1::1",
        ]
    )  # fmt: skip
)
_json = st.recursive(
    _leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(_keys, c, max_size=5), max_leaves=30
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _json, max_size=6))
def test_whatever_the_file_says_the_standin_accepts_the_crosswalk(doc):
    from ossr_images.metadata.codemeta import parse_codemeta
    from ossr_images.standin.metadata import clean_metadata

    report = parse_codemeta(json.dumps({"name": "x", **doc}))
    metadata = to_zenodo_metadata(report.codemeta, None).to_deposit()
    metadata.pop("license", None)
    cleaned = clean_metadata(metadata)  # raises MetadataError on anything Zenodo would refuse
    # accepted as sent: nothing the crosswalk makes is dropped or rewritten on the way in
    for key in ("title", "upload_type", "creators", "contributors", "grants", "related_identifiers"):
        assert cleaned.get(key) == metadata.get(key), key
    for grant in cleaned.get("grants", []):
        assert set(grant) == {"id"} and grant["id"]
    for person in cleaned.get("contributors", []):
        assert person["name"] and person["type"]
