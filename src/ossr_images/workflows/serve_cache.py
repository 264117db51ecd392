"""The cache of `serve`: one folder per record under `<cache>/records/<id>/`, holding the archive fetch
downloaded and verified (a compressed one is replaced by its decompressed tar, written once through a
`.part` name), and `serve.json`, written last: a record folder without it is not ready and is fetched again
(fetch resumes its `.part` files). Least recently used records are evicted to stay under the size limit;
a record whose blobs are being sent is never evicted."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ossr_images.errors import InvalidInputError

log = logging.getLogger("ossr_images.serve")

MARKER = "serve.json"
TAR_NAME = "image.tar"
PART = ".part"
CHUNK = 4 * 1024 * 1024

# a record id as serve takes it: Zenodo's digits, or another InvenioRDM's base32 "4d0ns-ntd89" (lower case)
RECORD_ID_RE = re.compile(r"^(?:[0-9]{1,20}|[0-9a-z]{5}-[0-9a-z]{5})$")


@dataclass(frozen=True)
class CachedImage:
    """A verified image archive in the cache, ready to serve (what `serve.json` records)."""

    record_id: str
    path: Path  # the uncompressed archive (or .sif)
    image_format: str
    image_id: str | None
    archive_sha256: str | None  # of the archive as published (before any decompression)
    archive_key: str
    version: str | None
    repository: str | None
    commit: str | None


def default_cache_dir() -> Path:
    """`$OSSR_IMAGES_CACHE_DIR/serve`, else `$XDG_CACHE_HOME/ossr-images/serve`, else `~/.cache/...`."""
    base = os.environ.get("OSSR_IMAGES_CACHE_DIR")
    if base:
        return Path(base) / "serve"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "ossr-images" / "serve"


class Cache:
    """Record folders, per-record locks, in-use counts and LRU eviction (thread-safe)."""

    def __init__(self, root: Path, max_bytes: int | None) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._locks: dict[str, threading.Lock] = {}
        self._in_use: dict[str, int] = {}
        self._guard = threading.Lock()
        try:
            (self.root / "records").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot create the cache folder {self.root}: {exc.strerror or exc}",
                "Choose a writable folder with --cache DIR.",
            ) from exc

    def folder(self, record_id: str) -> Path:
        if not RECORD_ID_RE.match(record_id):
            raise InvalidInputError(f"not a record id: {record_id!r}")
        return self.root / "records" / record_id

    def lock(self, record_id: str) -> threading.Lock:
        """The lock held while a record is fetched and prepared: one download for all concurrent pulls."""
        with self._guard:
            return self._locks.setdefault(record_id, threading.Lock())

    @contextlib.contextmanager
    def using(self, record_id: str) -> Iterator[None]:
        """Mark a record in use (not evictable) for the duration."""
        with self._guard:
            self._in_use[record_id] = self._in_use.get(record_id, 0) + 1
        try:
            yield
        finally:
            with self._guard:
                left = self._in_use[record_id] - 1
                if left:
                    self._in_use[record_id] = left
                else:
                    del self._in_use[record_id]

    def load(self, record_id: str) -> CachedImage | None:
        """The ready image of a record, or None (never prepared, evicted, or its file gone)."""
        marker = self.folder(record_id) / MARKER
        try:
            doc = json.loads(marker.read_text())
            image = CachedImage(**{**doc, "path": Path(doc["path"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None
        if not image.path.is_file():
            return None
        try:
            os.utime(marker)  # most recently used
        except OSError:
            pass
        return image

    def store(self, image: CachedImage) -> None:
        """Write the marker (last step of preparing a record)."""
        marker = self.folder(image.record_id) / MARKER
        tmp = marker.with_name(MARKER + PART)
        doc = {**asdict(image), "path": str(image.path)}
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, marker)

    def forget(self, record_id: str) -> None:
        """Drop a record's marker so that it is fetched again (a cached file failed its check)."""
        with contextlib.suppress(OSError):
            (self.folder(record_id) / MARKER).unlink()

    def discard(self, record_id: str) -> None:
        """Remove a record's folder (a refused record leaves nothing behind)."""
        shutil.rmtree(self.folder(record_id), ignore_errors=True)

    def decompress(self, src: Path, folder: Path) -> Path:
        """Decompress `src` once into `folder/image.tar` (through a .part name) and delete `src`."""
        from ossr_images.images.compression import detect_compression, open_decompressed

        if detect_compression(src) == "none":
            return src
        out = folder / TAR_NAME
        part = folder / (TAR_NAME + PART)
        with open_decompressed(src) as reader, open(part, "wb") as fh:
            while chunk := reader.read(CHUNK):
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, out)
        src.unlink()
        return out

    def evict(self, keep: str | None = None, incoming: int = 0) -> list[str]:
        """Remove least recently used records not in use until the cache plus `incoming` bytes fits."""
        if self.max_bytes is None:
            return []
        entries = []
        for folder in (self.root / "records").iterdir():
            if not folder.is_dir():
                continue
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            marker = folder / MARKER
            used = marker.stat().st_mtime if marker.exists() else time.time()
            entries.append((used, folder.name, size))
        total = sum(e[2] for e in entries) + incoming
        removed: list[str] = []
        for _used, name, size in sorted(entries):
            if total <= self.max_bytes:
                break
            with self._guard:
                lock = self._locks.get(name)
                busy = name == keep or name in self._in_use or (lock is not None and lock.locked())
            if busy:
                continue
            shutil.rmtree(self.root / "records" / name, ignore_errors=True)
            total -= size
            removed.append(name)
            log.info("cache: evicted record %s (%d bytes) to stay under %d bytes", name, size, self.max_bytes)
        return removed
