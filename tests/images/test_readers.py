"""Engine-free readers: synthetic docker archives, OCI layouts, every compression, SIF fixtures."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import zstandard

from ossr_images.images.compression import compress_stream, detect_compression, open_decompressed
from ossr_images.images.inspect import inspect_image
from ossr_images.images.synth import write_docker_archive

from .conftest import DATA, FIXTURE_COMMIT, FIXTURE_REPO, LABELS, make_tar, tar_members


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_synth_archive_reads_back(tmp_path: Path, compression: str) -> None:
    out = tmp_path / f"img.tar{ {'none': '', 'gzip': '.gz', 'zstd': '.zst'}[compression] }"
    info = write_docker_archive(
        out, labels=LABELS, tag="synth:1.0", compression=compression, created="2026-01-01T00:00:00Z"
    )
    assert not list(tmp_path.glob(".*part")), "no temporary file left behind"
    assert info.format == "docker-archive"
    assert info.compression == compression == detect_compression(out)
    assert info.size == out.stat().st_size
    assert info.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert info.labels == LABELS
    assert info.repo_tags == ["synth:1.0"]
    assert info.layout == "docker+oci"
    assert info.architecture == "amd64" and info.os == "linux"
    assert info.created == "2026-01-01T00:00:00Z"
    assert len(info.layers) == 1 and info.layers[0]["digest"].startswith("sha256:")
    # the image ID is the sha256 of the config blob, whatever the compression
    with open_decompressed(out) as fh:
        members = tar_members(fh.read())
    manifest = json.loads(members["manifest.json"])
    config = members[manifest[0]["Config"]]
    assert info.image_id == "sha256:" + hashlib.sha256(config).hexdigest()
    assert info.manifest_digest is not None
    assert json.loads(json.dumps(info.to_dict())) == info.to_dict()


def test_image_id_is_stable_and_independent_of_compression(tmp_path: Path) -> None:
    ids = {
        write_docker_archive(
            tmp_path / f"a{c}", labels={"x": "1"}, tag="t", compression=c, created="2026-01-01T00:00:00Z"
        ).image_id
        for c in ("none", "gzip", "zstd")
    }
    assert len(ids) == 1
    other = write_docker_archive(tmp_path / "b", labels={"x": "2"}, tag="t", created="2026-01-01T00:00:00Z")
    assert other.image_id not in ids


def test_seek_mode_without_sha256(tmp_path: Path, synth_bytes: tuple[bytes, str]) -> None:
    data, image_id = synth_bytes
    path = tmp_path / "img.tar"
    path.write_bytes(data)
    seen: list[int] = []
    info = inspect_image(path, sha256=False, progress=seen.append)
    assert info.sha256 is None
    assert info.image_id == image_id
    assert info.labels == LABELS
    assert sum(seen) == len(data)


def test_progress_counts_raw_bytes(tmp_path: Path) -> None:
    out = tmp_path / "img.tar.zst"
    write_docker_archive(out, labels={}, tag="p", compression="zstd")
    seen: list[int] = []
    inspect_image(out, progress=seen.append)
    assert sum(seen) == out.stat().st_size


def test_legacy_docker_layout_with_symlinked_layer(tmp_path: Path) -> None:
    """Docker < 25 writes <id>/layer.tar; a repeated layer is a symlink to another layer directory."""
    from ossr_images.images.synth import layer_tar

    layer = layer_tar({"a.txt": b"a"})
    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "arm64",
            "os": "linux",
            "config": {"Labels": {"k": "v"}},
            "rootfs": {"type": "layers", "diff_ids": [diff, diff]},
        }
    ).encode()
    cid = hashlib.sha256(config).hexdigest()
    manifest = [
        {"Config": f"{cid}.json", "RepoTags": ["old:1"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}
    ]
    tar = make_tar(
        [
            ("aaa", "dir"),
            ("aaa/layer.tar", layer),
            ("bbb", "dir"),
            ("bbb/layer.tar", "symlink", "../aaa/layer.tar"),
            (f"{cid}.json", config),
            ("manifest.json", json.dumps(manifest).encode()),
            ("repositories", b'{"old":{"1":"aaa"}}'),
        ]
    )
    path = tmp_path / "legacy.tar"
    path.write_bytes(tar)
    info = inspect_image(path)
    assert info.layout == "docker-legacy"
    assert info.image_id == f"sha256:{cid}"
    assert info.manifest_digest is None
    assert info.architecture == "arm64"
    assert [layer["size"] for layer in info.layers] == [len(layer), len(layer)]
    assert info.labels == {"k": "v"}


def _legacy_archive(path: Path, extra_config: dict) -> Path:
    """A one-layer `docker save` archive in the legacy layout whose config also holds `extra_config`."""
    from ossr_images.images.synth import layer_tar

    layer = layer_tar({"a.txt": b"a"})
    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": LABELS},
            "rootfs": {"type": "layers", "diff_ids": [diff]},
            **extra_config,
        }
    ).encode()
    cid = hashlib.sha256(config).hexdigest()
    manifest = [{"Config": f"{cid}.json", "RepoTags": ["old:1"], "Layers": ["aaa/layer.tar"]}]
    entries = [("aaa", "dir"), ("aaa/layer.tar", layer), (f"{cid}.json", config)]
    path.write_bytes(make_tar([*entries, ("manifest.json", json.dumps(manifest).encode())]))
    return path


@pytest.mark.parametrize("sha256", [True, False], ids=["streamed", "seeking"])
def test_docker_version_of_the_config_names_the_engine(tmp_path: Path, sha256: bool) -> None:
    """`docker save` of an image from Docker's classic builder: the config's legacy `docker_version` is the
    engine version that built it, and becomes engine/engineVersion of the image metadata file."""
    from ossr_images.metadata.image_record import image_record_from, validate_image_record
    from ossr_images.metadata.source import SourceLink

    source = SourceLink(FIXTURE_REPO, FIXTURE_COMMIT)
    path = _legacy_archive(tmp_path / "saved.tar", {"docker_version": "20.10.24+dfsg1"})
    info = inspect_image(path, sha256=sha256)
    assert info.docker_version == "20.10.24+dfsg1"
    assert info.to_dict()["docker_version"] == "20.10.24+dfsg1"
    doc = image_record_from(info, source=source, sha256="ab" * 32)
    assert (doc["engine"], doc["engineVersion"]) == ("docker", "20.10.24+dfsg1")
    assert [p for p in validate_image_record(doc) if p.severity == "error"] == []
    # what the caller knows wins (publish of docker-daemon:REF names the engine it exported from)
    doc = image_record_from(info, source=source, sha256="ab" * 32, engine="podman", engine_version="5.0")
    assert (doc["engine"], doc["engineVersion"]) == ("podman", "5.0")
    # BuildKit and other tools leave it out, or empty: nothing is made up
    for extra in ({}, {"docker_version": ""}, {"docker_version": 20}):
        info = inspect_image(_legacy_archive(tmp_path / "other.tar", extra), sha256=sha256)
        assert info.docker_version is None, extra
        doc = image_record_from(info, source=source, sha256="ab" * 32)
        assert (doc["engine"], doc["engineVersion"]) == (None, None)


def test_pure_oci_archive(tmp_path: Path, synth_bytes: tuple[bytes, str]) -> None:
    data, image_id = synth_bytes
    members = tar_members(data)
    entries = [(n, d) for n, d in members.items() if n not in ("manifest.json", "repositories")]
    path = tmp_path / "oci.tar"
    path.write_bytes(make_tar(entries))
    info = inspect_image(path)
    assert info.format == "oci-archive" and info.layout == "oci"
    assert info.image_id == image_id
    assert info.labels == LABELS
    assert info.repo_tags == ["docker.io/library/synth:1.0"]
    assert info.layers[0]["media_type"] == "application/vnd.oci.image.layer.v1.tar"
    # compressed too, and with "./" prefixes as `tar -C dir .` writes them
    dotted = make_tar([("./" + n, d) for n, d in entries])
    zpath = tmp_path / "oci.tar.zst"
    zpath.write_bytes(zstandard.ZstdCompressor().compress(dotted))
    zinfo = inspect_image(zpath)
    assert (zinfo.image_id, zinfo.compression) == (image_id, "zstd")


def test_nested_oci_index(tmp_path: Path, synth_bytes: tuple[bytes, str]) -> None:
    data, image_id = synth_bytes
    members = tar_members(data)
    index = json.loads(members["index.json"])
    inner = json.dumps(index).encode()
    inner_digest = hashlib.sha256(inner).hexdigest()
    outer = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": f"sha256:{inner_digest}",
                "size": len(inner),
            }
        ],
    }
    entries = [(n, d) for n, d in members.items() if n not in ("manifest.json", "index.json")]
    entries += [(f"blobs/sha256/{inner_digest}", inner), ("index.json", json.dumps(outer).encode())]
    path = tmp_path / "nested.tar"
    path.write_bytes(make_tar(entries))
    assert inspect_image(path).image_id == image_id


def test_multi_image_archive_reports_first_and_count(tmp_path: Path, synth_bytes: tuple[bytes, str]) -> None:
    data, image_id = synth_bytes
    members = tar_members(data)
    manifest = json.loads(members["manifest.json"])
    members["manifest.json"] = json.dumps(manifest + manifest).encode()
    path = tmp_path / "two.tar"
    path.write_bytes(make_tar(list(members.items())))
    info = inspect_image(path)
    assert (info.image_id, info.image_count) == (image_id, 2)


def test_sif_fixture_made_by_apptainer() -> None:
    path = DATA / "hello.sif"
    info = inspect_image(path)
    assert info.format == "sif" and info.compression == "none"
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.labels["org.opencontainers.image.source"] == FIXTURE_REPO
    assert info.labels["org.opencontainers.image.revision"] == FIXTURE_COMMIT
    assert info.labels["org.opencontainers.image.version"] == "1.0.0"  # from %labels
    assert info.labels["org.label-schema.usage.apptainer.version"] == "1.4.5"
    assert info.architecture == "amd64"
    assert info.sif is not None
    types = [d["type"] for d in info.sif["descriptors"]]
    assert types == ["deffile", "generic-json", "generic-json", "partition"]
    names = {d["name"] for d in info.sif["descriptors"]}
    assert {"inspect-metadata.json", "oci-config.json"} <= names
    assert info.layers == [{"digest": None, "size": 4096, "fstype": "squashfs"}]


def test_sif_fixture_made_by_siftool_with_labels_descriptor() -> None:
    info = inspect_image(DATA / "hello-siftool.sif", sha256=False)
    assert info.sha256 is None
    assert info.labels == LABELS
    assert info.architecture == "arm64"


@pytest.mark.skipif(not shutil.which("siftool"), reason="siftool is not installed")
def test_sif_reader_agrees_with_siftool() -> None:
    import subprocess

    out = subprocess.run(
        ["siftool", "info", "2", str(DATA / "hello.sif")], capture_output=True, text=True, check=True
    ).stdout
    info = inspect_image(DATA / "hello.sif", sha256=False)
    d = info.sif["descriptors"][1]
    assert f"Offset:       {d['offset']}" in out
    assert f"Size:         {d['size']}" in out
    assert f"Name:         {d['name']}" in out


@pytest.mark.parametrize("method", ["zstd", "gzip", "none"])
def test_compress_stream_round_trip(tmp_path: Path, method: str) -> None:
    payload = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(200_000))  # 6.4 MB
    src = tmp_path / "src"
    src.write_bytes(payload)
    dst = tmp_path / "dst"
    seen: list[int] = []
    with open(src, "rb") as s, open(dst, "wb") as d:
        assert compress_stream(s, d, method, progress=seen.append) == len(payload)
    assert sum(seen) == len(payload)
    assert detect_compression(dst) == method
    with open_decompressed(dst) as fh:
        assert fh.read() == payload
    if method == "gzip":
        assert gzip.decompress(dst.read_bytes()) == payload


def test_gzip_without_pigz_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(shutil, "which", lambda _name: None)
    buf = io.BytesIO()
    compress_stream(io.BytesIO(b"x" * 100_000), buf, "gzip")
    assert gzip.decompress(buf.getvalue()) == b"x" * 100_000


@pytest.mark.slow
def test_memory_stays_flat_on_a_big_compressed_archive(tmp_path: Path) -> None:
    """A 1 GiB layer (zstd-compressed zeros, small on disk) is read in one pass with flat memory."""
    import subprocess
    import sys
    import tarfile

    from ossr_images.images.synth import layer_tar

    size = 1 << 30
    small_layer = layer_tar({"x": b"x"})
    diff = "sha256:" + hashlib.sha256(small_layer).hexdigest()  # the reader does not hash layers
    config = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    cid = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{cid}.json", "RepoTags": ["big:1"], "Layers": ["l/layer.tar"]}])
    path = tmp_path / "big.tar.zst"

    class Zeros:
        def __init__(self) -> None:
            self.left = size

        def read(self, n: int = -1) -> bytes:
            n = min(self.left, 1 << 20 if n < 0 else n)
            self.left -= n
            return bytes(n)

    with open(path, "wb") as raw:
        with zstandard.ZstdCompressor(level=1).stream_writer(raw, closefd=False) as z:
            with tarfile.open(fileobj=z, mode="w|") as tar:
                info = tarfile.TarInfo("l/layer.tar")
                info.size = size
                tar.addfile(info, Zeros())  # type: ignore[arg-type]
                for name, data in ((f"{cid}.json", config), ("manifest.json", manifest.encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    assert path.stat().st_size < 1 << 20
    # VmHWM of the child's own address space (ru_maxrss would include the parent's, carried over exec)
    code = (
        "import re, sys; from ossr_images.images.inspect import inspect_image;"
        "i = inspect_image(sys.argv[1]);"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1);"
        "print(i.image_id, i.layers[0]['size'], hwm)"
    )
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux /proc to measure memory")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    image_id, layer_size, maxrss_kib = out.stdout.split()
    assert image_id == f"sha256:{cid}" and int(layer_size) == size
    assert int(maxrss_kib) < 150 * 1024, f"peak memory {int(maxrss_kib) // 1024} MiB"


def test_multi_platform_index_with_missing_variants(tmp_path: Path, synth_bytes: tuple[bytes, str]) -> None:
    """A single-platform save of a multi-platform image: the index names variants the archive lacks."""
    data, image_id = synth_bytes
    members = tar_members(data)
    top = json.loads(members["index.json"])["manifests"][0]
    image_index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + "a" * 64,  # not in the archive
                "size": 10,
                "platform": {"os": "linux", "architecture": "s390x"},
            },
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": top["digest"],
                "size": top["size"],
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": top["digest"],
                "size": top["size"],
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            },
        ],
    }
    blob = json.dumps(image_index).encode()
    digest = hashlib.sha256(blob).hexdigest()
    outer = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": f"sha256:{digest}",
                "size": len(blob),
                "annotations": top["annotations"],
            }
        ],
    }
    members[f"blobs/sha256/{digest}"] = blob
    members["index.json"] = json.dumps(outer).encode()
    members.pop("manifest.json")
    path = tmp_path / "multi.tar"
    path.write_bytes(make_tar(list(members.items())))
    info = inspect_image(path)
    assert info.image_id == image_id and info.image_count == 1
    assert info.manifest_digest == top["digest"]
    assert info.repo_tags == ["docker.io/library/synth:1.0"]


def test_multi_frame_zstd_and_multi_member_gzip(tmp_path: Path, synth_bytes: tuple[bytes, str]) -> None:
    """pzstd/zstd -T and concatenated gzip files have several frames/members: all are read."""
    data, image_id = synth_bytes
    cut = len(data) // 3
    zst = tmp_path / "mf.tar.zst"
    c = zstandard.ZstdCompressor()
    zst.write_bytes(c.compress(data[:cut]) + c.compress(data[cut:]))
    gz = tmp_path / "mf.tar.gz"
    gz.write_bytes(gzip.compress(data[:cut]) + gzip.compress(data[cut:]))
    assert inspect_image(zst).image_id == inspect_image(gz).image_id == image_id
