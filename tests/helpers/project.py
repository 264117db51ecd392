"""A real git project with a CodeMeta file and image archives made without an engine (labels naming that
project), and the environment isolation the tests that publish it need."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

# The variables source resolution reads (GitHub Actions, GitLab CI): a test must not see the machine's.
CI_VARIABLES = (
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_SHA",
    "GITHUB_REPOSITORY",
    "GITHUB_SERVER_URL",
    "GITHUB_REF_NAME",
    "GITHUB_REF_TYPE",
    "GITLAB_CI",
    "CI_PROJECT_URL",
    "CI_COMMIT_SHA",
    "CI_COMMIT_TAG",
    "CI_COMMIT_REF_NAME",
)


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give the test its own ossr-images cache under `tmp_path` and hide the CI variables; returns the cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("OSSR_IMAGES_CACHE_DIR", str(cache))
    for var in CI_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    return cache


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` with a fixed identity and no system config; returns its stripped stdout."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    identity = ["-c", "user.name=T", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    out = subprocess.run(
        ["git", *identity, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def codemeta_doc(version: str, *, name: str, description: str, repository: str, **extra: object) -> dict:
    """A small valid CodeMeta 3 document for `repository` at `version`; `extra` adds or replaces terms."""
    doc = {
        "@context": "https://w3id.org/codemeta/3.0",
        "@type": "SoftwareSourceCode",
        "name": name,
        "description": description,
        "version": version,
        "license": "https://spdx.org/licenses/MIT",
        "datePublished": "2026-01-15",
        "codeRepository": repository,
        "keywords": ["test"],
        "author": [{"@type": "Person", "givenName": "Ada", "familyName": "Lovelace"}],
    }
    doc.update(extra)
    return doc


P = TypeVar("P", bound="GitProject")


@dataclass
class GitProject:
    """A git checkout whose origin is `repository`, with a folder `images` for its image archives."""

    path: Path
    images: Path
    repository: str

    @classmethod
    def create(cls: type[P], root: Path, repository: str) -> P:
        """A new checkout `root/hello` (one README, no commit yet); its images go to `root/images`."""
        path = root / "hello"
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        git(path, "remote", "add", "origin", repository + ".git")
        (path / "README.md").write_text("# hello\n")
        images = root / "images"
        images.mkdir()
        return cls(path, images, repository)

    @property
    def codemeta(self) -> Path:
        return self.path / "codemeta.json"

    @property
    def commit(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def commit_release(self, doc: Mapping[str, object], version: str, **files: str) -> str:
        """Write `doc` as codemeta.json (and `files`, name -> text), commit all; returns the new commit."""
        self.codemeta.write_text(json.dumps(doc, indent=2) + "\n")
        for name, text in files.items():
            (self.path / name).write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", f"release {version}")
        return self.commit

    def write_image(
        self,
        out: Path,
        *,
        version: str,
        tag: str,
        files: dict[str, bytes],
        labels: Mapping[str, str] | None = None,
        compression: str = "none",
    ) -> Path:
        """A docker archive at `out` labelled with this checkout's HEAD (`labels` add or replace labels)."""
        from ossr_images.images.synth import write_docker_archive

        all_labels = {
            "org.opencontainers.image.source": self.repository,
            "org.opencontainers.image.revision": self.commit,
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.created": "2026-01-15T12:00:00Z",
            **(labels or {}),
        }
        write_docker_archive(out, labels=all_labels, tag=tag, files=files, compression=compression)
        return out
