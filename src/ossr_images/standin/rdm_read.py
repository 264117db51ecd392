"""The read side of the native API (``application/vnd.inveniordm.v1+json``, or any JSON on the plain
surface): record, versions, latest, files and search. `standin.record_routes` hands over to these functions
when `native` is true, so that route names (what fault hooks see) stay those of the record routes."""

from __future__ import annotations

from ossr_images.standin import rdm_files, rdm_ids, rdm_views
from ossr_images.standin.routing import Reply, Request, redirect
from ossr_images.standin.store import NOT_FOUND, NOT_REGISTERED, ApiError


def native(req: Request) -> bool:
    """Does the request get native JSON (vnd Accept, or the plain surface)?"""
    accept = (req.headers.get("Accept") or "").lower()
    return rdm_views.NATIVE in accept or getattr(req.app, "api_surface", "zenodo") == "rdm"


def concept_redirect(req: Request, suffix: str = "") -> Reply | None:
    """A concept (parent) id answers 302 to its latest version."""
    rid = req.args["id"]
    if not req.store.is_concept(rid):
        return None
    latest = req.store.latest_published(rid.strip())
    if latest is None:
        raise ApiError(404, NOT_FOUND)
    return redirect(f"{req.api}/records/{rdm_ids.shown(req.store, latest['id'])}{suffix}")


def search(req: Request) -> Reply:
    params = dict(req.params)
    params.setdefault("size", "25")  # the native default page size
    if getattr(req.app, "api_surface", "zenodo") == "rdm":
        params.pop("all_versions", None)  # Zenodo's alias; a plain instance ignores it
    return Reply(200, rdm_views.search(req.store, params, req.base, req.authenticated()))


def get(req: Request) -> Reply:
    moved = concept_redirect(req)
    if moved is not None:
        return moved
    rec = req.store.published_record(req.args["id"])
    return Reply(200, rdm_views.record(req.store, rec, req.base), rdm_views.etag(rec))


def versions(req: Request) -> Reply:
    rec = req.store.get(req.args["id"]) if not req.store.is_concept(req.args["id"]) else None
    concept = req.args["id"] if rec is None else rec["conceptrecid"]
    versions = req.store.published_versions(concept)
    if not versions:
        raise ApiError(404, NOT_FOUND)
    hits = [rdm_views.record(req.store, v, req.base) for v in reversed(versions)]
    return Reply(
        200,
        {"hits": {"hits": hits, "total": len(hits)}, "aggregations": {}, "links": {}, "sortBy": "version"},
    )


def latest(req: Request) -> Reply:
    rid = req.args["id"]
    concept = rid if req.store.is_concept(rid) else req.store.get(rid)["conceptrecid"]
    latest = req.store.latest_published(concept)
    if latest is None:
        raise ApiError(404, NOT_REGISTERED)
    location = f"{req.api}/records/{rdm_ids.shown(req.store, latest['id'])}"
    return Reply(
        301, {"status": 301, "message": "Redirecting...", "location": location}, {"Location": location}
    )


def files(req: Request) -> Reply:
    rec = req.store.published_record(req.args["id"])
    return Reply(200, rdm_files.listing(req.api, rec, True, rdm_ids.shown(req.store, rec["id"])))


def file(req: Request) -> Reply:
    rec = req.store.published_record(req.args["id"])
    rid = rdm_ids.shown(req.store, rec["id"])
    if req.args["key"] not in rdm_files.keys(rec, published=True):
        raise rdm_files.no_file(rec, req.args["key"], rid)
    return Reply(200, rdm_files.file_entry(req.api, rec, req.args["key"], True, rid))
