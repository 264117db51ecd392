"""Routes of the legacy deposit API and the files (bucket) API: functions of a `Request` returning a reply.
Each function's name is its route name (what fault hooks see)."""

from __future__ import annotations

from typing import Any

from ossr_images.standin import multipart, reviews, views
from ossr_images.standin.bodies import content_type, receive_to_file
from ossr_images.standin.faults import DropResponse
from ossr_images.standin.routing import MISSING_FIELD, URL_NOT_FOUND, FileReply, Reply, Request
from ossr_images.standin.store import ApiError, DurabilityError

OCTET_STREAM = "application/octet-stream"


def _validation(errors: list[dict[str, Any]]) -> ApiError:
    return ApiError(400, "A validation error occurred.", errors)


def _only_metadata(body: dict[str, Any]) -> None:
    unknown = [k for k in body if k != "metadata"]
    if unknown:
        raise _validation([{"field": k, "messages": ["Unknown field."]} for k in unknown])
    if isinstance(body.get("metadata"), dict):
        views.legacy_people(body["metadata"])  # a legacy write is always personal (ZR PersonSchema)


def _dep(req: Request) -> dict[str, Any]:
    return req.store.get_owned(req.args["id"], req.owner())


def _files_of(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return rec["published"]["files"] if rec.get("published") else rec["files"]


def dep_list(req: Request) -> Reply:
    docs, headers = views.list_depositions(req.store, req.owner(), req.params, req.base)
    return Reply(200, docs, headers)


def dep_create(req: Request) -> Reply:
    owner = req.owner()
    body = req.body.json()
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise _validation([{"field": "", "messages": ["Invalid input type."]}])
    _only_metadata(body)
    rec = req.store.create(owner, body.get("metadata"))
    doc = views.deposition(req.store, rec, req.base)
    return Reply(201, doc, {"Location": doc["links"]["self"]})


def dep_get(req: Request) -> Reply:
    return Reply(200, views.deposition(req.store, _dep(req), req.base))


def dep_update(req: Request) -> Reply:
    rec = _dep(req)
    body = req.body.json()
    if not isinstance(body, dict):
        raise _validation([{"field": "metadata", "messages": [MISSING_FIELD]}])
    _only_metadata(body)
    rec = req.store.update(rec, body.get("metadata") or {})
    return Reply(200, views.deposition(req.store, rec, req.base))


def dep_delete(req: Request) -> Reply:
    req.store.delete(_dep(req))
    return Reply(204)


def dep_action(req: Request) -> Reply:
    rec = _dep(req)
    req.body.json()  # an optional (ignored) JSON body; other types are refused with 415
    store, action = req.store, req.args["action"]
    if action == "publish":
        before = reviews.included(store, rec)
        store.publish(rec)
        reviews.legacy_inclusions(store, rec, before, req.owner())
        return Reply(202, views.deposition(store, rec, req.base))
    if action == "edit":
        return Reply(201, views.deposition(store, store.edit(rec), req.base))
    if action == "discard":
        store.discard(rec)
        return Reply(204)
    if action == "newversion":
        return Reply(201, views.deposition(store, store.new_version(rec), req.base))
    raise ApiError(404, URL_NOT_FOUND)


def dep_files(req: Request) -> Reply:
    return Reply(200, views.deposition(req.store, _dep(req), req.base)["files"])


def dep_files_post(req: Request) -> Reply:
    """The legacy form upload (fields ``file`` and ``name``), at most 100 MB like Zenodo's nginx."""
    rec = _dep(req)
    boundary = multipart.boundary_of(req.headers.get("Content-Type"))
    raw_length = req.headers.get("Content-Length")
    if raw_length is None or not raw_length.isdigit():
        req.close_connection = True
        raise ApiError(411, "A Content-Length header is required.")
    length = int(raw_length)
    if length > multipart.FORM_LIMIT + 64 * 1024:
        raise ApiError(413, "Request Entity Too Large")
    req.store.check_upload(rec, "", None)
    raw, part = req.store.new_temp(), req.store.new_temp()
    keep_part = False
    try:
        req.body.to_file(raw, length)
        name, filename, size, md5 = multipart.split_form(raw, boundary, part)
        key = name or filename
        if not key:
            raise _validation([{"field": "name", "messages": ["Missing file name."]}])
        entry = req.store.add_file(rec, key, part, size, md5, OCTET_STREAM)
    except DurabilityError:
        keep_part = True  # the .part stays (removed at the next start), the error names it
        raise
    finally:
        raw.unlink(missing_ok=True)
        if not keep_part:
            part.unlink(missing_ok=True)
    return Reply(201, views.legacy_file(req.api, rec, entry, False))


def dep_file_get(req: Request) -> Reply:
    doc = views.deposition(req.store, _dep(req), req.base)
    for f in doc["files"]:
        if f["id"] == req.args["file_id"]:
            return Reply(200, f)
    raise ApiError(404, "File does not exist.")


def dep_file_delete(req: Request) -> Reply:
    req.store.delete_file(_dep(req), file_id=req.args["file_id"])
    return Reply(204)


def _bucket(req: Request) -> dict[str, Any]:
    owner = req.owner()
    rec = req.store.by_bucket(req.args["bucket"])
    if rec["owner"] != owner:
        raise ApiError(403, "Permission denied.")
    return rec


def bucket_get(req: Request) -> Reply:
    rec = _bucket(req)
    bucket, files, quota = req.args["bucket"], _files_of(rec), req.store.quota_bytes
    return Reply(
        200,
        {
            "id": bucket,
            "quota_size": quota,
            "max_file_size": quota,
            "size": sum(f["size"] for f in files),
            "locked": bool(rec.get("published")),
            "contents": [views.bucket_object(req.api, rec, f) for f in files],
            "links": {"self": f"{req.api}/files/{bucket}", "versions": f"{req.api}/files/{bucket}?versions"},
        },
    )


def _upload_size(req: Request) -> int | None:
    """The announced size of a bucket PUT (None when chunked); 411 / 400 when it cannot be known."""
    if req.body.chunked:
        return None
    if req.headers.get("Content-Length") is None:
        req.close_connection = True
        raise ApiError(411, "A Content-Length header (or chunked transfer encoding) is required.")
    size = req.body.length()
    if size is None or size < 0:
        raise ApiError(400, "Invalid Content-Length header.")
    return size


def bucket_put(req: Request) -> Reply:
    rec = _bucket(req)
    entry = receive_upload(req, rec, req.args["key"])
    return Reply(201, views.bucket_object(req.api, rec, entry))


def receive_upload(req: Request, rec: dict[str, Any], key: str) -> dict[str, Any]:
    """Stream a raw request body into the deposition's file ``key`` (md5 on the way, quota checked before
    reading when the size is known, after when chunked); the stored entry. Shared by the bucket PUT and the
    native API's content PUT."""
    if not key or "\x00" in key or len(key.encode()) > 1024:
        raise ApiError(400, "Invalid file key.")
    if content_type(req.headers) not in ("", OCTET_STREAM):
        raise ApiError(415, "Invalid 'Content-Type' header. Expected one of: application/octet-stream.")
    size = _upload_size(req)
    req.store.check_upload(rec, key, size)
    cut = req.app.faults.upload_cut(req.info, size)
    temp = req.store.new_temp()
    source = req.body.chunks() if size is None else req.body.fixed(size)
    try:
        total, md5 = receive_to_file(source, temp, cut)
    except DurabilityError:
        raise  # the .part stays (removed at the next start), the error names it
    except DropResponse:
        req.body.done = True
        temp.unlink(missing_ok=True)
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    req.body.done = True
    if size is None:  # chunked: limits are checked once the size is known
        try:
            req.store.check_quota(rec, key, total)
        except ApiError:
            temp.unlink(missing_ok=True)
            raise
    return req.store.add_file(rec, key, temp, total, md5, OCTET_STREAM)


def bucket_file_get(req: Request) -> FileReply:
    rec = _bucket(req)
    entry = next((f for f in _files_of(rec) if f["key"] == req.args["key"]), None)
    if entry is None:
        raise ApiError(404, "Object does not exist.")
    return FileReply(entry, req.store.blob_path(entry))


def bucket_file_delete(req: Request) -> Reply:
    req.store.delete_file(_bucket(req), key=req.args["key"])
    return Reply(204)
