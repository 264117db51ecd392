"""What a scanned tar image archive holds: the Docker (`docker save`, legacy and OCI-in-tar) and OCI
image-layout descriptions, read from the members `archive_scan` kept. Config and manifest blobs are checked
against their digests (`IntegrityError` on a mismatch); layers too when the scan hashed them.
"""

from __future__ import annotations

import hashlib
import json
import platform
import posixpath
import re
from pathlib import Path
from typing import Any

from ossr_images.errors import IntegrityError, InvalidInputError
from ossr_images.images.archive_scan import TarMember, TarScan, member_json, resolve_member
from ossr_images.images.image_info import ImageInfo

MT_INDEXES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
_DIGEST_RE = re.compile(r"^(sha256|sha512):([a-f0-9]+)$")
_DIGEST_LEN = {"sha256": 64, "sha512": 128}


def describe_archive(scan: TarScan, path: Path) -> ImageInfo:
    members = scan.members
    if "manifest.json" in members:
        return _describe_docker(scan, path)
    if "index.json" in members:
        return _describe_oci(scan, path)
    raise InvalidInputError(
        f"{path} is a tar archive but not an image archive: it has neither manifest.json (docker save) "
        "nor index.json (OCI layout)",
        hint="Export the image with `ossr-images export` or `docker save`, then try again.",
    )


def _check_digest(data: bytes, digest: str, what: str) -> None:
    alg, _, expected = digest.partition(":")
    actual = hashlib.new(alg, data).hexdigest()
    if actual != expected:
        raise IntegrityError(
            f"{what} does not match its digest: expected {digest}, found {alg}:{actual}",
            hint="The archive was altered or corrupted: do not use it; export or download it again.",
        )


def _parse_digest(value: Any, what: str) -> str:
    m = _DIGEST_RE.match(value) if isinstance(value, str) else None
    if not m or len(m.group(2)) != _DIGEST_LEN[m.group(1)]:
        raise InvalidInputError(
            f"{what} has an invalid digest {value!r}",
            hint="The archive is corrupt or was not made by docker save / an OCI tool.",
        )
    return value


def _config_facts(config: Any, info: ImageInfo, where: str) -> list[str]:
    """Fill labels, architecture, os, created, docker_version from a config; return its diff_ids."""
    if not isinstance(config, dict):
        raise InvalidInputError(
            f"the image config {where} is not a JSON object",
            hint="The archive is corrupt or was not made by docker save / an OCI tool.",
        )
    inner = config.get("config") or {}
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    if labels is None:
        labels = {}
    if not isinstance(labels, dict):
        raise InvalidInputError(
            f"the labels in the image config {where} are not a JSON object",
            hint="The archive is corrupt or was not made by docker save / an OCI tool.",
        )
    info.labels = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in labels.items()}
    for attr in ("architecture", "os", "created"):
        value = config.get(attr)
        setattr(info, attr, value if isinstance(value, str) else None)
    version = config.get("docker_version")
    info.docker_version = version if isinstance(version, str) and version else None
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return [d for d in diff_ids if isinstance(d, str)] if isinstance(diff_ids, list) else []


def _check_layer(member: TarMember, digest: str, path: Path) -> None:
    alg, _, expected = digest.partition(":")
    if alg != "sha256" or member.sha256 is None:
        return  # only sha256 digests are computed
    if member.sha256 != expected:
        raise IntegrityError(
            f"layer {member.name} in {path} does not match its digest: expected {digest}, found "
            f"sha256:{member.sha256}",
            hint="The archive was altered or corrupted: do not use it; export or download it again.",
        )


def _blank(path: Path, fmt: str) -> ImageInfo:
    return ImageInfo(
        path=str(path),
        format=fmt,
        compression="none",
        size=0,
        sha256=None,
        image_id=None,
        manifest_digest=None,
    )


