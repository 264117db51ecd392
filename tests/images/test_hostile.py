"""A corpus of broken and hostile archives: each gives a clear OssrError, never a traceback, never a write."""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import random
import struct
from pathlib import Path

import pytest
import zstandard

from ossr_images.errors import IntegrityError, InvalidInputError, OssrError
from ossr_images.images import archive_scan
from ossr_images.images.inspect import inspect_image

from .conftest import DATA, make_tar, tar_members


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _with_manifest(synth: bytes, manifest: object, extra: list[tuple] | None = None) -> bytes:
    members = tar_members(synth)
    members["manifest.json"] = json.dumps(manifest).encode()
    members.pop("index.json")
    return make_tar(list(members.items()) + (extra or []))


def _expect(path: Path, exc: type[OssrError], *words: str, sha256: bool = True) -> OssrError:
    with pytest.raises(exc) as info:
        inspect_image(path, sha256=sha256)
    err = info.value
    assert err.hint, "every error has a hint"
    for word in words:
        assert word in err.message, err.message
    return err


@pytest.mark.parametrize("sha256", [True, False])
def test_truncated_plain_tar(tmp_path: Path, synth_bytes, sha256: bool) -> None:
    data, _ = synth_bytes
    path = _write(tmp_path, "cut.tar", data[: len(data) // 2 + 100])
    _expect(path, InvalidInputError, sha256=sha256)


@pytest.mark.parametrize("method", ["gzip", "zstd"])
def test_truncated_compressed(tmp_path: Path, synth_bytes, method: str) -> None:
    data, _ = synth_bytes
    packed = gzip.compress(data) if method == "gzip" else zstandard.ZstdCompressor().compress(data)
    path = _write(tmp_path, "cut", packed[: len(packed) - 20])
    err = _expect(path, InvalidInputError, method)
    assert "truncated or corrupt" in err.hint


def test_corrupt_gzip_crc(tmp_path: Path, synth_bytes) -> None:
    data, _ = synth_bytes
    packed = bytearray(gzip.compress(data))
    packed[-6] ^= 0xFF  # the CRC32 trailer
    _expect(_write(tmp_path, "crc.gz", bytes(packed)), InvalidInputError)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world, not an image" * 40, b"\x00" * 4096, os.urandom(2048)],
    ids=["empty", "text", "zeros", "random"],
)
def test_wrong_magic(tmp_path: Path, content: bytes) -> None:
    _expect(_write(tmp_path, "x.tar", content), InvalidInputError)


def test_xz_is_refused_with_a_hint(tmp_path: Path, synth_bytes) -> None:
    err = _expect(_write(tmp_path, "x.tar.xz", lzma.compress(synth_bytes[0])), InvalidInputError, "xz")
    assert "zstd" in err.hint


def test_tar_that_is_not_an_image(tmp_path: Path) -> None:
    path = _write(tmp_path, "plain.tar", make_tar([("README", b"hi")]))
    _expect(path, InvalidInputError, "manifest.json", "index.json")


def test_directory_and_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path, InvalidInputError, "not a regular file")
    _expect(tmp_path / "nope.tar", InvalidInputError, "nope.tar")


@pytest.mark.parametrize(
    "config,words",
    [
        ("../../etc/passwd", ["outside"]),
        ("/etc/passwd", ["outside"]),
        ("blobs/sha256/" + "0" * 64, ["not in the archive"]),
        (None, ["invalid path"]),
        (42, ["invalid path"]),
    ],
)
def test_manifest_config_points_outside_or_nowhere(tmp_path: Path, synth_bytes, config, words) -> None:
    data, _ = synth_bytes
    manifest = json.loads(tar_members(data)["manifest.json"])
    manifest[0]["Config"] = config
    _expect(_write(tmp_path, "bad.tar", _with_manifest(data, manifest)), InvalidInputError, *words)


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_config_that_is_a_link(tmp_path: Path, synth_bytes, kind: str) -> None:
    data, _ = synth_bytes
    manifest = json.loads(tar_members(data)["manifest.json"])
    real = manifest[0]["Config"]
    manifest[0]["Config"] = "evil.json"
    target = "/etc/passwd" if kind == "symlink" else real
    tar = _with_manifest(data, manifest, [("evil.json", kind, target)])
    _expect(_write(tmp_path, "link.tar", tar), InvalidInputError, kind)


