"""Hand-made multi-layer image archives for the diff tests, written with Python's tarfile: a layer is a
list of tar entries; an image is written as a legacy `docker save` archive (Docker 20.10), the Docker 25+
layout (manifest.json + OCI blobs) or an OCI image-layout archive (layers gzip- or zstd-compressed)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from ossr_images.images.compression import compress_stream


@dataclass
class E:
    """One tar entry of a layer. kind: file, dir, symlink, hardlink, char, fifo."""

    name: str
    data: bytes = b""
    kind: str = "file"
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""
    mtime: int = 1_700_000_000
    dev: tuple[int, int] = (0, 0)


def layer(entries: list[E], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """The uncompressed tar of `entries`, in the order given (pax format unless `fmt` says otherwise)."""
    buf = io.BytesIO()
    types = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "char": tarfile.CHRTYPE,
        "fifo": tarfile.FIFOTYPE,
    }
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = types[e.kind]
            ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, e.uid, e.gid, e.mtime
            ti.linkname = e.link
            ti.devmajor, ti.devminor = e.dev
            if e.kind == "file":
                ti.size = len(e.data)
                tar.addfile(ti, io.BytesIO(e.data))
            else:
                tar.addfile(ti)
    return buf.getvalue()


@dataclass
class Image:
    """An image: its layers (tar bytes) and the instruction that made each."""

    layers: list[bytes]
    instructions: list[str] = field(default_factory=list)
    created: str = "2026-01-01T00:00:00Z"
    empty_steps: bool = True  # add empty_layer history entries (ENV/CMD) between the layers

    def config(self) -> bytes:
        history = []
        for i, _layer in enumerate(self.layers):
            if self.empty_steps:
                history.append(
                    {
                        "created": self.created,
                        "created_by": f"/bin/sh -c #(nop)  ENV STEP={i}",
                        "empty_layer": True,
                    }
                )
            text = (
                self.instructions[i] if i < len(self.instructions) else f"/bin/sh -c #(nop) COPY layer{i} /"
            )
            history.append({"created": self.created, "created_by": text})
        doc = {
            "architecture": "amd64",
            "os": "linux",
            "created": self.created,
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{_sha(x)}" for x in self.layers]},
            "history": history,
        }
        return json.dumps(doc, sort_keys=True).encode()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    tar.addfile(ti, io.BytesIO(data))


def write(
    path: Path,
    image: Image,
    *,
    fmt: str = "legacy",
    compression: str = "none",
    layer_compression: str = "none",
) -> Path:
    """Write `image` to `path`. fmt: "legacy" (docker 20.10 save: <id>/layer.tar, manifest.json last),
    "docker25" (manifest.json + blobs/sha256), "oci" (index.json + blobs, layers compressed with
    `layer_compression`); `compression` of the whole archive: none, gzip, zstd."""
    config = image.config()
    config_hex = _sha(config)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if fmt == "legacy":
            refs = []
            for i, data in enumerate(image.layers):
                v1 = _sha(f"{i}:{_sha(data)}".encode())
                _add(tar, f"{v1}/VERSION", b"1.0")
                _add(tar, f"{v1}/json", json.dumps({"id": v1}).encode())
                _add(tar, f"{v1}/layer.tar", data)
                refs.append(f"{v1}/layer.tar")
            _add(tar, f"{config_hex}.json", config)
            manifest = [{"Config": f"{config_hex}.json", "RepoTags": ["diff-test:1"], "Layers": refs}]
            _add(tar, "manifest.json", json.dumps(manifest).encode())
        elif fmt == "docker25":
            for data in image.layers:
                _add(tar, f"blobs/sha256/{_sha(data)}", data)
            _add(tar, f"blobs/sha256/{config_hex}", config)
            manifest = [
                {
                    "Config": f"blobs/sha256/{config_hex}",
                    "RepoTags": ["diff-test:1"],
                    "Layers": [f"blobs/sha256/{_sha(x)}" for x in image.layers],
                }
            ]
            _add(tar, "manifest.json", json.dumps(manifest).encode())
        elif fmt == "oci":
            descs = []
            for data in image.layers:
                if layer_compression == "gzip":
                    blob, mt = gzip.compress(data, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
                elif layer_compression == "zstd":
                    blob, mt = (
                        zstandard.ZstdCompressor().compress(data),
                        "application/vnd.oci.image.layer.v1.tar+zstd",
                    )
                else:
                    blob, mt = data, "application/vnd.oci.image.layer.v1.tar"
                _add(tar, f"blobs/sha256/{_sha(blob)}", blob)
                descs.append({"mediaType": mt, "digest": f"sha256:{_sha(blob)}", "size": len(blob)})
            _add(tar, f"blobs/sha256/{config_hex}", config)
            manifest_doc = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": f"sha256:{config_hex}",
                        "size": len(config),
                    },
                    "layers": descs,
                }
            ).encode()
            _add(tar, f"blobs/sha256/{_sha(manifest_doc)}", manifest_doc)
            index = {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": f"sha256:{_sha(manifest_doc)}",
                        "size": len(manifest_doc),
                    }
                ],
            }
            _add(tar, "index.json", json.dumps(index).encode())
            _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        else:
            raise ValueError(fmt)
    with open(path, "wb") as fh:
        compress_stream(io.BytesIO(buf.getvalue()), fh, compression, threads=1)
    return path


def write_many_files(
    path: Path,
    nfiles: int,
    *,
    size: int = 200,
    mtime: int = 1_700_000_000,
    modified: frozenset[int] = frozenset(),
) -> Path:
    """A legacy docker archive of one layer with `nfiles` small files (`size` bytes each, 1000 per
    directory), written by streaming through a temporary layer file (nothing big in memory): headers from
    tarfile's TarInfo.tobuf, contents made from the file's number. The files numbered in `modified` get
    other contents."""
    layer_path = path.with_name(path.name + ".layer")
    hasher = hashlib.sha256()
    pad = b"\0" * ((512 - size % 512) % 512)

    def header(name: str, length: int, directory: bool = False) -> bytes:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = length, 0o755 if directory else 0o644, mtime
        if directory:
            ti.type = tarfile.DIRTYPE
        return ti.tobuf(format=tarfile.GNU_FORMAT)

    with open(layer_path, "wb") as out:

        def put(data: bytes) -> None:
            out.write(data)
            hasher.update(data)

        for i in range(nfiles):
            if i % 1000 == 0:
                put(header(f"data/d{i // 1000:04d}", 0, directory=True))
            seed = b"changed %07d " % i if i in modified else b"file %07d " % i
            put(header(f"data/d{i // 1000:04d}/f{i:07d}", size))
            put((seed * (size // len(seed) + 1))[:size] + pad)
        put(b"\0" * 1024)
    diff_id = f"sha256:{hasher.hexdigest()}"
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "/bin/sh -c #(nop) COPY dir:data in /data"}],
            "config": {"Labels": {"mtime": str(mtime)}},
        }
    ).encode()
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(layer_path, arcname="l1/layer.tar")
        _add(tar, f"{_sha(config)}.json", config)
        manifest = [{"Config": f"{_sha(config)}.json", "RepoTags": ["many:1"], "Layers": ["l1/layer.tar"]}]
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    layer_path.unlink()
    return path
