"""OCI error bodies: `{"errors": [{"code", "message", "detail"}]}` with the status of each code."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ossr_images.workflows.serve_archive import canonical_json

STATUS = {
    "NAME_INVALID": 400,
    "DIGEST_INVALID": 400,
    "MANIFEST_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "MANIFEST_UNKNOWN": 404,
    "BLOB_UNKNOWN": 404,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "RANGE_INVALID": 416,
    "UNAVAILABLE": 503,
    "UNKNOWN": 500,
}


def error_response(
    code: str, message: str, detail: Any = None, *, head: bool = False, headers: dict[str, str] | None = None
) -> Response:
    """The spec's JSON error body (no body for HEAD, as HTTP wants)."""
    entry: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    body = canonical_json({"errors": [entry]})
    all_headers = {
        "Docker-Distribution-API-Version": "registry/2.0",
        "Content-Length": str(len(body)),
        **(headers or {}),
    }
    if code == "UNAVAILABLE":  # Zenodo could not be reached: clients and proxies may try again
        all_headers.setdefault("Retry-After", "30")
    return Response(
        b"" if head else body,
        status_code=STATUS.get(code, 500),
        media_type="application/json",
        headers=all_headers,
    )
