"""End to end: `ossr-images publish` on the stand-in, then `search` finds it and `fetch` gets it back with
its provenance verified and its source checked out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from conftest import TEST_TOKEN
from ossr_images.cli import main
from ossr_images.workflows.demo import make_example_repo, write_example_image


def test_publish_then_search_then_fetch_with_source(zenodo_env, tmp_path: Path) -> None:
    repo, repository, commit = make_example_repo(tmp_path / "hello")
    image = write_example_image(repo, repository, commit, tmp_path)
    runner = CliRunner()
    published = runner.invoke(
        main,
        [
            "publish",
            str(image),
            "--codemeta",
            str(repo / "codemeta.json"),
            "--repo",
            str(repo),
            "--yes",
            "--json",
        ],
    )
    assert published.exit_code == 0, published.stderr
    doi = json.loads(published.stdout)["doi"]
    assert doi

    found = runner.invoke(main, ["search", "--json"])
    assert found.exit_code == 0, found.stderr
    (hit,) = json.loads(found.stdout)["records"]
    assert hit["doi"] == doi and hit["source"] == {"repository": repository, "commit": commit}
    assert (
        hit["image_file"] == image.name and hit["format"] == "docker-archive" and hit["compression"] == "zstd"
    )

    # no network: git maps the published repository URL to the local checkout
    env = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{repo.as_uri()}.insteadOf",
        "GIT_CONFIG_VALUE_0": repository,
    }
    out, src = tmp_path / "fetched", tmp_path / "source"
    fetched = runner.invoke(main, ["-v", "fetch", doi, "-d", str(out), "--source", str(src)], env=env)
    assert fetched.exit_code == 0, fetched.stderr
    assert f"built from {repository} at {commit}" in fetched.stdout
    assert (out / image.name).read_bytes() == image.read_bytes()
    assert (out / "codemeta.json").read_bytes() == (repo / "codemeta.json").read_bytes()
    head = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    assert head.stdout.strip() == commit
    assert TEST_TOKEN not in fetched.stdout + fetched.stderr + published.stdout + published.stderr


def test_demo_fetches_the_record_back_and_shows_the_verified_provenance() -> None:
    result = CliRunner().invoke(main, ["demo", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    fetched, source = doc["fetch"], doc["source"]
    assert fetched["doi"] == doc["publish"]["doi"]
    assert (
        fetched["source"]["repository"] == source["repository"]
        and fetched["source"]["commit"] == source["commit"]
    )
    assert fetched["source"]["verified"] is True and all(f["verified"] for f in fetched["files"])
    assert f"built from {source['repository']} at {source['commit']}" in result.stderr