def test_layer_symlink_escaping_the_archive(tmp_path: Path, synth_bytes) -> None:
    data, _ = synth_bytes
    manifest = json.loads(tar_members(data)["manifest.json"])
    manifest[0]["Layers"] = ["evil/layer.tar"]
    tar = _with_manifest(data, manifest, [("evil/layer.tar", "symlink", "../../../../etc/shadow")])
    _expect(_write(tmp_path, "esc.tar", tar), InvalidInputError, "outside")


def test_layer_symlink_loop(tmp_path: Path, synth_bytes) -> None:
    data, _ = synth_bytes
    manifest = json.loads(tar_members(data)["manifest.json"])
    manifest[0]["Layers"] = ["a/layer.tar"]
    extra = [("a/layer.tar", "symlink", "../b/layer.tar"), ("b/layer.tar", "symlink", "../a/layer.tar")]
    _expect(_write(tmp_path, "loop.tar", _with_manifest(data, manifest, extra)), InvalidInputError, "links")


def test_config_altered_is_an_integrity_error(tmp_path: Path, synth_bytes) -> None:
    data, _ = synth_bytes
    members = tar_members(data)
    manifest = json.loads(members["manifest.json"])
    name = manifest[0]["Config"]
    config = json.loads(members[name])
    config["config"]["Labels"]["org.opencontainers.image.revision"] = "f" * 40
    members[name] = json.dumps(config).encode()
    err = _expect(_write(tmp_path, "alt.tar", make_tar(list(members.items()))), IntegrityError, name)
    assert err.exit_code == 3


@pytest.mark.parametrize(
    "manifest,words",
    [
        ({"Config": "x"}, ["not a non-empty list"]),
        ([], ["not a non-empty list"]),
        (["x"], ["not a non-empty list"]),
    ],
)
def test_manifest_wrong_shape(tmp_path: Path, synth_bytes, manifest, words) -> None:
    tar = _with_manifest(synth_bytes[0], manifest)
    _expect(_write(tmp_path, "shape.tar", tar), InvalidInputError, *words)


def test_manifest_not_json(tmp_path: Path, synth_bytes) -> None:
    members = tar_members(synth_bytes[0])
    members["manifest.json"] = b"[not json"
    _expect(_write(tmp_path, "nj.tar", make_tar(list(members.items()))), InvalidInputError, "not valid JSON")


def test_layer_count_mismatch(tmp_path: Path, synth_bytes) -> None:
    data, _ = synth_bytes
    manifest = json.loads(tar_members(data)["manifest.json"])
    manifest[0]["Layers"] = manifest[0]["Layers"] * 2
    _expect(_write(tmp_path, "lc.tar", _with_manifest(data, manifest)), InvalidInputError, "diff_ids")


def test_absurd_json_member(tmp_path: Path, synth_bytes) -> None:
    """A 17 MiB manifest.json (compressed to a few KB) is refused, not loaded."""
    members = tar_members(synth_bytes[0])
    members["manifest.json"] = b"[" + b" " * (17 * 1024 * 1024) + b"]"
    packed = zstandard.ZstdCompressor().compress(make_tar(list(members.items())))
    assert len(packed) < 100_000
    _expect(_write(tmp_path, "big.tar.zst", packed), InvalidInputError, "MiB")


def test_absurd_member_size_in_header(tmp_path: Path, synth_bytes) -> None:
    """A header claiming an 8 GiB member in a tiny file: truncated, found without reading 8 GiB."""
    data = bytearray(make_tar([("manifest.json", b"[]")]))
    size_field = b"%011o\x00" % (8 * 1024**3)
    data[124:136] = size_field
    chk = sum(data[:148]) + 8 * 32 + sum(data[156:512])
    data[148:156] = b"%06o\x00 " % chk
    _expect(_write(tmp_path, "huge.tar", bytes(data)), InvalidInputError, sha256=False)
    _expect(_write(tmp_path, "huge2.tar", bytes(data)), InvalidInputError, sha256=True)


