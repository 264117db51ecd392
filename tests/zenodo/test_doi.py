"""DOI and record-URL parsing: a table of accepted forms and of refusals."""

from __future__ import annotations

import pytest

from ossr_images.errors import InvalidInputError
from ossr_images.zenodo.doi import RecordRef, make_doi, parse_record_ref, server_for_prefix

ACCEPTED = [
    ("10.5281/zenodo.1234567", RecordRef("1234567", "10.5281/zenodo.1234567", "zenodo", "doi")),
    ("10.5072/zenodo.346365", RecordRef("346365", "10.5072/zenodo.346365", "sandbox", "doi")),
    ("  10.5281/ZENODO.42 ", RecordRef("42", "10.5281/zenodo.42", "zenodo", "doi")),
    ("doi:10.5281/zenodo.42", RecordRef("42", "10.5281/zenodo.42", "zenodo", "doi")),
    ("DOI: 10.5072/zenodo.7", RecordRef("7", "10.5072/zenodo.7", "sandbox", "doi")),
    ("10.1234/zenodo.9", RecordRef("9", "10.1234/zenodo.9", None, "doi")),
    ("https://doi.org/10.5281/zenodo.42", RecordRef("42", "10.5281/zenodo.42", "zenodo", "doi-url")),
    ("http://dx.doi.org/10.5281/zenodo.42", RecordRef("42", "10.5281/zenodo.42", "zenodo", "doi-url")),
    ("https://doi.org/10.5281%2Fzenodo.42", RecordRef("42", "10.5281/zenodo.42", "zenodo", "doi-url")),
    (
        "https://handle.test.datacite.org/10.5072/zenodo.346365",
        RecordRef("346365", "10.5072/zenodo.346365", "sandbox", "doi-url"),
    ),
    ("https://zenodo.org/records/42", RecordRef("42", None, "zenodo", "record-url")),
    ("https://zenodo.org/records/42/", RecordRef("42", None, "zenodo", "record-url")),
    ("https://zenodo.org/records/42?preview=1#files", RecordRef("42", None, "zenodo", "record-url")),
    (
        "https://zenodo.org/records/42/files/image.tar?download=1",
        RecordRef("42", None, "zenodo", "record-url"),
    ),
    ("https://zenodo.org/record/42", RecordRef("42", None, "zenodo", "record-url")),
    ("https://www.zenodo.org/record/42", RecordRef("42", None, "zenodo", "record-url")),
    ("https://zenodo.org/api/records/42", RecordRef("42", None, "zenodo", "api-url")),
    ("https://sandbox.zenodo.org/records/346365", RecordRef("346365", None, "sandbox", "record-url")),
    ("https://sandbox.zenodo.org/api/records/346365", RecordRef("346365", None, "sandbox", "api-url")),
    (
        "https://sandbox.zenodo.org/doi/10.5072/zenodo.346365",
        RecordRef("346365", "10.5072/zenodo.346365", "sandbox", "doi-url"),
    ),
    ("https://zenodo.org/doi/10.5281/zenodo.42", RecordRef("42", "10.5281/zenodo.42", "zenodo", "doi-url")),
    (
        "http://127.0.0.1:8765/api/records/5",
        RecordRef("5", None, None, "api-url", "http://127.0.0.1:8765/api"),
    ),
    (
        "http://localhost:8765/records/5",
        RecordRef("5", None, None, "record-url", "http://localhost:8765/api"),
    ),
    ("42", RecordRef("42", None, None, "id")),
    (" 0042 ", RecordRef("42", None, None, "id")),
]


@pytest.mark.parametrize("text,expected", ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_accepted_forms(text: str, expected: RecordRef) -> None:
    assert parse_record_ref(text) == expected


REFUSED = [
    "",
    "   ",
    "zenodo",
    "10.1000/xyz123",  # a DOI, but not a Zenodo one
    "doi:10.5281/figshare.1",
    "10.5281/zenodo.",
    "10.5281/zenodo.12a",
    "https://github.com/org/repo",
    "https://zenodo.org/communities/escape2020",
    "ftp://zenodo.org/records/1",
    "file:///etc/passwd",
    "-42",
    "1" * 20,
    "x" * 5000,
    "https://[::1/api/records/1",
    "http://[zenodo.org]/records/1",
    "https://zenodo.org]/records/1",
    "http://h:99999/records/1",
    "http://h:port/records/1",
]


@pytest.mark.parametrize("text", REFUSED)
def test_refused_forms_name_the_text(text: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_record_ref(text)
    shown = text.strip()[:60] if text.strip() else text
    assert shown[:20] in info.value.message
    assert "DOI" in info.value.hint


def test_refuses_non_text() -> None:
    with pytest.raises(InvalidInputError):
        parse_record_ref(None)  # type: ignore[arg-type]


def test_prefix_helpers() -> None:
    assert server_for_prefix("10.5281") == "zenodo"
    assert server_for_prefix("10.5072") == "sandbox"
    assert server_for_prefix("10.9999") is None
    assert make_doi("10.5072", 12) == "10.5072/zenodo.12"


INVENIO = [  # another InvenioRDM repository: base32 ids, and DOIs that do not hold the record id
    (
        "https://repo.example.org/records/4d0ns-ntd89",
        RecordRef("4d0ns-ntd89", None, None, "record-url", "https://repo.example.org/api"),
    ),
    (
        "https://repo.example.org/api/records/4D0NS-NTD89/files",
        RecordRef("4d0ns-ntd89", None, None, "api-url", "https://repo.example.org/api"),
    ),
    ("4d0ns-ntd89", RecordRef("4d0ns-ntd89", None, None, "id")),
    ("10.1000/xyz123", RecordRef("", "10.1000/xyz123", None, "doi")),
    ("doi:10.5072/17", RecordRef("", "10.5072/17", None, "doi")),
    ("https://doi.org/10.1000/ABC.9", RecordRef("", "10.1000/abc.9", None, "doi-url")),
    ("10.5281/zenodo.42", RecordRef("42", "10.5281/zenodo.42", "zenodo", "doi")),  # still read from the DOI
]


@pytest.mark.parametrize("text,expected", INVENIO, ids=[t for t, _ in INVENIO])
def test_invenio_ids_and_any_doi(text: str, expected: RecordRef) -> None:
    assert parse_record_ref(text, any_doi=True) == expected


def test_any_doi_only_when_asked() -> None:
    with pytest.raises(InvalidInputError, match="not a Zenodo DOI"):
        parse_record_ref("10.1000/xyz123")
