"""Preparing a record for serve: fetched and verified once (fetch's md5, sha256 and provenance checks),
decompressed once, indexed (manifests and blob byte ranges), whatever the number of concurrent pulls (a lock
per record). Refusals are remembered for REFUSAL_TTL so that a bad record is not downloaded at every pull;
prepared images are kept in memory (small: manifests and offsets), most recently used last."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from ossr_images.errors import IntegrityError, InvalidInputError, RemoteError
from ossr_images.workflows.serve_archive import ServedImage, describe_archive
from ossr_images.workflows.serve_cache import Cache, CachedImage
from ossr_images.workflows.serve_errors import RegistryError
from ossr_images.workflows.serve_source import RecordInfo, RecordRefused, ZenodoSource

log = logging.getLogger("ossr_images.serve")

REFUSAL_TTL = 300.0  # seconds a refused record is not fetched again
MAX_IMAGES = 256  # prepared images kept in memory


class Preparer:
    """Thread-safe."""

    def __init__(self, source: ZenodoSource, cache: Cache) -> None:
        self.source = source
        self.cache = cache
        self._guard = threading.Lock()
        self._images: OrderedDict[str, tuple[RecordInfo, ServedImage]] = OrderedDict()
        self._refused: dict[str, tuple[float, RegistryError]] = {}
        self._verified: set[tuple[str, str]] = set()

    def prepared(self, record: RecordInfo) -> list[ServedImage]:
        """Images already prepared for this record or another version of its concept (no download)."""
        with self._guard:
            return [
                served
                for info, served in self._images.values()
                if info.record_id == record.record_id
                or (record.concept_id is not None and info.concept_id == record.concept_id)
            ]

    def is_verified(self, served: ServedImage, digest: str) -> bool:
        """Whether a whole blob has been hashed and matched since it was cached."""
        with self._guard:
            return (served.record_id, digest) in self._verified

    def mark_verified(self, served: ServedImage, digest: str) -> None:
        with self._guard:
            self._verified.add((served.record_id, digest))

    def blob_failed(self, served: ServedImage, digest: str, why: str) -> None:
        """A cached blob failed its digest check: drop the record so that it is fetched again."""
        log.error(
            "record %s: blob %s failed its check (%s); the record will be fetched again",
            served.record_id,
            digest,
            why,
        )
        with self._guard:
            self._images.pop(served.record_id, None)
            self._verified = {v for v in self._verified if v[0] != served.record_id}
        self.cache.discard(served.record_id)

    def image(self, record: RecordInfo) -> ServedImage:
        """The served image of a record. Raises RegistryError DENIED for a record that fails a check,
        UNAVAILABLE when Zenodo cannot be reached."""
        rid = record.record_id
        ready = self._ready(rid)
        if ready is not None:
            return ready
        with self.cache.lock(rid):
            ready = self._ready(rid)
            if ready is not None:
                return ready
            with self._guard:
                refused = self._refused.get(rid)
            if refused and time.monotonic() - refused[0] < REFUSAL_TTL:
                raise refused[1]
            try:
                served = self._prepare(record)
            except RegistryError as exc:
                if exc.code == "DENIED":
                    with self._guard:
                        self._refused[rid] = (time.monotonic(), exc)
                raise
            with self._guard:
                self._images[rid] = (record, served)
                while len(self._images) > MAX_IMAGES:
                    self._images.popitem(last=False)
            return served

    def _ready(self, rid: str) -> ServedImage | None:
        with self._guard:
            hit = self._images.get(rid)
        if hit is None:
            return None
        if self.cache.load(rid) is None:  # evicted, or dropped after a failed check
            with self._guard:
                self._images.pop(rid, None)
            return None
        with self._guard:
            self._images.move_to_end(rid)
        return hit[1]

    def _prepare(self, record: RecordInfo) -> ServedImage:
        rid = record.record_id
        cached = self.cache.load(rid)
        if cached is not None:
            return self._describe(cached)
        self.cache.evict(keep=rid, incoming=record.total_size)
        folder = self.cache.folder(rid)
        started = time.monotonic()
        log.info("record %s: fetching its image into %s", rid, folder)
        try:
            fetched = self.source.fetch_image(rid, folder)
            sif = fetched.image_format == "sif"
            path = fetched.path if sif else self.cache.decompress(fetched.path, folder)
        except RecordRefused as exc:
            self.cache.discard(rid)
            log.warning("record %s refused: check %s failed: %s", rid, exc.check, exc.message)
            raise RegistryError(
                "DENIED",
                f"record {rid} is not served: check {exc.check} failed",
                exc.message,
                check=exc.check,
            ) from None
        except RemoteError as exc:
            log.warning("record %s: fetching failed: %s", rid, exc.message)
            raise RegistryError(
                "UNAVAILABLE", f"record {rid} cannot be fetched from Zenodo now", exc.message
            ) from None
        cached = CachedImage(
            record_id=rid,
            path=path,
            image_format=fetched.image_format,
            image_id=fetched.image_id,
            archive_sha256=fetched.sha256,
            archive_key=fetched.key,
            version=fetched.version,
            repository=fetched.repository,
            commit=fetched.commit,
        )
        served = self._describe(cached)
        self.cache.store(cached)
        log.info(
            "record %s: verified (md5, sha256, provenance) and ready in %.1f s: %s at %s",
            rid,
            time.monotonic() - started,
            cached.repository,
            cached.commit,
        )
        return served

    def _describe(self, cached: CachedImage) -> ServedImage:
        try:
            return describe_archive(cached.path, cached.image_format, cached.record_id, cached.image_id)
        except (IntegrityError, InvalidInputError) as exc:
            self.cache.discard(cached.record_id)
            log.warning("record %s refused: check archive failed: %s", cached.record_id, exc.message)
            raise RegistryError(
                "DENIED",
                f"record {cached.record_id} is not served: check archive failed",
                exc.message,
                check="archive",
            ) from None
