"""Reader for Singularity / Apptainer SIF files (layout of github.com/apptainer/sif, version 01).

Little-endian. A 128-byte header (launch script, "SIF_MAGIC", version, architecture, UUID, times,
descriptor table offset/size, data offset/size), then a table of 585-byte descriptors (data type, used,
ids, offset, size, ..., name[128], extra[384]). Labels live in the GenericJSON descriptor named
`inspect-metadata.json` (data.attributes.labels), images converted from OCI also carry `oci-config.json`,
and old SIF files a Labels descriptor. Every offset and size is bounds-checked against the file.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from ossr_images.errors import InvalidInputError
from ossr_images.images.compression import CHUNK
from ossr_images.images.image_info import ImageInfo

HEADER = struct.Struct("<32s10s3s3s16sqqqqqqqq")
DESCRIPTOR = struct.Struct("<i?IIIqqqqqqq128s384s")
assert HEADER.size == 128 and DESCRIPTOR.size == 585

JSON_MAX = 16 * 1024 * 1024
MAX_DESCRIPTORS = 4096

DATA_TYPES = {
    0x4001: "deffile",
    0x4002: "envvar",
    0x4003: "labels",
    0x4004: "partition",
    0x4005: "signature",
    0x4006: "generic-json",
    0x4007: "generic",
    0x4008: "crypto-message",
    0x4009: "sbom",
    0x400A: "oci-root-index",
    0x400B: "oci-blob",
}
FS_TYPES = {1: "squashfs", 2: "ext3", 3: "immutable-object", 4: "raw", 5: "encrypted-squashfs"}
PART_TYPES = {1: "system", 2: "primary-system", 3: "data", 4: "overlay"}
ARCHES = {
    "00": None,
    "01": "386",
    "02": "amd64",
    "03": "arm",
    "04": "arm64",
    "05": "ppc64",
    "06": "ppc64le",
    "07": "mips",
    "08": "mipsle",
    "09": "mips64",
    "10": "mips64le",
    "11": "s390x",
    "12": "riscv64",
}


def _cstr(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace")


def _time(seconds: int) -> str | None:
    if seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def _bad(path: Path, what: str) -> InvalidInputError:
    return InvalidInputError(
        f"{path} is not a valid SIF file: {what}",
        hint="The file is truncated or corrupt: build or download it again (and check its sha256).",
    )


def read_sif(path: Path, fh: BinaryIO, size: int) -> dict[str, Any]:
    """The header, descriptors and JSON metadata of a SIF file, by seeking (bounds-checked)."""
    fh.seek(0)
    raw = fh.read(HEADER.size)
    if len(raw) < HEADER.size:
        raise _bad(path, "the header is truncated")
    (launch, magic, version, arch, uid, ctime, mtime, dfree, dtotal, doff, dsize, dataoff, datasize) = (
        HEADER.unpack(raw)
    )
    if _cstr(magic) != "SIF_MAGIC":
        raise _bad(path, "wrong magic")
    if dtotal < 0 or dtotal > MAX_DESCRIPTORS:
        raise _bad(path, f"it claims {dtotal} descriptors")
    if doff < HEADER.size or doff + dtotal * DESCRIPTOR.size > size:
        raise _bad(path, f"the descriptor table ({dtotal} entries at offset {doff}) lies outside the file")
    fh.seek(doff)
    table = fh.read(dtotal * DESCRIPTOR.size)
    if len(table) != dtotal * DESCRIPTOR.size:
        raise _bad(path, "the descriptor table is truncated")
    descriptors: list[dict[str, Any]] = []
    for i in range(dtotal):
        fields = DESCRIPTOR.unpack_from(table, i * DESCRIPTOR.size)
        (dtype, used, did, gid, link, off, dsz, _padded, dctime, _dmtime, _uid, _gid, name, extra) = fields
        if not used:
            continue
        if off < 0 or dsz < 0 or off + dsz > size:
            raise _bad(path, f"descriptor {did} ({off}+{dsz} bytes) lies outside the file of {size} bytes")
        d: dict[str, Any] = {
            "id": did,
            "group": (gid & 0x0FFFFFFF) or None,
            "link": link & 0x0FFFFFFF if link else None,
            "type": DATA_TYPES.get(dtype, f"0x{dtype:04x}"),
            "name": _cstr(name),
            "offset": off,
            "size": dsz,
            "created": _time(dctime),
        }
        if dtype == 0x4004:
            fstype, parttype = struct.unpack_from("<ii", extra)
            d["fstype"] = FS_TYPES.get(fstype, str(fstype))
            d["parttype"] = PART_TYPES.get(parttype, str(parttype))
            d["arch"] = ARCHES.get(_cstr(extra[8:11]), _cstr(extra[8:11]) or None)
        descriptors.append(d)
    try:
        sif_id = str(uuid.UUID(bytes=uid))
    except ValueError:  # pragma: no cover - 16 bytes always parse
        sif_id = None
    return {
        "version": _cstr(version),
        "arch": ARCHES.get(_cstr(arch), _cstr(arch) or None),
        "id": sif_id,
        "created": _time(ctime),
        "modified": _time(mtime),
        "descriptors": descriptors,
        "launch": _cstr(launch).strip(),
    }


def _read_json(path: Path, fh: BinaryIO, d: dict[str, Any]) -> Any:
    if d["size"] > JSON_MAX:
        raise _bad(path, f"the JSON descriptor {d['name'] or d['id']} is {d['size']} bytes, more than 16 MiB")
    fh.seek(d["offset"])
    data = fh.read(d["size"])
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _bad(path, f"the descriptor {d['name'] or d['id']} is not valid JSON ({exc})") from exc


def _str_labels(labels: Any) -> dict[str, str]:
    if not isinstance(labels, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in labels.items()}


def inspect_sif(
    path: Path,
    fh: BinaryIO,
    size: int,
    *,
    sha256: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ImageInfo:
    """Describe a SIF file: labels (inspect-metadata.json, then the labels descriptor, then the OCI
    config's labels for keys not yet set), architecture, partitions; the sha256 of the whole file."""
    meta = read_sif(path, fh, size)
    labels: dict[str, str] = {}
    oci_config: Any = None
    for d in meta["descriptors"]:
        if d["type"] == "generic-json" and d["name"] == "inspect-metadata.json":
            doc = _read_json(path, fh, d)
            data = doc.get("data") if isinstance(doc, dict) else None
            attrs = data.get("attributes") if isinstance(data, dict) else None
            labels = {**_str_labels(attrs.get("labels") if isinstance(attrs, dict) else None), **labels}
        elif d["type"] == "labels":
            labels = {**_str_labels(_read_json(path, fh, d)), **labels}
        elif d["type"] == "generic-json" and d["name"] == "oci-config.json":
            oci_config = _read_json(path, fh, d)
    if isinstance(oci_config, dict):
        for k, v in _str_labels(oci_config.get("Labels")).items():
            labels.setdefault(k, v)
    partitions = [d for d in meta["descriptors"] if d["type"] == "partition"]
    primary = next((p for p in partitions if p.get("parttype") == "primary-system"), None)
    digest = None
    if sha256:
        hasher = hashlib.sha256()
        fh.seek(0)
        while chunk := fh.read(CHUNK):
            hasher.update(chunk)
            if progress is not None:
                progress(len(chunk))
        digest = hasher.hexdigest()
    elif progress is not None:
        progress(size)
    return ImageInfo(
        path=str(path),
        format="sif",
        compression="none",
        size=size,
        sha256=digest,
        image_id=None,
        manifest_digest=None,
        repo_tags=[],
        labels=labels,
        architecture=(primary or {}).get("arch") or meta["arch"],
        os="linux",
        created=meta["created"],
        layers=[{"digest": None, "size": p["size"], "fstype": p["fstype"]} for p in partitions],
        layout="sif",
        image_count=1,
        sif=meta,
    )
