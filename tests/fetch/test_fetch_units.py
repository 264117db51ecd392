"""Pure parts of fetch: file-key safety, record file lists, source links from related identifiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ossr_images.errors import IntegrityError
from ossr_images.workflows.fetch import (
    FetchedFile,
    FetchPlan,
    FetchRecord,
    FetchResult,
    check_file_keys,
    guess_image_key,
    parse_tree_url,
    record_files,
    unsafe_key_reason,
    zenodo_source,
)
from ossr_images.workflows.search import _guess_format, image_query
from ossr_images.zenodo.models import Record, RemoteFile

REFERENCE = (
    Path(__file__).parents[1] / "data" / "zenodo" / "publish_202__sandbox_2025-10__record_as_zenodo_json.json"
)

HOSTILE = [
    "../../x",
    "..",
    ".",
    "",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "..\\..\\x",
    "x\x00y",
    "bell\x07",
    "new\nline",
    "image.tar.part",
    ".ossr-images.lock",
    "image.tar.unverified-provenance",
    "CON",
    "trailing.",
    "C:evil",
    "x" * 300,
    "\ud800.tar",
]


@pytest.mark.parametrize("key", HOSTILE)
def test_hostile_key_refuses_the_whole_record(key: str) -> None:
    assert unsafe_key_reason(key) is not None
    with pytest.raises(IntegrityError) as info:
        check_file_keys(["codemeta.json", key, "image.tar"], where="record 7")
    assert info.value.exit_code == 3
    assert "record 7" in info.value.message and "nothing was written" in info.value.message


@pytest.mark.parametrize(
    "keys",
    [["Image.tar", "image.tar"], ["codemeta.json", "CODEMETA.JSON"], ["\u00e9.txt", "e\u0301.txt"]],
)
def test_names_equal_ignoring_case_or_normalisation_are_refused(keys: list[str]) -> None:
    with pytest.raises(IntegrityError, match="differs only in case"):
        check_file_keys(keys)


def test_ordinary_keys_pass() -> None:
    keys = [
        "codemeta.json",
        "ossr-image-metadata.json",
        "example-1.0.0.tar.zst",
        "hello world.sif",
        "ünï.txt",
    ]
    check_file_keys(keys)  # no exception
    assert all(unsafe_key_reason(k) is None for k in keys)


def test_record_files_reads_a_real_zenodo_record() -> None:
    record = json.loads(REFERENCE.read_text())["response"]
    files = record_files(Record.from_json(record))
    assert [f.key for f in files] == ["pattern-1_v1.0.0.cwl", "codemeta.json"]
    assert files[0].md5 == "7e479156b3545479cefae3e95c42ddbf" and files[0].size == 3738
    assert files[0].url.endswith("/records/346365/files/pattern-1_v1.0.0.cwl/content")


def test_record_files_reads_legacy_deposit_entries() -> None:
    legacy = {
        "files": [
            {
                "filename": "a.tar",
                "filesize": 10,
                "checksum": "0123456789abcdef0123456789abcdef",
                "links": {"download": "https://z/api/records/1/files/a.tar/content"},
            }
        ]
    }
    (f,) = record_files(Record.from_json(legacy))
    assert (f.key, f.size, f.md5) == ("a.tar", 10, "0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/org/repo/tree/" + "a" * 40, ("https://github.com/org/repo", "a" * 40)),
        ("https://gitlab.in2p3.fr/g/sub/p/-/tree/abc123", ("https://gitlab.in2p3.fr/g/sub/p", "abc123")),
        ("https://github.com/org/repo", None),
    ],
)
def test_parse_tree_url(url: str, expected: tuple[str, str] | None) -> None:
    assert parse_tree_url(url) == expected


def test_zenodo_source_uses_is_derived_from_only() -> None:
    record = {
        "metadata": {
            "related_identifiers": [
                {"identifier": "https://github.com/o/r/tree/v1", "relation": "isSupplementTo"},
                {"identifier": "https://github.com/o/r/tree/" + "b" * 40, "relation": "isDerivedFrom"},
            ]
        }
    }
    assert zenodo_source(Record.from_json(record)) == ("https://github.com/o/r", "b" * 40)
    assert zenodo_source(Record.from_json({"metadata": {}})) is None


def test_guess_image_key_and_format() -> None:
    files = [
        RemoteFile("codemeta.json", 100, None),
        RemoteFile("img.tar.zst", 5000, None),
        RemoteFile("small.sif", 10, None),
    ]
    assert guess_image_key(files) == "img.tar.zst"
    assert guess_image_key(files[:1]) is None
    assert _guess_format("img.tar.zst") == (None, "zstd")
    assert _guess_format("x.sif") == ("sif", "none")
    assert _guess_format("x.oci.tar.gz") == ("oci-archive", "gzip")


def test_json_document_has_the_fields_of_the_issue_with_nulls() -> None:
    plan = FetchPlan(
        FetchRecord("5", doi="10.5072/zenodo.5"), requested="5", from_concept=False, directory=Path("d")
    )
    result = FetchResult(
        plan, files=(FetchedFile("a.txt", Path("d/a.txt"), 1, "m", "s", True, checked=["md5"]),), api="rdm"
    )
    doc = result.to_dict()
    assert list(doc) == ["api", "record_id", "doi", "conceptdoi", "files", "source", "image", "loaded"]
    assert doc["api"] == "rdm"
    assert doc["files"] == [
        {
            "key": "a.txt",
            "path": "d/a.txt",
            "size": 1,
            "md5": "m",
            "sha256": "s",
            "verified": True,
            "checked": ["md5"],
        }
    ]
    assert doc["source"] is None and doc["image"] is None and doc["loaded"] is None


def test_image_query_names_the_keyword() -> None:
    assert image_query(None) == 'keywords:"ossr-images:container-image"'
    assert image_query("gammapy") == 'keywords:"ossr-images:container-image" AND gammapy'
    assert image_query("a OR b") == 'keywords:"ossr-images:container-image" AND (a OR b)'


@settings(max_examples=500, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_any_accepted_key_stays_a_plain_name_inside_the_folder(key: str) -> None:
    base = Path("/tmp/ossr-fetch-prop").resolve()
    try:
        check_file_keys([key])
    except IntegrityError:
        return
    target = (base / key).resolve()
    assert target.parent == base and target.name == key
    assert not key.endswith((".part", ".unverified-provenance")) and key != ".ossr-images.lock"


def test_the_server_is_chosen_by_target_options_then_by_the_identifier(monkeypatch) -> None:
    from ossr_images.workflows.fetch import resolve_fetch_target

    monkeypatch.delenv("OSSR_IMAGES_ZENODO_URL", raising=False)
    monkeypatch.setenv("ZENODO_TOKEN", "prod-token-123")
    monkeypatch.setenv("ZENODO_SANDBOX_TOKEN", "sandbox-token-456")
    ref, target = resolve_fetch_target("10.5072/zenodo.5")
    assert (ref.record_id, target.api_url, target.token) == (
        "5",
        "https://sandbox.zenodo.org/api",
        "sandbox-token-456",
    )
    _, target = resolve_fetch_target("https://doi.org/10.5281/zenodo.7")
    assert (target.api_url, target.token) == ("https://zenodo.org/api", "prod-token-123")
    _, target = resolve_fetch_target("10.5072/zenodo.5", zenodo_url="http://127.0.0.1:9/api")
    assert target.api_url == "http://127.0.0.1:9/api"  # a TARGET option wins over the DOI's prefix
    _, target = resolve_fetch_target("10.5281/zenodo.5", sandbox=True)
    assert target.api_url == "https://sandbox.zenodo.org/api"
    # a record URL on another host is read there, and never gets a Zenodo token
    ref, target = resolve_fetch_target("http://127.0.0.1:8765/records/12")
    assert (ref.record_id, target.api_url, target.token) == ("12", "http://127.0.0.1:8765/api", None)


def test_the_folder_lock_leaves_no_file_and_holds_across_cache_folders(tmp_path, monkeypatch) -> None:
    import threading

    from ossr_images.workflows.fetch_download import folder_lock as _folder_lock

    out = tmp_path / "dir"
    out.mkdir()
    monkeypatch.setenv("OSSR_IMAGES_CACHE_DIR", str(tmp_path / "cache-a"))
    waited = threading.Event()
    inside = threading.Event()

    def other() -> None:  # another run, with its own cache folder
        with _folder_lock(out, lambda _m: waited.set()):
            inside.set()

    with _folder_lock(out, lambda _m: None):
        monkeypatch.setenv("OSSR_IMAGES_CACHE_DIR", str(tmp_path / "cache-b"))
        thread = threading.Thread(target=other)
        thread.start()
        assert waited.wait(10) and not inside.wait(0.3)
        assert not list(out.iterdir())
    thread.join(10)
    assert inside.is_set()
    assert not list(out.iterdir()) and not list(tmp_path.glob("cache-*/**/*.lock"))


def test_the_lock_file_lives_in_the_cache_unless_the_cache_is_not_writable(tmp_path, monkeypatch):
    """Where the folder itself cannot be locked (Windows, some network file systems)."""
    import logging

    from ossr_images.workflows.fetch_download import lock_file as _lock_file

    out = tmp_path / "dir"
    out.mkdir()
    cache = tmp_path / "cache"
    monkeypatch.setenv("OSSR_IMAGES_CACHE_DIR", str(cache))
    with _lock_file(out, lambda _m: None):
        assert not list(out.iterdir())
        assert len(list((cache / "fetch-locks").glob("*.lock"))) == 1
    # the same folder by another spelling (a symlink) takes the same lock
    link = tmp_path / "link"
    link.symlink_to(out)
    with _lock_file(link, lambda _m: None):
        assert len(list((cache / "fetch-locks").glob("*.lock"))) == 1

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("OSSR_IMAGES_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("ossr_images.fetch")
    monkeypatch.setattr(logger, "level", logging.DEBUG)
    logger.addHandler(handler)
    try:
        with _lock_file(out, lambda _m: None):
            assert [p.name for p in out.iterdir()] == [".ossr-images.lock"]
    finally:
        logger.removeHandler(handler)
    assert any(r.levelno == logging.DEBUG and "not writable" in r.getMessage() for r in records)


def test_a_folder_that_cannot_be_flocked_falls_back_to_the_lock_file(tmp_path, monkeypatch) -> None:
    import fcntl
    import os
    import stat

    from ossr_images.workflows.fetch_download import folder_lock as _folder_lock

    real_flock = fcntl.flock

    def no_flock(fd: int, op: int) -> None:  # a file system that cannot flock folders (filelock still can)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(95, "Operation not supported")
        real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = tmp_path / "dir"
    out.mkdir()
    monkeypatch.setenv("OSSR_IMAGES_CACHE_DIR", str(tmp_path / "cache"))
    with _folder_lock(out, lambda _m: None):
        assert len(list((tmp_path / "cache" / "fetch-locks").glob("*.lock"))) == 1
    assert not list(out.iterdir())


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"only": "everything"}, "--only 'everything'"),
        ({"load": "podman"}, "--load 'podman'"),
        ({"load": "docker", "only": "metadata"}, "--load needs the image"),
    ],
)
def test_fetch_options_refuse_what_cannot_be_done(options: dict, needle: str) -> None:
    from ossr_images.errors import InvalidInputError
    from ossr_images.workflows.fetch import FetchOptions

    with pytest.raises(InvalidInputError) as info:
        FetchOptions(**options)
    assert needle in info.value.message and info.value.exit_code == 1
