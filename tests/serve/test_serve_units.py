"""Pure parts of serve: the name/reference grammar, Range parsing, Accept negotiation, --cache-size."""

from __future__ import annotations

import pytest

from ossr_images.cli.serve_cmd import parse_size
from ossr_images.serve.app import _parse_range
from ossr_images.serve.names import check_digest, check_reference, parse_name
from ossr_images.workflows.serve_archive import Manifest, ServedImage, canonical_json
from ossr_images.workflows.serve_registry import RegistryError, RepoName


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("records/123", RepoName("records", "123")),
        ("records/007", RepoName("records", "7")),
        ("records/0", RepoName("records", "0")),
        ("records/4d0ns-ntd89", RepoName("records", "4d0ns-ntd89")),  # another InvenioRDM's id
        ("doi/10.5072/4d0ns-ntd89", RepoName("doi", "10.5072/4d0ns-ntd89")),
        ("doi/10.5281/zenodo.123456", RepoName("doi", "10.5281/zenodo.123456")),
        ("doi/10.5072/zenodo.1", RepoName("doi", "10.5072/zenodo.1")),
    ],
)
def test_names_of_the_contract(text: str, expected: RepoName) -> None:
    assert parse_name(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("records/../1", "NAME_INVALID"),
        ("records/a..b", "NAME_INVALID"),
        ("Records/1", "NAME_INVALID"),
        ("doi/10.5281/ZENODO.1", "NAME_INVALID"),
        ("records//1", "NAME_INVALID"),
        ("records/1/", "NAME_INVALID"),
        ("-records/1", "NAME_INVALID"),
        ("x" * 256, "NAME_INVALID"),
        ("records/abc", "NAME_UNKNOWN"),
        ("records/1/2", "NAME_UNKNOWN"),
        ("records/4d0ns-ntd8", "NAME_UNKNOWN"),
        ("records/4d0ns-ntd89x", "NAME_UNKNOWN"),
        ("records/4d0nsntd89", "NAME_UNKNOWN"),
        ("library/busybox", "NAME_UNKNOWN"),
        ("doi/11.5281/zenodo.1", "NAME_UNKNOWN"),
        ("doi/10.5281", "NAME_UNKNOWN"),
    ],
)
def test_names_outside_the_grammar_or_the_contract(text: str, code: str) -> None:
    with pytest.raises(RegistryError) as err:
        parse_name(text)
    assert err.value.code == code


def test_references() -> None:
    digest = "sha256:" + "a" * 64
    assert check_digest(digest) == digest and check_reference(digest) == digest
    assert check_reference("1.2.0") == "1.2.0" and check_reference("latest") == "latest"
    for bad in (
        "sha256:" + "A" * 64,
        "sha256:abc",
        "md5:" + "a" * 32,
        "sha256" + "a" * 64,
        "sha512:" + "a" * 128,
    ):
        with pytest.raises(RegistryError) as err:
            check_digest(bad)
        assert err.value.code == "DIGEST_INVALID", bad
    for bad in (".hidden", "-x", "a" * 129, "v1 0"):
        with pytest.raises(RegistryError) as err:
            check_reference(bad)
        assert err.value.code == "MANIFEST_INVALID", bad


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=100-", 1000, (100, 999)),
        ("bytes=-10", 1000, (990, 999)),
        ("bytes=990-5000", 1000, (990, 999)),
        ("bytes=-5000", 1000, (0, 999)),
        ("bytes=1000-", 1000, None),
        ("bytes=5-4", 1000, None),
        ("bytes=-0", 1000, None),
        ("bytes=0-1,5-6", 1000, None),
        ("items=0-1", 1000, None),
    ],
)
def test_range_header(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert _parse_range(header, size) == expected


def test_accept_negotiation_picks_the_first_tagged_manifest_the_client_accepts() -> None:
    oci = Manifest("sha256:1", "application/vnd.oci.image.manifest.v1+json", b"{}")
    docker = Manifest("sha256:2", "application/vnd.docker.distribution.manifest.v2+json", b"{}")
    image = ServedImage("1", None, {oci.digest: oci, docker.digest: docker}, [oci.digest, docker.digest])
    assert image.for_accept(None) is oci
    assert image.for_accept({docker.media_type}) is docker
    assert image.for_accept({docker.media_type, oci.media_type}) is oci


def test_canonical_json_is_byte_stable() -> None:
    a = canonical_json({"b": 1, "a": [1, {"d": "é", "c": None}]})
    b = canonical_json({"a": [1, {"c": None, "d": "é"}], "b": 1})
    assert a == b == '{"a":[1,{"c":null,"d":"é"}],"b":1}'.encode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20GiB", 20 << 30), ("500MB", 500_000_000), ("1.5T", 1_500_000_000_000), ("123", 123), ("4 KiB", 4096)],
)
def test_cache_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected
