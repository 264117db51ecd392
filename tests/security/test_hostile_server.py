"""A hostile or broken server, played by the fault proxy rewriting the stand-in's answers.

- records with unsafe file keys: the whole record is refused (exit 3) before anything is written, and nothing
  is ever written outside the destination folder;
- records with absurd or malformed sizes and checksums: a clean stop, never a traceback, never a file under
  its final name that is not the record's bytes;
- answers that are HTML error pages, wrong JSON shapes or cut JSON at each step of publish and fetch: a clean
  stop (or a correct completion), and a re-run completes with one good record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.helpers.faults import PUBLISH_STEPS
from tests.reliability.conftest import Project, assert_clean_failure, run_cli
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.test_publish_faults import check_one_good_record

RECORD = r"^/api/records/\d+$"


def _edit_image_entry(edit: Callable[[dict], None]) -> Callable[[int, bytes], tuple[int, bytes]]:
    """A rewrite that applies `edit` to the image's entry in a record's file list."""

    def fn(status: int, body: bytes) -> tuple[int, bytes]:
        doc = json.loads(body)
        files = doc.get("files")
        entries = files.get("entries") if isinstance(files, dict) else files
        if isinstance(entries, dict):
            entries = list(entries.values())
        for entry in entries or []:
            name = entry.get("key") or entry.get("filename") or ""
            if name.endswith(".tar"):
                edit(entry)
        return status, json.dumps(doc).encode()

    return fn


def _set_key(key: str) -> Callable[[dict], None]:
    def edit(entry: dict) -> None:
        entry["key"] = key
        if "filename" in entry:
            entry["filename"] = key

    return edit


@pytest.fixture
def record(env: FaultProxy, project: Project) -> dict:
    run = run_cli(*project.publish_args(), json_out=True)
    assert run.exit_code == 0, run.explain()
    env.log.clear()
    return run.json


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


UNSAFE_KEYS = [
    "../../escape.tar",
    "../escape.tar",
    "/tmp/absolute.tar",
    "sub/dir.tar",
    "sub\\dir.tar",
    "nul\x00byte.tar",
    "..",
    ".",
    "",
    "C:evil.tar",
    ".ossr-images.lock",
    "codemeta.json.part",
    "example.tar.Unverified-Provenance",
    "CODEMETA.JSON",  # differs from codemeta.json only in case
    "x" * 300 + ".tar",
]


@pytest.mark.parametrize("key", UNSAFE_KEYS, ids=[repr(k)[:40] for k in UNSAFE_KEYS])
def test_unsafe_key_refuses_the_whole_record(
    key: str, env: FaultProxy, record: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env.rewrite(_edit_image_entry(_set_key(key)), "GET", RECORD, count=10)
    before = _tree(tmp_path)
    out = work / "deep" / "dest"
    r = run_cli("fetch", record["doi"], "-d", str(out), json_out=True)
    assert_clean_failure(r, (3,))
    assert r.json["exit_status"] == 3
    created = _tree(tmp_path) - before
    files = [p for p in created if (tmp_path / p).is_file()]
    assert files == [], f"files were written although the record was refused: {files}"
    assert not (tmp_path / "escape.tar").exists() and not Path("/tmp/absolute.tar").exists()
    assert not [e for e in env.log if "/content" in e.path], "a file was downloaded from a refused record"


BAD_ENTRIES: dict[str, Callable[[dict], None]] = {
    "size-1e18": lambda e: e.update(size=10**18),
    "size-negative": lambda e: e.update(size=-5),
    "size-text": lambda e: e.update(size="big"),
    "size-float": lambda e: e.update(size=1.5),
    "size-smaller": lambda e: e.update(size=1000),
    "checksum-missing": lambda e: e.pop("checksum", None),
    "checksum-garbage": lambda e: e.update(checksum="md5:zz"),
    "checksum-other-algo": lambda e: e.update(checksum="sha1:" + "0" * 40),
    "checksum-wrong": lambda e: e.update(checksum="md5:" + "0" * 32),
    "links-missing": lambda e: e.pop("links", None),
    "entry-not-a-dict": None,  # type: ignore[dict-item]
}


@pytest.mark.parametrize("name", list(BAD_ENTRIES))
def test_malformed_file_entries_stop_cleanly(
    name: str, env: FaultProxy, record: dict, tmp_path: Path
) -> None:
    edit = BAD_ENTRIES[name]
    if edit is None:

        def fn(status: int, body: bytes) -> tuple[int, bytes]:
            doc = json.loads(body)
            doc["files"] = ["not", "entries", 7]
            return status, json.dumps(doc).encode()

    else:
        fn = _edit_image_entry(edit)
    env.rewrite(fn, "GET", RECORD, count=10)
    out = tmp_path / "out"
    r = run_cli("fetch", record["doi"], "-d", str(out), json_out=True)
    if r.exit_code != 0:
        assert_clean_failure(r, (1, 3, 4))
    expected = {f["key"]: f["md5"] for f in record["files"]}
    if out.exists():
        for path in out.iterdir():
            if path.is_file() and not path.name.endswith(".part") and not path.name.startswith("."):
                assert hashlib.md5(path.read_bytes()).hexdigest() == expected.get(path.name), path.name  # noqa: S324
    if name in ("size-1e18", "checksum-wrong", "size-smaller"):
        assert r.exit_code in (3, 4), r.explain()
    env.clear()
    again = run_cli("fetch", record["doi"], "-d", str(out), json_out=True)
    assert again.exit_code == 0, again.explain()


GARBAGE = {
    "html-page": b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    "empty-object": b"{}",
    "list": b"[]",
    "null": b"null",
    "cut-json": b'{"id": 1, "links": {"bucket": "http',
    "deep-json": b"[" * 200_000 + b"]" * 200_000,
    "huge-json": b'{"id": 1, "pad": "' + b"x" * 30_000_000 + b'"}',
}


PUBLISH_GARBAGE = [
    pytest.param(
        step,
        garbage,
        id=f"{step}-{garbage}",
    )
    for step in ["find", "create", "upload-image", "publish", "read-back"]
    for garbage in GARBAGE
]
FETCH_GARBAGE = [
    pytest.param(
        step,
        garbage,
        id=f"{step}-{garbage}",
    )
    for step in ["resolve", "get-metadata-file"]
    for garbage in GARBAGE
]


@pytest.mark.parametrize("step,garbage", PUBLISH_GARBAGE)
def test_publish_with_garbage_answers(
    step: str, garbage: str, env: FaultProxy, standin, project: Project
) -> None:
    method, path, skip = PUBLISH_STEPS[step]
    env.rewrite(lambda status, body: (status, GARBAGE[garbage]), method, path, skip=skip)
    first = run_cli(*project.publish_args(), json_out=True)
    assert env.faults_fired() == 1
    if first.exit_code != 0:
        assert_clean_failure(first, (3, 4))
        env.clear()
        rerun = run_cli(*project.publish_args(), json_out=True)
        assert rerun.exit_code == 0, rerun.explain()
    check_one_good_record(standin, project)


@pytest.mark.parametrize("step,garbage", FETCH_GARBAGE)
def test_fetch_with_garbage_answers(
    step: str, garbage: str, env: FaultProxy, record: dict, tmp_path: Path
) -> None:
    path = RECORD if step == "resolve" else r"ossr-image-metadata\.json/content$"
    env.rewrite(lambda status, body: (status, GARBAGE[garbage]), "GET", path)
    out = tmp_path / "out"
    first = run_cli("fetch", record["doi"], "-d", str(out), json_out=True)
    if first.exit_code != 0:
        assert_clean_failure(first, (1, 3, 4))
    expected = {f["key"]: f["md5"] for f in record["files"]}
    if out.exists():
        for p in out.iterdir():
            if p.is_file() and not p.name.endswith(".part") and not p.name.startswith("."):
                assert hashlib.md5(p.read_bytes()).hexdigest() == expected.get(p.name), p.name  # noqa: S324
    env.clear()
    again = run_cli("fetch", record["doi"], "-d", str(out), json_out=True)
    assert again.exit_code == 0, again.explain()
