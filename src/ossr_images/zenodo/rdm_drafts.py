"""The write side of InvenioRDM's records API (see :class:`~ossr_images.zenodo.rdm_client.RdmClient`).

Drafts (``POST /records``, the DOI reserved at once so that publish knows it before publishing, as the legacy
path's ``prereserve_doi``), the owner's records (``GET /user/records``), metadata (``PUT …/draft``, the
legacy metadata translated by :mod:`~ossr_images.zenodo.rdm_metadata`), publish, new versions with
files-import, draft files (:mod:`~ossr_images.zenodo.rdm_uploads`) and community review requests
(:mod:`~ossr_images.zenodo.rdm_reviews`). Every call sends ``Accept: application/vnd.inveniordm.v1+json``
(one parser for Zenodo and plain instances). A POST that changes state carries a check that tells whether a
lost attempt took effect, as in the legacy client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from ossr_images.zenodo import rdm_reviews, rdm_uploads
from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.models import Deposition, RemoteFile
from ossr_images.zenodo.rdm_metadata import (
    NATIVE_JSON,
    communities_of,
    deposition_of,
    draft_body,
    field_errors,
    files_of,
)
from ossr_images.zenodo.transport import Request, Transport, shaped

log = logging.getLogger("ossr_images.zenodo")

_SORTS = {"mostrecent": "newest", "-mostrecent": "oldest", "newest": "newest", "oldest": "oldest"}
_GONE = (404, 410)
REVIEW_STATUSES = ("draft_with_review", "in_review", "declined", "expired")


def call(
    transport: Transport,
    method: str,
    path: str,
    *,
    expected: tuple[int, ...] = (200,),
    json_body: Any = None,
    params: dict[str, Any] | None = None,
    check: Callable[[], Any] | None = None,
) -> Any:
    """One native API call with the native Accept; GET/PUT/DELETE are retried, a POST only through ``check``."""
    url = transport.url(path)
    idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
    headers = {"Accept": NATIVE_JSON}
    request = Request(method, url, idempotent, expected, json_body, params, headers=headers, check=check)
    return transport.request_json(request)


def _draft_path(deposition_id: int | str) -> str:
    return f"/records/{deposition_id}/draft"


def _deposition(transport: Transport, answer: Any, method: str, path: str) -> Deposition:
    if isinstance(answer, Deposition):  # what a check returned
        return answer
    doc = shaped(answer, method, transport.url(path), needs=("id",))
    for line in field_errors(doc):
        log.warning("the server dropped a field of %s %s: %s", method, path, line)
    review = rdm_reviews.current(transport, doc["id"]) if doc.get("status") in REVIEW_STATUSES else None
    return deposition_of(doc, transport.api_url, review)


# ------------------------------------------------------------------------------------------------ drafts


def create(transport: Transport, metadata: dict[str, Any] | None) -> Deposition:
    """Create a draft with the legacy ``metadata`` translated, reserve its DOI and (first versions only)
    prepare the community review request of ``metadata.communities``."""
    body = draft_body(metadata) if metadata else {}
    wanted = communities_of(metadata)
    if wanted:
        rdm_reviews.community_id(transport, wanted[0])  # an unknown community stops us before any write
    started = time.time()
    title = (metadata or {}).get("title") or ""

    def check() -> Deposition | None:
        for dep in user_records(transport, None, "draft", False, "mostrecent", 25, 1):
            if dep.title == title and not dep.files and dep.created_after(started):
                return dep
        return None

    dep = _deposition(
        transport,
        call(transport, "POST", "/records", expected=(201,), json_body=body, check=check),
        "POST",
        "/records",
    )
    dep = reserve_doi(transport, dep)
    if wanted:
        rdm_reviews.prepare(transport, dep.id, wanted)
    return get(transport, dep.id)


def reserve_doi(transport: Transport, dep: Deposition) -> Deposition:
    """Reserve the draft's DOI (``POST …/draft/pids/doi``) unless it has one; a server that mints no DOIs
    (an instance without DataCite) leaves the draft without one, which publish then reports."""
    if dep.doi:
        return dep
    path = f"{_draft_path(dep.id)}/pids/doi"

    def check() -> Deposition | None:
        again = get(transport, dep.id)
        return again if again.doi else None

    try:
        return _deposition(
            transport, call(transport, "POST", path, expected=(201, 200), check=check), "POST", path
        )
    except ZenodoError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403):
            if "already exists" not in exc.message:  # else: an earlier attempt reserved it
                log.warning("no DOI reserved for draft %s: %s", dep.id, exc.message)
            return get(transport, dep.id)
        raise


def get(transport: Transport, deposition_id: int | str) -> Deposition:
    """The draft of ``deposition_id`` (with its review request) if it has one, else the published record."""
    path = _draft_path(deposition_id)
    try:
        return _deposition(transport, call(transport, "GET", path), "GET", path)
    except ZenodoError as exc:
        if exc.status != 404:
            raise
    path = f"/records/{deposition_id}"
    return _deposition(transport, call(transport, "GET", path), "GET", path)


def user_records(
    transport: Transport,
    q: str | None,
    status: str | None,
    all_versions: bool,
    sort: str,
    size: int,
    max_pages: int | None,
) -> Iterator[Deposition]:
    """The owner's drafts and records (``GET /user/records``), every page (or ``max_pages``). The legacy query
    ``keywords:`` is asked as ``metadata.subjects.subject:``; status ``draft`` / ``published`` filters here."""
    params: dict[str, Any] = {"size": size, "sort": _SORTS.get(sort, sort), "page": 1}
    if q:
        params["q"] = q.replace("keywords:", "metadata.subjects.subject:")
    if all_versions:
        params["allversions"] = "true"
    url: str | None = transport.url("/user/records")
    page_params: dict[str, Any] | None = params
    pages = 0
    while url:
        doc = shaped(call(transport, "GET", url, params=page_params), "GET", url, needs=("hits",))
        hits = shaped(shaped(doc["hits"], "GET", url).get("hits") or [], "GET", url, kind=list)
        for hit in hits:
            dep = _deposition(transport, shaped(hit, "GET", url, needs=("id",)), "GET", url)
            if status == "draft" and dep.is_published or status == "published" and not dep.is_published:
                continue
            yield dep
        pages += 1
        if not hits or len(hits) < size or (max_pages is not None and pages >= max_pages):
            return
        next_url = (doc.get("links") or {}).get("next") if isinstance(doc.get("links"), dict) else None
        if isinstance(next_url, str) and next_url and transport.on_api_host(next_url):
            url, page_params = next_url, None
        else:
            params["page"] = int(params["page"]) + 1
            url, page_params = transport.url("/user/records"), params


def update(transport: Transport, deposition_id: int | str, metadata: dict[str, Any]) -> Deposition:
    """Replace the draft's metadata (``PUT …/draft``) and bring its review request in line with
    ``metadata.communities`` (first versions only: new versions keep the parent's communities)."""
    path = _draft_path(deposition_id)
    _deposition(transport, call(transport, "PUT", path, json_body=draft_body(metadata)), "PUT", path)
    rdm_reviews.prepare(transport, deposition_id, communities_of(metadata))
    return get(transport, deposition_id)


def delete(transport: Transport, deposition_id: int | str) -> None:
    """Delete an unpublished draft (204), its review request taken back first; one that is gone already
    counts as deleted."""
    for attempt in (1, 2):
        try:
            call(transport, "DELETE", _draft_path(deposition_id), expected=(204, 200))
            return
        except ZenodoError as exc:
            if exc.status in _GONE:
                return
            if attempt == 2 or exc.status != 400 or "review" not in exc.message:
                raise
        rdm_reviews.withdraw(transport, deposition_id)


def publish(transport: Transport, deposition_id: int | str) -> Deposition:
    """Publish the draft (202). A draft with a community review request is submitted to the community
    instead (``submit-review``): the returned Deposition is still a draft whose ``review`` says where the
    request stands; the curators' accept publishes it. A submitted request is never submitted again."""
    dep = get(transport, deposition_id)
    if dep.state == "done":
        return dep
    if dep.review is not None:
        if dep.review.status == "created":
            rdm_reviews.submit(transport, deposition_id)
            return get(transport, deposition_id)
        return dep  # submitted (waiting for the curators), or closed: the caller reports it
    path = f"{_draft_path(deposition_id)}/actions/publish"

    def check() -> Deposition | None:
        again = get(transport, deposition_id)
        return again if again.state == "done" else None

    answer = call(transport, "POST", path, expected=(202, 200, 201), check=check)
    return _deposition(transport, answer, "POST", path)


def new_version(transport: Transport, deposition_id: int | str) -> Deposition:
    """The draft of a new version of the published record (``POST /records/{id}/versions``, which returns an
    existing next-version draft again), holding the previous version's files (``files-import``, only while
    the draft has none: no bytes are uploaded), with its own DOI reserved."""
    path = f"/records/{deposition_id}/versions"
    request = Request(
        "POST", transport.url(path), True, (201, 200), headers={"Accept": NATIVE_JSON}
    )  # the server returns an existing draft again: safe to repeat
    draft = _deposition(transport, transport.request_json(request), "POST", path)
    if not draft.files:
        import_files(transport, draft.id)
    return reserve_doi(transport, get(transport, draft.id))


def import_files(transport: Transport, deposition_id: int | str) -> None:
    """Link the previous version's files into a new-version draft (``files-import``, 201)."""
    path = f"{_draft_path(deposition_id)}/actions/files-import"

    def check() -> bool | None:
        return True if list_files(transport, deposition_id) else None

    try:
        call(transport, "POST", path, expected=(201, 200), check=check)
    except ZenodoError as exc:
        if exc.status == 400 and "no files" in exc.message.lower():
            return  # the previous version had none: nothing to import
        raise


# ------------------------------------------------------------------------------------------------ files


def list_files(transport: Transport, deposition_id: int | str) -> list[RemoteFile]:
    """The draft's files (a registered file whose content is not committed has no md5)."""
    path = f"{_draft_path(deposition_id)}/files"
    doc = shaped(call(transport, "GET", path), "GET", transport.url(path))
    return list(files_of(shaped(doc.get("entries") or [], "GET", transport.url(path), kind=list)))


def delete_file(transport: Transport, deposition_id: int | str, key: str) -> None:
    """Delete one file of the draft by its key (204; one already gone counts as deleted)."""
    rdm_uploads.delete_file(transport, f"{transport.url(_draft_path(deposition_id))}/files", key)
