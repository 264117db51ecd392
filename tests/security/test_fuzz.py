"""Property-based fuzzing (hypothesis) of everything that parses untrusted input: the DOI parser, the CodeMeta
loader, the archive reader and the SIF reader, and the image metadata file reader. Whatever the input, the
only exception that may escape is the project's own ``OssrError`` (which the CLI turns into a clean message);
and an input that parses must give a sane result."""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ossr_images.errors import InvalidInputError, OssrError

DATA = Path(__file__).resolve().parent.parent / "data"
SETTINGS = settings(
    max_examples=int(os.environ.get("OSSR_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

LABELS = {
    "org.opencontainers.image.source": "https://github.com/escape2020/ossr-images-example",
    "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
}


def _scratch(data: bytes, suffix: str = ".bin") -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="ossr-fuzz-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


# ------------------------------------------------------------------------------------------- DOI parser
_doi_pieces = st.sampled_from(
    [
        "10.5281/zenodo.",
        "10.5072/zenodo.",
        "doi:10.5281/zenodo.",
        "https://doi.org/10.5281/zenodo.",
        "https://zenodo.org/records/",
        "https://zenodo.org/record/",
        "https://sandbox.zenodo.org/api/records/",
        "http://127.0.0.1:8765/api/records/",
        "https://zenodo.org/doi/10.5281/zenodo.",
        "https://zenodo.org/uploads/",
        "",
        "%2e%2e/",
        "../",
        "\x00",
        "https://",
        "10.",
    ]
)


@SETTINGS
@given(st.one_of(st.text(max_size=300), st.tuples(_doi_pieces, st.text(max_size=40)).map("".join)))
@example("10.5281/zenodo.0000000000000000000000001")
@example("https://zenodo.org/records/1" + "0" * 5000)
@example("doi:" + "%" * 100)
@example("http://user:pass@zenodo.org:99999/records/1")
@example("https://[::1/api/records/1")
@example("http://[zenodo.org]/records/1")
def test_doi_parser_raises_only_its_own_error(text: str) -> None:
    from ossr_images.zenodo.doi import parse_record_ref

    try:
        ref = parse_record_ref(text)
    except InvalidInputError as exc:
        assert exc.hint
        return
    assert ref.record_id.isdigit() and ref.record_id == str(int(ref.record_id))
    assert ref.source_form in {"doi", "doi-url", "record-url", "api-url", "id"}
    assert ref.server in {None, "zenodo", "sandbox"}


@SETTINGS
@given(st.integers(min_value=1, max_value=10**15 - 1), st.sampled_from(["10.5281", "10.5072"]))
def test_doi_parser_roundtrip(record_id: int, prefix: str) -> None:
    from ossr_images.zenodo.doi import make_doi, parse_record_ref

    doi = make_doi(prefix, record_id)
    for text in (doi, f"doi:{doi}", f"https://doi.org/{doi}", f"  {doi.upper()}  "):
        ref = parse_record_ref(text)
        assert ref.record_id == str(record_id), text
        assert ref.doi == doi
        assert ref.server == ("zenodo" if prefix == "10.5281" else "sandbox")


# ------------------------------------------------------------------------------------------ CodeMeta loader
_KEYS = [
    "@context",
    "@type",
    "name",
    "description",
    "version",
    "softwareVersion",
    "license",
    "author",
    "maintainer",
    "contributor",
    "keywords",
    "codeRepository",
    "identifier",
    "url",
    "readme",
    "datePublished",
    "dateModified",
    "givenName",
    "familyName",
    "affiliation",
    "@id",
    "email",
    "programmingLanguage",
]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "https://w3id.org/codemeta/3.0",
            "https://doi.org/10.5063/schema/codemeta-2.0",
            "MIT",
            "https://spdx.org/licenses/Apache-2.0",
            "Person",
            "Organization",
            "SoftwareSourceCode",
            "https://orcid.org/0000-0002-1825-0097",
            "2026-02-30",
            "v1.0.0",
            "git@github.com:org/repo.git",
        ]
    ),
)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=10)), children, max_size=6),
    ),
    max_leaves=40,
)


