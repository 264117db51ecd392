"""Build the bundled example (examples/hello) for real with `ossr-images build`, with no registry (FROM scratch +
static busybox): Docker and Apptainer; the built image runs and greets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.helpers.project import git

from ossr_images.cli import main
from ossr_images.images.inspect import inspect_image

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


@pytest.fixture
def hello(tmp_path: Path) -> tuple[Path, str]:
    """A git checkout of a copy of examples/hello (with the static busybox), and its commit."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    root = tmp_path / "hello"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.tar*", "*.sif", "busybox"))
    shutil.copy(BUSYBOX, root / "busybox")
    repo = json.loads((root / "codemeta.json").read_text())["codeRepository"]

    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "example")
    git(root, "remote", "add", "origin", repo)
    return root, git(root, "rev-parse", "HEAD")


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


GREETING = "Hello ESCAPE, from the ossr-images example image."


@pytest.mark.docker
def test_build_example_with_docker(docker_engine, hello, tmp_path: Path) -> None:
    import docker

    root, commit = hello
    out = tmp_path / "hello.tar.zst"
    tag = f"ossr-test/example-hello:1.0.0-{os.getpid()}"
    code, stdout, err = _invoke("build", "docker", str(root), "-t", tag, "-o", str(out), "--json")
    assert code == 0, err
    try:
        doc = json.loads(stdout)
        labels = docker_engine.labels(tag)
        assert labels["org.opencontainers.image.revision"] == commit
        assert labels["org.opencontainers.image.source"] == "https://github.com/escape2020/ossr-images"
        assert labels["org.opencontainers.image.version"] == "1.0.0"
        info = inspect_image(out)
        assert info.labels == labels and info.image_id == doc["image_id"]
        assert docker_engine.inspect(tag)["Config"]["Entrypoint"] == ["/bin/sh", "/usr/local/bin/hello"]
        client = docker.from_env()
        try:
            assert client.containers.run(tag, ["ESCAPE"], remove=True).decode().strip() == GREETING
        finally:
            client.close()
        code, stdout, err = _invoke("validate", str(root / "codemeta.json"), "--image", str(out), "--json")
        assert code == 0, stdout + err
        assert not [p for p in json.loads(stdout)["problems"] if p["path"].startswith("/labels")]
    finally:
        docker_engine.remove(tag, force=True)


@pytest.mark.apptainer
def test_build_example_with_apptainer(hello, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ossr_images.images.apptainer import find_apptainer, inspect_labels

    if not find_apptainer():
        pytest.skip("Apptainer is not installed")
    root, commit = hello
    monkeypatch.chdir(root)  # %files paths in hello.def are relative to the working directory
    out = tmp_path / "hello.sif"
    code, stdout, err = _invoke("build", "singularity", "hello.def", "-o", str(out), "--json")
    assert code == 0, err
    ours = inspect_image(out).labels
    theirs = inspect_labels(out)
    assert ours["org.opencontainers.image.revision"] == theirs["org.opencontainers.image.revision"] == commit
    assert ours["org.opencontainers.image.title"] == "ossr-images hello example"  # the definition's own
    assert json.loads(stdout)["export"]["sha256"] == inspect_image(out).sha256
    run = subprocess.run(
        [find_apptainer(), "run", str(out), "ESCAPE"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == GREETING
