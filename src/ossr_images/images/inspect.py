"""Read an image archive without any engine: Docker archives (`docker save`, legacy and OCI-in-tar), OCI
image-layout archives (plain, gzip or zstd) and Apptainer/Singularity `.sif` files.

One streaming pass over the file: the raw bytes are hashed as they are read, the tar is read in stream
mode over a decompressing reader, only small JSON members are kept in memory, nothing is written to disk.
An uncompressed archive read with `sha256=False` is read by seeking over the tar headers instead.
Hostile or broken input raises `InvalidInputError` (or `IntegrityError` for a digest mismatch).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ossr_images.errors import IntegrityError, InvalidInputError
from ossr_images.images.archive_layouts import blob_member, describe_archive
from ossr_images.images.archive_scan import (
    HashingReader,
    MemberSink,
    corrupt_archive,
    looks_like_tar,
    member_json,
    read_errors,
    resolve_member,
    scan_seek,
    scan_to_end,
)
from ossr_images.images.compression import decompressing_reader, detect_compression_bytes
from ossr_images.images.image_info import ImageInfo, Progress
from ossr_images.images.sif import inspect_sif

__all__ = [
    "ImageInfo",
    "Progress",
    "ScannedImage",
    "inspect_image",
    "inspect_tar_stream",
    "scan_image_archive",
]

SIF_MAGIC_OFFSET = 32
SIF_MAGIC = b"SIF_MAGIC"


# --------------------------------------------------------------------------------------------- public


def inspect_image(
    path: Path | str,
    *,
    sha256: bool = True,
    progress: Progress | None = None,
    verify_layers: bool = False,
) -> ImageInfo:
    """Describe the image file at `path` (Docker archive, OCI archive or .sif; plain, gzip or zstd).

    With `sha256=True` the whole file is read once and its sha256 reported; with `sha256=False` an
    uncompressed archive is read by seeking (headers and small JSON members only). `progress(n)` is
    called with the number of raw bytes read. With `verify_layers=True` every layer is hashed too (in the
    same pass) and compared with its digest / diff_id: a mismatch raises IntegrityError. The config and
    manifest blobs are always checked against their digests.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read image file {path}: {exc.strerror or exc}",
            hint="Check the path: give an image archive (.tar, .tar.zst, .tar.gz) or a .sif file.",
        ) from exc
    if not path.is_file():
        raise InvalidInputError(
            f"{path} is not a regular file", hint="Give an image archive or a .sif file, not a directory."
        )
    size = st.st_size
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInputError(
            f"cannot open image file {path}: {exc.strerror or exc}", hint="Check the file's permissions."
        ) from exc
    with fh:
        head = fh.read(SIF_MAGIC_OFFSET + len(SIF_MAGIC) + 600)
        fh.seek(0)
        if len(head) == 0:
            raise InvalidInputError(
                f"{path} is empty", hint="The file is incomplete: build, export or download it again."
            )
        if head[SIF_MAGIC_OFFSET : SIF_MAGIC_OFFSET + len(SIF_MAGIC)] == SIF_MAGIC:
            try:
                return inspect_sif(path, fh, size, sha256=sha256, progress=progress)
            except OSError as exc:
                raise InvalidInputError(
                    f"reading {path} failed: {exc.strerror or exc}", hint="Check the file and the disk."
                ) from exc
        compression = detect_compression_bytes(head)
        if compression == "none" and not looks_like_tar(head):
            raise InvalidInputError(
                f"{path} is neither a tar archive, a gzip/zstd-compressed one, nor a SIF file",
                hint="Give a `docker save` archive (.tar, .tar.gz, .tar.zst), an OCI archive or a .sif file.",
            )
        errors = read_errors()
        digest: str | None = None
        try:
            if compression == "none" and not sha256:
                scan = scan_seek(path, size, verify_layers)
                if progress is not None:
                    progress(size)
            else:
                hasher = hashlib.sha256() if sha256 else None
                raw = HashingReader(fh, hasher, progress)
                scan = scan_to_end(decompressing_reader(raw, compression), path, verify_layers)  # type: ignore[arg-type]
                raw.drain()
                if hasher is not None:
                    digest = hasher.hexdigest()
        except (InvalidInputError, IntegrityError):
            raise
        except errors as exc:
            raise corrupt_archive(path, compression, exc) from exc
    info = describe_archive(scan, path)
    info.layers_verified = verify_layers
    info.compression = compression
    info.size = size
    info.sha256 = digest
    return info