def test_too_many_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_scan, "MAX_MEMBERS", 50)
    tar = make_tar([(f"f{i}", b"x") for i in range(60)])
    _expect(_write(tmp_path, "many.tar", tar), InvalidInputError, "members")


def test_json_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_scan, "JSON_BUDGET", 1000)
    tar = make_tar([(f"blobs/sha256/{i:064x}", b"{" + b" " * 300 + b"}") for i in range(5)])
    _expect(_write(tmp_path, "budget.tar", tar), InvalidInputError, "JSON members")


def _oci_members(synth: bytes) -> dict[str, bytes]:
    members = tar_members(synth)
    members.pop("manifest.json")
    members.pop("repositories")
    return members


def test_oci_index_pointing_to_missing_blob(tmp_path: Path, synth_bytes) -> None:
    members = _oci_members(synth_bytes[0])
    index = json.loads(members["index.json"])
    index["manifests"][0]["digest"] = "sha256:" + "1" * 64
    members["index.json"] = json.dumps(index).encode()
    _expect(
        _write(tmp_path, "m.tar", make_tar(list(members.items()))), InvalidInputError, "not in the archive"
    )


def test_oci_bad_digest_string(tmp_path: Path, synth_bytes) -> None:
    members = _oci_members(synth_bytes[0])
    index = json.loads(members["index.json"])
    index["manifests"][0]["digest"] = "sha256:../../etc/passwd"
    members["index.json"] = json.dumps(index).encode()
    _expect(_write(tmp_path, "d.tar", make_tar(list(members.items()))), InvalidInputError, "invalid digest")


def test_oci_manifest_blob_altered(tmp_path: Path, synth_bytes) -> None:
    members = _oci_members(synth_bytes[0])
    digest = json.loads(members["index.json"])["manifests"][0]["digest"].split(":")[1]
    name = f"blobs/sha256/{digest}"
    members[name] = members[name].replace(b'"schemaVersion":2', b'"schemaVersion": 2')
    _expect(_write(tmp_path, "alt.tar", make_tar(list(members.items()))), IntegrityError, "digest")


def test_oci_layer_size_mismatch(tmp_path: Path, synth_bytes) -> None:
    members = _oci_members(synth_bytes[0])
    index = json.loads(members["index.json"])
    mdigest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(members[f"blobs/sha256/{mdigest}"])
    manifest["layers"][0]["size"] += 1
    mbytes = json.dumps(manifest).encode()
    new = hashlib.sha256(mbytes).hexdigest()
    members[f"blobs/sha256/{new}"] = mbytes
    index["manifests"][0]["digest"] = f"sha256:{new}"
    members["index.json"] = json.dumps(index).encode()
    _expect(_write(tmp_path, "size.tar", make_tar(list(members.items()))), IntegrityError, "bytes")


def test_oci_without_oci_layout_file(tmp_path: Path, synth_bytes) -> None:
    members = _oci_members(synth_bytes[0])
    members.pop("oci-layout")
    _expect(_write(tmp_path, "nol.tar", make_tar(list(members.items()))), InvalidInputError, "oci-layout")


# ----------------------------------------------------------------------------------------------- SIF


def _sif() -> bytes:
    return (DATA / "hello.sif").read_bytes()


def test_sif_truncated(tmp_path: Path) -> None:
    _expect(_write(tmp_path, "t.sif", _sif()[:100]), InvalidInputError)  # header cut
    _expect(_write(tmp_path, "t2.sif", _sif()[:5000]), InvalidInputError, "outside")  # table cut
    _expect(_write(tmp_path, "t3.sif", _sif()[:38000]), InvalidInputError, "outside")  # data cut


def test_sif_absurd_descriptor_count(tmp_path: Path) -> None:
    data = bytearray(_sif())
    struct.pack_into("<q", data, 88, 10**12)
    _expect(_write(tmp_path, "n.sif", bytes(data)), InvalidInputError, "descriptors")