def _check_report(report) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(report.problems, list)
    for problem in report.problems:
        assert problem.severity in ("error", "warning")
        assert isinstance(problem.path, str) and isinstance(problem.message, str)
    if report.codemeta is None:
        assert report.errors, "no CodeMeta model and no error saying why"


@SETTINGS
@given(st.dictionaries(st.sampled_from(_KEYS), _json, max_size=12))
def test_codemeta_loader_never_raises_on_json(doc: dict) -> None:
    from ossr_images.metadata.codemeta import parse_codemeta

    try:
        text = json.dumps(doc, allow_nan=True)
    except (ValueError, OverflowError):  # pragma: no cover
        return
    _check_report(parse_codemeta(text))


@SETTINGS
@given(st.one_of(st.binary(max_size=400), _json.map(lambda v: json.dumps(v).encode())))
@example(b"\xef\xbb\xbf{}")
@example(b"\xff\xfe{\x00}\x00")
@example(b'{"name": "a", "name": "b"}')
@example(b'{"version": 1e999999}')
@example(b"[" * 100_000 + b"]" * 100_000)
@example(b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
@example(b'{"author": ' + b"[" * 5000 + b"]" * 5000 + b"}")
def test_codemeta_loader_never_raises_on_bytes(data: bytes) -> None:
    from ossr_images.metadata.codemeta import load_codemeta

    path = _scratch(data, ".json")
    try:
        _check_report(load_codemeta(path))
    finally:
        path.unlink()


# ------------------------------------------------------------------------------------------ archive reader
@pytest.fixture(scope="module")
def synth_archive() -> bytes:
    from ossr_images.images.synth import build_docker_archive_bytes

    data, _ = build_docker_archive_bytes(labels=LABELS, tag="fuzz:1", created="2026-01-01T00:00:00Z")
    return data


def _inspect(data: bytes, sha256: bool) -> None:
    from ossr_images.images.inspect import inspect_image

    path = _scratch(data, ".tar")
    try:
        info = inspect_image(path, sha256=sha256)
    except OssrError as exc:
        assert exc.hint and exc.message
        return
    finally:
        path.unlink()
    assert info.format in ("docker-archive", "oci-archive", "sif")
    assert info.size == len(data)


@SETTINGS
@given(
    data=st.data(),
    sha256=st.booleans(),
    compress=st.sampled_from(["none", "gzip", "zstd"]),
)
def test_archive_reader_mutated_bytes(synth_archive: bytes, data: st.DataObject, sha256: bool, compress: str):
    """Flip, cut, insert and overwrite bytes of a valid archive (plain or compressed)."""
    import gzip

    import zstandard

    raw = synth_archive
    if compress == "gzip":
        raw = gzip.compress(raw, mtime=0)
    elif compress == "zstd":
        raw = zstandard.ZstdCompressor().compress(raw)
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "overwrite", "truncate"]), label="op")
        pos = data.draw(st.integers(0, max(0, len(buf) - 1)), label="pos")
        if op == "flip" and buf:
            buf[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del buf[pos : pos + data.draw(st.integers(1, 2048))]
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=64))
        elif op == "overwrite":
            blob = data.draw(
                st.sampled_from([b"9" * 11, b"\xff" * 12, b"7777777\x00", b"../../etc/passwd\x00"])
            )
            buf[pos : pos + len(blob)] = blob
        else:
            del buf[pos:]
    assume(len(buf) > 0)
    _inspect(bytes(buf), sha256)


