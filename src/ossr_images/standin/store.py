"""The stand-in's state: depositions, published records, concepts and file blobs, persisted in a data folder.

Layout of the data folder: ``state.json`` (everything but file bytes; rewritten atomically: temp file, fsync,
``os.replace``), ``blobs/<uuid>`` (file contents, written under ``tmp/`` and renamed when complete). Blobs are
shared between versions (a new version imports the previous files without copying them) and removed when no
record refers to them any more. All methods are thread-safe (one lock); uploads stream outside the lock.
"""

from __future__ import annotations

import copy
import datetime as _dt
import errno
import json
import os
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ossr_images.errors import InvalidInputError
from ossr_images.standin import rdm_ids
from ossr_images.standin.metadata import MetadataError, clean_metadata, publish_errors

STATE_VERSION = 1
PRERESERVE_PREFIX = "10.5281"  # hard-coded by Zenodo-RDM, even on the sandbox


class ApiError(Exception):
    """An error answer: status, Zenodo's message and optional per-field errors."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """The error as Zenodo's JSON body."""
        doc: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.errors:
            doc["errors"] = self.errors
        return doc


class DurabilityError(OSError):
    """An fsync failed: the file named keeps its temporary name (it is never renamed into place)."""


def sync_file(fd: int, path: Path) -> None:
    """fsync ``fd`` (the descriptor the data was written through: a later descriptor would not see a
    write-back error); a failure raises DurabilityError naming ``path``, never passes silently."""
    try:
        os.fsync(fd)
    except OSError as exc:
        raise DurabilityError(
            exc.errno,
            f"Cannot make {path} durable (fsync: {exc.strerror or exc}); it was kept under that temporary "
            "name and not renamed into place",
        ) from exc


def sync_folder(path: Path) -> None:
    """fsync a folder after a rename in it (EINVAL, a file system without folder fsync, is not an error)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise DurabilityError(
                exc.errno, f"Cannot make the rename in {path} durable (fsync: {exc.strerror})"
            ) from exc
    finally:
        os.close(fd)


NOT_FOUND = "The persistent identifier does not exist."
NOT_REGISTERED = "The persistent identifier is not registered."


def now() -> str:
    """The current UTC time, ISO 8601."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def today() -> str:
    """Today's UTC date, ISO 8601."""
    return _dt.datetime.now(_dt.timezone.utc).date().isoformat()


def validation_error(errors: list[dict[str, Any]]) -> ApiError:
    """The 400 "A validation error occurred." answer with per-field messages."""
    return ApiError(400, "A validation error occurred.", errors)


