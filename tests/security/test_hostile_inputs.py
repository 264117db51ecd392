"""Hostile inputs, one by one (deterministic; the fuzzers in test_fuzz.py explore around them): deeply nested
JSON everywhere JSON is read, URLs that trip the standard library, documents big enough to expose quadratic
work. Each must end in a result or an OssrError with a hint, quickly."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import pytest

from ossr_images.errors import InvalidInputError, OssrError

DATA = Path(__file__).resolve().parent.parent / "data"
DEEP_ARRAY = b"[" * 200_000 + b"]" * 200_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000


@pytest.mark.parametrize(
    "text",
    [
        "https://[::1/api/records/1",
        "http://[zenodo.org]/records/1",
        "https://zenodo.org]/records/1",
    ],
)
def test_doi_parser_bad_bracketed_host(text: str) -> None:
    """urlsplit raises ValueError('Invalid IPv6 URL'); the parser must turn it into its own error."""
    from ossr_images.zenodo.doi import parse_record_ref

    with pytest.raises(InvalidInputError) as info:
        parse_record_ref(text)
    assert text in info.value.message


@pytest.mark.parametrize(
    "payload",
    [DEEP_ARRAY, DEEP_OBJECT, b'{"author": ' + b"[" * 5000 + b"]" * 5000 + b"}"],
    ids=["deep-array", "deep-object", "deep-author"],
)
def test_codemeta_deeply_nested(tmp_path: Path, payload: bytes) -> None:
    """load_codemeta 'never raises for bad content': a RecursionError from json must become a Problem."""
    from ossr_images.metadata.codemeta import load_codemeta

    path = tmp_path / "codemeta.json"
    path.write_bytes(payload)
    report = load_codemeta(path)
    assert report.codemeta is None or report.problems
    assert not report.valid


def test_codemeta_many_keywords_is_not_quadratic() -> None:
    """30 000 keywords (a 400 kB file) are checked in well under a few seconds."""
    from ossr_images.metadata.codemeta import parse_codemeta

    doc = {
        "@context": "https://w3id.org/codemeta/3.0",
        "@type": "SoftwareSourceCode",
        "name": "many",
        "keywords": [f"k{i}" for i in range(30_000)],
    }
    start = time.monotonic()
    report = parse_codemeta(json.dumps(doc))
    elapsed = time.monotonic() - start
    assert report.codemeta is not None and len(report.codemeta.keywords) == 30_000
    assert elapsed < 3.0, f"30 000 keywords took {elapsed:.1f} s"


def test_codemeta_huge_description_is_fine(tmp_path: Path) -> None:
    from ossr_images.metadata.codemeta import load_codemeta

    path = tmp_path / "codemeta.json"
    path.write_text(
        json.dumps(
            {"@context": "https://w3id.org/codemeta/3.0", "name": "big", "description": "d" * 20_000_000}
        )
    )
    start = time.monotonic()
    report = load_codemeta(path)
    assert time.monotonic() - start < 10
    assert report.codemeta is not None


def _sif_with_json(payload: bytes) -> bytes:
    """hello.sif with its JSON descriptors pointed at `payload`, appended to the file."""
    from ossr_images.images.sif import DESCRIPTOR, HEADER

    buf = bytearray((DATA / "hello.sif").read_bytes())
    header = HEADER.unpack_from(buf, 0)
    dtotal, doff = header[8], header[9]
    offset = len(buf)
    buf += payload
    for i in range(dtotal):
        base = doff + i * DESCRIPTOR.size
        fields = list(DESCRIPTOR.unpack_from(buf, base))
        if fields[0] in (0x4003, 0x4006):  # labels, generic-json
            fields[5], fields[6] = offset, len(payload)
            buf[base : base + DESCRIPTOR.size] = DESCRIPTOR.pack(*fields)
    return bytes(buf)


@pytest.mark.parametrize(
    "payload",
    [DEEP_ARRAY, b'{"data": {"attributes": {"labels": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}}"],
    ids=["deep-array", "deep-labels"],
)
def test_sif_deeply_nested_json_descriptor(tmp_path: Path, payload: bytes) -> None:
    from ossr_images.images.inspect import inspect_image

    path = tmp_path / "deep.sif"
    path.write_bytes(_sif_with_json(payload))
    for sha in (True, False):
        with pytest.raises(OssrError) as info:
            inspect_image(path, sha256=sha)
        assert info.value.hint


@pytest.mark.parametrize("payload", [b'{"data": 1}', b'{"data": []}', b'{"data": "x"}'])
def test_sif_inspect_metadata_of_the_wrong_shape(tmp_path: Path, payload: bytes) -> None:
    from ossr_images.images.inspect import inspect_image

    path = tmp_path / "odd.sif"
    path.write_bytes(_sif_with_json(payload))
    try:
        info = inspect_image(path, sha256=False)
    except OssrError as exc:
        assert exc.hint
        return
    assert info.format == "sif"


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("member", ["manifest.json", "index.json", "cfg.json"])
def test_archive_deeply_nested_json_member(tmp_path: Path, member: str) -> None:
    from ossr_images.images.inspect import inspect_image

    members = {
        "manifest.json": json.dumps([{"Config": "cfg.json", "RepoTags": ["x:1"], "Layers": []}]).encode(),
        "cfg.json": b"{}",
    }
    if member == "index.json":
        members = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}
    members[member] = DEEP_ARRAY
    path = tmp_path / "deep.tar"
    path.write_bytes(_tar(members))
    for sha in (True, False):
        with pytest.raises(OssrError) as info:
            inspect_image(path, sha256=sha)
        assert info.value.hint


@pytest.mark.parametrize(
    "payload",
    [DEEP_ARRAY, DEEP_OBJECT, b"\x00" * 10, b"1e999", b'"' + b"x" * 6_000_000 + b'"'],
    ids=["deep-array", "deep-object", "nul", "inf", "huge-string"],
)
def test_image_record_hostile_bytes(payload: bytes) -> None:
    from ossr_images.metadata.image_record import ImageRecord

    with pytest.raises(OssrError) as info:
        ImageRecord.from_bytes(payload)
    assert info.value.hint


@pytest.mark.parametrize(
    "config,layer",
    [
        ("../../etc/passwd", "layer.tar"),
        ("/etc/passwd", "layer.tar"),
        ("cfg.json", "../../../etc/shadow"),
        ("cfg.json", "/dev/zero"),
        ("missing.json", "layer.tar"),
    ],
)
def test_manifest_pointing_outside_the_archive(tmp_path: Path, config: str, layer: str) -> None:
    """Nothing outside the archive is ever opened: the reader reads tar members only."""
    from ossr_images.images.inspect import inspect_image

    members = {
        "manifest.json": json.dumps([{"Config": config, "RepoTags": ["x:1"], "Layers": [layer]}]).encode(),
        "cfg.json": b'{"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers"}}',
        "layer.tar": _tar({"a": b"b"}),
    }
    path = tmp_path / "outside.tar"
    path.write_bytes(_tar(members))
    for sha in (True, False):
        with pytest.raises(OssrError) as info:
            inspect_image(path, sha256=sha)
        assert info.value.hint
        assert "root:" not in info.value.message  # no content of /etc/passwd


@pytest.mark.parametrize("field", ["offset", "size"])
def test_sif_descriptor_past_the_end(tmp_path: Path, field: str) -> None:
    from ossr_images.images.inspect import inspect_image
    from ossr_images.images.sif import DESCRIPTOR, HEADER

    buf = bytearray((DATA / "hello.sif").read_bytes())
    header = HEADER.unpack_from(buf, 0)
    base = header[9]  # the first descriptor
    fields = list(DESCRIPTOR.unpack_from(buf, base))
    if field == "offset":
        fields[5] = len(buf) + 4096
    else:
        fields[6] = 2**40  # a terabyte in a 45 kB file
    buf[base : base + DESCRIPTOR.size] = DESCRIPTOR.pack(*fields)
    path = tmp_path / "past.sif"
    path.write_bytes(bytes(buf))
    for sha in (True, False):
        start = time.monotonic()
        with pytest.raises(InvalidInputError) as info:
            inspect_image(path, sha256=sha)
        assert time.monotonic() - start < 2
        assert "outside the file" in info.value.message or "past" in info.value.message, info.value.message
