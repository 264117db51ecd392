"""Community submissions on the native API: a first version's draft goes to a community through a review
request (``PUT …/draft/review`` with the community's uuid, then ``POST …/draft/actions/submit-review``); the
record is published when a curator accepts. New versions keep the parent's communities (no review: "You cannot
create a review for a new version"). A request already submitted is never replaced or submitted again.
"""

from __future__ import annotations

import logging
from typing import Any

from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.models import Review
from ossr_images.zenodo.rdm_metadata import NATIVE_JSON, review_of
from ossr_images.zenodo.transport import Request, Transport, shaped

log = logging.getLogger("ossr_images.zenodo")

KEEP = ("submitted", "accepted")  # a request that can no longer be replaced


def _call(transport: Transport, method: str, path: str, expected: tuple[int, ...] = (200,), **kw: Any) -> Any:
    url = transport.url(path)
    idempotent = method in ("GET", "PUT", "DELETE")
    request = Request(method, url, idempotent, expected, headers={"Accept": NATIVE_JSON}, **kw)
    return transport.request_json(request)


def current(transport: Transport, deposition_id: int | str) -> Review | None:
    """The draft's review request (``GET …/draft/review``), None when it has none."""
    path = f"/records/{deposition_id}/draft/review"
    try:
        doc = _call(transport, "GET", path)
    except ZenodoError as exc:
        if exc.status == 404:
            return None
        raise
    return review_of(shaped(doc, "GET", transport.url(path), needs=("id",)))


def community_id(transport: Transport, slug: str) -> str:
    """The uuid of the community ``slug`` (``GET /communities/{slug}``)."""
    path = f"/communities/{slug}"
    try:
        doc = _call(transport, "GET", path)
    except ZenodoError as exc:
        if exc.status == 404:
            raise ZenodoError(
                f"the community {slug!r} does not exist on {transport.api_url}",
                "Check the community's slug (the last part of its URL) with --community, or pass "
                "--no-community.",
                status=404,
                url=transport.url(path),
                method="GET",
            ) from None
        raise
    return str(shaped(doc, "GET", transport.url(path), needs=("id",))["id"])


def community_slug(transport: Transport, ref: str) -> str:
    """The slug of the community ``ref`` (a uuid or a slug: ``GET /communities/{ref}``); ZenodoError if none."""
    path = f"/communities/{ref}"
    return str(shaped(_call(transport, "GET", path), "GET", transport.url(path), needs=("slug",))["slug"])


def prepare(transport: Transport, deposition_id: int | str, communities: tuple[str, ...]) -> Review | None:
    """Make the draft's review request match ``communities`` (the first one: a draft has one review): create
    it (status ``created``), keep it, or remove it when no community is wanted. Drafts of a published record
    (edits, new versions) get none."""
    path = f"/records/{deposition_id}/draft"
    doc = shaped(_call(transport, "GET", path), "GET", transport.url(path), needs=("id",))
    versions = doc.get("versions") if isinstance(doc.get("versions"), dict) else {}
    index = versions.get("index") if isinstance(versions.get("index"), int) else 1
    if doc.get("is_published") or doc.get("status") == "new_version_draft" or index > 1:
        return None
    review = current(transport, deposition_id)
    if not communities:
        if review is not None and review.status not in KEEP:
            _call(transport, "DELETE", f"{path}/review", expected=(204, 200))
        return None
    if len(communities) > 1:
        log.warning("a draft is submitted to one community: %s (not %s)", communities[0], communities[1:])
    if review is not None and review.status in KEEP:
        return review
    uuid = community_id(transport, communities[0])
    if review is not None and review.community in (uuid, communities[0]):
        return review  # created, or closed (declined, expired): the caller decides
    body = {"receiver": {"community": uuid}, "type": "community-submission"}
    answer = _call(transport, "PUT", f"{path}/review", json_body=body)
    return review_of(shaped(answer, "PUT", transport.url(f"{path}/review"), needs=("id",)))


