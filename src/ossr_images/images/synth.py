"""A small, valid `docker save` archive made in pure Python, without any engine.

The archive has both layouts Docker 25+ writes: the legacy `manifest.json` + `repositories` (which Docker
20.10 loads) and the OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`). The image ID is
the sha256 of the config blob, the same ID `docker load` reports.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path

from ossr_images.atomic import atomic_write
from ossr_images.images.compression import METHODS, compress_stream
from ossr_images.images.image_info import ImageInfo
from ossr_images.images.inspect import inspect_image

DEFAULT_FILES: dict[str, bytes] = {
    "hello.txt": b"Hello from an image made by ossr-images without an engine.\n",
    "etc/ossr-images/README": b"This tiny image is for tests and demos.\n",
}

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def _canonical(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _normalize_tag(tag: str) -> tuple[str, str]:
    """("repo", "tag") from "repo:tag" or "repo" (tag "latest"); a registry port is not a tag."""
    name, sep, t = tag.rpartition(":")
    if not sep or "/" in t:
        return tag, "latest"
    return name, t


def layer_tar(files: dict[str, bytes], mtime: int = 0) -> bytes:
    """A layer: an uncompressed tar of `files` (paths relative to /), with their parent directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for path in sorted(files):
            clean = path.strip("/")
            parts = clean.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d + "/")
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = mtime
                    tar.addfile(info)
            data = files[path]
            info = tarfile.TarInfo(clean)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_docker_archive_bytes(
    *,
    labels: dict[str, str],
    tag: str,
    files: dict[str, bytes] | None = None,
    created: str | None = None,
    architecture: str = "amd64",
    os_name: str = "linux",
) -> tuple[bytes, str]:
    """The uncompressed archive as bytes (it is small) and its image ID "sha256:<hex>"."""
    created = created or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    layer = layer_tar(files if files is not None else DEFAULT_FILES)
    layer_hex = _sha(layer)
    config = {
        "architecture": architecture,
        "os": os_name,
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "Labels": dict(labels),
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]},
        "history": [{"created": created, "created_by": "ossr-images synth: COPY files /"}],
    }
    config_bytes = _canonical(config)
    config_hex = _sha(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": f"sha256:{config_hex}", "size": len(config_bytes)},
        "layers": [{"mediaType": MT_OCI_LAYER, "digest": f"sha256:{layer_hex}", "size": len(layer)}],
    }
    manifest_bytes = _canonical(manifest)
    manifest_hex = _sha(manifest_bytes)
    repo, t = _normalize_tag(tag)
    full_name = repo if "/" in repo else f"docker.io/library/{repo}"
    index = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MT_OCI_MANIFEST,
                "digest": f"sha256:{manifest_hex}",
                "size": len(manifest_bytes),
                "annotations": {
                    "io.containerd.image.name": f"{full_name}:{t}",
                    "org.opencontainers.image.ref.name": t,
                },
            }
        ],
    }
    legacy_manifest = [
        {
            "Config": f"blobs/sha256/{config_hex}",
            "RepoTags": [f"{repo}:{t}"],
            "Layers": [f"blobs/sha256/{layer_hex}"],
        }
    ]
    repositories = {repo: {t: layer_hex}}

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add_dir("blobs")
        add_dir("blobs/sha256")
        add(f"blobs/sha256/{layer_hex}", layer)
        add(f"blobs/sha256/{config_hex}", config_bytes)
        add(f"blobs/sha256/{manifest_hex}", manifest_bytes)
        add("index.json", _canonical(index))
        add("manifest.json", _canonical(legacy_manifest))
        add("oci-layout", _canonical({"imageLayoutVersion": "1.0.0"}))
        add("repositories", _canonical(repositories))
    return out.getvalue(), f"sha256:{config_hex}"


def write_docker_archive(
    out: Path | str,
    *,
    labels: dict[str, str],
    tag: str,
    files: dict[str, bytes] | None = None,
    compression: str = "none",
    created: str | None = None,
) -> ImageInfo:
    """Write a small valid `docker save`-format archive to `out` and return what `inspect_image` reads.

    `files` maps paths in the image to contents (default: two small text files); `compression` is "none",
    "gzip" or "zstd". The file appears under `out` only when complete (temporary name + rename).
    """
    if compression not in METHODS:
        raise ValueError(f"compression must be one of {METHODS}, not {compression!r}")
    data, _image_id = build_docker_archive_bytes(labels=labels, tag=tag, files=files, created=created)
    out = Path(out)
    with atomic_write(out) as fh:
        compress_stream(io.BytesIO(data), fh, compression, threads=1)
    return inspect_image(out)
