"""Zenodo error bodies, HTML pages and empty answers become one clean error family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ossr_images.errors import EXIT_INTEGRITY, EXIT_REMOTE
from ossr_images.zenodo.errors import ZenodoError, ZenodoIntegrityError, error_from_response, safe_url

EXAMPLES = Path(__file__).parents[1] / "data" / "zenodo"
URL = "https://zenodo.org/api/deposit/depositions/1"


def test_rdm_validation_body() -> None:
    body = {
        "status": 400,
        "message": "A validation error occurred.",
        "errors": [{"field": "files.enabled", "messages": ["Please remove all files first."]}],
    }
    err = error_from_response(400, json.dumps(body).encode(), "application/json", url=URL, method="POST")
    assert isinstance(err, ZenodoError) and err.exit_code == EXIT_REMOTE
    assert err.status == 400
    assert err.field_errors == [("files.enabled", ["Please remove all files first."])]
    assert "files.enabled: Please remove all files first." in err.message
    assert "files.enabled" in err.hint
    assert err.to_dict()["details"]["field_errors"][0]["field"] == "files.enabled"


def test_legacy_singular_message_fields() -> None:
    err = error_from_response(
        400, (EXAMPLES / "error_400_validation__devdocs.json").read_bytes(), "application/json", url=URL,
        method="PUT",
    )  # fmt: skip
    assert ("metadata.creators.0.name", ["Name is required."]) in err.field_errors
    assert len(err.field_errors) == 3


@pytest.mark.parametrize(
    "status,needle",
    [(401, "ZENODO_TOKEN"), (403, "deposit:actions"), (404, "new version"), (415, "Content-Type"),
     (429, "rate-limiting"), (500, "run the command again"), (502, "run the command again")],
)  # fmt: skip
def test_hints_per_status(status: int, needle: str) -> None:
    err = error_from_response(status, b'{"status": %d, "message": "x"}' % status, "application/json", url=URL,
                              method="GET")  # fmt: skip
    assert needle in err.hint


def test_quota_hint() -> None:
    err = error_from_response(
        400, (EXAMPLES / "error_400_bucket_quota_exceeded__api_files_PUT__zenodo_issue2485_2023.json").read_bytes(),
        "application/json", url=URL, method="PUT",
    )  # fmt: skip
    assert "Bucket quota exceeded." in err.message
    assert "50 GB" in err.hint


def test_html_error_page() -> None:
    page = b"<html><head><title>504 Gateway Time-out</title></head><body><h1>504</h1><hr>nginx</body></html>"
    err = error_from_response(504, page, "text/html", url=URL, method="POST")
    assert err.message.startswith("Zenodo answered 504 with an HTML page (504 Gateway Time-out)")
    assert "<" not in err.message


def test_html_without_title_and_empty_body() -> None:
    err = error_from_response(502, b"<html><body><p>Bad   gateway</p></body></html>", "text/html", url=URL,
                              method="GET")  # fmt: skip
    assert "Bad gateway" in err.message
    empty = error_from_response(503, b"", None, url=URL, method="GET")
    assert "empty body" in empty.message


def test_truncated_json_is_reported_as_text() -> None:
    err = error_from_response(500, b'{"status": 500, "mess', "application/json", url=URL, method="GET")
    assert err.status == 500 and '{"status": 500, "mess' in err.message


def test_safe_url_drops_tokens() -> None:
    assert safe_url("https://h/api/x?access_token=abc&page=2") == "https://h/api/x?access_token=***&page=2"
    assert safe_url("https://h/api/x") == "https://h/api/x"
    err = ZenodoError("boom", status=500, url="https://h/api/x?access_token=abc")
    assert "abc" not in json.dumps(err.to_dict())


def test_integrity_error_exit_code() -> None:
    assert ZenodoIntegrityError("md5 differs").exit_code == EXIT_INTEGRITY
