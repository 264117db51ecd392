"""`ossr-images demo`: the main job end to end on the embedded default (stand-in + bundled example)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from ossr_images.cli import main
from ossr_images.workflows.demo import example_files

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_bundled_example_matches_examples_hello():
    """The package copy (src/ossr_images/data/example-hello) is the same as examples/hello."""
    source = REPO_ROOT / "examples" / "hello"
    expected = {
        str(p.relative_to(source)): p.read_bytes()
        for p in source.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    bundled = example_files()
    assert "codemeta.json" in bundled
    assert bundled == expected


def test_demo_end_to_end_json(tmp_path: Path):
    res = CliRunner().invoke(main, ["demo", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    pub = doc["publish"]
    assert pub["state"] == "published"
    assert pub["doi"].startswith("10.5072/zenodo.")
    assert [f["key"] for f in pub["files"]][1:] == ["codemeta.json", "ossr-image-metadata.json"]
    assert doc["source"]["repository"] == "https://github.com/escape2020/ossr-images"
    assert len(doc["source"]["commit"]) == 40
    assert doc["work_dir"] is None  # nothing kept


def test_demo_keep_keeps_everything(tmp_path: Path):
    keep = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--keep", str(keep)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "DOI:" in res.stdout and "10.5072/zenodo." in res.stdout
    assert (keep / "hello" / ".git").is_dir()
    assert (keep / "hello" / "codemeta.json").is_file()
    assert list(keep.glob("*.tar.zst")), "the image archive is kept"
    assert (keep / "zenodo-data").is_dir()
    # a second demo into the same (now non-empty) folder is refused, not mixed
    again = CliRunner().invoke(main, ["demo", "--keep", str(keep)])
    assert again.exit_code == 1
    assert "not empty" in again.stderr


def test_demo_ignores_ci_variables_of_the_machine(monkeypatch):
    """Run inside someone's CI job, the demo still links the image to its own example repository."""
    monkeypatch.setenv("GITHUB_SHA", "1" * 40)
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/else")
    monkeypatch.setenv("CI_COMMIT_SHA", "2" * 40)
    monkeypatch.setenv("CI_PROJECT_URL", "https://gitlab.example/else")
    res = CliRunner().invoke(main, ["demo", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "Warning" not in res.stderr
    assert json.loads(res.stdout)["source"]["repository"] == "https://github.com/escape2020/ossr-images"
