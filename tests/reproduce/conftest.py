"""The reproduce tests reuse the build tests' project (a real git checkout: Dockerfile FROM scratch, a
static busybox, codemeta.json) and their private Buildah storage; `git_maps_repo` makes git clone the
recorded GitHub URL from that local checkout (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.build.conftest import REPO, BuildProject, build_project, buildah_env, push_base  # noqa: F401


@pytest.fixture
def git_maps_repo(build_project: BuildProject, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """git reads REPO (the repository the image names) from the local checkout, as `fetch --source` tests
    do; only a clone of exactly REPO is mapped (the project's own origin, REPO.git, is never fetched)."""
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{build_project.path.as_uri()}.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", REPO)
    return build_project.path
