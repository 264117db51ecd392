"""What serve sends for one verified image archive: its manifests (byte-stable canonical JSON, or the archived
bytes as they are) and where each blob lies in the uncompressed archive (tar members are contiguous, so a blob
is a byte range of the file: nothing is copied).

- docker-archive (`docker save` before Docker 25): a manifest is built whose config blob is the archived
  config (so the pulled image ID equals the archive's) and whose layers are the archived layer members, each
  described by the sha256 of exactly its bytes (an uncompressed layer's diff_id; a compressed one is hashed).
  Two equivalent manifests are offered: Docker schema 2 and OCI; Accept chooses.
- OCI archive and the Docker 25+ layout (OCI layout plus manifest.json): the index's manifest (or the index
  itself when it names several) is served as archived; every `blobs/<alg>/<hex>` member is a blob.
- SIF: an ORAS artifact (config `application/vnd.sylabs.sif.config.v1+json`, one SIF layer), as
  `apptainer pull oras://` expects.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ossr_images.errors import IntegrityError, InvalidInputError

MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_SIF_CONFIG = "application/vnd.sylabs.sif.config.v1+json"
MT_SIF_LAYER = "application/vnd.sylabs.sif.layer.v1.sif"
MANIFEST_TYPES = (MT_DOCKER_MANIFEST, MT_DOCKER_LIST, MT_OCI_MANIFEST, MT_OCI_INDEX)

_LAYER_TYPES = {  # compression -> (Docker schema 2 media type, OCI media type)
    "none": ("application/vnd.docker.image.rootfs.diff.tar", "application/vnd.oci.image.layer.v1.tar"),
    "gzip": (
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    "zstd": ("application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
}
MAX_JSON = 4 * 1024 * 1024  # manifests, indexes and configs are small
MAX_LINK_HOPS = 8
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BlobLocation:
    """A blob: `size` bytes at `offset` in `path`, or held in memory (`data`, for small synthetic blobs)."""

    digest: str
    size: int
    path: Path | None = None
    offset: int = 0
    data: bytes | None = None


@dataclass(frozen=True)
class Manifest:
    """One manifest or index exactly as served."""

    digest: str
    media_type: str
    body: bytes


@dataclass
class ServedImage:
    """Everything serve sends for one record: manifests by digest, the tagged ones in order of preference
    (the first whose media type the client accepts is sent), and the blobs by digest."""

    record_id: str
    image_id: str | None
    manifests: dict[str, Manifest] = field(default_factory=dict)
    tagged: list[str] = field(default_factory=list)
    blobs: dict[str, BlobLocation] = field(default_factory=dict)

    def for_accept(self, accepted: set[str] | None) -> Manifest:
        """The tagged manifest for a client that accepts `accepted` media types (None: anything)."""
        candidates = [self.manifests[d] for d in self.tagged]
        if accepted:
            for m in candidates:
                if m.media_type in accepted:
                    return m
        return candidates[0]


@dataclass(frozen=True)
class _Member:
    name: str
    offset: int
    size: int
    link: str | None  # target name of a hard or symbolic link


def canonical_json(doc: Any) -> bytes:
    """Byte-stable JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def describe_archive(path: Path, image_format: str, record_id: str, image_id: str | None) -> ServedImage:
    """Index an uncompressed image archive (or a .sif) and build what serve sends for it.

    Raises IntegrityError when the archive disagrees with itself (a manifest or config whose bytes do not
    match its digest, a layer missing), InvalidInputError when it is not an archive serve can read."""
    if image_format == "sif":
        return _describe_sif(path, record_id, image_id)
    members = _index_tar(path)
    image = ServedImage(record_id=record_id, image_id=image_id)
    if "index.json" in members and "oci-layout" in members:
        _describe_oci(path, members, image)
    elif "manifest.json" in members:
        _describe_docker(path, members, image)
    else:
        raise InvalidInputError(f"{path.name} is neither a docker archive nor an OCI layout")
    return image


def _index_tar(path: Path) -> dict[str, _Member]:
    """Every regular file and link of an uncompressed tar by normalised name, with its data offset (headers
    only are read: tarfile seeks over the data)."""
    members: dict[str, _Member] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            for ti in tar:
                name = _norm(ti.name)
                if ti.isreg():
                    members[name] = _Member(name, ti.offset_data, ti.size, None)
                elif ti.issym():
                    members[name] = _Member(
                        name, 0, 0, _norm(posixpath.join(posixpath.dirname(name), ti.linkname))
                    )
                elif ti.islnk():
                    members[name] = _Member(name, 0, 0, _norm(ti.linkname))
    except tarfile.TarError as exc:
        raise InvalidInputError(f"{path.name} is not a readable tar archive: {exc}") from None
    return members


