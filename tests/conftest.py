"""Shared fixtures. In CI (OSSR_IMAGES_STRICT_SKIPS=1) a skipped test is reported as a failure, so that a missing
tool can never turn the suite silently green. Two exceptions: tests marked `best_effort`, and tests marked
`apptainer` when .ci's Apptainer install itself failed (OSSR_IMAGES_APPTAINER_INSTALL_FAILED names why; .ci/run
then ends with a loud warning)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

STRICT_SKIPS = os.environ.get("OSSR_IMAGES_STRICT_SKIPS") == "1"
APPTAINER_INSTALL_FAILED = os.environ.get("OSSR_IMAGES_APPTAINER_INSTALL_FAILED", "")

# In CI the property-based tests run the same examples every time (a CI verdict must not depend on luck);
# on a developer's machine they explore new random examples at each run.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> None:  # type: ignore[type-arg]
    outcome = yield
    report = outcome.get_result()
    if not STRICT_SKIPS or not report.skipped:
        return
    if item.get_closest_marker("best_effort") or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if item.get_closest_marker("apptainer"):
        if APPTAINER_INSTALL_FAILED:
            return  # the one named reason; .ci/run prints it as a loud warning
        reason += " (an Apptainer test may skip in CI only when .ci's Apptainer install failed)"
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, which counts as a failure (mark it best_effort if allowed): {reason}"


TEST_TOKEN = "test-token-0123456789abcdef"
# a second user of the stand-in, a member of no community: its community submissions wait for a curator
GUEST_TOKEN = "guest-token-0123456789abcdef"


BACKENDS = ("legacy", "rdm")
SURFACE_OF = {"legacy": "zenodo", "rdm": "rdm"}


def start_standin(tmp_path_factory: pytest.TempPathFactory, api_surface: str = "zenodo"):
    """A running LocalZenodo (a context manager) on a free loopback port: TEST_TOKEN is user 1 (the owner of the
    seeded communities, whose submissions to them are accepted at once, as zenodo.org does for an owner),
    GUEST_TOKEN user 2 (a member of no community)."""
    from ossr_images.standin.server import LocalZenodo

    return LocalZenodo(
        tmp_path_factory.mktemp("zenodo-data"),
        tokens=[TEST_TOKEN],
        guest_tokens=[GUEST_TOKEN],
        api_surface=api_surface,
    )


@pytest.fixture
def standin(tmp_path_factory: pytest.TempPathFactory):
    """A fresh local Zenodo stand-in on a free loopback port; accepts TEST_TOKEN."""
    with start_standin(tmp_path_factory) as server:
        yield server


@pytest.fixture(params=BACKENDS)
def api_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each backend in turn ("legacy", "rdm"), set as OSSR_IMAGES_API for the CLI. A directory whose tests must
    run on both overrides `standin` with `both_standin` (see tests/publish/conftest.py)."""
    monkeypatch.setenv("OSSR_IMAGES_API", request.param)
    return request.param


def both_standin(api_backend: str, tmp_path_factory: pytest.TempPathFactory):
    """Generator body of a `standin` fixture running on each backend: the stand-in as Zenodo (legacy backend)
    or as a plain InvenioRDM instance without a deposit API (rdm backend); `server.backend` names it."""
    with start_standin(tmp_path_factory, SURFACE_OF[api_backend]) as server:
        server.backend = api_backend
        yield server


@pytest.fixture
def zenodo_env(standin, monkeypatch: pytest.MonkeyPatch):
    """Environment pointing the CLI at the stand-in with a valid token."""
    monkeypatch.setenv("OSSR_IMAGES_ZENODO_URL", standin.api_url)
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    return standin


@pytest.fixture(scope="session")
def docker_engine():
    """The Docker engine of DOCKER_HOST (started by .ci/services.sh); skipped (a failure in CI) without one."""
    if not os.environ.get("DOCKER_HOST"):
        pytest.skip("no Docker engine: DOCKER_HOST is not set (run `. .ci/services.sh; services_start`)")
    from ossr_images.images.docker_engine import DockerEngine

    return DockerEngine.connect()


@pytest.fixture(scope="session")
def registry() -> str:
    """host:port of the loopback registry started by .ci/services.sh."""
    value = os.environ.get("OSSR_TEST_REGISTRY")
    if not value:
        pytest.skip(
            "no local registry: OSSR_TEST_REGISTRY is not set (run `. .ci/services.sh; services_start`)"
        )
    return value


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own ossr-images cache (publish journal, locks): tests never touch ~/.cache and
    parallel test runs (CI runs several Pythons at once) never share a lock."""
    monkeypatch.setenv("OSSR_IMAGES_CACHE_DIR", str(tmp_path_factory.mktemp("ossr-cache")))
    # tokens of the machine are never the test's: a test sets the one it means
    for variable in ("OSSR_IMAGES_TOKEN", "ZENODO_SANDBOX_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    # the backend is the test's choice too: legacy unless a test (or the `api_backend` parameter) says otherwise,
    # so that no test depends on the `auto` probe except those written for it
    monkeypatch.setenv("OSSR_IMAGES_API", "legacy")
