"""Routes of InvenioRDM's native records API over the same store as the deposit API: drafts, draft files,
publish, versions, files-import, reviews and communities. Each function's name is its route name.

Dialects (invenio-rdm-api.md section 0): on the Zenodo surface, record routes answer ZenodoJSON unless the
request accepts ``application/vnd.inveniordm.v1+json``; on the plain (``rdm``) surface native JSON is the
default. Draft-file, request and community answers are alike on both."""

from __future__ import annotations

from typing import Any

from ossr_images.standin import rdm_files, rdm_ids, rdm_metadata, rdm_views, reviews, views
from ossr_images.standin.deposit_routes import receive_upload
from ossr_images.standin.rdm_read import native
from ossr_images.standin.routing import FileReply, Reply, Request
from ossr_images.standin.store import NOT_FOUND, NOT_REGISTERED, ApiError

CANNOT_DELETE_REVIEW = (
    "You cannot delete a draft with an open review request. Please cancel the review request first."
)


def _render(req: Request, rec: dict[str, Any], draft: bool) -> dict[str, Any]:
    if native(req):
        return rdm_views.record(req.store, rec, req.base, draft)
    if rec.get("published") and not draft:
        return views.record(req.store, rec, req.base)
    return views.deposition(req.store, rec, req.base)  # ZenodoJSON of a draft: the legacy shape


def _answer(req: Request, status: int, rec: dict[str, Any], draft: bool, errors: Any = None) -> Reply:
    doc = _render(req, rec, draft)
    if errors and native(req):
        doc["errors"] = errors  # ZenodoJSON has no `errors` (it hides them)
    return Reply(status, doc, rdm_views.etag(rec))


def _owned(req: Request) -> dict[str, Any]:
    owner = req.owner()
    rec = req.store.get(req.args["id"])
    if rec["owner"] != owner:
        raise ApiError(403, "Permission denied.")
    return rec


def _draft(req: Request) -> dict[str, Any]:
    """The deposition whose draft the path names (404 when a published record is not being edited)."""
    rec = _owned(req)
    if rec["state"] == "done":
        raise ApiError(404, NOT_FOUND)
    return rec


def _rid(req: Request, rec: dict[str, Any]) -> str:
    """The deposition's id as the server shows it (`rdm_ids.shown`)."""
    return rdm_ids.shown(req.store, rec["id"])


def _body_dict(req: Request) -> dict[str, Any]:
    body = req.body.json()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(
            400, "A validation error occurred.", [{"field": "", "messages": ["Invalid input type."]}]
        )
    return body


def _if_match(req: Request, rec: dict[str, Any]) -> None:
    wanted = req.headers.get("If-Match")
    if wanted and wanted.strip().strip('"') != str(rec.get("revision_id", 1)):
        raise ApiError(412, "Revision mismatch")


# ---------------------------------------------------------------- read side


def rdm_user_records(req: Request) -> Reply:
    return Reply(200, rdm_views.user_records(req.store, req.owner(), req.params, req.base))


# ---------------------------------------------------------------- drafts


def rdm_create(req: Request) -> Reply:
    owner = req.owner()
    body = _body_dict(req)
    md, errors = rdm_metadata.from_native(body)
    rec = req.store.create(owner, md)
    _files_enabled(req, rec, body)
    return _answer(req, 201, rec, True, errors)


def _files_enabled(req: Request, rec: dict[str, Any], body: dict[str, Any]) -> None:
    files = body.get("files")
    if isinstance(files, dict) and isinstance(files.get("enabled"), bool):
        with req.store.lock:
            rec["files_enabled"] = files["enabled"]
            req.store.save()


def rdm_draft_get(req: Request) -> Reply:
    return _answer(req, 200, _draft(req), True)


