"""One file into a native draft: register the key (``POST …/draft/files`` with key and size), stream the bytes
(``PUT …/files/{key}/content``, the same streamed, hashed PUT as the legacy bucket upload:
:func:`ossr_images.zenodo.upload.stream_put`), commit (``POST …/files/{key}/commit``, repeated on a 404 as
Zenodo answers one right after the content at times, zenodo-rdm#1413), then compare the committed md5 and size
with the bytes sent: the server does not reject a mismatch, so :class:`ZenodoIntegrityError` here does.

A key already in the draft (an earlier run died, or the file changed) is deleted and registered again: the
caller (publish's file step) has already kept every file whose md5 and size match.
"""

from __future__ import annotations

import logging
from typing import Any, BinaryIO
from urllib.parse import quote

from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.rdm_metadata import NATIVE_JSON
from ossr_images.zenodo.transfer import DEFAULT_CHUNK, Progress
from ossr_images.zenodo.transport import Request, Transport, shaped
from ossr_images.zenodo.upload import UploadResult, check_answer, stream_put

log = logging.getLogger("ossr_images.zenodo")

COMMIT_404_TRIES = 5
_HEADERS = {"Accept": NATIVE_JSON}


def _file_url(files_url: str, key: str) -> str:
    return f"{files_url.rstrip('/')}/{quote(key, safe='')}"


def _entry(transport: Transport, files_url: str, key: str) -> dict[str, Any] | None:
    url = _file_url(files_url, key)
    try:
        doc = transport.request_json(Request("GET", url, True, (200,), headers=_HEADERS))
    except ZenodoError as exc:
        if exc.status == 404:
            return None
        raise
    return shaped(doc, "GET", url)


def delete_file(transport: Transport, files_url: str, key: str) -> None:
    """Delete ``key`` from the draft (204); a key already gone counts as deleted."""
    url = _file_url(files_url, key)
    try:
        transport.request_json(Request("DELETE", url, True, (204, 200), headers=_HEADERS))
    except ZenodoError as exc:
        if exc.status not in (404, 410):
            raise


def register(transport: Transport, files_url: str, key: str, size: int) -> None:
    """Register ``key`` (pending until its content is committed); an existing key is deleted first."""
    url = files_url.rstrip("/")

    def check() -> bool | None:
        return True if _entry(transport, files_url, key) is not None else None

    body = [{"key": key, "size": size}]
    for attempt in (1, 2):
        try:
            transport.request_json(
                Request("POST", url, False, (201, 200), json_body=body, headers=_HEADERS, check=check)
            )
            return
        except ZenodoError as exc:
            if attempt == 2 or exc.status != 400 or "already exists" not in exc.message:
                raise
            log.info("%s is already in the draft; deleting it to upload it again", key)
            delete_file(transport, files_url, key)


def commit(transport: Transport, files_url: str, key: str) -> dict[str, Any]:
    """Commit the uploaded content (200 with the stored checksum and size); 404s are retried."""
    url = f"{_file_url(files_url, key)}/commit"

    def check() -> dict[str, Any] | None:
        entry = _entry(transport, files_url, key)
        return entry if entry is not None and entry.get("status") == "completed" else None

    policy = transport.retry
    for attempt in range(1, COMMIT_404_TRIES + 1):
        try:
            answer = transport.request_json(
                Request("POST", url, False, (200, 201), headers=_HEADERS, check=check)
            )
            return shaped(answer, "POST", url)
        except ZenodoError as exc:
            if exc.status != 404 or attempt == COMMIT_404_TRIES:
                raise
            log.info("commit of %s answered 404; trying again (zenodo-rdm#1413)", key)
            policy.sleep(policy.backoff(attempt))
    raise AssertionError("unreachable")


def upload_file(
    transport: Transport,
    files_url: str,
    key: str,
    fileobj: BinaryIO,
    size: int,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> UploadResult:
    """Register, stream and commit ``size`` bytes of ``fileobj`` as ``key`` under the draft's files URL;
    md5 and sha256 computed while the bytes go out; the committed md5 and size must be those of the bytes sent
    (else :class:`ZenodoIntegrityError`)."""
    register(transport, files_url, key, size)
    content = f"{_file_url(files_url, key)}/content"
    sent = stream_put(transport, content, key, fileobj, size, chunk_size=chunk_size, progress=progress)
    sent.response.close()
    answer = commit(transport, files_url, key)
    check_answer(answer, key, _file_url(files_url, key), size, sent.md5)
    return UploadResult(key, size, sent.md5, sent.sha256, answer)
