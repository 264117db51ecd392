"""CodeMeta loading: every variant real files use, every rejection, and the real files themselves."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path

import pytest

from ossr_images.errors import InvalidInputError
from ossr_images.metadata import spdx
from ossr_images.metadata.codemeta import (
    codemeta_schema,
    load_codemeta,
    orcid_checksum_ok,
    parse_codemeta,
)

DATA = Path(__file__).parent / "data"
REAL = sorted((DATA / "real-codemeta").glob("*.json"))

MINIMAL = {
    "@context": "https://w3id.org/codemeta/3.0",
    "@type": "SoftwareSourceCode",
    "name": "hello",
    "description": "Says hello.",
    "version": "1.0.0",
    "license": "https://spdx.org/licenses/MIT",
    "author": [{"@type": "Person", "givenName": "Ada", "familyName": "Lovelace"}],
    "codeRepository": "https://github.com/example/hello",
    "maintainer": {"@type": "Person", "givenName": "Ada", "familyName": "Lovelace"},
    "readme": "https://github.com/example/hello/blob/main/README.md",
    "datePublished": "2024-05-01",
}


def check(changes: dict | None = None, remove: tuple[str, ...] = ()):
    doc = copy.deepcopy(MINIMAL)
    doc.update(changes or {})
    for key in remove:
        doc.pop(key, None)
    return parse_codemeta(json.dumps(doc))


def by_path(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in report.problems:
        out.setdefault(p.path, []).append(p)
    return out


def test_minimal_is_clean():
    report = check()
    assert report.problems == []
    cm = report.codemeta
    assert cm.name == "hello" and cm.version == "1.0.0" and cm.licenses == ["MIT"]
    assert cm.context_version == "3.0"
    assert cm.authors[0].zenodo_name == "Lovelace, Ada"
    assert cm.date_published == date(2024, 5, 1)


# ------------------------------------------------------------------------------------------ contexts
@pytest.mark.parametrize(
    ("context", "version", "warns"),
    [
        ("https://doi.org/10.5063/schema/codemeta-2.0", "2.0", False),
        ("https://w3id.org/codemeta/3.0", "3.0", False),
        ("https://w3id.org/codemeta/3.1", "3.1", False),
        ("http://w3id.org/codemeta/3.1/", "3.1", False),
        (["http://purl.org/codemeta/2.0", "http://schema.org"], "2.0", False),
        (
            [
                "https://doi.org/10.5063/schema/codemeta-2.0",
                "http://schema.org/",
                {"x": {"@id": "codemeta:x"}},
            ],
            "2.0",
            False,
        ),
        ("https://raw.githubusercontent.com/codemeta/codemeta/2.0/codemeta.jsonld", "2.0", True),
        ("https://raw.githubusercontent.com/codemeta/codemeta/master/codemeta.jsonld", "1.0", True),
        ("https://raw.githubusercontent.com/codemeta/codemeta/master/codemeta-v2.jsonld", "2.0-draft", True),
        (["https://doi.org/doi:10.5063/schema/codemeta-2.0", "http://schema.org"], "2.0", True),
        ("https://example.org/my-context", "unknown", True),
    ],
)
def test_contexts(context, version, warns):
    report = check({"@context": context})
    assert report.codemeta.context_version == version
    context_problems = [p for p in report.problems if p.path.startswith("/@context")]
    assert bool(context_problems) == warns
    assert all(p.severity == "warning" for p in context_problems)
    assert report.valid


def test_missing_context_is_a_warning():
    report = check(remove=("@context",))
    assert [(p.path, p.severity) for p in report.problems] == [("/@context", "warning")]


# ------------------------------------------------------------------------------------------ aliases, types
def test_type_and_id_aliases():
    report = check(
        {
            "type": "SoftwareSourceCode",
            "author": {
                "type": "Person",
                "id": "https://orcid.org/0000-0002-1825-0097",
                "givenName": "Josiah",
                "familyName": "Carberry",
            },
        },
        remove=("@type",),
    )
    assert report.problems == []
    assert report.codemeta.authors[0].orcid == "0000-0002-1825-0097"


def test_wrong_type_is_an_error():
    report = check({"@type": "Dataset"})
    assert [(p.path, p.severity) for p in report.problems] == [("/@type", "error")]


def test_software_application_is_a_warning():
    report = check({"@type": "SoftwareApplication"})
    assert [(p.path, p.severity) for p in report.problems] == [("/@type", "warning")]


# ------------------------------------------------------------------------------------------ agents
def test_author_single_object_person_and_organization_list():
    report = check({"author": {"@type": "Organization", "name": "Gammapy team"}})
    assert report.problems == []
    author = report.codemeta.authors[0]
    assert author.kind == "Organization" and author.zenodo_name == "Gammapy team"

    report = check(
        {
            "author": [
                {"@type": "Organization", "name": "KM3NeT Collaboration"},
                {"@type": "Person", "givenName": "Thijs", "familyName": "van Eeden"},
            ]
        }
    )
    assert [a.zenodo_name for a in report.codemeta.authors] == ["KM3NeT Collaboration", "van Eeden, Thijs"]


@pytest.mark.parametrize(
    ("affiliation", "expected"),
    [
        ("LAPP, CNRS", ["LAPP, CNRS"]),
        ({"@type": "Organization", "name": "Nikhef"}, ["Nikhef"]),
        (["Nikhef", {"@type": "Organization", "name": "UvA"}], ["Nikhef", "UvA"]),
    ],
)
def test_affiliation_forms(affiliation, expected):
    report = check(
        {"author": [{"@type": "Person", "givenName": "A", "familyName": "B", "affiliation": affiliation}]}
    )
    assert report.problems == []
    assert report.codemeta.authors[0].affiliations == expected


def test_author_without_name_has_its_own_pointer():
    report = check(
        {
            "author": [
                {"@type": "Person", "givenName": "Ada", "familyName": "Lovelace"},
                {"@type": "Person", "email": "x@y.z"},
            ]
        }
    )
    problems = by_path(report)
    assert list(problems) == ["/author/1/familyName"]
    assert problems["/author/1/familyName"][0].severity == "error"
    assert problems["/author/1/familyName"][0].hint


def test_author_given_name_only():
    report = check({"author": {"@type": "Person", "givenName": "Ada"}})
    assert [(p.path, p.severity) for p in report.problems] == [("/author/familyName", "error")]


@pytest.mark.parametrize("role", ["author", "maintainer", "contributor", "copyrightHolder", "funder"])
def test_person_with_only_a_name_warns_and_is_sent_as_written(role):
    report = check({role: [{"@type": "Person", "name": "Jane Doe"}]})
    [problem] = report.problems
    assert (problem.path, problem.severity) == (f"/{role}/0/name", "warning")
    assert "'Jane Doe'" in problem.message and role in problem.message
    assert "givenName" in problem.hint and "familyName" in problem.hint
    assert_actionable(problem)
    agents = {"author": "authors", "maintainer": "maintainers", "contributor": "contributors"}
    agent = getattr(report.codemeta, agents.get(role, "copyright_holders" if role[0] == "c" else "funders"))[
        0
    ]
    # no guessed split: the name goes to Zenodo as written
    assert (agent.given_name, agent.family_name, agent.zenodo_name) == (None, None, "Jane Doe")


@pytest.mark.parametrize(
    "agent",
    [
        {"@type": "Person", "name": "Doe, Jane"},  # already "Family, Given"
        {"@type": "Person", "name": "Jane Doe", "familyName": "Doe"},
        {"@type": "Person", "name": "Jane Doe", "givenName": "Jane", "familyName": "Doe"},
        {"@type": "Organization", "name": "Example Collaboration"},
        {"name": "Example Collaboration"},  # no @type: read as an organization
        {"@type": "schema:Organization", "name": "Example Lab"},
    ],
)
def test_no_name_warning_when_zenodo_gets_family_given_or_an_organization(agent):
    assert check({"author": [agent]}).problems == []


def test_plain_string_person_has_one_warning():
    [problem] = check({"copyrightHolder": "Jane Doe"}).problems
    assert problem.path == "/copyrightHolder" and "plain string" in problem.message


def test_missing_and_empty_author():
    assert [p.path for p in check(remove=("author",)).errors] == ["/author"]
    assert [p.path for p in check({"author": []}).errors] == ["/author"]


def test_orcid_forms_and_checksum():
    assert orcid_checksum_ok("0000-0002-1825-0097")
    assert orcid_checksum_ok("0000-0002-1694-233X")
    assert not orcid_checksum_ok("0000-0002-1825-0098")
    report = check(
        {
            "author": {
                "@type": "Person",
                "@id": "http://orcid.org/0000-0002-1825-0097/",
                "givenName": "J",
                "familyName": "C",
            }
        }
    )
    assert report.codemeta.authors[0].orcid == "0000-0002-1825-0097"
    report = check(
        {
            "author": {
                "@type": "Person",
                "@id": "https://orcid.org/0000-0002-1825-0098",
                "givenName": "J",
                "familyName": "C",
            }
        }
    )
    assert [(p.path, p.severity) for p in report.problems] == [("/author/@id", "error")]
    report = check(
        {
            "author": [
                {"@type": "Person", "@id": "https://orcid.org/188164920", "givenName": "J", "familyName": "C"}
            ]
        }
    )
    assert [p.path for p in report.errors] == ["/author/0/@id"]


def test_maintainer_problems_are_warnings():
    report = check({"maintainer": {"@type": "Person", "email": "x@y.z"}})
    assert [(p.path, p.severity) for p in report.problems] == [("/maintainer/familyName", "warning")]
    assert report.codemeta.maintainers == []


# ------------------------------------------------------------------------------------------ licences
@pytest.mark.parametrize(
    "value",
    [
        "MIT",
        "mit",
        "https://spdx.org/licenses/MIT",
        "https://spdx.org/licenses/MIT.html",
        "http://spdx.org/licenses/MIT",
        ["https://spdx.org/licenses/MIT"],
        {"@id": "https://spdx.org/licenses/MIT"},
    ],
)
def test_license_forms(value):
    report = check({"license": value})
    assert report.problems == []
    assert report.codemeta.licenses == ["MIT"]


def test_license_list_takes_first_with_warning():
    report = check({"license": ["https://spdx.org/licenses/BSD-3-Clause", "MIT"]})
    assert report.codemeta.licenses == ["BSD-3-Clause", "MIT"]
    assert [(p.path, p.severity) for p in report.problems] == [("/license", "warning")]


def test_license_classifier_is_a_clear_error():
    report = check({"license": "License :: OSI Approved :: MIT License"})
    [problem] = report.problems
    assert (problem.path, problem.severity) == ("/license", "error")
    assert "classifier" in problem.message and "https://spdx.org/licenses/MIT" in problem.hint


@pytest.mark.parametrize(
    ("value", "severity", "words"),
    [
        ("MIT + file LICENSE", "error", "not an SPDX"),
        ("MIT OR Apache-2.0", "error", "expression"),
        ("GPL-3.0", "warning", "deprecated"),
        ("LicenseRef-custom", "warning", "Zenodo may refuse"),
    ],
)
def test_license_rejections(value, severity, words):
    report = check({"license": value})
    [problem] = report.problems
    assert problem.severity == severity and words in problem.message


@pytest.mark.parametrize(
    ("value", "sent", "other"),
    [
        ("GPL-3.0+", "GPL-3.0-or-later", None),
        ("https://spdx.org/licenses/GPL-3.0+", "GPL-3.0-or-later", None),
        ("GPL-2.0", "GPL-2.0-only", "GPL-2.0-or-later"),
        ("GPL-2.0+", "GPL-2.0-or-later", None),
        ("GPL-3.0", "GPL-3.0-only", "GPL-3.0-or-later"),
        ("LGPL-2.1", "LGPL-2.1-only", "LGPL-2.1-or-later"),
        ("LGPL-2.1+", "LGPL-2.1-or-later", None),
        ("LGPL-3.0", "LGPL-3.0-only", "LGPL-3.0-or-later"),
        ("LGPL-3.0+", "LGPL-3.0-or-later", None),
        ("AGPL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later"),
        ("https://spdx.org/licenses/AGPL-3.0+.html", "AGPL-3.0-or-later", None),  # "+" operator, never listed
        ("gpl-3.0+", "GPL-3.0-or-later", None),
    ],
)
def test_deprecated_license_is_sent_as_its_replacement(value, sent, other):
    report = check({"license": value})
    [problem] = report.problems
    assert (problem.path, problem.severity) == ("/license", "warning")
    assert "deprecated" in problem.message and f"sent as {sent}" in problem.message
    assert f"https://spdx.org/licenses/{sent}" in problem.hint
    if other:  # "GPL-2.0" may have been meant as "or later": the hint says so
        assert f"https://spdx.org/licenses/{other}" in problem.hint
    assert report.codemeta.licenses == [sent]
    assert spdx.zenodo_license_id(value.rsplit("/", 1)[-1].removesuffix(".html")) == sent.lower()


def test_every_deprecated_id_of_the_table_has_a_known_replacement():
    for deprecated, replacements in spdx._table()["deprecated"].items():
        assert not spdx.is_known(deprecated) and replacements, deprecated
        assert all(spdx.is_known(r) for r in replacements), deprecated
        assert spdx.deprecated_replacement(deprecated) == replacements[0]
        # the id SPDX 3.0 gave the old meaning: "X" meant "X only", "X+" meant "X or later"
        assert replacements[0].endswith("-or-later" if deprecated.endswith("+") else "-only"), deprecated


def test_missing_license_mentions_legacy_license_id():
    report = check({"licenseId": "MIT + file LICENSE"}, remove=("license",))
    [problem] = report.problems
    assert problem.path == "/license" and "licenseId" in problem.message
    assert "https://spdx.org/licenses/MIT" in problem.hint


# ------------------------------------------------------------------------------------------ keywords, versions, dates
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b", " a "], ["a", "b"]),
        ("astronomy, containers,  zenodo", ["astronomy", "containers", "zenodo"]),
        ("template", ["template"]),
    ],
)
def test_keywords(value, expected):
    report = check({"keywords": value})
    assert report.problems == []
    assert report.codemeta.keywords == expected


def test_keywords_one_long_string_warns():
    report = check({"keywords": "software metadata codemeta doap"})
    assert [p.path for p in report.warnings] == ["/keywords"]


@pytest.mark.parametrize(
    ("changes", "remove", "expected", "paths"),
    [
        ({"version": "1.0.0", "softwareVersion": "v1.0.0"}, (), "1.0.0", []),
        ({"softwareVersion": "v2.0"}, ("version",), "v2.0", []),
        ({"version": "1.0.0", "softwareVersion": "1.0.1"}, (), "1.0.0", ["/softwareVersion"]),
        ({"version": 1.1}, (), "1.1", ["/version"]),
    ],
)
def test_versions(changes, remove, expected, paths):
    report = check(changes, remove)
    assert report.codemeta.version == expected
    assert [p.path for p in report.problems] == paths


def test_missing_version():
    report = check(remove=("version",))
    [problem] = report.problems
    assert (problem.path, problem.severity) == ("/version", "error")


def test_day_month_year_dates_warn_and_parse():
    report = check({"datePublished": "09-04-2024", "dateCreated": "2024-13-45"})
    assert report.codemeta.date_published == date(2024, 4, 9)
    assert sorted(p.path for p in report.warnings) == ["/dateCreated", "/datePublished"]
    assert report.valid


def test_ossr_keys_are_warnings():
    report = check(remove=("maintainer", "readme", "datePublished"))
    assert sorted(p.path for p in report.problems) == ["/datePublished", "/maintainer", "/readme"]
    assert all(p.severity == "warning" for p in report.problems)
    assert report.valid


# ------------------------------------------------------------------------------------------ required keys and repository
def test_every_missing_required_key_is_listed_at_once():
    report = parse_codemeta("{}")
    paths = {p.path for p in report.errors}
    assert {"/name", "/description", "/version", "/license", "/author", "/codeRepository"} <= paths
    assert all(p.hint for p in report.errors if p.path in ("/license", "/author", "/codeRepository"))


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://github.com/example/hello", True),
        ("git+https://git.km3net.de/km3py/km3pipe.git", True),
        ("git@github.com:example/hello.git", False),
        ("github.com/example/hello", False),
    ],
)
def test_code_repository(value, ok):
    report = check({"codeRepository": value})
    assert report.valid is ok
    if not ok:
        assert [p.path for p in report.errors] == ["/codeRepository"]
        assert value in report.errors[0].message


def test_json_pointer_escaping_and_types():
    report = check({"name": 3, "keywords": {"a/b": 1}})
    assert {p.path for p in report.errors} == {"/name", "/keywords"}


# ------------------------------------------------------------------------------------------ broken files
def test_broken_json_is_one_error_with_position(tmp_path):
    bad = tmp_path / "codemeta.json"
    bad.write_text('{\n  "name": "x",\n  "author": [{"givenName": "A", "givenName": "B",}]\n}\n')
    report = load_codemeta(bad)
    assert report.codemeta is None and report.raw is None
    [problem] = report.problems
    assert problem.severity == "error" and problem.path == ""
    assert "line 3" in problem.message and "column" in problem.message
    assert "trailing comma" in problem.hint


def test_duplicate_keys_warn():
    report = parse_codemeta(json.dumps(MINIMAL)[:-1] + ', "name": "hello2"}')
    assert [(p.path, p.severity) for p in report.problems] == [("/name", "warning")]
    assert report.codemeta.name == "hello2"


@pytest.mark.parametrize("text", ["", "[]", '"x"', b"\xff\xfe\x00"])
def test_not_an_object(text):
    report = parse_codemeta(text)
    assert not report.valid and len(report.problems) == 1 and report.problems[0].severity == "error"


def test_utf8_bom_is_accepted():
    report = parse_codemeta(b"\xef\xbb\xbf" + json.dumps(MINIMAL).encode())
    assert report.valid


def test_unreadable_path_raises(tmp_path):
    with pytest.raises(InvalidInputError) as info:
        load_codemeta(tmp_path / "missing.json")
    assert "missing.json" in info.value.message and info.value.hint
    with pytest.raises(InvalidInputError):
        load_codemeta(tmp_path)


def test_schema_is_valid_draft_2020_12():
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(codemeta_schema())


# ------------------------------------------------------------------------------------------ real files
# A clear verdict for each file as projects committed it: valid or not, and the errors that decide it.
REAL_VERDICTS: dict[str, set[str]] = {
    "KM3NeT__KM3NeT-ARCA-irf__codemeta.json": set(),
    "codemeta__codemeta.github.io__codemeta.json": {"/codeRepository"},
    "codemeta__codemeta__codemeta.json": set(),
    "cosimoNigro__agnpy__codemeta.json": set(),
    "cta-observatory__ctaplot__codemeta.json": set(),
    "cta-observatory__lstmcpipe__codemeta.json": set(),
    "escape2020__codemeta2zenodo__codemeta.json": set(),
    "gammapy__gammapy__647c000__codemeta.json": {"/author/1/@id"},
    "gammapy__gammapy__codemeta.json": set(),
    "garciagenrique__template_escape__6767b51__codemeta.json": set(),
    "garciagenrique__template_escape__codemeta.json": set(),
    "proycon__codemetapy__b581ad1__codemeta.json": {"/codeRepository", "/license"},
    "ropensci__codemetar__0e37a47__codemeta.json": {"/license"},
    "ropensci__codemetar__30a072f__codemeta.json": set(),
    "ropensci__codemetar__3546058__codemeta.json": set(),
    "tamasgal__km3pipe__codemeta.json": set(),
}


def test_real_files_are_all_covered():
    assert {p.name for p in REAL} == set(REAL_VERDICTS)


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_codemeta_files(path):
    report = load_codemeta(path)
    assert report.codemeta is not None
    assert {p.path for p in report.errors} == REAL_VERDICTS[path.name]
    assert report.valid is (not REAL_VERDICTS[path.name])
    for problem in report.problems:
        assert problem.severity in ("error", "warning")
        assert problem.message and problem.hint, problem
        assert problem.path == "" or problem.path.startswith("/")
    if report.valid:
        cm = report.codemeta
        assert cm.name and cm.description and cm.version and cm.licenses and cm.authors and cm.code_repository


# ------------------------------------------------------------------------------------------ robustness
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
_keys = st.sampled_from(
    ["@context", "@type", "type", "name", "description", "version", "softwareVersion", "license", "author",
     "maintainer", "contributor", "keywords", "codeRepository", "datePublished", "dateCreated", "readme",
     "identifier", "url", "licenseId", "givenName", "familyName", "affiliation", "@id", "id", "email",
     "funder", "funding", "copyrightHolder", "value"]
)  # fmt: skip
_json = st.recursive(
    _scalars
    | st.sampled_from(
        [
            "https://spdx.org/licenses/MIT",
            "Person",
            "Organization",
            "v1.0",
            "12-02-2024",
            "824064",
            "Grant",
            "10.13039/501100000780::824064",
            "https://doi.org/10.3030/824064",
            "https://doi.org/10.13039/100000001",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_keys | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _json, max_size=12))
def test_any_json_object_gets_a_verdict_without_exception(doc):
    report = parse_codemeta(json.dumps(doc))
    assert report.codemeta is not None
    assert report.valid == (not report.errors)
    for problem in report.problems:
        assert problem.severity in ("error", "warning") and problem.message
        assert problem.path == "" or problem.path.startswith("/")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gets_a_verdict_without_exception(text):
    report = parse_codemeta(text)
    assert report.problems or report.valid


@pytest.mark.parametrize(
    "payload", ["[" * 100_000 + "]" * 100_000, '{"author": ' + "[" * 70 + "]" * 70 + "}"]
)
def test_deeply_nested_json_is_one_error(payload):
    report = parse_codemeta(payload)
    assert report.codemeta is None
    [problem] = report.problems
    assert problem.severity == "error" and "levels deep" in problem.message


# ------------------------------------------------------------------------------------------ every problem says what to write
def assert_actionable(problem) -> None:
    """A JSON pointer, a message naming a key of it ("licence" names license) and a hint."""
    assert problem.path.startswith("/"), problem
    keys = [k.lower() for k in problem.path.split("/")[1:] if not k.isdigit()]
    words = problem.message.lower().replace("licence", "license")
    assert any(k in words for k in keys), problem
    assert problem.hint.strip(), problem
    assert not {"NoneType", "_DupDict", "dict", "int", "str"} & set(re.findall(r"\w+", problem.message)), (
        problem
    )


@pytest.mark.parametrize(
    ("changes", "path", "hint_words"),
    [
        ({"identifier": None}, "/identifier", '"identifier": "https://doi.org/'),
        ({"url": 3}, "/url", '"url": "https://'),
        ({"url": [None]}, "/url/0", '"url": "https://'),
        ({"name": ""}, "/name", '"name": "'),
        ({"description": None}, "/description", '"description": "'),
        ({"keywords": ["a", 1]}, "/keywords/1", '"keywords": ['),
        ({"readme": [None]}, "/readme/0", '"readme": "https://'),
        ({"@context": ["https://w3id.org/codemeta/3.0", 3]}, "/@context/1", '"@context": "https://'),
        ({"license": [{}]}, "/license/0", '"license": "https://spdx.org/licenses/'),
        ({"author": [{"name": 3, "familyName": "x"}]}, "/author/0/name", '"name": "'),
        ({"author": [{"familyName": ["Love", "lace"]}]}, "/author/0/familyName", '"familyName": "'),
        ({"author": {"familyName": "x", "givenName": None}}, "/author/givenName", '"givenName": "'),
        ({"author": {"familyName": "x", "@type": ["Person"]}}, "/author/@type", '"@type": "Person"'),
        ({"author": {"familyName": "x", "@id": 1234}}, "/author/@id", '"@id": "https://orcid.org/'),
        ({"author": {"familyName": "x", "email": ["a@b.c"]}}, "/author/email", '"email": "'),
        ({"maintainer": {"name": "X", "@type": "Organization", "id": {}}}, "/maintainer/id", "https://orcid"),
        ({"maintainer": [3]}, "/maintainer/0", '"@type": "Person"'),
        ({"contributor": {"familyName": "x", "type": None}}, "/contributor/type", '"@type": "Person"'),
        ({"copyrightHolder": [None]}, "/copyrightHolder/0", '"@type": "Organization"'),
        ({"funder": {"name": True}}, "/funder/name", '"name": "'),
        ({"author": {"familyName": "x", "affiliation": [3]}}, "/author/affiliation/0", '"affiliation": {'),
    ],
)
def test_schema_problems_say_what_to_write(changes, path, hint_words):
    problems = by_path(check(changes))[path]
    for problem in problems:
        assert_actionable(problem)
    assert any(hint_words in p.hint for p in problems), problems


_bad_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from(
        [
            "Person",
            "Organization",
            "Role",
            "Thing",
            "https://orcid.org/0000-0002-1825-0098",
            "orcid:12",
            "GPL-3.0+",
            "MIT OR Apache-2.0",
            "License :: OSI Approved :: MIT License",
            "12-02-2024",
            "2024-13-45",
            "824064",
            "git+https://github.com/a/b",
            "Jane Doe",
            "Doe, Jane",
            "a b c d",
        ]
    )  # fmt: skip
)
_inner_keys = st.sampled_from(
    ["@type", "type", "@id", "id", "name", "givenName", "familyName", "email", "affiliation", "identifier",
     "sameAs", "funder", "legalName", "url"]
)  # fmt: skip
_bad_value = st.recursive(
    _bad_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(_inner_keys, c, max_size=4), max_leaves=12
)
_top_keys = st.sampled_from(
    [
        *codemeta_schema()["properties"],
        "dateCreated",
        "dateModified",
        "contIntegration",
        "licenseId",
        "creator",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(_top_keys, _bad_value, min_size=1, max_size=4),
    st.lists(st.sampled_from(sorted(MINIMAL)), max_size=2),
)
def test_every_problem_has_a_pointer_a_named_key_and_a_hint(changes, remove):
    report = check(changes, remove=tuple(remove))
    for problem in report.problems:
        assert_actionable(problem)
