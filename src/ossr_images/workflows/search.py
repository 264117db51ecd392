"""`ossr-images search`: find published image records, following Zenodo's pagination to the end.

An image record is one that carries the keyword publish sets (IMAGE_KEYWORD) or the image metadata file
(IMAGE_RECORD_KEY). For each hit: DOI, title, version, image format, size, source repository and commit.
Repository and commit come from the record's `isDerivedFrom` related identifier (no extra request); format,
size and compression come from the image metadata file, which is read (a few kB, md5-verified) for the
first `details_limit` hits only, so that a broad search stays within Zenodo's rate limits; past that limit
the format is guessed from the file name and marked as such.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ossr_images.errors import OssrError
from ossr_images.zenodo.models import Record, RemoteFile

DETAILS_LIMIT = 20
DETAIL_WORKERS = 3
MAX_METADATA_BYTES = 1024 * 1024


@dataclass
class SearchHit:
    """One image record found."""

    record_id: str
    doi: str | None
    conceptdoi: str | None
    title: str | None
    version: str | None
    publication_date: str | None
    image_file: str | None
    format: str | None
    compression: str | None
    size: int | None
    repository: str | None
    commit: str | None
    details: str  # "metadata-file" (read), "record" (derived from the record only)
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "doi": self.doi,
            "conceptdoi": self.conceptdoi,
            "title": self.title,
            "version": self.version,
            "publication_date": self.publication_date,
            "image_file": self.image_file,
            "format": self.format,
            "compression": self.compression,
            "size": self.size,
            "source": {"repository": self.repository, "commit": self.commit},
            "details_from": self.details,
            "url": self.url,
        }


@dataclass
class SearchResult:
    """All hits of a search; `to_dict()` is the `--json` document."""

    query: str | None
    community: str | None
    hits: list[SearchHit]
    server: str
    api: str = ""  # the backend that searched: "legacy" or "rdm"

    def to_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "query": self.query,
            "community": self.community,
            "server": self.server,
            "total": len(self.hits),
            "records": [h.to_dict() for h in self.hits],
        }


def image_query(text: str | None) -> str:
    """The Zenodo query for image records, optionally narrowed by free text."""
    from ossr_images.metadata.image_record import IMAGE_KEYWORD

    base = f'keywords:"{IMAGE_KEYWORD}"'
    text = (text or "").strip()
    if not text:
        return base
    return f"{base} AND {text}" if len(text.split()) == 1 else f"{base} AND ({text})"


def is_image_record(record: Record) -> bool:
    """True for a record published by ossr-images: its keyword or its image metadata file."""
    from ossr_images.metadata.image_record import IMAGE_KEYWORD, IMAGE_RECORD_KEY

    if any(k.strip().lower() == IMAGE_KEYWORD for k in record.keywords):
        return True
    return record.file(IMAGE_RECORD_KEY) is not None


def search(
    target: Any,
    text: str | None = None,
    *,
    community: str | None = None,
    details_limit: int = DETAILS_LIMIT,
    client: Any = None,
    notify: Callable[[str], None] | None = None,
) -> SearchResult:
    """Search `target` for image records (all pages), newest first as Zenodo sorts them.

    Raises RemoteError (exit 4) when the server fails after retries; never prints.
    """
    with contextlib.ExitStack() as stack:
        if client is None:
            from ossr_images.zenodo.backends import open_client

            client = stack.enter_context(open_client(target))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ossr-search-")))
        pool = stack.enter_context(
            ThreadPoolExecutor(max_workers=DETAIL_WORKERS, thread_name_prefix="search")
        )
        pending: list[Future[SearchHit]] = []
        seen: set[str] = set()
        for record in _records(client, text, community):
            rid = record.id
            if not rid or rid in seen or not is_image_record(record):
                continue
            seen.add(rid)
            # the metadata files of the first hits are read a few at a time while the next pages come in
            detail_client = client if len(pending) < details_limit else None
            pending.append(pool.submit(describe_record, record, detail_client, scratch, notify))
        hits = [f.result() for f in pending]
    return SearchResult(
        query=text,
        community=community,
        hits=hits,
        server=getattr(target, "api_url", ""),
        api=str(getattr(client, "api", "")),
    )


def _records(client: Any, text: str | None, community: str | None) -> Iterator[Record]:
    communities = [community] if community else None
    yield from client.search_records(q=image_query(text), communities=communities)


def describe_record(
    record: Record,
    client: Any,
    scratch: Path,
    notify: Callable[[str], None] | None = None,
) -> SearchHit:
    """A SearchHit from a record; with a client, the image metadata file is read for format and size."""
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY
    from ossr_images.workflows.fetch_records import guess_image_key, unsafe_key_reason, zenodo_source

    files = record.files
    by_key = {f.key: f for f in files if isinstance(f.key, str)}
    source = zenodo_source(record)
    hit = SearchHit(
        record_id=record.id,
        doi=record.doi,
        conceptdoi=record.conceptdoi,
        title=record.title,
        version=record.version,
        publication_date=record.publication_date,
        image_file=None,
        format=None,
        compression=None,
        size=None,
        repository=source[0] if source else None,
        commit=source[1] if source else None,
        details="record",
        url=record.self_html_url or record.html_url,
    )
    meta = by_key.get(IMAGE_RECORD_KEY)
    if client is not None and meta is not None and (meta.size or 0) <= MAX_METADATA_BYTES:
        try:
            doc = _read_metadata_file(client, meta, scratch, hit.record_id)
        except (OssrError, OSError, ValueError) as exc:
            if notify:
                notify(
                    f"record {hit.record_id}: could not read {IMAGE_RECORD_KEY} ({exc}); details from the record"
                )
            doc = None
        if doc is not None:
            hit.image_file = doc.file_name
            hit.format = doc.format
            hit.compression = doc.compression
            hit.size = doc.size
            hit.repository = hit.repository or doc.repository
            hit.commit = hit.commit or doc.commit
            hit.version = hit.version or doc.version
            hit.details = "metadata-file"
            return hit
    key = guess_image_key([f for f in files if isinstance(f.key, str) and unsafe_key_reason(f.key) is None])
    if key is not None:
        hit.image_file = key
        hit.size = by_key[key].size
        hit.format, hit.compression = _guess_format(key)
    return hit


def _read_metadata_file(client: Any, entry: RemoteFile, scratch: Path, record_id: str) -> Any:
    """Download and parse one record's image metadata file (md5 verified by the client); invalid -> None."""
    from ossr_images.errors import InvalidInputError
    from ossr_images.metadata.image_record import ImageRecord

    if not entry.url:
        return None
    dest = scratch / f"{record_id}.json"
    client.download_file(entry.url, dest, size=entry.size, md5=entry.md5)
    try:
        data = dest.read_bytes()
    finally:
        dest.unlink(missing_ok=True)
    try:
        return ImageRecord.from_bytes(data)
    except (InvalidInputError, json.JSONDecodeError):
        return None


def _guess_format(name: str) -> tuple[str | None, str | None]:
    """(format, compression) from a file name; format None when the name does not tell."""
    lower = name.lower()
    if lower.endswith(".sif"):
        return "sif", "none"
    compression = "none"
    if lower.endswith((".zst", ".zstd")):
        compression = "zstd"
    elif lower.endswith((".gz", ".tgz")):
        compression = "gzip"
    if ".oci" in lower:
        return "oci-archive", compression
    return None, compression