def rdm_draft_put(req: Request) -> Reply:
    rec = _draft(req)
    _if_match(req, rec)
    body = _body_dict(req)
    md, errors = rdm_metadata.from_native(body)
    with req.store.lock:
        for key in ("communities",):  # kept by the deposit side, not part of the native metadata
            if key in rec["metadata"]:
                md[key] = rec["metadata"][key]
        req.store.update(rec, md)  # moves revision_id
    _files_enabled(req, rec, body)
    return _answer(req, 200, rec, True, errors)


def rdm_draft_delete(req: Request) -> Reply:
    rec = _draft(req)
    _if_match(req, rec)
    req.body.json()
    review = reviews.review_of(req.store, rec)
    if review is not None and review["status"] in reviews.OPEN:
        raise ApiError(400, CANNOT_DELETE_REVIEW)
    req.store.discard(rec)  # a new draft goes with its files; an edit draft leaves the record
    return Reply(204)


def rdm_edit(req: Request) -> Reply:
    rec = _owned(req)
    req.body.json()
    return _answer(req, 201, req.store.edit(rec), True)


def rdm_reserve_doi(req: Request) -> Reply:
    rec = _draft(req)
    req.body.json()
    with req.store.lock:
        if rec.get("doi") or rec.get("reserved_doi"):
            raise ApiError(400, "A PID already exists for type doi")
        rec["reserved_doi"] = req.store.mint_doi(rec["id"])
        rec["revision_id"] = rec.get("revision_id", 1) + 1
        req.store.save()
    return _answer(req, 201, rec, True)


def rdm_publish(req: Request) -> Reply:
    rec = _draft(req)
    req.body.json()
    reviews.check_publishable(req.store, rec)
    errors = reviews.publish_errors(rec)
    if errors:
        raise ApiError(400, "A validation error occurred.", errors)
    rec = req.store.publish(rec)
    return _answer(req, 202, rec, False)


def rdm_new_version(req: Request) -> Reply:
    rec = _owned(req)
    req.body.json()
    return _answer(req, 201, new_version_draft(req, rec), True)


def new_version_draft(req: Request, rec: dict[str, Any]) -> dict[str, Any]:
    """The next-version draft (no files, no version, today's date); an existing one is returned again."""
    store = req.store
    with store.lock:
        if not rec.get("published"):
            raise ApiError(404, NOT_REGISTERED)
        draft = store.latest_draft(rec)
        if draft is None:
            latest = store.latest_published(rec["conceptrecid"]) or rec
            md = {
                k: v
                for k, v in latest["published"]["metadata"].items()
                if k not in ("version", "doi", "prereserve_doi")
            }
            md["publication_date"] = views_today()
            draft = store._new_record(store._new_id(), rec["conceptrecid"], rec["owner"], md)
            store.concept(rec)["versions"].append(draft["id"])
            draft["files_enabled"] = latest.get("files_enabled", True)
            store.save()
        return draft


def views_today() -> str:
    from ossr_images.standin.store import today

    return today()


# ---------------------------------------------------------------- draft files


def rdm_draft_files(req: Request) -> Reply:
    rec = _draft(req)
    return Reply(200, rdm_files.listing(req.api, rec, rid=_rid(req, rec)))


def rdm_draft_files_post(req: Request) -> Reply:
    rec = _draft(req)
    added = rdm_files.register(req.store, rec, req.body.json())
    doc = rdm_files.listing(req.api, rec, rid=_rid(req, rec))
    doc["entries"] = [e for e in doc["entries"] if e["key"] in added]
    return Reply(201, doc)


def rdm_draft_file(req: Request) -> Reply:
    rec = _draft(req)
    if req.args["key"] not in rdm_files.keys(rec):
        raise rdm_files.no_file(rec, req.args["key"], _rid(req, rec))
    return Reply(200, rdm_files.file_entry(req.api, rec, req.args["key"], rid=_rid(req, rec)))


def rdm_draft_file_content(req: Request) -> FileReply:
    rec = _owned(req)
    files = rec["files"] if rec["state"] != "done" else rec["published"]["files"]
    entry = next((f for f in files if f["key"] == req.args["key"]), None)
    if entry is None:
        raise rdm_files.no_file(rec, req.args["key"], _rid(req, rec))
    return FileReply(entry, req.store.blob_path(entry))