def _norm(name: str) -> str:
    name = posixpath.normpath(name.lstrip("/"))
    return name.removeprefix("./")


def _resolve(members: dict[str, _Member], name: Any, role: str) -> _Member:
    if not isinstance(name, str):
        raise InvalidInputError(f"the archive names no {role}")
    current = _norm(name)
    for _ in range(MAX_LINK_HOPS):
        member = members.get(current)
        if member is None:
            raise IntegrityError(f"the archive has no {role} {name!r}", "The archive is incomplete.")
        if member.link is None:
            return member
        current = member.link
    raise InvalidInputError(f"the {role} {name!r} is a chain of more than {MAX_LINK_HOPS} links")


def _read(path: Path, member: _Member, role: str) -> bytes:
    if member.size > MAX_JSON:
        raise InvalidInputError(f"the {role} {member.name} is {member.size} bytes: too large to be JSON")
    with open(path, "rb") as fh:
        return os_pread(fh, member.size, member.offset)


def os_pread(fh: Any, size: int, offset: int) -> bytes:
    import os

    out = bytearray()
    while len(out) < size:
        chunk = os.pread(fh.fileno(), min(CHUNK, size - len(out)), offset + len(out))
        if not chunk:
            raise IntegrityError(
                "the archive ends early", "The cached archive is damaged; it is fetched again."
            )
        out += chunk
    return bytes(out)


def _json(data: bytes, role: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise InvalidInputError(f"the {role} is not JSON: {exc}") from None


def _head(path: Path, member: _Member) -> bytes:
    with open(path, "rb") as fh:
        return os_pread(fh, min(8, member.size), member.offset)


def _compression_of(head: bytes) -> str:
    from ossr_images.images.compression import detect_compression_bytes

    return detect_compression_bytes(head)


def _hash_member(path: Path, member: _Member) -> str:
    import os

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        done = 0
        while done < member.size:
            chunk = os.pread(fh.fileno(), min(CHUNK, member.size - done), member.offset + done)
            if not chunk:
                raise IntegrityError("the archive ends early", "The cached archive is damaged.")
            h.update(chunk)
            done += len(chunk)
    return "sha256:" + h.hexdigest()


def _describe_docker(path: Path, members: dict[str, _Member], image: ServedImage) -> None:
    entries = _json(
        _read(path, _resolve(members, "manifest.json", "manifest.json"), "manifest.json"), "manifest.json"
    )
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        raise InvalidInputError("manifest.json is not a list of images")
    entry = entries[0]
    config_member = _resolve(members, entry.get("Config"), "config")
    config_bytes = _read(path, config_member, "config")
    config_digest = sha256_digest(config_bytes)
    if image.image_id and config_digest != image.image_id:
        raise IntegrityError(
            f"the archived config is {config_digest}, the image metadata file says {image.image_id}",
            "The archive is not the one the record describes.",
        )
    config = _json(config_bytes, "config")
    diff_ids = ((config.get("rootfs") or {}).get("diff_ids") or []) if isinstance(config, dict) else []
    layer_refs = entry.get("Layers")
    if not isinstance(layer_refs, list) or len(layer_refs) != len(diff_ids):
        raise InvalidInputError("manifest.json and the config disagree on the number of layers")
    image.blobs[config_digest] = BlobLocation(config_digest, len(config_bytes), path, config_member.offset)
    docker_layers: list[dict[str, Any]] = []
    oci_layers: list[dict[str, Any]] = []
    for ref, diff_id in zip(layer_refs, diff_ids, strict=True):
        member = _resolve(members, ref, "layer")
        compression = _compression_of(_head(path, member))
        # an uncompressed layer's bytes are its diff_id (checked again while it is served); else hash them
        digest = diff_id if compression == "none" and isinstance(diff_id, str) else _hash_member(path, member)
        image.blobs[digest] = BlobLocation(digest, member.size, path, member.offset)
        docker_type, oci_type = _LAYER_TYPES[compression]
        docker_layers.append({"mediaType": docker_type, "size": member.size, "digest": digest})
        oci_layers.append({"mediaType": oci_type, "size": member.size, "digest": digest})
    # OCI first: a client that accepts both gets the OCI manifest (skopeo and podman then keep the config's
    # bytes, so the image ID, as they are); Docker schema 2 for clients that ask only for it
    for media, config_type, layers in (
        (MT_OCI_MANIFEST, MT_OCI_CONFIG, oci_layers),
        (MT_DOCKER_MANIFEST, MT_DOCKER_CONFIG, docker_layers),
    ):
        if media == MT_DOCKER_MANIFEST and any(
            lay["mediaType"].startswith("application/vnd.oci") for lay in layers
        ):
            continue  # zstd layers have no Docker schema 2 media type
        body = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": media,
                "config": {"mediaType": config_type, "size": len(config_bytes), "digest": config_digest},
                "layers": layers,
            }
        )
        digest = sha256_digest(body)
        image.manifests[digest] = Manifest(digest, media, body)
        image.tagged.append(digest)


