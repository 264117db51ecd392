"""Draft files of the native API over the store: registered entries stay ``pending`` until their content is
uploaded and committed; a committed file is an ordinary file of the deposition (the legacy API sees it).

A deposition's ``rdm_pending`` maps a key to ``{"size", "checksum", "uploaded"}`` for files registered through
``POST …/draft/files`` and not committed yet. Files-import links the previous version's blobs (no bytes)."""

from __future__ import annotations

import copy
import uuid
from typing import Any
from urllib.parse import quote

from ossr_images.standin import rdm_ids
from ossr_images.standin.store import ApiError, Store, now, validation_error

FILES_LOCKED = "Permission denied."


def pending(rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The registered, uncommitted files of a deposition (key -> declared size/checksum)."""
    return rec.setdefault("rdm_pending", {})


def no_file(rec: dict[str, Any], key: str, rid: str | None = None) -> ApiError:
    return ApiError(404, f"Record '{rid or rec['id']}' has no file '{key}'.")


def _writable(rec: dict[str, Any]) -> None:
    if rec.get("published") or rec["submitted"]:
        raise ApiError(403, FILES_LOCKED)  # Zenodo locks published files in an edit draft


def file_entry(
    api: str, rec: dict[str, Any], key: str, published: bool = False, rid: str | None = None
) -> dict[str, Any]:
    """A native file entry (``/files`` and ``/draft/files`` answers) of a draft or a published record;
    ``rid`` is the record's id as shown (`rdm_ids.shown`), its store id when not given."""
    rid = rid or str(rec["id"])
    base = f"{api}/records/{rid}/{'files' if published else 'draft/files'}/{quote(key, safe='')}"
    links = {"self": base, "content": f"{base}/content"}
    if not published:
        links["commit"] = f"{base}/commit"
    files = rec["published"]["files"] if published else rec["files"]
    stored = next((f for f in files if f["key"] == key), None)
    declared = None if published else pending(rec).get(key)
    doc: dict[str, Any] = {"key": key, "transfer": {"type": "L"}, "metadata": None, "links": links}
    if declared is not None:
        doc.update(status="pending", size=declared.get("size"), checksum=declared.get("checksum"))
        if stored is not None:
            doc.update(created=stored["created"], updated=stored["updated"])
        return doc
    assert stored is not None
    doc.update(
        status="completed", size=stored["size"], checksum=f"md5:{stored['md5']}", created=stored["created"],
        updated=stored["updated"], mimetype=stored.get("mimetype") or "application/octet-stream",
        file_id=stored["id"], version_id=stored["version_id"], bucket_id=rec["bucket"], storage_class="L",
    )  # fmt: skip
    return doc


def keys(rec: dict[str, Any], published: bool = False) -> list[str]:
    """Every file key of a draft (stored, then registered-only) or of a published record."""
    if published:
        return [f["key"] for f in rec["published"]["files"]]
    stored = [f["key"] for f in rec["files"]]
    return stored + [k for k in pending(rec) if k not in stored]


def listing(api: str, rec: dict[str, Any], published: bool = False, rid: str | None = None) -> dict[str, Any]:
    """The ``GET …/files`` answer: ``entries`` is a list (``rid`` as in `file_entry`)."""
    rid = rid or str(rec["id"])
    kind = "files" if published else "draft/files"
    return {
        "enabled": rec.get("files_enabled", True),
        "order": [],
        "entries": [file_entry(api, rec, k, published, rid) for k in keys(rec, published)],
        "default_preview": None,
        "links": {"self": f"{api}/records/{rid}/{kind}"},
    }


def register(store: Store, rec: dict[str, Any], entries: Any) -> list[str]:
    """Register ``[{"key", "size"?, "checksum"?}]`` as pending files; the keys registered."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise validation_error([{"field": "", "messages": ["Invalid input type."]}])
    with store.lock:
        _writable(rec)
        known = set(keys(rec))
        new: dict[str, dict[str, Any]] = {}
        for i, e in enumerate(entries):
            key = e.get("key")
            if not isinstance(key, str) or not key or "/" in key:
                raise validation_error(
                    [{"field": f"{i}.key", "messages": ["Missing data for required field."]}]
                )
            if key in known or key in new:
                raise ApiError(400, f"File with key {key} already exists.")
            size, checksum = e.get("size"), e.get("checksum")
            if size is not None and (not isinstance(size, int) or size < 0):
                raise validation_error([{"field": f"{i}.size", "messages": ["Not a valid integer."]}])
            if checksum is not None and (not isinstance(checksum, str) or not checksum.startswith("md5:")):
                raise validation_error([{"field": f"{i}.checksum", "messages": ["Not a valid checksum."]}])
            new[key] = {"size": size, "checksum": checksum, "uploaded": False}
        if len(known) + len(new) > store.max_files:
            raise ApiError(
                400, "Uploading selected files will result in exceeding the max amount per record."
            )
        if (
            sum(e["size"] or 0 for e in new.values()) + sum(f["size"] for f in rec["files"])
            > store.quota_bytes
        ):
            raise ApiError(400, "Bucket quota exceeded.")
        pending(rec).update(new)
        _touch(store, rec)
        return list(new)


def check_content(rec: dict[str, Any], key: str, rid: str | None = None) -> None:
    """A content PUT may go ahead: the key is registered and not committed (else 404 / 400)."""
    _writable(rec)
    if key not in pending(rec):
        if any(f["key"] == key for f in rec["files"]):
            raise ApiError(400, f'File with key "{key}" is already committed.')
        raise no_file(rec, key, rid)


def uploaded(store: Store, rec: dict[str, Any], key: str) -> None:
    """Mark a pending file's content as received (the store holds its bytes)."""
    with store.lock:
        if key in pending(rec):
            pending(rec)[key]["uploaded"] = True
        _touch(store, rec)


def commit(store: Store, rec: dict[str, Any], key: str) -> None:
    """Commit an uploaded file: it becomes ``completed`` with the stored bytes' size and md5."""
    with store.lock:
        _writable(rec)
        declared = pending(rec).get(key)
        if declared is None:
            if any(f["key"] == key for f in rec["files"]):
                raise ApiError(400, f'File with key "{key}" is already committed.')
            raise no_file(rec, key, rdm_ids.shown(store, rec["id"]))
        if not declared["uploaded"]:
            raise ApiError(400, f'File with key "{key}" has no content yet: upload it before the commit.')
        del pending(rec)[key]
        _touch(store, rec)


def delete(store: Store, rec: dict[str, Any], key: str) -> None:
    """Delete a draft file, pending or committed (404 if absent)."""
    with store.lock:
        _writable(rec)
        was_pending = pending(rec).pop(key, None)
        if any(f["key"] == key for f in rec["files"]):
            store.delete_file(rec, key=key)
        elif was_pending is None:
            raise no_file(rec, key, rdm_ids.shown(store, rec["id"]))
        _touch(store, rec)


def files_import(store: Store, rec: dict[str, Any]) -> None:
    """Link the previous published version's files into a new-version draft, without any bytes."""
    with store.lock:
        _writable(rec)
        if not rec.get("files_enabled", True):
            raise validation_error(
                [{"field": "files.enabled", "messages": ["Files support must be enabled."]}]
            )
        if keys(rec):
            raise validation_error(
                [{"field": "files.enabled", "messages": ["Please remove all files first."]}]
            )
        previous = store.latest_published(rec["conceptrecid"])
        if previous is None or not previous["published"]["files"]:
            raise validation_error([{"field": "files.enabled", "messages": ["The record has no files."]}])
        for f in previous["published"]["files"]:
            rec["files"].append(dict(copy.deepcopy(f), id=str(uuid.uuid4()), version_id=str(uuid.uuid4())))
        _touch(store, rec)


def incomplete(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The publish error for files not committed yet (empty when all are)."""
    if pending(rec):
        return [
            {
                "field": "files",
                "messages": ["One or more files have not completed their transfer, please wait."],
            }
        ]
    return []


def _touch(store: Store, rec: dict[str, Any]) -> None:
    rec["modified"] = now()
    rec["revision_id"] = rec.get("revision_id", 1) + 1
    store.save()