def rdm_draft_file_put(req: Request) -> Reply:
    rec = _draft(req)
    key = req.args["key"]
    rdm_files.check_content(rec, key, _rid(req, rec))
    receive_upload(req, rec, key)
    rdm_files.uploaded(req.store, rec, key)
    return Reply(200, rdm_files.file_entry(req.api, rec, key, rid=_rid(req, rec)))


def rdm_draft_file_commit(req: Request) -> Reply:
    rec = _draft(req)
    req.body.json()
    rdm_files.commit(req.store, rec, req.args["key"])
    return Reply(200, rdm_files.file_entry(req.api, rec, req.args["key"], rid=_rid(req, rec)))


def rdm_draft_file_delete(req: Request) -> Reply:
    rdm_files.delete(req.store, _draft(req), req.args["key"])
    return Reply(204)


def rdm_files_import(req: Request) -> Reply:
    rec = _draft(req)
    req.body.json()
    rdm_files.files_import(req.store, rec)
    return Reply(201, rdm_files.listing(req.api, rec, rid=_rid(req, rec)))


# ---------------------------------------------------------------- reviews and communities


def rdm_review_put(req: Request) -> Reply:
    review = reviews.put_review(req.store, _draft(req), req.body.json())
    return Reply(200, reviews.view(req.store, review, req.base, req.user()))


def rdm_review_get(req: Request) -> Reply:
    review = reviews.review_of(req.store, _draft(req))
    if review is None:
        raise ApiError(404, "Review for draft not found")
    return Reply(200, reviews.view(req.store, review, req.base, req.user()))


def rdm_review_delete(req: Request) -> Reply:
    reviews.delete_review(req.store, _draft(req))
    return Reply(204)


def rdm_submit_review(req: Request) -> Reply:
    rec = _draft(req)
    req.body.json()
    done = reviews.submit_review(req.store, rec, req.owner())
    return Reply(202, reviews.view(req.store, done, req.base, req.user()))


def rdm_record_requests(req: Request) -> Reply:
    rec = _owned(req)
    user = req.user()
    hits = [reviews.view(req.store, r, req.base, user) for r in reviews.record_requests(req.store, rec)]
    return Reply(200, {"hits": {"hits": hits, "total": len(hits)}, "links": {}})


def rdm_record_communities(req: Request) -> Reply:
    rec = _owned(req)
    if not rec.get("published"):
        raise ApiError(404, NOT_REGISTERED)
    status, doc = reviews.include(req.store, rec, req.body.json(), req.owner())
    user = req.user()
    for item in doc["processed"]:
        item["request"] = reviews.view(req.store, item["request"], req.base, user)
    if status == 400:
        return Reply(400, {"status": 400, "message": "A validation error occurred.", **doc})
    return Reply(status, doc)


def rdm_community(req: Request) -> Reply:
    doc = reviews.community(req.store, req.args["ref"], req.base)
    if doc is None:
        raise ApiError(404, NOT_FOUND)
    return Reply(200, doc)


def rdm_community_records(req: Request) -> Reply:
    """``GET /api/communities/{slug or uuid}/records``: the community's published records (native search)."""
    doc = reviews.community(req.store, req.args["ref"], req.base)
    if doc is None:
        raise ApiError(404, NOT_FOUND)
    params = {**req.params, "communities": doc["slug"]}
    params.setdefault("size", "25")
    if getattr(req.app, "api_surface", "zenodo") == "rdm":
        params.pop("all_versions", None)  # Zenodo's alias; a plain instance ignores it
    if views.truthy(params.get("allversions")):
        params["all_versions"] = "true"
    path = f"/api/communities/{req.args['ref']}/records"
    body = views.search_records(
        req.store,
        params,
        req.base,
        req.authenticated(),
        render=lambda r: rdm_views.record(req.store, r, req.base),
        path=path,
    )
    return Reply(200, body)
