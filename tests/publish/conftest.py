"""Fixtures for the publish tests: a real git project with a CodeMeta file, image archives made without an
engine (labels naming that project), a request recorder on the stand-in, and an isolated cache folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import both_standin
from tests.helpers.project import GitProject, isolate
from tests.helpers.project import codemeta_doc as base_codemeta_doc

REPOSITORY = "https://github.com/escape2020/ossr-images-publish-test"


@pytest.fixture
def standin(api_backend: str, tmp_path_factory: pytest.TempPathFactory):
    """Every publish test runs on both backends: the stand-in as Zenodo with the legacy deposit API, and as a
    plain InvenioRDM instance (native API only); `standin.backend` names the backend. On the native API a
    first version goes to the escape2020 community as a review request; the tests' token (user 1) owns
    escape2020 on the stand-in, so its submission is accepted at once, as zenodo.org does for a community
    owner; tests/publish/test_publish_rdm.py publishes as a guest (user 2) to cover requests that wait."""
    yield from both_standin(api_backend, tmp_path_factory)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own ossr-images cache and sees no CI variables of the machine running it."""
    return isolate(tmp_path, monkeypatch)


def codemeta_doc(version: str = "1.0.0", **extra: object) -> dict:
    doc = {
        "softwareVersion": version,
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
        **extra,
    }
    return base_codemeta_doc(
        version,
        name="hello-publish",
        description="A tiny test project whose container image ossr-images publishes.",
        repository=REPOSITORY,
        **doc,
    )


@dataclass
class Project(GitProject):
    """A git checkout with codemeta.json; `image()` writes a labelled docker archive for its HEAD."""

    def release(self, version: str, **extra: object) -> str:
        """Write codemeta.json for `version` and commit it; returns the new commit."""
        return self.commit_release(codemeta_doc(version, **extra), version, VERSION=version + "\n")

    def image(
        self,
        *,
        name: str | None = None,
        labels: dict[str, str] | None = None,
        compression: str = "zstd",
        payload: bytes = b"hello\n",
    ) -> Path:
        version = json.loads(self.codemeta.read_text())["version"]
        suffix = {"zstd": ".tar.zst", "gzip": ".tar.gz", "none": ".tar"}[compression]
        return self.write_image(
            self.images / (name or f"hello-{version}{suffix}"),
            version=version,
            tag=f"hello-publish:{version}",
            files={"app/hello.txt": payload, "app/VERSION": version.encode()},
            labels=labels,
            compression=compression,
        )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project.create(tmp_path, REPOSITORY)
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
