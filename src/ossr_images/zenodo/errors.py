"""Errors raised by the Zenodo client: one family, built from Zenodo's JSON error bodies.

Zenodo answers errors as ``{"status": N, "message": "...", "errors": [{"field": "...", "messages": [...]}]}``
(older servers wrote a singular ``message`` per field); proxies in front of it answer HTML pages. Both become a
:class:`ZenodoError` with a clean one-line message and a hint. The URL kept on the error never holds a token
(the client never puts one in a URL, and :func:`safe_url` drops any ``access_token`` query parameter anyway).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ossr_images.errors import IntegrityError, RemoteError
from ossr_images.redact import redact_url

FieldErrors = list[tuple[str, list[str]]]


def safe_url(url: str | None) -> str | None:
    """The URL with its userinfo and any token-like query parameter replaced by ``***`` (for messages and
    logs); see :func:`ossr_images.redact.redact_url`."""
    return redact_url(url)


class ZenodoError(RemoteError):
    """Zenodo (or a server in front of it) refused a request, or could not be reached after retries.

    ``status`` is the HTTP status (None when no response came back), ``field_errors`` the per-field messages of
    a validation error, ``url`` the request URL (never with a token) and ``method`` the HTTP method.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        field_errors: FieldErrors | None = None,
        url: str | None = None,
        method: str | None = None,
        details: Any = None,
    ) -> None:
        self.status = status
        self.field_errors: FieldErrors = list(field_errors or [])
        self.url = safe_url(url)
        self.method = method
        if details is None:
            details = {
                "status": status,
                "url": self.url,
                "field_errors": [{"field": f, "messages": m} for f, m in self.field_errors],
            }
        super().__init__(message, hint or hint_for_status(status, self.field_errors), details=details)

    @property
    def is_not_found(self) -> bool:
        """True for a 404 (no such record, or a published record that can no longer change)."""
        return self.status == 404


class ZenodoIntegrityError(IntegrityError):
    """Bytes disagree with the checksum Zenodo reports (upload or download): exit status 3."""


def hint_for_status(status: int | None, field_errors: FieldErrors | None = None) -> str:
    """What to do about a Zenodo error with this status."""
    if status is None:
        return (
            "Zenodo could not be reached. Check the network and the server URL (--sandbox / --zenodo-url), "
            "then run the command again: it continues where it stopped."
        )
    if status == 401:
        return (
            "The token is missing or not valid for this server. Set ZENODO_TOKEN (zenodo.org), "
            "ZENODO_SANDBOX_TOKEN (sandbox.zenodo.org), OSSR_IMAGES_TOKEN (any other server) or --token-file "
            "to a personal access token of this Zenodo instance."
        )
    if status == 403:
        return (
            "The token is not allowed to do this. Create a token with the scopes deposit:write and "
            "deposit:actions, and check that the deposition belongs to the token's owner."
        )
    if status == 404:
        return (
            "Check the record id or DOI and the server (a sandbox record is not on zenodo.org and vice "
            "versa); a published record can no longer be changed or deleted: make a new version instead."
        )
    if status == 413:
        return "The file is too large for this server; Zenodo accepts at most 50 GB per record by default."
    if status == 415:
        return "The request had the wrong Content-Type; this is a bug in the client, please report it."
    if status == 429:
        return "Zenodo is rate-limiting this client; wait a minute and run the command again."
    if status == 400 and field_errors:
        fields = ", ".join(f for f, _ in field_errors)
        return f"Fix the metadata or files named ({fields}) and run the command again."
    if status == 400:
        return "Zenodo refused the request as invalid; check the metadata and files, then run again."
    if status >= 500:
        return (
            "Zenodo failed on its side; wait a few minutes and run the command again: it continues where "
            "it stopped (check the record on the web first if this was a publish)."
        )
    return "Run the command again with -v to see the requests and answers."


_QUOTA_MARKERS = ("quota", "size limit", "max amount", "exceeding")


def _field_messages(entry: Any) -> tuple[str, list[str]] | None:
    if not isinstance(entry, dict):
        return None
    field = str(entry.get("field") or "")
    messages = entry.get("messages")
    if messages is None and "message" in entry:
        messages = [entry["message"]]
    if isinstance(messages, str):
        messages = [messages]
    if not isinstance(messages, list):
        messages = [json.dumps(messages)[:200]] if messages is not None else []
    return field, [str(m) for m in messages]


def _strip_html(text: str) -> str:
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    if title and title.group(1).strip():
        text = title.group(1)
    else:
        text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.I | re.S)
        text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:200]


def error_from_response(
    status: int, body: bytes | str | None, content_type: str | None, *, url: str, method: str
) -> ZenodoError:
    """Build a :class:`ZenodoError` from an error response: Zenodo JSON, an HTML page or anything else."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    doc: Any = None
    if text.strip()[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            doc = None
    where = f"{method} {safe_url(url)}"
    field_errors: FieldErrors = []
    if isinstance(doc, dict):
        message = str(doc.get("message") or doc.get("error") or "no message")
        for entry in doc.get("errors") or []:
            fm = _field_messages(entry)
            if fm:
                field_errors.append(fm)
        summary = message
        if field_errors:
            parts = [f"{f or '(record)'}: {' '.join(m)}" for f, m in field_errors]
            summary = f"{message} ({'; '.join(parts)})"
        full = f"Zenodo answered {status} to {where}: {summary}"
    else:
        ctype = (content_type or "").split(";")[0].strip() or "no content type"
        if "html" in ctype or text.lstrip().startswith("<"):
            snippet = _strip_html(text)
            full = f"Zenodo answered {status} with an HTML page ({snippet or 'no text'}) to {where}"
        elif text.strip():
            full = f"Zenodo answered {status} to {where}: {' '.join(text.split())[:200]}"
        else:
            full = f"Zenodo answered {status} with an empty body ({ctype}) to {where}"
        message = full
    hint = None
    lowered = message.lower()
    if status in (400, 413) and any(m in lowered for m in _QUOTA_MARKERS):
        hint = (
            "The record exceeds Zenodo's limits (50 GB and 100 files per record by default). Compress the "
            "image (--compress zstd) or ask Zenodo support for more quota."
        )
    return ZenodoError(full, hint, status=status, field_errors=field_errors, url=url, method=method)