class _StoreState:
    """The persisted state, its lookups and the files of depositions (`Store` adds the deposit actions)."""

    def __init__(self, data_dir: Path, *, doi_prefix: str = "10.5072", quota_bytes: int = 50_000_000_000,
                 max_files: int = 100) -> None:  # fmt: skip
        self.data_dir = Path(data_dir)
        self.blob_dir = self.data_dir / "blobs"
        self.tmp_dir = self.data_dir / "tmp"
        self.state_path = self.data_dir / "state.json"
        self.doi_prefix = doi_prefix
        self.quota_bytes = quota_bytes
        self.max_files = max_files
        self.doi_format = "{prefix}/zenodo.{id}"  # DATACITE_FORMAT; a plain InvenioRDM uses "{prefix}/{id}"
        self.plain_ids = False  # a plain InvenioRDM's "xxxxx-xxxxx" ids in what is shown (standin.rdm_ids)
        self.bytes_received = 0  # file bytes uploaded since start (every API): imports add nothing
        self.lock = threading.RLock()
        try:
            for d in (self.data_dir, self.blob_dir, self.tmp_dir):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(
                f"Cannot use {self.data_dir} as the stand-in's data folder: {exc.strerror or exc}",
                "Give a writable folder with --data.",
            ) from None
        self._dir_lock = FileLock(str(self.data_dir / ".lock"))
        try:
            self._dir_lock.acquire(timeout=0)
        except Timeout:
            raise InvalidInputError(
                f"The data folder {self.data_dir} is in use by another local Zenodo stand-in",
                "Stop the other stand-in, or give this one its own --data folder.",
            ) from None
        try:
            for leftover in self.tmp_dir.iterdir():  # uploads cut by a crash
                leftover.unlink(missing_ok=True)
            self.state = self._load()
            self._drop_orphan_blobs()
        except BaseException:
            self._dir_lock.release()
            raise

    def _drop_orphan_blobs(self) -> None:
        """Remove blobs no record refers to (a crash between a blob's rename and the state write)."""
        used = set()
        for rec in self.state["records"].values():
            used.update(f["blob"] for f in rec["files"])
            if rec.get("published"):
                used.update(f["blob"] for f in rec["published"]["files"])
        for blob in self.blob_dir.iterdir():
            if blob.name not in used:
                blob.unlink(missing_ok=True)

    def close(self) -> None:
        """Release the data folder (the state is already on disk)."""
        self._dir_lock.release()

    # ---------------------------------------------------------------- persistence
    def _load(self) -> dict[str, Any]:
        if self.state_path.exists():
            try:
                with open(self.state_path, encoding="utf-8") as fh:
                    state = json.load(fh)
            except (OSError, ValueError) as exc:
                raise InvalidInputError(
                    f"Cannot read the stand-in's state {self.state_path}: {exc}",
                    "The file was changed by hand or by another program; restore it or use a new --data folder.",
                ) from None
            if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
                raise InvalidInputError(
                    f"{self.state_path} is not a state file of this stand-in version",
                    "Use a new --data folder.",
                )
            return state
        return {"version": STATE_VERSION, "next_id": 1, "records": {}, "concepts": {}, "buckets": {}}

    def save(self) -> None:
        """Write the state atomically (a crash leaves the old or the new file, never half of one)."""
        with self.lock:
            tmp = self.data_dir / f".state.json.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.state, fh, separators=(",", ":"))
                fh.flush()
                sync_file(fh.fileno(), tmp)
            os.replace(tmp, self.state_path)
            sync_folder(self.data_dir)

    def mint_doi(self, rec_id: Any) -> str:
        """The DOI of a record id: ``{prefix}/zenodo.{id}`` (Zenodo), ``{prefix}/{id}`` (a plain instance)."""
        return self.doi_format.format(prefix=self.doi_prefix, id=rdm_ids.shown(self, rec_id))

    def _live(self, rec: dict[str, Any]) -> None:
        """404 if another request deleted the deposition since it was looked up."""
        if self.state["records"].get(str(rec["id"])) is not rec:
            raise ApiError(404, NOT_FOUND)

    def _new_id(self) -> int:
        n = int(self.state["next_id"])
        self.state["next_id"] = n + 1
        return n

    # ---------------------------------------------------------------- lookups
    def records(self) -> Iterable[dict[str, Any]]:
        """Every deposition (draft or published)."""
        return self.state["records"].values()

    def get(self, rec_id: Any) -> dict[str, Any]:
        """The deposition with this id, or a 404."""
        rec = self.state["records"].get(str(rec_id).strip())
        if rec is None:
            raise ApiError(404, NOT_FOUND)
        return rec

    def get_owned(self, rec_id: Any, owner: int) -> dict[str, Any]:
        """The deposition, if it belongs to ``owner`` (else 403)."""
        rec = self.get(rec_id)
        if rec["owner"] != owner:
            raise ApiError(403, "Permission denied.")
        return rec

    def by_bucket(self, bucket: str) -> dict[str, Any]:
        """The deposition whose bucket this is (else 404)."""
        rec_id = self.state["buckets"].get(bucket)
        if rec_id is None:
            raise ApiError(404, "Bucket does not exist.")
        return self.get(rec_id)

    def concept(self, rec: dict[str, Any]) -> dict[str, Any]:
        """The concept (all versions) of a deposition."""
        return self.state["concepts"][rec["conceptrecid"]]

    def versions(self, conceptrecid: str) -> list[dict[str, Any]]:
        """Every version of a concept, drafts included, oldest first."""
        concept = self.state["concepts"].get(str(conceptrecid))
        if not concept:
            return []
        return [self.state["records"][str(i)] for i in concept["versions"] if str(i) in self.state["records"]]

    def published_versions(self, conceptrecid: str) -> list[dict[str, Any]]:
        """The published versions of a concept, oldest first."""
        return [r for r in self.versions(conceptrecid) if r.get("published")]

    def latest_published(self, conceptrecid: str) -> dict[str, Any] | None:
        """The concept's newest published version, if any."""
        pubs = self.published_versions(conceptrecid)
        return pubs[-1] if pubs else None

    def latest_draft(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        """The concept's unpublished draft (a next version being prepared), if any."""
        for r in reversed(self.versions(rec["conceptrecid"])):
            if not r.get("published"):
                return r
        return None

    def published_record(self, rec_id: Any) -> dict[str, Any]:
        """A published record by id; a draft-only id is not registered (404)."""
        rec = self.get(rec_id)
        if not rec.get("published"):
            raise ApiError(404, NOT_REGISTERED)
        return rec

    def is_concept(self, rec_id: Any) -> bool:
        """True if the id is a concept record id."""
        return str(rec_id).strip() in self.state["concepts"]

    # ---------------------------------------------------------------- files
    def check_upload(self, rec: dict[str, Any], key: str, size: int | None) -> None:
        """Refuse an upload before reading its body: locked files, quota, file count."""
        if rec.get("published") or rec["submitted"]:
            raise ApiError(403, "Permission denied.")
        if size is not None:
            self.check_quota(rec, key, size)

    def check_quota(self, rec: dict[str, Any], key: str, size: int) -> None:
        others = [f for f in rec["files"] if f["key"] != key]
        if size > self.quota_bytes:
            raise ApiError(400, "File size limit exceeded.")
        if sum(f["size"] for f in others) + size > self.quota_bytes:
            raise ApiError(400, "Bucket quota exceeded.")
        if len(others) >= self.max_files and len(others) == len(rec["files"]):
            raise ApiError(
                400, "Uploading selected files will result in exceeding the max amount per record."
            )

    def new_temp(self) -> Path:
        """A fresh temporary path for an upload in progress."""
        return self.tmp_dir / f"{uuid.uuid4()}.part"

    def add_file(
        self, rec: dict[str, Any], key: str, temp: Path, size: int, md5: str, mimetype: str
    ) -> dict[str, Any]:
        """Move a completely received upload into place and record it (replacing a file of the same key)."""
        blob = str(uuid.uuid4())
        with self.lock:
            try:
                self._live(rec)
                self.check_upload(rec, key, size)
            except ApiError:
                temp.unlink(missing_ok=True)
                raise
            os.replace(temp, self.blob_dir / blob)  # the caller made ``temp`` durable (sync_file)
            sync_folder(self.blob_dir)
            self.bytes_received += size
            stamp = now()
            old = [f for f in rec["files"] if f["key"] == key]
            entry = {
                "id": str(uuid.uuid4()), "key": key, "size": size, "md5": md5, "blob": blob, "mimetype": mimetype,
                "created": old[0]["created"] if old else stamp, "updated": stamp, "version_id": str(uuid.uuid4()),
            }  # fmt: skip
            rec["files"] = [f for f in rec["files"] if f["key"] != key] + [entry]
            rec["modified"] = stamp
            self.save()
            for f in old:
                self._release_blob(f["blob"])
            return entry

    def delete_file(self, rec: dict[str, Any], *, file_id: str | None = None, key: str | None = None) -> None:
        """Delete a file of a draft by id or key (403 on a published record, 404 if absent)."""
        with self.lock:
            self._live(rec)
            if rec.get("published") or rec["submitted"]:
                raise ApiError(403, "Permission denied.")
            match = [f for f in rec["files"] if (file_id is not None and f["id"] == file_id) or
                     (key is not None and f["key"] == key)]  # fmt: skip
            if not match:
                raise ApiError(404, "File does not exist.")
            rec["files"] = [f for f in rec["files"] if f not in match]
            rec["modified"] = now()
            self.save()
            for f in match:
                self._release_blob(f["blob"])

    def blob_path(self, entry: dict[str, Any]) -> Path:
        """Where the bytes of a file entry are stored."""
        return self.blob_dir / entry["blob"]

    def _release_blob(self, blob: str) -> None:
        for r in self.state["records"].values():
            if any(f["blob"] == blob for f in r["files"]):
                return
            if r.get("published") and any(f["blob"] == blob for f in r["published"]["files"]):
                return
        (self.blob_dir / blob).unlink(missing_ok=True)


class Store(_StoreState):
    """Depositions and records of one stand-in, persisted under ``data_dir``."""

    # ---------------------------------------------------------------- deposit actions
    def create(self, owner: int, metadata: Any) -> dict[str, Any]:
        """A new draft in a new concept (metadata checked; 400 for invalid metadata)."""
        cleaned = _clean(metadata)
        with self.lock:
            concept_id = self._new_id()
            rec_id = self._new_id()
            self.state["concepts"][str(concept_id)] = {
                "conceptrecid": str(concept_id), "conceptdoi": None, "versions": [rec_id], "owner": owner,
            }  # fmt: skip
            rec = self._new_record(rec_id, str(concept_id), owner, cleaned)
            self.save()
            return rec

    def _new_record(
        self, rec_id: int, concept_id: str, owner: int, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        stamp = now()
        bucket = str(uuid.uuid4())
        rec = {
            "id": rec_id, "conceptrecid": concept_id, "owner": owner, "created": stamp, "modified": stamp,
            "metadata": metadata, "state": "unsubmitted", "submitted": False, "bucket": bucket, "files": [],
            "doi": None, "published": None,
        }  # fmt: skip
        self.state["records"][str(rec_id)] = rec
        self.state["buckets"][bucket] = str(rec_id)
        return rec

    def update(self, rec: dict[str, Any], metadata: Any) -> dict[str, Any]:
        """Replace the metadata of a draft or of a published record being edited (404 if published)."""
        with self.lock:
            self._live(rec)
            if rec["state"] == "done":
                raise ApiError(404, NOT_FOUND)  # published and not in edit: immutable
            rec["metadata"] = _clean(metadata)
            rec["modified"] = now()
            rec["revision_id"] = (
                rec.get("revision_id", 1) + 1
            )  # one store: a legacy PUT moves the native ETag
            self.save()
            return rec

    def delete(self, rec: dict[str, Any]) -> None:
        """Delete a never-published draft and its files (404 if published)."""
        with self.lock:
            self._live(rec)
            if rec.get("published") or rec["submitted"]:
                raise ApiError(404, NOT_FOUND)
            self._drop_record(rec)
            self.save()

    def _drop_record(self, rec: dict[str, Any]) -> None:
        files = rec["files"]
        del self.state["records"][str(rec["id"])]
        self.state["buckets"].pop(rec["bucket"], None)
        concept = self.state["concepts"].get(rec["conceptrecid"])
        if concept is not None:
            concept["versions"] = [v for v in concept["versions"] if v != rec["id"]]
            if not concept["versions"]:
                del self.state["concepts"][rec["conceptrecid"]]
        for f in files:
            self._release_blob(f["blob"])

    def publish(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Publish: check completeness (400), mint the DOI and, at first publish, the concept DOI."""
        with self.lock:
            self._live(rec)
            if rec["state"] == "done":
                raise ApiError(404, NOT_FOUND)
            files = rec["files"] if not rec.get("published") else rec["published"]["files"]
            errors = publish_errors(rec["metadata"], len(files))
            if errors:
                raise validation_error(errors)
            concept = self.concept(rec)
            if not concept.get("conceptdoi"):
                concept["conceptdoi"] = self.mint_doi(rec["conceptrecid"])
            rec["doi"] = rec.get("reserved_doi") or self.mint_doi(rec["id"])
            md = copy.deepcopy(rec["metadata"])
            md.setdefault("publication_date", today())
            md.setdefault("access_right", "open")
            if "license" not in md:
                md["license"] = {"id": "cc-zero" if md.get("upload_type") == "dataset" else "cc-by-4.0"}
            md["doi"] = rec["doi"]
            rec["metadata"] = copy.deepcopy(md)
            revision = (rec["published"] or {}).get("revision", 0) + 1
            stamp = now()
            rec["published"] = {
                "metadata": md,
                "files": copy.deepcopy(files),
                "created": (rec["published"] or {}).get("created", stamp),
                "modified": stamp,
                "revision": revision,
            }
            rec["state"] = "done"
            rec["submitted"] = True
            rec["modified"] = stamp
            self.save()
            return rec

    def edit(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Unlock the metadata of a published record (state "inprogress")."""
        with self.lock:
            self._live(rec)
            if rec.get("published") and rec["state"] == "done":
                rec["state"] = "inprogress"
                rec["modified"] = now()
                self.save()
            return rec

    def discard(self, rec: dict[str, Any]) -> None:
        """Drop the edits of a published record, or delete a never-published draft."""
        with self.lock:
            self._live(rec)
            if not rec.get("published"):
                self._drop_record(rec)  # discarding a never-published draft deletes it (RDM delete_draft)
            elif rec["state"] == "inprogress":
                rec["metadata"] = copy.deepcopy(rec["published"]["metadata"])
                rec["state"] = "done"
                rec["modified"] = now()
            self.save()

    def new_version(self, rec: dict[str, Any]) -> dict[str, Any]:
        """The draft of the next version, with the previous files imported (400 if it has files)."""
        with self.lock:
            self._live(rec)
            if not rec.get("published"):
                raise ApiError(404, NOT_REGISTERED)
            latest = self.latest_published(rec["conceptrecid"]) or rec
            draft = self.latest_draft(rec)
            if draft is not None:
                if draft["files"]:
                    raise validation_error(
                        [{"field": "files.enabled", "messages": ["Please remove all files first."]}]
                    )
            else:
                md = copy.deepcopy(latest["published"]["metadata"])
                for key in ("version", "doi", "prereserve_doi"):
                    md.pop(key, None)
                md["publication_date"] = today()
                draft = self._new_record(self._new_id(), rec["conceptrecid"], rec["owner"], md)
                self.concept(rec)["versions"].append(draft["id"])
            for f in latest["published"]["files"]:
                imported = dict(f, id=str(uuid.uuid4()), version_id=str(uuid.uuid4()))
                draft["files"].append(imported)
            draft["modified"] = now()
            self.save()
            return draft


def _clean(metadata: Any) -> dict[str, Any]:
    try:
        return clean_metadata(metadata)
    except MetadataError as exc:
        raise ApiError(400, exc.message, exc.errors or None) from None