def inspect_tar_stream(stream: BinaryIO, name: Path | str) -> ImageInfo:
    """Describe the uncompressed image tar read from `stream`, which is read to its end, once (so that a
    caller can compress or hash the same bytes as they are read). `name` is used in messages and as the
    info's path. Raises InvalidInputError for a stream that is not a complete image archive; exceptions
    raised by `stream` itself propagate unchanged, except the tar and read errors of `read_errors()`."""
    path = Path(name)
    try:
        scan = scan_to_end(stream, path, False)
    except (InvalidInputError, IntegrityError):
        raise
    except read_errors() as exc:
        raise corrupt_archive(path, "none", exc) from exc
    info = describe_archive(scan, path)
    info.compression = "none"
    info.size = 0
    return info


@dataclass
class ScannedImage:
    """An image archive read once by `scan_image_archive`: what inspect reports, the archive member holding
    each layer (in the image's order) and the image config document."""

    info: ImageInfo
    layer_members: list[str]
    config: dict[str, Any]


def scan_image_archive(
    path: Path | str, sink: MemberSink, *, progress: Progress | None = None
) -> ScannedImage:
    """Read a Docker or OCI image archive (plain, gzip or zstd) once, streaming, as `inspect_image` does;
    every regular member that is not a small JSON document (layers, mostly) is given to
    `sink(name, size, fileobj)` as it passes, to read or not. Raises InvalidInputError for a file that is not
    such an archive (a SIF file included) and IntegrityError for a config or manifest that fails its digest.
    """
    path = Path(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read image file {path}: {exc.strerror or exc}",
            hint="Check the path: give an image archive (.tar, .tar.zst, .tar.gz).",
        ) from exc
    with fh:
        head = fh.read(SIF_MAGIC_OFFSET + len(SIF_MAGIC) + 600)
        fh.seek(0)
        if head[SIF_MAGIC_OFFSET : SIF_MAGIC_OFFSET + len(SIF_MAGIC)] == SIF_MAGIC:
            raise InvalidInputError(
                f"{path} is a SIF file; only Docker and OCI archives can be read layer by layer",
                hint="Compare Docker or OCI archives (`ossr-images export` writes one).",
            )
        compression = detect_compression_bytes(head)
        if compression == "none" and not looks_like_tar(head):
            raise InvalidInputError(
                f"{path} is neither a tar archive nor a gzip/zstd-compressed one",
                hint="Give a `docker save` archive (.tar, .tar.gz, .tar.zst) or an OCI archive.",
            )
        try:
            raw = HashingReader(fh, None, progress)
            scan = scan_to_end(decompressing_reader(raw, compression), path, False, sink)  # type: ignore[arg-type]
            raw.drain()
        except (InvalidInputError, IntegrityError):
            raise
        except read_errors() as exc:
            raise corrupt_archive(path, compression, exc) from exc
    info = describe_archive(scan, path)
    info.compression = compression
    info.size = raw.count
    if info.format == "docker-archive":
        entry = member_json(resolve_member(scan, "manifest.json", "manifest"), "manifest")[0]
        members = [resolve_member(scan, ref, "layer", follow_links=True).name for ref in entry["Layers"]]
        config = member_json(resolve_member(scan, entry.get("Config"), "config"), "config")
    else:
        members = [blob_member(scan, layer["digest"], "layer").name for layer in info.layers]
        config = member_json(blob_member(scan, str(info.image_id), "config"), "config")
    return ScannedImage(info, members, config)