def withdraw(transport: Transport, deposition_id: int | str) -> None:
    """Take the draft's review request back, so that the draft can be deleted: a created one is deleted, a
    submitted one cancelled."""
    review = current(transport, deposition_id)
    if review is None:
        return
    if review.status == "created":
        _call(transport, "DELETE", f"/records/{deposition_id}/draft/review", expected=(204, 200))
    elif review.status == "submitted":
        _call(transport, "POST", f"/requests/{review.id}/actions/cancel", expected=(200,))


def submit(transport: Transport, deposition_id: int | str) -> Review:
    """Submit the draft's review request (202): ``submitted``, or ``accepted`` when the owner may include the
    record directly. A lost answer is checked before any repeat."""
    path = f"/records/{deposition_id}/draft/actions/submit-review"

    def check() -> Review | None:
        try:
            review = current(transport, deposition_id)
        except ZenodoError as exc:
            if exc.status != 404:
                raise
            review = None
        if review is not None:
            return review if review.status != "created" else None
        # no draft any more: accepted at once and published (the owner may include directly)
        record = _call(transport, "GET", f"/records/{deposition_id}")
        return Review("", "accepted") if isinstance(record, dict) and record.get("is_published") else None

    answer = _call(transport, "POST", path, expected=(202, 200), check=check)
    if isinstance(answer, Review):
        return answer
    return review_of(shaped(answer, "POST", transport.url(path), needs=("id",)))


def inclusion_requests(transport: Transport, record_id: int | str, community: str) -> list[Review]:
    """The record's inclusion requests to ``community`` (its uuid), newest last (``GET /records/{id}/requests``)."""
    path = f"/records/{record_id}/requests"
    doc = shaped(_call(transport, "GET", path), "GET", transport.url(path), needs=("hits",))
    hits = doc["hits"].get("hits") if isinstance(doc["hits"], dict) else None
    found = [
        h
        for h in hits or []
        if isinstance(h, dict)
        and h.get("type") == "community-inclusion"
        and isinstance(h.get("receiver"), dict)
        and h["receiver"].get("community") == community
    ]
    found.sort(key=lambda h: str(h.get("created") or ""))
    return [review_of(h) for h in found]


def include(transport: Transport, record_id: int | str, slug: str, present: tuple[str, ...]) -> Review | None:
    """Ask the community ``slug`` to include the published record ``record_id`` (``POST /records/{id}/
    communities``) unless it is already in it (``present``: the record's community slugs or ids, None returned)
    or an earlier run asked already (that request is returned, whatever its state: never asked twice). The
    request is accepted at once when the token's owner may include directly."""
    if slug in present:
        return None
    uuid = community_id(transport, slug)
    if uuid in present:
        return None
    earlier = inclusion_requests(transport, record_id, uuid)
    if earlier:
        return earlier[-1]
    path = f"/records/{record_id}/communities"
    body = {"communities": [{"id": uuid}]}

    def check() -> Review | None:  # a lost answer: the request exists if the POST went through
        found = inclusion_requests(transport, record_id, uuid)
        return found[-1] if found else None

    try:
        answer = _call(transport, "POST", path, expected=(200,), json_body=body, check=check)
    except ZenodoError as exc:
        if exc.status != 400:
            raise
        messages = " ".join(m for _f, ms in exc.field_errors for m in ms) + " " + exc.message
        if "already included" in messages:
            return None
        found = inclusion_requests(transport, record_id, uuid)
        if found:  # "already an open inclusion request" (another run asked meanwhile)
            return found[-1]
        raise
    if isinstance(answer, Review):
        return answer
    doc = shaped(answer, "POST", transport.url(path), needs=("processed",))
    processed = [p for p in doc["processed"] or [] if isinstance(p, dict)]
    if processed and isinstance(processed[0].get("request"), dict):
        return review_of(processed[0]["request"])
    found = inclusion_requests(transport, record_id, uuid)
    return found[-1] if found else None