def test_sif_descriptor_outside_file(tmp_path: Path) -> None:
    data = bytearray(_sif())
    first = struct.unpack_from("<q", data, 96)[0]
    struct.pack_into("<q", data, first + 585 + 17, 2**62)  # offset of descriptor 2
    _expect(_write(tmp_path, "o.sif", bytes(data)), InvalidInputError, "outside the file")


def test_sif_corrupt_json_descriptor(tmp_path: Path) -> None:
    data = bytearray(_sif())
    first = struct.unpack_from("<q", data, 96)[0]
    off = struct.unpack_from("<q", data, first + 585 + 17)[0]
    data[off] = ord("!")
    _expect(_write(tmp_path, "j.sif", bytes(data)), InvalidInputError, "not valid JSON")


# ----------------------------------------------------------------------------------------------- fuzz


def test_random_damage_never_raises_anything_but_ossr_errors(tmp_path: Path, synth_bytes) -> None:
    """Cut and flip bytes at many places in plain, gzip and zstd archives and the SIF fixture."""
    rng = random.Random(4)
    data, _ = synth_bytes
    samples = {
        "none": data,
        "gzip": gzip.compress(data),
        "zstd": zstandard.ZstdCompressor().compress(data),
        "sif": _sif(),
    }
    path = tmp_path / "fuzz"
    outcomes = {"ok": 0, "error": 0}
    for blob in samples.values():
        for _ in range(60):
            damaged = bytearray(blob)
            if rng.random() < 0.4:
                damaged = damaged[: rng.randrange(len(damaged))]
            else:
                for _ in range(rng.randint(1, 8)):
                    damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            path.write_bytes(bytes(damaged))
            for sha in (True, False):
                try:
                    inspect_image(path, sha256=sha)
                    outcomes["ok"] += 1
                except OssrError as exc:
                    assert exc.message and exc.hint
                    outcomes["error"] += 1
    assert outcomes["error"] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fuzz"], "nothing written beside the input"


@pytest.mark.parametrize("method", ["none", "zstd", "gzip"])
def test_cut_exactly_at_a_member_boundary(tmp_path: Path, synth_bytes, method: str) -> None:
    """tarfile stops silently at a missing header; the reader still sees the missing end marker."""
    import io
    import tarfile

    data, _ = synth_bytes
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    cut = data[: last.offset]  # everything before the last member's header
    if method == "zstd":
        cut = zstandard.ZstdCompressor().compress(cut)
    elif method == "gzip":
        cut = gzip.compress(cut)
    for sha in (True, False):
        _expect(_write(tmp_path, f"b{sha}", cut), InvalidInputError, "end-of-archive", sha256=sha)


def test_deeply_nested_json(tmp_path: Path, synth_bytes) -> None:
    members = tar_members(synth_bytes[0])
    members["manifest.json"] = b"[" * 200_000 + b"]" * 200_000
    _expect(_write(tmp_path, "deep.tar", make_tar(list(members.items()))), InvalidInputError, "manifest")


@pytest.mark.parametrize("sha256", [True, False])
def test_absurd_extended_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synth_bytes, sha256) -> None:
    """tarfile would read a pax header whole: a huge one is refused before that."""
    monkeypatch.setattr(archive_scan, "MAX_EXTENDED_HEADER", 200)
    tar = make_tar([("a" * 300, b"x"), ("manifest.json", b"[]")])  # a pax header carries the long name
    _expect(_write(tmp_path, "pax.tar", tar), InvalidInputError, "extended tar header", sha256=sha256)


@pytest.mark.parametrize(
    "patch",
    [
        {"layers": 7},
        {"layers": "abc"},
        {"config": []},
    ],
)
def test_oci_manifest_of_the_wrong_shape(tmp_path: Path, synth_bytes, patch: dict) -> None:
    members = _oci_members(synth_bytes[0])
    index = json.loads(members["index.json"])
    mdigest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(members[f"blobs/sha256/{mdigest}"])
    manifest.update(patch)
    mbytes = json.dumps(manifest).encode()
    new = hashlib.sha256(mbytes).hexdigest()
    members[f"blobs/sha256/{new}"] = mbytes
    index["manifests"][0]["digest"] = f"sha256:{new}"
    index["manifests"][0]["mediaType"] = ["not", "a", "string"]
    members["index.json"] = json.dumps(index).encode()
    path = _write(tmp_path, "shape.tar", make_tar(list(members.items())))
    try:
        info = inspect_image(path)
    except OssrError as exc:
        assert exc.hint
        return
    assert info.layers == []