def _describe_docker(scan: TarScan, path: Path) -> ImageInfo:
    manifest = member_json(resolve_member(scan, "manifest.json", "manifest"), "manifest")
    if not isinstance(manifest, list) or not manifest or not all(isinstance(e, dict) for e in manifest):
        raise InvalidInputError(
            f"manifest.json in {path} is not a non-empty list of images",
            hint="The archive is corrupt or was not made by docker save.",
        )
    entry = manifest[0]
    info = _blank(path, "docker-archive")
    info.image_count = len(manifest)
    config_member = resolve_member(scan, entry.get("Config"), "config")
    config_bytes = config_member.data
    config = member_json(config_member, "config")
    assert config_bytes is not None
    image_hex = hashlib.sha256(config_bytes).hexdigest()
    info.image_id = f"sha256:{image_hex}"
    # the config's name carries its digest: "<hex>.json" (legacy) or "blobs/sha256/<hex>" (Docker 25+)
    named = posixpath.basename(config_member.name).removesuffix(".json")
    if re.fullmatch(r"[a-f0-9]{64}", named) and named != image_hex:
        raise IntegrityError(
            f"the image config {config_member.name} in {path} does not match its name: its sha256 is "
            f"{image_hex}",
            hint="The archive was altered or corrupted: do not use it; export or download it again.",
        )
    diff_ids = _config_facts(config, info, config_member.name)
    tags = entry.get("RepoTags") or []
    info.repo_tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    layer_refs = entry.get("Layers")
    if not isinstance(layer_refs, list):
        raise InvalidInputError(
            f"manifest.json in {path} has no list of layers",
            hint="The archive is corrupt or was not made by docker save.",
        )
    if len(layer_refs) != len(diff_ids):
        raise InvalidInputError(
            f"manifest.json in {path} lists {len(layer_refs)} layers but the image config has "
            f"{len(diff_ids)} diff_ids",
            hint="The archive is corrupt: export or download it again.",
        )
    for ref, diff_id in zip(layer_refs, diff_ids, strict=True):
        member = resolve_member(scan, ref, "layer", follow_links=True)
        if scan.verify:
            _check_layer(member, diff_id, path)
        info.layers.append({"digest": diff_id, "size": member.size})
    info.layout = "docker-legacy"
    if "index.json" in scan.members and "oci-layout" in scan.members:
        info.layout = "docker+oci"
        info.manifest_digest = _find_manifest_for_config(scan, info.image_id)
    return info


def _find_manifest_for_config(scan: TarScan, image_id: str) -> str | None:
    """The digest of the OCI manifest (Docker 25+ layout) whose config is `image_id`, if any."""
    try:
        manifests = _walk_index(scan)
    except InvalidInputError:
        return None
    for digest, manifest, _annotations in manifests:
        config = manifest.get("config") if isinstance(manifest, dict) else None
        if isinstance(config, dict) and config.get("digest") == image_id:
            return digest
    return None


def blob_member(scan: TarScan, digest: str, role: str) -> TarMember:
    alg, _, hex_ = _parse_digest(digest, role).partition(":")
    return resolve_member(scan, f"blobs/{alg}/{hex_}", f"{role} blob {digest}")