def _tar(entries: list[tuple[str, object]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, value in entries:
            info = tarfile.TarInfo(name)
            if isinstance(value, bytes):
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
            elif isinstance(value, tuple):  # ("sym"|"hard", target)
                info.type = tarfile.SYMTYPE if value[0] == "sym" else tarfile.LNKTYPE
                info.linkname = value[1]
                tar.addfile(info)
            else:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
    return out.getvalue()


_member_names = st.one_of(
    st.sampled_from(
        [
            "manifest.json",
            "index.json",
            "oci-layout",
            "repositories",
            "blobs/sha256/" + "a" * 64,
            "../manifest.json",
            "/etc/passwd",
            "./manifest.json",
            "config.json",
            "layer.tar",
            "a/../../b",
        ]
    ),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30
    ),
)
_manifests = st.one_of(
    _json,
    st.builds(
        lambda cfg, layers, tags: [{"Config": cfg, "RepoTags": tags, "Layers": layers}],
        st.one_of(_member_names, st.integers(), st.none()),
        st.lists(st.one_of(_member_names, st.none()), max_size=4),
        st.one_of(st.lists(st.text(max_size=20), max_size=3), st.none(), st.text(max_size=5)),
    ),
    st.builds(
        lambda digest, size: {
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size}
            ],
        },
        st.one_of(
            st.sampled_from(["sha256:" + "a" * 64, "sha256:../../x", "md5:00", ""]), st.text(max_size=20)
        ),
        st.one_of(st.integers(min_value=-(2**64), max_value=2**64), st.none()),
    ),
)


