"""Issue 12, claim 5: an OSError that no workflow expected (a cache or download folder that cannot be made)
ends as a one-line error naming the path, with a hint, through the installed console script: no traceback.

The cache folder is made unusable by putting it under a regular file (`a-file/sub`): that fails with
NotADirectoryError even for root, which CI runs the tests as (chmod would not stop root)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import TEST_TOKEN
from tests.fetch.records import image_files, make_client, publish_record
from tests.helpers.console import Ran, run_console
from tests.reliability.conftest import REPOSITORY, Project


def _blocked(tmp_path: Path) -> Path:
    plain = tmp_path / "a-file"
    plain.write_text("a file where a folder is expected\n")
    return plain / "sub"


def _env(standin, cache: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "OSSR_IMAGES_ZENODO_URL": standin.api_url,
        "ZENODO_TOKEN": TEST_TOKEN,
        "OSSR_IMAGES_CACHE_DIR": str(cache),
    }


def _assert_clean(r: Ran, path: Path) -> None:
    assert r.returncode == 1, r.explain()
    assert "Traceback" not in r.stderr + r.stdout, r.explain()
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and str(path) in errors[0], r.explain()
    assert any(line.startswith("Hint: ") for line in r.stderr.splitlines()), r.explain()


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_publish_with_an_unusable_cache_folder(standin, tmp_path: Path, as_json: bool) -> None:
    project = Project.create(tmp_path, REPOSITORY)
    image = project.release("1.0.0")
    cache = _blocked(tmp_path)
    args = ["publish", str(image), "--codemeta", str(project.codemeta), "--repo", str(project.path), "--yes"]
    r = run_console(*args, *(["--json"] if as_json else []), env=_env(standin, cache))
    _assert_clean(r, cache)
    assert "OSSR_IMAGES_CACHE_DIR" in r.stderr
    if as_json:
        doc = r.json()
        assert doc["exit_status"] == 1 and str(cache) in doc["error"]["message"]
        assert "OSSR_IMAGES_CACHE_DIR" in doc["error"]["hint"]


def test_fetch_with_an_unusable_cache_or_download_folder(standin, tmp_path: Path) -> None:
    with make_client(standin.api_url, TEST_TOKEN) as client:
        record = publish_record(client, image_files(tmp_path / "src"))
    cache = _blocked(tmp_path)
    # fetch needs the cache only when it cannot lock the download folder itself: it still works
    ok = run_console("fetch", str(record.id), "-d", str(tmp_path / "out"), env=_env(standin, cache))
    assert ok.returncode == 0, ok.explain()
    # a download folder under a file: a clean error naming it
    dest = _blocked(tmp_path) / "out"
    r = run_console("fetch", str(record.id), "-d", str(dest), env=_env(standin, cache))
    _assert_clean(r, tmp_path / "a-file" / "sub")
