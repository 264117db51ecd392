"""Issue 12, claim 1: `fetch` says "verified" only when a checksum matched (the record's md5, or the sha256 of
the image metadata file); with nothing to compare, it refuses (exit 3) unless --allow-unverified, and never
reports an md5 it computed itself as the record's. Run through the installed console script."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import TEST_TOKEN
from tests.fetch.records import image_files, publish_record
from tests.helpers.console import run_console
from tests.helpers.standin_faults import NoChecksum

from ossr_images.metadata.image_record import IMAGE_RECORD_KEY


def _env(standin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"OSSR_IMAGES_ZENODO_URL": standin.api_url, "ZENODO_TOKEN": TEST_TOKEN}


def _image_key(files: dict) -> str:  # type: ignore[type-arg]
    return next(k for k in files if k.startswith("example-"))


def test_no_checksum_is_refused_with_exit_3_and_nothing_written(standin, client, tmp_path: Path) -> None:
    files = image_files(tmp_path / "src")
    record = publish_record(client, files)
    standin.faults = NoChecksum()
    out = tmp_path / "out"
    r = run_console("fetch", str(record.id), "-d", str(out), "--json", env=_env(standin))
    assert r.returncode == 3, r.explain()
    doc = r.json()
    assert doc["ok"] is False and doc["exit_status"] == 3
    assert IMAGE_RECORD_KEY in doc["error"]["message"] and "no checksum" in doc["error"]["message"]
    assert "--allow-unverified" in doc["error"]["hint"]
    assert not out.exists() or list(out.iterdir()) == []
    human = run_console("fetch", str(record.id), "-d", str(out), env=_env(standin))
    assert human.returncode == 3 and "--allow-unverified" in human.stderr, human.explain()
    assert "Traceback" not in human.stderr


def test_allow_unverified_keeps_the_files_and_says_which_are_not_verified(
    standin, client, tmp_path: Path
) -> None:
    files = image_files(tmp_path / "src")
    image = _image_key(files)
    record = publish_record(client, files)
    standin.faults = NoChecksum()  # no md5 for any file: only the image has a sha256 (in the metadata file)
    out = tmp_path / "out"
    r = run_console(
        "fetch", str(record.id), "-d", str(out), "--allow-unverified", "--json", env=_env(standin)
    )
    assert r.returncode == 0, r.explain()
    doc = r.json()
    assert doc["ok"] is True and doc["exit_status"] == 0
    by_key = {f["key"]: f for f in doc["files"]}
    assert set(by_key) == set(files)
    for key, f in by_key.items():
        assert Path(f["path"]).is_file()
        assert f["md5"] is None, f"{key}: an md5 computed here was reported as the record's"
    assert by_key[image]["verified"] is True and by_key[image]["checked"] == ["sha256"]
    for key in (IMAGE_RECORD_KEY, "codemeta.json"):
        assert by_key[key]["verified"] is False and by_key[key]["checked"] == []

    human = run_console(
        "fetch", str(record.id), "-d", str(tmp_path / "h"), "--allow-unverified", env=_env(standin)
    )
    assert human.returncode == 0, human.explain()
    lines = {
        line.split()[0]: line for line in human.stdout.splitlines() if line.startswith("  ") and "(" in line
    }
    assert "sha256 verified" in lines[image]
    for key in (IMAGE_RECORD_KEY, "codemeta.json"):
        assert "NOT verified" in lines[key], human.stdout


def test_with_the_records_md5_every_file_is_verified_by_it(standin, client, tmp_path: Path) -> None:
    files = image_files(tmp_path / "src")
    image = _image_key(files)
    record = publish_record(client, files)
    r = run_console("fetch", str(record.id), "-d", str(tmp_path / "out"), "--json", env=_env(standin))
    assert r.returncode == 0, r.explain()
    by_key = {f["key"]: f for f in r.json()["files"]}
    assert by_key[image]["checked"] == ["md5", "sha256"] and by_key[image]["verified"] is True
    assert by_key["codemeta.json"]["checked"] == ["md5"]
    data = files["codemeta.json"]
    assert by_key["codemeta.json"]["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324 - the record's


def test_one_file_without_checksum_is_named_and_refused_before_the_download(
    standin, client, tmp_path: Path
) -> None:
    files = image_files(tmp_path / "src")
    record = publish_record(client, files)
    standin.faults = NoChecksum({"codemeta.json"})
    out = tmp_path / "out"
    r = run_console("fetch", str(record.id), "-d", str(out), "--json", env=_env(standin))
    assert r.returncode == 3, r.explain()
    assert r.json()["error"]["details"] == {"files": ["codemeta.json"]}
    assert not (out / "codemeta.json").exists() and not (out / _image_key(files)).exists()