@SETTINGS
@given(
    manifest=_manifests,
    others=st.lists(
        st.tuples(
            _member_names,
            st.one_of(
                st.binary(max_size=200),
                _json.map(lambda v: json.dumps(v).encode()),
                st.tuples(st.sampled_from(["sym", "hard"]), _member_names),
                st.just("dir"),
            ),
        ),
        max_size=6,
    ),
    sha256=st.booleans(),
    manifest_name=st.sampled_from(["manifest.json", "index.json"]),
)
def test_archive_reader_hostile_members(manifest, others, sha256: bool, manifest_name: str) -> None:
    """Hand-made tars: hostile manifests (paths outside the archive, links, wrong types, huge sizes)."""
    entries: list[tuple[str, object]] = [(manifest_name, json.dumps(manifest).encode())]
    if manifest_name == "index.json":
        entries.append(("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'))
    entries += others
    _inspect(_tar(entries), sha256)


def test_archive_reader_link_loops_and_escapes() -> None:
    """Symlink loops, links out of the archive and to absolute paths: clean errors, nothing followed outside."""
    manifest = [{"Config": "cfg.json", "RepoTags": ["x:1"], "Layers": ["layer.tar"]}]
    cases = [
        [("cfg.json", ("sym", "cfg.json"))],
        [("cfg.json", ("sym", "a.json")), ("a.json", ("sym", "cfg.json"))],
        [("cfg.json", ("sym", "/etc/passwd"))],
        [("cfg.json", ("sym", "../../../../etc/passwd"))],
        [("cfg.json", ("hard", "/etc/hostname"))],
        [("cfg.json", ("hard", "cfg.json"))],
    ]
    for extra in cases:
        data = _tar([("manifest.json", json.dumps(manifest).encode()), ("layer.tar", _tar([])), *extra])
        for sha in (True, False):
            path = _scratch(data, ".tar")
            try:
                from ossr_images.images.inspect import inspect_image

                with pytest.raises(OssrError) as info:
                    inspect_image(path, sha256=sha)
                assert "passwd" not in info.value.message or "/etc/passwd" in repr(extra)
            finally:
                path.unlink()


def test_archive_reader_huge_declared_size() -> None:
    """A member whose header declares 8 GB in a 10 kB file: refused, no attempt to read or allocate it."""
    manifest = [{"Config": "cfg.json", "RepoTags": ["x:1"], "Layers": []}]
    data = bytearray(_tar([("manifest.json", json.dumps(manifest).encode()), ("cfg.json", b"{}" * 10)]))
    # patch the size field (offset 124, 12 octal bytes) of the second header
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        offsets = [ti.offset for ti in tar.getmembers() if ti.name == "cfg.json"]
    header = offsets[0]
    data[header + 124 : header + 136] = b"77777777777\x00"
    checksum = sum(data[header : header + 148]) + 8 * 32 + sum(data[header + 156 : header + 512])
    data[header + 148 : header + 156] = b"%06o\x00 " % checksum
    _inspect(bytes(data), True)
    _inspect(bytes(data), False)


# ------------------------------------------------------------------------------------------------ SIF reader
SIF_BYTES = (DATA / "hello.sif").read_bytes()


def _sif_fields(data: bytes):  # type: ignore[no-untyped-def]
    from ossr_images.images.sif import DESCRIPTOR, HEADER

    header = list(HEADER.unpack_from(data, 0))
    return HEADER, DESCRIPTOR, header


@SETTINGS
@given(data=st.data(), sha256=st.booleans())
def test_sif_reader_hostile_descriptors(data: st.DataObject, sha256: bool) -> None:
    """Header and descriptor fields set to hostile values: past the end, negative, overlapping, huge."""
    HEADER, DESCRIPTOR, header = _sif_fields(SIF_BYTES)
    buf = bytearray(SIF_BYTES)
    big = st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.sampled_from([0, -1, len(buf), len(buf) - 1, len(buf) + 1, 2**62, 128, 585]),
    )
    which = data.draw(st.sampled_from(["dtotal", "doff", "desc", "truncate", "json"]))
    if which in ("dtotal", "doff"):
        index = 8 if which == "dtotal" else 9  # dtotal, descoff in the header tuple
        header[index] = data.draw(big)
        buf[: HEADER.size] = HEADER.pack(*header)
    elif which == "desc":
        n = header[8]
        i = data.draw(st.integers(0, max(0, n - 1)))
        base = header[9] + i * DESCRIPTOR.size
        fields = list(DESCRIPTOR.unpack_from(buf, base))
        field = data.draw(st.sampled_from([0, 5, 6, 7]))  # type, offset, size, sizewithpadding
        fields[field] = data.draw(st.integers(-(2**31), 2**31 - 1)) if field == 0 else data.draw(big)
        buf[base : base + DESCRIPTOR.size] = DESCRIPTOR.pack(*fields)
    elif which == "truncate":
        del buf[data.draw(st.integers(1, len(buf) - 1)) :]
    else:  # point the JSON descriptors at hostile JSON appended to the file
        payload = data.draw(
            st.sampled_from(
                [
                    b'{"data": {"attributes": {"labels": {"a": {"b": 1}, "c": null, "d": 1e999}}}}',
                    b"\xff\xfe\x00",
                    b'{"data": 1}',
                    b"[" * 200_000,
                    b'{"data": {"attributes": {"labels": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}}",
                    b"null",
                    b'"text"',
                ]
            )
        )
        offset = len(buf)
        buf += payload
        for i in range(header[8]):
            base = header[9] + i * DESCRIPTOR.size
            fields = list(DESCRIPTOR.unpack_from(buf, base))
            if fields[0] in (0x4003, 0x4006):
                fields[5], fields[6] = offset, len(payload)
                buf[base : base + DESCRIPTOR.size] = DESCRIPTOR.pack(*fields)
    _inspect(bytes(buf), sha256)


@SETTINGS
@given(st.binary(min_size=1, max_size=300), st.booleans())
def test_sif_reader_random_tail(tail: bytes, sha256: bool) -> None:
    """A SIF magic followed by random bytes."""
    head = b"#!/usr/bin/env run-singularity\n\x00SIF_MAGIC\x0001\x00"
    _inspect(head + tail, sha256)


# --------------------------------------------------------------------------------- image metadata file
@SETTINGS
@given(st.one_of(st.binary(max_size=300), _json.map(lambda v: json.dumps(v).encode())))
@example(b"[" * 100_000)
@example(b'{"@context": 1, "sha256": {"$ref": "#"}}')
def test_image_record_reader_raises_only_its_own_error(data: bytes) -> None:
    from ossr_images.metadata.image_record import ImageRecord, validate_image_record

    try:
        ImageRecord.from_bytes(data)
    except OssrError as exc:
        assert exc.hint
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return
    problems = validate_image_record(doc)
    assert isinstance(problems, list)


def test_struct_sizes_are_what_the_fuzzers_assume() -> None:
    from ossr_images.images.sif import DESCRIPTOR, HEADER

    assert (HEADER.size, DESCRIPTOR.size) == (128, 585)
    assert struct.calcsize("<qq") == 16
