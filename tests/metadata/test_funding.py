"""CodeMeta `funding` / `funder` in the forms real files use -> Zenodo grant ids, and warnings (never guesses)
for what cannot be pinned to a funder Zenodo maps and an award number."""

from __future__ import annotations

import json

import pytest

from ossr_images.metadata.codemeta import parse_codemeta
from ossr_images.metadata.funding import EC_DOI, ESCAPE_GRANT_ID, ZENODO_FUNDERS

EC = {"@type": "Organization", "@id": "https://doi.org/10.13039/501100000780", "name": "European Commission"}
NSF = {
    "@type": "Organization",
    "@id": "https://doi.org/10.13039/100000001",
    "name": "National Science Foundation",
}
H2020_NAME = {
    "@type": "Organization",
    "name": "European Union's Horizon 2020 research and innovation programme",
}


def read(**terms: object):
    doc = {
        "@context": "https://w3id.org/codemeta/3.0",
        "@type": "SoftwareSourceCode",
        "name": "funded",
        "description": "A funded tool.",
        "version": "1.0",
        "license": "MIT",
        "codeRepository": "https://github.com/example/funded",
        "author": {"@type": "Person", "givenName": "Ada", "familyName": "Lovelace"},
        **terms,
    }
    report = parse_codemeta(json.dumps(doc))
    assert report.valid, report.errors
    funding = [p for p in report.warnings if p.path.startswith(("/funding", "/funder"))]
    for problem in funding:
        assert problem.message and problem.hint
    return report.codemeta, funding


# (terms, grant ids sent, pointers of the warnings)
CASES = {
    "bare number, funder with DOI": ({"funding": "824064", "funder": EC}, [ESCAPE_GRANT_ID], []),
    "bare number as a JSON number": ({"funding": 824064, "funder": [EC]}, [ESCAPE_GRANT_ID], []),
    "zenodo form, no funder": ({"funding": ESCAPE_GRANT_ID}, [ESCAPE_GRANT_ID], []),
    "zenodo form with a ROR funder": ({"funding": "00k4n6c32::824064"}, [ESCAPE_GRANT_ID], []),
    "CORDIS DOI URL": ({"funding": "https://doi.org/10.3030/824064"}, [ESCAPE_GRANT_ID], []),
    "CORDIS project page": ({"funding": "https://cordis.europa.eu/project/id/824064"}, [ESCAPE_GRANT_ID], []),
    "CORDIS DOI used as funder DOI": (
        {"funding": ["10.13039/501100000780::101129751", "10.3030/101131928::101131928"]},
        [f"{EC_DOI}::101129751", f"{EC_DOI}::101131928"],
        ["/funding/1"],
    ),
    "EC named without DOI (H2020)": ({"funding": "824064", "funder": H2020_NAME}, [ESCAPE_GRANT_ID], []),
    "ESCAPE org funded by the EC": (
        {"funding": "824064", "funder": {"@type": "Organization", "name": "ESCAPE", "funder": EC}},
        [ESCAPE_GRANT_ID],
        [],
    ),
    "funder by ROR URL": (
        {"funding": "824064", "funder": {"@type": "Organization", "@id": "https://ror.org/00k4n6c32"}},
        [ESCAPE_GRANT_ID],
        ["/funder/familyName"],  # the funder itself has no name: warned by the agent reader
    ),
    "Grant object, CodeMeta 3 style": (
        {"funding": {"@type": "Grant", "identifier": "824064", "funder": {"@id": EC["@id"]}}},
        [ESCAPE_GRANT_ID],
        [],
    ),
    "Award with a PropertyValue identifier": (
        {
            "funding": {
                "@type": "Award",
                "identifier": {"@type": "PropertyValue", "value": "777523"},
                "funder": EC,
            }
        },
        [f"{EC_DOI}::777523"],
        [],
    ),
    "Grant objects named by CORDIS DOI": (
        {"funding": [{"@id": "https://doi.org/10.3030/101057344", "@type": "Grant", "name": "FAIR-IMPACT"}]},
        [f"{EC_DOI}::101057344"],
        [],
    ),
    "number then title, NSF funder": (
        {"funding": "1549758; Codemeta: A Rosetta Stone for Metadata", "funder": NSF},
        ["10.13039/100000001::1549758"],
        ["/funding"],  # read from free text: said so
    ),
    "free text with one number, H2020 funder": (
        {"funding": "ESCAPE 824064", "funder": H2020_NAME},
        [ESCAPE_GRANT_ID],
        ["/funding"],
    ),
    "free text without a number": (
        {"funding": "Supported by the Foo Foundation", "funder": NSF},
        [],
        ["/funding"],
    ),
    "free text with two numbers": (
        {"funding": "NSF award 1649014 and NIH award 1234567", "funder": NSF},
        [],
        ["/funding"],
    ),
    "grant code, funder without DOI": (
        {"funding": "U01AI150741", "funder": {"@type": "Organization", "name": "NIH"}},
        [],
        ["/funding"],
    ),
    "bare number, no funder at all": ({"funding": "824064"}, [], ["/funding"]),
    "bare number, two funders": ({"funding": "824064", "funder": [EC, NSF]}, [], ["/funding"]),
    "funder Zenodo does not map (ERC DOI)": (
        {"funding": "10.13039/501100000781::101001332"},
        [],
        ["/funding"],
    ),
    "Grant without identifier": (
        {"funding": {"@type": "Grant", "name": "ESCAPE", "funder": EC}},
        [],
        ["/funding"],
    ),
    "the same award twice": (
        {"funding": ["824064", ESCAPE_GRANT_ID, "https://doi.org/10.3030/824064"], "funder": EC},
        [ESCAPE_GRANT_ID],
        [],
    ),
}


@pytest.mark.parametrize("terms,grants,warned", CASES.values(), ids=CASES.keys())
def test_funding_forms(terms, grants, warned):
    codemeta, warnings = read(**terms)
    assert [g.zenodo_id for g in codemeta.grants] == grants
    assert [p.path for p in warnings] == warned


def test_every_sent_funder_is_one_zenodo_maps():
    for _terms, grants, _ in CASES.values():
        for grant in grants:
            assert grant.split("::")[0] in ZENODO_FUNDERS


def test_funders_inside_funding_are_sponsors_once():
    codemeta, _ = read(
        funder=EC,
        funding=[
            {"@type": "Grant", "identifier": "824064", "funder": EC},
            {
                "@type": "Grant",
                "identifier": "101129751",
                "funder": {"@id": EC["@id"]},
            },  # no name: not an agent
        ],
    )
    assert [(f.kind, f.name) for f in codemeta.funders] == [("Organization", "European Commission")]


def test_plain_string_funder_is_an_organization():
    codemeta, warnings = read(funder="European Commission", funding="824064")
    assert [(f.kind, f.zenodo_name) for f in codemeta.funders] == [("Organization", "European Commission")]
    assert [g.zenodo_id for g in codemeta.grants] == [ESCAPE_GRANT_ID]
    [warning] = warnings
    assert warning.path == "/funder" and "Organization" in warning.hint


@pytest.mark.parametrize("value", [True, [None, [1]], {"@type": "Grant", "identifier": "not a number"}])
def test_odd_shapes_warn_and_never_raise(value):
    report = parse_codemeta(json.dumps({"name": "x", "funding": value, "funder": [[], {}, 3]}))
    assert report.codemeta is not None and report.codemeta.grants == []
