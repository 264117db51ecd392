"""Fixtures for the publish tests: a real git project with a CodeMeta file, image archives made without an
engine (labels naming that project), a request recorder on the stand-in, and an isolated cache folder."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPOSITORY = "https://github.com/escape2020/ossr-images-publish-test"

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


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own ossr-images cache and sees no CI variables of the machine running it."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("OSSR_IMAGES_CACHE_DIR", str(cache))
    for var in CI_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    return cache


def codemeta_doc(version: str = "1.0.0", **extra: object) -> dict:
    doc = {
        "@context": "https://w3id.org/codemeta/3.0",
        "@type": "SoftwareSourceCode",
        "name": "hello-publish",
        "description": "A tiny test project whose container image ossr-images publishes.",
        "version": version,
        "softwareVersion": version,
        "license": "https://spdx.org/licenses/MIT",
        "datePublished": "2026-01-15",
        "codeRepository": REPOSITORY,
        "readme": f"{REPOSITORY}/blob/main/README.md",
        "keywords": ["test", "container"],
        "author": [
            {
                "@type": "Person",
                "givenName": "Ada",
                "familyName": "Lovelace",
                "affiliation": {"@type": "Organization", "name": "Analytical Engines"},
            }
        ],
        "maintainer": [{"@type": "Person", "givenName": "Ada", "familyName": "Lovelace"}],
    }
    doc.update(extra)
    return doc


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    out = subprocess.run(
        [
            "git",
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@dataclass
class Project:
    """A git checkout with codemeta.json; `image()` writes a labelled docker archive for its HEAD."""

    path: Path
    repository: str
    images: Path

    @property
    def codemeta(self) -> Path:
        return self.path / "codemeta.json"

    @property
    def commit(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def release(self, version: str, **extra: object) -> str:
        """Write codemeta.json for `version` and commit it; returns the new commit."""
        self.codemeta.write_text(json.dumps(codemeta_doc(version, **extra), indent=2) + "\n")
        (self.path / "VERSION").write_text(version + "\n")
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", f"release {version}")
        return self.commit

    def image(
        self,
        *,
        name: str | None = None,
        labels: dict[str, str] | None = None,
        compression: str = "zstd",
        payload: bytes = b"hello\n",
    ) -> Path:
        from ossr_images.images.synth import write_docker_archive

        version = json.loads(self.codemeta.read_text())["version"]
        base = {
            "org.opencontainers.image.source": self.repository,
            "org.opencontainers.image.revision": self.commit,
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.created": "2026-01-15T12:00:00Z",
        }
        base.update(labels or {})
        suffix = {"zstd": ".tar.zst", "gzip": ".tar.gz", "none": ".tar"}[compression]
        out = self.images / (name or f"hello-{version}{suffix}")
        write_docker_archive(
            out,
            labels=base,
            tag=f"hello-publish:{version}",
            files={"app/hello.txt": payload, "app/VERSION": version.encode()},
            compression=compression,
        )
        return out


@pytest.fixture
def project(tmp_path: Path) -> Project:
    path = tmp_path / "hello"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", REPOSITORY + ".git")
    (path / "README.md").write_text("# hello\n")
    images = tmp_path / "images"
    images.mkdir()
    proj = Project(path, REPOSITORY, images)
    proj.release("1.0.0")
    return proj


class Recorder:
    """A stand-in fault plan that only records (method, path) of every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def before(self, request) -> bool:  # noqa: ANN001
        self.requests.append((request.method, request.path))
        return False

    def upload_cut(self, request, size):  # noqa: ANN001
        return None

    def after(self, request, status, body):  # noqa: ANN001
        return None

    def download_cut(self, request, size):  # noqa: ANN001
        return None

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]


@pytest.fixture
def recorder(standin) -> Recorder:
    rec = Recorder()
    standin.faults = rec
    return rec