def _describe_oci(path: Path, members: dict[str, _Member], image: ServedImage) -> None:
    for name in list(members):
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "blobs" and parts[1] in ("sha256", "sha512"):
            resolved = _resolve(members, name, "blob")
            digest = f"{parts[1]}:{parts[2]}"
            image.blobs[digest] = BlobLocation(digest, resolved.size, path, resolved.offset)
    index_bytes = _read(path, _resolve(members, "index.json", "index.json"), "index.json")
    index = _json(index_bytes, "index.json")
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidInputError("index.json lists no manifest")
    distinct = {e.get("digest") for e in entries if isinstance(e, dict)}
    _walk(path, members, image, entries, depth=0)
    if len(distinct) == 1:
        image.tagged.append(str(next(iter(distinct))))
    else:  # several images: the layout's own index is served as an image index
        digest = sha256_digest(index_bytes)
        image.manifests[digest] = Manifest(digest, MT_OCI_INDEX, index_bytes)
        image.tagged.append(digest)


def _walk(
    path: Path, members: dict[str, _Member], image: ServedImage, entries: list[Any], depth: int
) -> None:
    """Register every manifest and index reachable from an index whose blob the archive carries."""
    if depth > 4:
        raise InvalidInputError("the OCI index nests more than 4 levels")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            continue
        digest = entry["digest"]
        loc = image.blobs.get(digest)
        if loc is None or loc.path is None:
            if depth == 0:
                raise IntegrityError(f"index.json names {digest}, which the archive does not carry", "")
            continue  # a platform this archive does not carry
        body = _read(path, _Member(digest, loc.offset, loc.size, None), f"manifest {digest}")
        if sha256_digest(body) != digest:
            raise IntegrityError(
                f"the manifest blob {digest} does not match its digest", "The archive is damaged."
            )
        doc = _json(body, f"manifest {digest}")
        media = entry.get("mediaType") or (doc.get("mediaType") if isinstance(doc, dict) else None)
        if not isinstance(media, str):
            media = MT_OCI_INDEX if isinstance(doc, dict) and "manifests" in doc else MT_OCI_MANIFEST
        image.manifests[digest] = Manifest(digest, media, body)
        if isinstance(doc, dict) and isinstance(doc.get("manifests"), list):
            _walk(path, members, image, doc["manifests"], depth + 1)


def _describe_sif(path: Path, record_id: str, image_id: str | None) -> ServedImage:
    """A .sif as an ORAS artifact: an empty JSON config and the file as its one layer."""
    image = ServedImage(record_id=record_id, image_id=image_id)
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    layer_digest = "sha256:" + h.hexdigest()
    config = b"{}"
    config_digest = sha256_digest(config)
    image.blobs[layer_digest] = BlobLocation(layer_digest, size, path, 0)
    image.blobs[config_digest] = BlobLocation(config_digest, len(config), None, 0, config)
    body = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": MT_SIF_CONFIG, "size": len(config), "digest": config_digest},
            "layers": [
                {
                    "mediaType": MT_SIF_LAYER,
                    "size": size,
                    "digest": layer_digest,
                    "annotations": {"org.opencontainers.image.title": f"record-{record_id}.sif"},
                }
            ],
        }
    )
    digest = sha256_digest(body)
    image.manifests[digest] = Manifest(digest, MT_OCI_MANIFEST, body)
    image.tagged.append(digest)
    return image
