"""The file step of `publish`: make a draft's files exactly the image, codemeta.json and the image metadata file,
upload what is missing (the image streamed, md5 + sha256 in that one pass), verify every md5 in the draft's file
list, and return what was published. Files already there with the right md5 are not sent again."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ossr_images.errors import IntegrityError
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, dump_image_record
from ossr_images.workflows import journal as jr
from ossr_images.workflows.publish_plan import (
    CODEMETA_KEY,
    PublishedFile,
    PublishPlan,
    close_sink,
    local_file,
)
from ossr_images.zenodo.models import RemoteFile

ProgressFactory = Callable[[int | None, str], Callable[[int], None]]


@dataclass(frozen=True)
class SyncedFiles:
    """The draft's files after the sync (image, codemeta.json, image metadata file) and the image record."""

    files: list[PublishedFile]
    image_record: dict[str, Any]
    image_sha256: str


@dataclass(frozen=True)
class FileSync:
    """Uploads and verifies one plan's files in a draft (holds only what it was given)."""

    client: Any  # zenodo.protocol.RepositoryClient
    plan: PublishPlan
    progress: ProgressFactory | None
    say: Callable[[str], None]
    cache_root: Path | None

    def image_hashes(self) -> tuple[str, str]:
        """(md5, sha256) of the image file: from the hash cache when unchanged, else one streaming pass."""
        plan = self.plan
        hit = jr.cached_hashes(plan.image_path, self.cache_root)
        if hit:
            return hit
        sink = self.progress(plan.image_size, f"Hashing {plan.image_key}") if self.progress else None
        try:
            return jr.file_hashes(plan.image_path, progress=sink, root=self.cache_root)
        finally:
            close_sink(sink)

    def sync(self, dep_id: int | str, bucket: str) -> SyncedFiles:
        """Remove files that do not belong, upload the three files (unless there already), verify them."""
        plan = self.plan
        remote = {f.key: f for f in self.client.list_files(dep_id)}
        wanted = {plan.image_key, CODEMETA_KEY, IMAGE_RECORD_KEY}
        for key, entry in remote.items():
            if key not in wanted:
                self.say(f"Removing {key} (carried over or stale).")
                self.client.delete_file(dep_id, entry.id)

        img = self._upload_image(bucket, remote.get(plan.image_key))
        cm = self._upload_bytes(bucket, CODEMETA_KEY, plan.codemeta_bytes, remote.get(CODEMETA_KEY))
        md5, sha = (img.md5, img.sha256) if img.md5 and img.sha256 else self.image_hashes()
        record = plan.image_record(sha256=sha, md5=md5)
        rec = self._upload_bytes(
            bucket, IMAGE_RECORD_KEY, dump_image_record(record), remote.get(IMAGE_RECORD_KEY)
        )
        files = [img, cm, rec]
        self.verify(dep_id, files)
        return SyncedFiles(files, record, sha)

    def _upload_image(self, bucket: str, existing: RemoteFile | None) -> PublishedFile:
        plan = self.plan
        size = plan.image_size
        if existing is not None and existing.size == size:
            md5, sha = self.image_hashes()
            if existing.md5 == md5:
                self.say(f"{plan.image_key} is already uploaded (md5 verified); not sent again.")
                return PublishedFile(plan.image_key, size, md5, sha)
        self.say(f"Uploading {plan.image_key} ({size} bytes).")
        sink = self.progress(size, f"Uploading {plan.image_key}") if self.progress else None
        try:
            with open(plan.image_path, "rb") as fh:
                res = self.client.upload_file(bucket, plan.image_key, fh, size, progress=sink)
        finally:
            close_sink(sink)
        jr.remember_hashes(plan.image_path, res.md5, res.sha256, self.cache_root)
        return PublishedFile(plan.image_key, int(res.size), res.md5, res.sha256)

    def _upload_bytes(self, bucket: str, key: str, data: bytes, existing: RemoteFile | None) -> PublishedFile:
        local = local_file(key, data)
        if existing is not None and existing.md5 == local.md5 and existing.size == local.size:
            return local
        res = self.client.upload_file(bucket, key, io.BytesIO(data), len(data))
        if res.md5 != local.md5:  # the client compares Zenodo's checksum with the bytes it sent
            raise IntegrityError(f"{key}: sent md5 {res.md5} but the local bytes have {local.md5}")
        return local

    def verify(self, dep_id: int | str, files: list[PublishedFile]) -> None:
        """Every file in the draft, as Zenodo lists it, has the size and md5 we computed; nothing else is there."""
        remote = {f.key: f for f in self.client.list_files(dep_id)}
        expected = {f.key: f for f in files}
        for key, f in expected.items():
            entry = remote.get(key)
            if entry is None:
                raise IntegrityError(
                    f"{key} is missing from deposition {dep_id} after its upload",
                    "Nothing was published. Run the command again to upload it again.",
                )
            if entry.md5 != f.md5 or (entry.size is not None and entry.size != f.size):
                raise IntegrityError(
                    f"{key} in deposition {dep_id} has md5 {entry.md5} and size {entry.size}, "
                    f"but the local file has md5 {f.md5} and size {f.size}",
                    "Nothing was published. Run the command again: the file is uploaded again.",
                )
        extra = sorted(set(remote) - set(expected))
        if extra:
            raise IntegrityError(
                f"deposition {dep_id} holds unexpected files: {', '.join(extra)}",
                "Nothing was published. Run the command again (extra files are removed), or remove them.",
            )