@pytest.mark.parametrize("payload", [b'{"data": 1}', b'{"data": []}', b'{"data": {"attributes": "x"}}'])
def test_sif_inspect_metadata_wrong_shape(tmp_path: Path, payload: bytes) -> None:
    data = bytearray(_sif())
    first = struct.unpack_from("<q", data, 96)[0]
    base = first + 585  # descriptor 2: inspect-metadata.json
    offset = len(data)
    data += payload
    struct.pack_into("<qq", data, base + 17, offset, len(payload))
    info = inspect_image(_write(tmp_path, "odd.sif", bytes(data)), sha256=False)
    assert info.format == "sif"
    assert info.labels["org.opencontainers.image.source"]  # still read from oci-config.json


def test_bomb_after_the_end_of_the_archive(tmp_path: Path, synth_bytes, monkeypatch) -> None:
    """Data after the tar's end marker (here 4 MiB of zeros, compressed to almost nothing) is bounded."""
    monkeypatch.setattr(archive_scan, "MAX_TRAILING", 1024 * 1024)
    packed = zstandard.ZstdCompressor().compress(synth_bytes[0] + bytes(4 * 1024 * 1024))
    _expect(_write(tmp_path, "bomb.tar.zst", packed), InvalidInputError, "after the end")
    padded = zstandard.ZstdCompressor().compress(synth_bytes[0] + bytes(20 * 1024))  # padding is fine
    assert inspect_image(_write(tmp_path, "pad.tar.zst", padded)).image_id == synth_bytes[1]


@pytest.mark.parametrize("layout", ["docker", "oci"])
@pytest.mark.parametrize("sha256", [True, False])
def test_verify_layers_finds_a_changed_layer(tmp_path: Path, synth_bytes, layout: str, sha256: bool) -> None:
    data, image_id = synth_bytes
    members = _oci_members(data) if layout == "oci" else tar_members(data)
    layer_name = next(n for n, d in members.items() if n.startswith("blobs/") and not d.startswith(b"{"))
    good = _write(tmp_path, "good.tar", make_tar(list(members.items())))
    assert inspect_image(good, sha256=sha256, verify_layers=True).layers_verified
    members[layer_name] = members[layer_name].replace(b"Hello", b"HELLO")  # same size, other bytes
    bad = _write(tmp_path, "bad.tar", make_tar(list(members.items())))
    assert inspect_image(bad, sha256=sha256).image_id == image_id  # unnoticed without verification
    with pytest.raises(IntegrityError, match="does not match its digest") as err:
        inspect_image(bad, sha256=sha256, verify_layers=True)
    assert err.value.exit_code == 3 and err.value.hint


def test_gzip_edge_cases(tmp_path: Path, synth_bytes) -> None:
    """Zero padding after the last member is accepted (as gzip(1) does); garbage and cut headers are not."""
    from ossr_images.images.compression import open_decompressed

    data, image_id = synth_bytes
    packed = gzip.compress(data)
    padded = _write(tmp_path, "pad.tar.gz", packed + bytes(4096))
    assert inspect_image(padded).image_id == image_id
    _expect(_write(tmp_path, "junk.tar.gz", packed + b"trailing junk"), InvalidInputError, "gzip")
    _expect(_write(tmp_path, "cuthead.tar.gz", packed[:5]), InvalidInputError, "gzip")
    with open_decompressed(_write(tmp_path, "two.gz", gzip.compress(b"ab") + gzip.compress(b"cd"))) as fh:
        assert fh.read() == b"abcd"
    with open_decompressed(_write(tmp_path, "cut.gz", gzip.compress(os.urandom(5000))[:-10])) as fh:
        with pytest.raises(EOFError):
            fh.read()
