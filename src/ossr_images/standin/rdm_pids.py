"""``DELETE /api/records/{id}/draft/pids/doi``: discard a draft's reserved DOI (RR resources/resources.py
pids_discard -> **200** with the draft; the docs say 204, invenio-rdm-api.md section 9 notes the
disagreement and the stand-in follows the code). RR services/pids/manager.py discard: a DOI that is
registered (the draft of a published record) gives 400 "Cannot discard a reserved or registered persistent
identifier." on ``pids.doi``; a draft without a DOI has nothing to discard (404)."""

from __future__ import annotations

from ossr_images.standin import rdm_routes
from ossr_images.standin.routing import Reply, Request
from ossr_images.standin.store import NOT_FOUND, ApiError

REGISTERED = "Cannot discard a reserved or registered persistent identifier."


def rdm_discard_doi(req: Request) -> Reply:
    rec = rdm_routes._draft(req)
    req.body.json()
    with req.store.lock:
        if rec.get("doi"):
            raise ApiError(
                400, "A validation error occurred.", [{"field": "pids.doi", "messages": [REGISTERED]}]
            )
        if not rec.get("reserved_doi"):
            raise ApiError(404, NOT_FOUND)
        rec["reserved_doi"] = None
        rec["revision_id"] = rec.get("revision_id", 1) + 1
        req.store.save()
    return rdm_routes._answer(req, 200, rec, True)