def _walk_index(scan: TarScan) -> list[tuple[str, Any, dict[str, str]]]:
    """All image manifests reachable from index.json: (digest, manifest, annotations). Inside a nested
    image index, platform variants whose blobs the archive does not carry (a single-platform save of a
    multi-platform image) and attestation manifests are skipped."""
    index = member_json(resolve_member(scan, "index.json", "index"), "index")
    found: list[tuple[str, Any, dict[str, str]]] = []

    def walk(doc: Any, depth: int, inherited: dict[str, str]) -> None:
        if depth > 4:
            raise InvalidInputError(
                "the OCI index nests more than 4 levels", hint="Refusing a hostile or corrupt archive."
            )
        entries = doc.get("manifests") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise InvalidInputError(
                "an OCI index of the archive has no list of manifests",
                hint="The archive is corrupt or was not made by an OCI tool.",
            )
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            digest = _parse_digest(entry.get("digest"), "a manifest in the OCI index")
            platform = entry.get("platform") if isinstance(entry.get("platform"), dict) else {}
            ann = entry.get("annotations") if isinstance(entry.get("annotations"), dict) else {}
            if depth > 0 and (platform.get("os") == "unknown" or "vnd.docker.reference.type" in ann):
                continue  # an attestation, not an image
            alg, _, hex_ = digest.partition(":")
            if depth > 0 and f"blobs/{alg}/{hex_}" not in scan.members:
                continue  # a platform this archive does not carry
            member = blob_member(scan, digest, "manifest")
            if member.data is not None:
                _check_digest(member.data, digest, f"manifest blob {member.name}")
            doc2 = member_json(member, f"manifest {digest}")
            media = entry.get("mediaType") or (doc2.get("mediaType") if isinstance(doc2, dict) else None)
            media = media if isinstance(media, str) else None
            merged = {**ann, **inherited}
            if media in MT_INDEXES or (isinstance(doc2, dict) and "manifests" in doc2):
                walk(doc2, depth + 1, merged)
            else:
                if platform:
                    merged = {
                        **merged,
                        "ossr-images.platform": f"{platform.get('os')}/{platform.get('architecture')}",
                    }
                found.append((digest, doc2, merged))

    walk(index, 0, {})
    return found


def _describe_oci(scan: TarScan, path: Path) -> ImageInfo:
    if "oci-layout" not in scan.members:
        raise InvalidInputError(
            f"{path} has index.json but no oci-layout file, so it is not an OCI image layout",
            hint="The archive is corrupt or was not made by an OCI tool.",
        )
    manifests = _walk_index(scan)
    if not manifests:
        raise InvalidInputError(
            f"the OCI index of {path} lists no image", hint="The archive holds no image: export it again."
        )
    info = _blank(path, "oci-archive")
    info.image_count = len(manifests)
    info.layout = "oci"
    digest, manifest, annotations = _pick_manifest(manifests)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise InvalidInputError(
            f"the image manifest {digest} in {path} has no config",
            hint="The archive is corrupt or was not made by an OCI tool.",
        )
    info.manifest_digest = digest
    config_digest = _parse_digest(manifest["config"].get("digest"), f"the config of manifest {digest}")
    config_member = blob_member(scan, config_digest, "config")
    if config_member.data is not None:
        _check_digest(config_member.data, config_digest, f"config blob {config_member.name}")
    config = member_json(config_member, "config")
    info.image_id = config_digest
    _config_facts(config, info, config_member.name)
    layers = manifest.get("layers")
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict):
            continue
        ldigest = _parse_digest(layer.get("digest"), f"a layer of manifest {digest}")
        member = blob_member(scan, ldigest, "layer")
        declared = layer.get("size")
        if isinstance(declared, int) and declared != member.size:
            raise IntegrityError(
                f"layer blob {member.name} in {path} is {member.size} bytes but its manifest says {declared}",
                hint="The archive was altered or corrupted: do not use it; export or download it again.",
            )
        if scan.verify:
            _check_layer(member, ldigest, path)
        entry = {"digest": ldigest, "size": member.size}
        if isinstance(layer.get("mediaType"), str):
            entry["media_type"] = layer["mediaType"]
        info.layers.append(entry)
    names = [
        annotations.get("io.containerd.image.name") or annotations.get("org.opencontainers.image.ref.name")
        for _d, _m, annotations in manifests
    ]
    info.repo_tags = list(dict.fromkeys(n for n in names if isinstance(n, str)))
    return info


def _host_platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"linux/{arch}"


def _pick_manifest(manifests: list[tuple[str, Any, dict[str, str]]]) -> tuple[str, Any, dict[str, str]]:
    """The manifest for this machine's platform when the index says, else the first."""
    host = _host_platform()
    for entry in manifests:
        if entry[2].get("ossr-images.platform") == host:
            return entry
    return manifests[0]
