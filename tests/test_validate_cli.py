"""`ossr-images validate` end to end: the project's own codemeta.json, the bundled example in a real git
repository, human and JSON output, exit statuses, --strict, CI variables and the --image label check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.helpers.project import CI_VARIABLES, git

from ossr_images.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello"
PROJECT_REPO = "https://github.com/escape2020/ossr-images"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for key in CI_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["validate", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def example_repo(tmp_path) -> tuple[Path, str]:
    """The example project as its own git repository (remote = its codeRepository), one commit."""
    repo = tmp_path / "hello"
    shutil.copytree(EXAMPLE, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", "git@github.com:escape2020/ossr-images.git")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hello")
    return repo, git(repo, "rev-parse", "HEAD")


def test_project_codemeta_is_valid_and_strict_clean(tmp_path):
    copy = tmp_path / "codemeta.json"
    shutil.copy(ROOT / "codemeta.json", copy)
    code, out, _ = run(str(copy), "--commit", "1" * 40, "--strict")
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("VALID")
    assert "(0 errors, 0 warnings)" in out
    assert not any(line.startswith(("error ", "warning ")) for line in out.splitlines())


def test_project_codemeta_names_this_repository():
    raw = json.loads((ROOT / "codemeta.json").read_text())
    assert raw["codeRepository"] == PROJECT_REPO
    assert json.loads((EXAMPLE / "codemeta.json").read_text())["codeRepository"] == PROJECT_REPO


def test_example_in_its_git_repository(example_repo):
    repo, head = example_repo
    code, out, err = run(str(repo / "codemeta.json"), "--strict", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert set(doc) == {"ok", "exit_status", "valid", "problems", "source", "zenodo_metadata"}
    assert doc["ok"] is True and doc["exit_status"] == 0
    assert doc["valid"] is True and doc["problems"] == []
    assert doc["source"] == {"repository": PROJECT_REPO, "commit": head, "dirty": False}
    related = doc["zenodo_metadata"]["related_identifiers"]
    assert related[0] == {
        "identifier": f"{PROJECT_REPO}/tree/{head}",
        "relation": "isDerivedFrom",
        "resource_type": "software",
    }
    assert "VALID" in err  # human text on stderr with --json


def test_example_with_commit_and_repo_options(example_repo, tmp_path):
    repo, head = example_repo
    elsewhere = tmp_path / "elsewhere.json"
    shutil.copy(repo / "codemeta.json", elsewhere)
    code, out, _ = run(str(elsewhere), "--repo", str(repo), "--commit", head[:10])
    assert code == 0, out
    assert f"at {head}" in out


def test_dirty_example_needs_allow_dirty(example_repo):
    repo, _ = example_repo
    (repo / "hello.sh").write_text("#!/bin/sh\necho changed\n")
    code, out, err = run(str(repo / "codemeta.json"))
    assert code == 1
    assert "error /source/dirty:" in out and "--allow-dirty" in out
    assert out.strip().splitlines()[-1].startswith("INVALID")
    assert "Hint:" in err
    code, out, _ = run(str(repo / "codemeta.json"), "--allow-dirty")
    assert code == 0 and "warning /source/dirty:" in out


def test_mismatched_remote_names_both(example_repo):
    repo, _ = example_repo
    git(repo, "remote", "set-url", "origin", "https://github.com/someone/else.git")
    code, out, _ = run(str(repo / "codemeta.json"))
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("error /codeRepository"))
    assert PROJECT_REPO in line and "https://github.com/someone/else" in line


def test_invalid_file_lists_every_problem_human(tmp_path):
    path = tmp_path / "codemeta.json"
    path.write_text(
        json.dumps(
            {
                "@context": "https://w3id.org/codemeta/3.0",
                "name": "x y z",
                "license": "License :: OSI Approved :: MIT License",
                "author": [{"@type": "Person", "givenName": "Ada", "familyName": "L"}, {"@type": "Person"}],
                "codeRepository": "https://github.com/example/xyz",
            }
        )
    )
    code, out, _ = run(str(path), "--commit", "2" * 40)
    assert code == 1
    lines = out.splitlines()
    for pointer in ("/description", "/version", "/license", "/author/1/familyName"):
        assert any(line.startswith(f"error {pointer}: ") and "(hint: " in line for line in lines), pointer
    assert any(line.startswith("warning /maintainer: ") for line in lines)
    assert lines[-1].startswith("INVALID")


def test_deprecated_licence_and_name_only_person_are_warnings_that_say_what_is_sent(tmp_path):
    raw = json.loads((EXAMPLE / "codemeta.json").read_text())
    raw["license"] = "https://spdx.org/licenses/GPL-3.0+"
    raw["author"].append({"@type": "Person", "name": "Jane Doe"})
    path = tmp_path / "codemeta.json"
    path.write_text(json.dumps(raw))
    code, out, _ = run(str(path), "--commit", "2" * 40, "--json")
    assert code == 0
    doc = json.loads(out)
    problems = {p["path"]: p for p in doc["problems"]}
    assert "sent as GPL-3.0-or-later" in problems["/license"]["message"]
    assert "givenName" in problems["/author/1/name"]["hint"]
    assert doc["zenodo_metadata"]["license"] == "gpl-3.0-or-later"
    assert doc["zenodo_metadata"]["creators"][1]["name"] == "Jane Doe"


def test_broken_json_with_json_output(tmp_path):
    path = tmp_path / "codemeta.json"
    path.write_text('{"name": "x",}')
    code, out, _ = run(str(path), "--json")
    assert code == 1
    doc = json.loads(out)  # exactly one JSON document on stdout
    assert doc["valid"] is False and doc["zenodo_metadata"] is None
    assert doc["source"] == {"repository": None, "commit": None, "dirty": None}
    [problem] = doc["problems"]
    # Python 3.13's json module places the error one column earlier than 3.10-3.12: ask it where it is.
    try:
        json.loads('{"name": "x",}')
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
    assert problem["path"] == "" and where in problem["message"] and problem["hint"]


def test_strict_turns_warnings_into_errors(tmp_path):
    raw = json.loads((EXAMPLE / "codemeta.json").read_text())
    del raw["readme"]
    path = tmp_path / "codemeta.json"
    path.write_text(json.dumps(raw))
    assert run(str(path), "--commit", "3" * 40)[0] == 0
    code, out, _ = run(str(path), "--commit", "3" * 40, "--strict", "--json")
    assert code == 1
    assert [(p["path"], p["severity"]) for p in json.loads(out)["problems"]] == [("/readme", "error")]


def test_missing_file_is_exit_1_with_hint(tmp_path):
    code, out, err = run(str(tmp_path / "nope.json"))
    assert code == 1
    assert "Error: CodeMeta file not found" in err and "Hint:" in err


def test_default_path_is_codemeta_json_in_cwd(tmp_path, monkeypatch):
    shutil.copy(EXAMPLE / "codemeta.json", tmp_path / "codemeta.json")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("--commit", "4" * 40)
    assert code == 0 and "VALID: codemeta.json" in out


def test_github_actions_variables(tmp_path, monkeypatch):
    shutil.copy(EXAMPLE / "codemeta.json", tmp_path / "codemeta.json")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "escape2020/ossr-images")
    monkeypatch.setenv("GITHUB_SHA", "5" * 40)
    code, out, _ = run(str(tmp_path / "codemeta.json"), "--json")
    assert code == 0
    assert json.loads(out)["source"]["commit"] == "5" * 40
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/else")
    code, out, _ = run(str(tmp_path / "codemeta.json"))
    assert code == 1 and "error /codeRepository:" in out


def test_image_labels_are_checked(example_repo, tmp_path):
    from ossr_images.images.synth import write_docker_archive
    from ossr_images.metadata.codemeta import load_codemeta
    from ossr_images.metadata.labels import oci_labels
    from ossr_images.metadata.source import SourceLink

    repo, head = example_repo
    codemeta = load_codemeta(repo / "codemeta.json").codemeta
    good = tmp_path / "good.tar"
    write_docker_archive(good, labels=oci_labels(codemeta, SourceLink(PROJECT_REPO, head)), tag="hello:1.0.0")
    code, out, _ = run(str(repo / "codemeta.json"), "--image", str(good), "--strict")
    assert code == 0, out

    other = "6" * 40
    bad = tmp_path / "bad.tar"
    write_docker_archive(bad, labels=oci_labels(codemeta, SourceLink(PROJECT_REPO, other)), tag="hello:1.0.0")
    code, out, _ = run(str(repo / "codemeta.json"), "--image", str(bad))
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("error ") and other in line)
    assert head in line


def test_not_an_image(example_repo, tmp_path):
    repo, _ = example_repo
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not an image at all" * 100)
    code, out, _ = run(str(repo / "codemeta.json"), "--image", str(junk))
    assert code == 1 and "error /image:" in out


def test_bundled_example_copy_is_in_sync():
    bundled = ROOT / "src" / "ossr_images" / "data" / "example-hello"
    for path in bundled.iterdir():
        assert path.read_bytes() == (EXAMPLE / path.name).read_bytes(), path.name
    visible = {p.name for p in EXAMPLE.iterdir() if not p.name.startswith(".") and p.name != "busybox"}
    assert visible == {p.name for p in bundled.iterdir()}


def test_real_process_exit_status(tmp_path):
    """The installed entry point, as a script would run it."""
    shutil.copy(EXAMPLE / "codemeta.json", tmp_path / "codemeta.json")
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    ok = subprocess.run(
        [sys.executable, "-m", "ossr_images", "validate", "--commit", "7" * 40, "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["valid"] is True
    (tmp_path / "codemeta.json").write_text("[]")
    bad = subprocess.run(
        [sys.executable, "-m", "ossr_images", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 1 and "INVALID" in bad.stdout
