"""Crosswalk CodeMeta + source -> Zenodo deposit metadata, compared field by field with hand-written documents."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from ossr_images.metadata.codemeta import load_codemeta, parse_codemeta
from ossr_images.metadata.crosswalk import ZenodoMetadata, to_zenodo_metadata
from ossr_images.metadata.source import SourceLink

HERE = Path(__file__).parent
REAL = HERE / "data" / "real-codemeta"
EXPECTED = HERE / "expected"


def expected(name: str) -> dict:
    return json.loads((EXPECTED / name).read_text())


def assert_fields(actual: dict, wanted: dict) -> None:
    assert sorted(actual) == sorted(wanted)
    for key in wanted:
        assert actual[key] == wanted[key], key


def test_km3net_github_sha1():
    report = load_codemeta(REAL / "KM3NeT__KM3NeT-ARCA-irf__codemeta.json")
    source = SourceLink(
        "https://github.com/KM3NeT/KM3NeT-ARCA-irf", "f90ae85fd274421aa2d537e00249ccd5674f137e"
    )
    deposit = to_zenodo_metadata(report.codemeta, source).to_deposit()
    assert_fields(deposit, expected("km3net-arca-irf.json"))


def test_gitlab_sha256_no_community_extra_keyword():
    report = load_codemeta(REAL / "garciagenrique__template_escape__codemeta.json")
    commit = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"
    source = SourceLink(
        "https://gitlab.in2p3.fr/escape2020/wp3/template_project_escape", commit, False, "v2.2", "gitlab-ci"
    )
    deposit = to_zenodo_metadata(
        report.codemeta, source, communities=(), extra_keywords=["ossr-images:container-image", "ESCAPE"]
    ).to_deposit()
    assert_fields(deposit, expected("template-escape-gitlab.json"))


def test_deprecated_license_is_sent_as_its_replacement():
    # the file says "https://spdx.org/licenses/GPL-3.0+"; Zenodo refuses "gpl-3.0+"
    report = load_codemeta(REAL / "garciagenrique__template_escape__6767b51__codemeta.json")
    assert report.codemeta.licenses == ["GPL-3.0-or-later"]
    deposit = to_zenodo_metadata(report.codemeta, None).to_deposit()
    assert deposit["license"] == "gpl-3.0-or-later"


def test_organization_person_name_only_and_html_escaping():
    doc = {
        "@context": "https://w3id.org/codemeta/3.1",
        "@type": "SoftwareSourceCode",
        "name": "tiny <tool>",
        "description": "Reads <input> & writes output.\nSee <https://example.org>.",
        "softwareVersion": "0.3",
        "license": ["https://spdx.org/licenses/Apache-2.0.html", "MIT"],
        "author": [
            {"@type": "Organization", "name": "Example Collaboration"},
            {
                "@type": "Person",
                "@id": "https://orcid.org/0000-0002-1825-0097",
                "givenName": "Marie",
                "familyName": "Curie",
                "affiliation": ["Sorbonne", {"@type": "Organization", "name": "Institut du Radium"}],
            },
            {"@type": "Person", "name": "Plato"},
        ],
        "keywords": "a, b",
        "codeRepository": "https://github.com/example/tiny.git",
    }
    report = parse_codemeta(json.dumps(doc))
    metadata = to_zenodo_metadata(
        report.codemeta,
        None,
        communities=("escape2020", "my-lab", "escape2020"),
        publication_date="2025-01-31",
    )
    assert_fields(metadata.to_deposit(), expected("organization-and-html.json"))


def test_publication_date_is_date_published_and_model_round_trips():
    report = load_codemeta(REAL / "cta-observatory__ctaplot__codemeta.json")
    metadata = to_zenodo_metadata(report.codemeta, None)
    assert metadata.publication_date == date(2025, 10, 7)  # the file's datePublished
    assert ZenodoMetadata.model_validate(metadata.to_deposit()) == metadata


def test_publication_date_defaults_to_today_without_date_published():
    doc = json.loads((REAL / "cta-observatory__ctaplot__codemeta.json").read_text())
    del doc["datePublished"]
    report = parse_codemeta(json.dumps(doc))
    assert report.valid, report.errors
    before = datetime.now(timezone.utc).date()
    metadata = to_zenodo_metadata(report.codemeta, None)
    after = datetime.now(timezone.utc).date()
    assert metadata.publication_date in {before, after}  # today (UTC), also across midnight
    assert metadata.to_deposit()["publication_date"] == metadata.publication_date.isoformat()


@pytest.mark.parametrize("path", sorted(REAL.glob("*.json")), ids=lambda p: p.name)
def test_every_valid_real_file_crosswalks(path):
    report = load_codemeta(path)
    if not report.valid:
        assert report.errors  # nothing to publish; the verdicts are checked in test_codemeta
        return
    source = SourceLink(report.codemeta.code_repository, "a" * 40)
    deposit = to_zenodo_metadata(report.codemeta, source).to_deposit()
    assert deposit["upload_type"] == "software" and deposit["access_right"] == "open"
    assert deposit["title"] and deposit["description"] and deposit["license"] and deposit["version"]
    assert deposit["creators"] and all(c["name"] for c in deposit["creators"])
    assert deposit["related_identifiers"][0]["relation"] == "isDerivedFrom"
    assert deposit["related_identifiers"][0]["identifier"].endswith("/tree/" + "a" * 40)


def test_contributor_roles_each_person_once():
    ada = {
        "@type": "Person",
        "givenName": "Ada",
        "familyName": "Lovelace",
        "@id": "https://orcid.org/0000-0002-1825-0097",
    }
    doc = {
        "@context": "https://w3id.org/codemeta/3.0",
        "@type": "SoftwareSourceCode",
        "name": "roles",
        "description": "Who did what.",
        "version": "1.0",
        "license": "MIT",
        "codeRepository": "https://github.com/example/roles",
        "author": [ada],
        # the maintainer is also copyright holder and contributor (named without ORCID there): ContactPerson once
        "maintainer": {
            "@type": "Person",
            "givenName": "Grace",
            "familyName": "Hopper",
            "email": "g@example.org",
        },
        "copyrightHolder": [
            {"@type": "Person", "givenName": "Grace", "familyName": "Hopper"},
            {"@type": "Organization", "name": "Example Lab"},
        ],
        "funder": [
            {
                "@type": "Organization",
                "@id": "https://doi.org/10.13039/501100000780",
                "name": "European Commission",
            }
        ],
        "funding": "824064",
        "contributor": [
            {"@type": "Person", "givenName": "grace", "familyName": "hopper"},
            {"@type": "Person", "familyName": "Lovelace", "givenName": "Ada"},  # an author: not repeated
            {"@type": "Organization", "name": "Example Lab"},  # already RightsHolder
            {"@type": "Person", "givenName": "Alan", "familyName": "Turing", "affiliation": "NPL"},
        ],
    }
    report = parse_codemeta(json.dumps(doc))
    deposit = to_zenodo_metadata(report.codemeta, None, publication_date="2025-01-31").to_deposit()
    assert deposit["creators"] == [{"name": "Lovelace, Ada", "orcid": "0000-0002-1825-0097"}]
    assert deposit["contributors"] == [
        {"name": "Hopper, Grace", "type": "ContactPerson"},
        {"name": "Example Lab", "type": "RightsHolder"},
        {"name": "European Commission", "type": "Sponsor"},
        {"name": "Turing, Alan", "affiliation": "NPL", "type": "Other"},
    ]
    assert deposit["grants"] == [{"id": "10.13039/501100000780::824064"}]


def test_same_orcid_is_the_same_person_whatever_the_name():
    orcid = "https://orcid.org/0000-0002-1825-0097"
    doc = {
        "name": "x",
        "description": "x",
        "version": "1",
        "license": "MIT",
        "codeRepository": "https://github.com/example/x",
        "author": {"@type": "Organization", "name": "X team"},
        "maintainer": {"@type": "Person", "givenName": "A.", "familyName": "Lovelace", "@id": orcid},
        "contributor": {"@type": "Person", "givenName": "Ada", "familyName": "King", "@id": orcid},
    }
    deposit = to_zenodo_metadata(parse_codemeta(json.dumps(doc)).codemeta, None).to_deposit()
    assert [c["type"] for c in deposit["contributors"]] == ["ContactPerson"]


REAL_GRANTS = {
    "codemeta__codemeta__codemeta.json": ["10.13039/100000001::1549758"],
    "cosimoNigro__agnpy__codemeta.json": ["10.13039/501100000780::824064"],
    "cta-observatory__ctaplot__codemeta.json": ["10.13039/501100000780::824064"],
    "cta-observatory__lstmcpipe__codemeta.json": ["10.13039/501100000780::824064"],
    "escape2020__codemeta2zenodo__codemeta.json": ["10.13039/501100000780::824064"],
    "gammapy__gammapy__codemeta.json": [
        "10.13039/501100000780::101129751",
        "10.13039/501100000780::824064",
        "10.13039/501100000780::101131928",
    ],
    "garciagenrique__template_escape__6767b51__codemeta.json": ["10.13039/501100000780::824064"],
    "garciagenrique__template_escape__codemeta.json": ["10.13039/501100000780::824064"],
}


@pytest.mark.parametrize("path", sorted(REAL.glob("*.json")), ids=lambda p: p.name)
def test_real_files_grants_and_contributor_types(path):
    from ossr_images.standin.metadata import CONTRIBUTOR_ROLES

    report = load_codemeta(path)
    deposit = to_zenodo_metadata(report.codemeta, None).to_deposit()
    assert [g["id"] for g in deposit.get("grants", [])] == REAL_GRANTS.get(path.name, [])
    contributors = deposit.get("contributors", [])
    assert all(c["type"].lower() in CONTRIBUTOR_ROLES and c["name"] for c in contributors)
    names = [c["name"] for c in contributors]
    assert len(names) == len(set(names)), "a person is listed once"
