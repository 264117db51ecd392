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


def test_publication_date_defaults_to_today_and_model_round_trips():
    report = load_codemeta(REAL / "cta-observatory__ctaplot__codemeta.json")
    raw = report.raw
    metadata = to_zenodo_metadata(report.codemeta, None)
    if "datePublished" not in raw:
        assert metadata.publication_date == datetime.now(timezone.utc).date()
    again = ZenodoMetadata.model_validate(metadata.to_deposit())
    assert again == metadata
    assert metadata.publication_date <= date.today()


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
