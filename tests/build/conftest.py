"""Fixtures of the build-record tests: a real git project with a Dockerfile FROM scratch and a static
busybox (no network), and a private Buildah storage (vfs) and registries.conf (the loopback registry is
plain http) so that these tests never touch the machine's containers storage."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.helpers.project import codemeta_doc, git

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
REPO = "https://github.com/escape2020/ossr-build-test"
DOCKERFILE = (
    "FROM scratch\n"
    "ARG SOURCE_DATE_EPOCH\n"
    "ARG GREETING=hello\n"
    "COPY busybox /bin/busybox\n"
    'RUN ["/bin/busybox", "sh", "-c", "echo $GREETING > /greeting"]\n'
    'CMD ["/bin/busybox", "cat", "/greeting"]\n'
)


@dataclass
class BuildProject:
    """A git checkout `path` (origin REPO) with a Dockerfile, busybox and codemeta.json."""

    path: Path

    @property
    def commit(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def commit_file(self, name: str, text: str, *, date: str | None = None) -> str:
        """Write and commit one file; `date` (ISO 8601) is both the author and committer date."""
        (self.path / name).parent.mkdir(parents=True, exist_ok=True)
        (self.path / name).write_text(text)
        git(self.path, "add", "-A")
        env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
        if date:
            env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
        identity = ["-c", "user.name=T", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
        subprocess.run(
            ["git", *identity, "commit", "-q", "-m", f"change {name}"],
            cwd=self.path,
            env=env,
            check=True,
            capture_output=True,
        )
        return self.commit

    def clone(self, dest: Path) -> Path:
        """A fresh clone (new files, new mtimes) at the same commit."""
        subprocess.run(["git", "clone", "-q", str(self.path), str(dest)], check=True, capture_output=True)
        return dest


def _busybox() -> str:
    if not (os.path.isfile(BUSYBOX) and "static" in _file_type(BUSYBOX)):
        pytest.skip("busybox-static is not installed")
    return BUSYBOX


def _file_type(path: str) -> str:
    try:
        return subprocess.run(["file", "-L", path], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "static"  # no `file` tool: trust the Debian package


@pytest.fixture
def build_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BuildProject:
    """A committed project; the commit date is fixed (so SOURCE_DATE_EPOCH is known)."""
    for var in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "GITHUB_SHA", "CI_COMMIT_SHA", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", REPO + ".git")
    shutil.copy(_busybox(), root / "busybox")
    (root / "Dockerfile").write_text(DOCKERFILE)
    doc = codemeta_doc("1.0.0", name="ossr-build-test", description="Build record test", repository=REPO)
    (root / "codemeta.json").write_text(json.dumps(doc, indent=2) + "\n")
    git(root, "add", "-A")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-02-03T04:05:06Z")
    git(root, "commit", "-q", "-m", "first", "--date", "2026-02-03T04:05:06Z")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    return BuildProject(root)


EPOCH_20260203 = 1770091506  # 2026-02-03T04:05:06Z


@pytest.fixture(scope="session")
def buildah_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Private containers storage (vfs, under a temporary folder) and registries.conf (the loopback
    registry as insecure), set in os.environ for the session; skips (= fails in CI) without buildah."""
    if not shutil.which("buildah"):
        pytest.skip("buildah is not installed (apt-get install buildah)")
    root = tmp_path_factory.mktemp("buildah")
    storage = root / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/graph"\nrunroot = "{root}/run"\n', encoding="utf-8"
    )
    registries = root / "registries.conf"
    text = "unqualified-search-registries = []\n"
    registry = os.environ.get("OSSR_TEST_REGISTRY")
    if registry:
        text += f'\n[[registry]]\nlocation = "{registry}"\ninsecure = true\n'
    registries.write_text(text, encoding="utf-8")
    env = {"CONTAINERS_STORAGE_CONF": str(storage), "CONTAINERS_REGISTRIES_CONF": str(registries)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def layer_digests(path: Path) -> list[str]:
    """The layer digests of an image archive."""
    from ossr_images.images.inspect import inspect_image

    return [layer["digest"] for layer in inspect_image(path, sha256=False).layers]


def push_base(registry: str, name: str, content: bytes, tmp_path: Path) -> str:
    """A one-file image pushed to the loopback registry as NAME; returns its manifest digest."""
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    from ossr_images.images.synth import write_docker_archive

    archive = tmp_path / f"base-{secrets.token_hex(4)}.tar"
    write_docker_archive(archive, labels={}, tag="base:x", files={"etc/base-version": content})
    digest_file = tmp_path / "digest"
    subprocess.run(
        [
            "skopeo", "copy", "--dest-tls-verify=false", "--digestfile", str(digest_file),
            f"docker-archive:{archive}", f"docker://{name}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return digest_file.read_text().strip()
