"""Fixtures for metadata tests: real git repositories in temporary directories."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.org",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout.strip()


class Repo:
    """A git repository with a codemeta.json, built with the real git."""

    def __init__(self, path: Path, object_format: str = "sha1", remote: str | None = None) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", f"--object-format={object_format}", "-b", "main")
        if remote:
            git(path, "remote", "add", "origin", remote)

    def commit(self, files: dict[str, str] | None = None, message: str = "commit") -> str:
        for name, text in (files or {"README.md": "hello\n"}).items():
            (self.path / name).write_text(text)
            git(self.path, "add", name)
        git(self.path, "commit", "-q", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def write_codemeta(self, doc: dict) -> Path:
        path = self.path / "codemeta.json"
        path.write_text(json.dumps(doc, indent=2))
        return path


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key in (
        "GITHUB_SHA",
        "GITHUB_REPOSITORY",
        "GITHUB_SERVER_URL",
        "GITHUB_REF_NAME",
        "CI_COMMIT_SHA",
        "CI_PROJECT_URL",
        "CI_COMMIT_TAG",
        "CI_COMMIT_REF_NAME",
    ):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def make_repo(git_env, tmp_path: Path):
    """make_repo(name, object_format="sha1", remote=None) -> Repo."""

    def factory(name: str = "repo", object_format: str = "sha1", remote: str | None = None) -> Repo:
        return Repo(tmp_path / name, object_format, remote)

    return factory
