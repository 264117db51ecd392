"""The inspect, export and build commands through the real CLI (click's runner, real files and engine)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ossr_images.cli import main
from ossr_images.images.synth import write_docker_archive

from .conftest import DATA, FIXTURE_COMMIT, LABELS


def _run(*args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_inspect_human_and_json(tmp_path: Path) -> None:
    path = tmp_path / "img.tar.zst"
    info = write_docker_archive(path, labels=LABELS, tag="synth:1.0", compression="zstd")
    code, out, _ = _run("inspect", str(path))
    assert code == 0
    assert f"Image ID:       {info.image_id}" in out
    assert f"org.opencontainers.image.revision={FIXTURE_COMMIT}" in out
    assert "Compression:    zstd" in out
    code, out, _ = _run("inspect", str(path), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["image_id"] == info.image_id and doc["sha256"] == info.sha256 and doc["labels"] == LABELS


def test_inspect_sif_fixture() -> None:
    code, out, _ = _run("inspect", str(DATA / "hello.sif"), "--json", "--no-sha256")
    doc = json.loads(out)
    assert code == 0 and doc["format"] == "sif" and doc["sha256"] is None
    assert doc["labels"]["org.opencontainers.image.revision"] == FIXTURE_COMMIT


def test_inspect_errors_have_exit_status_and_hint(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not an archive" * 100)
    code, out, err = _run("inspect", str(bad))
    assert code == 1 and "Error:" in err and "Hint:" in err and "Traceback" not in err + out
    code, out, _ = _run("inspect", str(bad), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["exit_status"] == 1
    assert doc["error"]["type"] == "InvalidInputError" and doc["error"]["hint"]


def test_export_repack_and_unknown_ref(tmp_path: Path) -> None:
    src = tmp_path / "img.tar"
    info = write_docker_archive(src, labels=LABELS, tag="synth:1.0")
    out = tmp_path / "img.tar.gz"
    code, stdout, _ = _run("export", str(src), "-o", str(out), "--compress", "gzip", "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["image_id"] == info.image_id and doc["compression"] == "gzip"
    assert doc["load_instructions"] == "docker load -i img.tar.gz"
    code, _, err = _run("export", "no-such-thing", "-o", str(tmp_path / "x"))
    assert code == 1 and "docker-daemon:NAME:TAG" in err
    code, _, err = _run(
        "export", str(src), "-o", str(tmp_path / "x.sif"), "--format", "sif", "--compress", "zstd"
    )
    assert code == 1 and "--compress none" in err


@pytest.mark.docker
def test_build_docker_command(docker_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.project import git

    from .test_engines import BUSYBOX, CODEMETA, REPO

    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "busybox").write_bytes(Path(BUSYBOX).read_bytes())
    (proj / "Dockerfile").write_text("FROM scratch\nCOPY busybox /bin/busybox\n")
    (proj / "codemeta.json").write_text(json.dumps(CODEMETA))
    git(proj, "init", "-q")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "x")
    git(proj, "remote", "add", "origin", REPO)
    commit = git(proj, "rev-parse", "HEAD")
    out = tmp_path / "hello.tar.zst"
    monkeypatch.chdir(tmp_path)
    code, stdout, err = _run("build", "docker", str(proj), "-t", "ossr-test/cli:1", "-o", str(out), "--json")
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["labels"]["org.opencontainers.image.revision"] == commit
    assert doc["labels"]["org.opencontainers.image.source"] == REPO
    assert doc["export"]["image_id"] == doc["image_id"] == docker_engine.image_id("ossr-test/cli:1")
    assert "Step" in err  # the build log went to stderr
    # a dirty checkout is refused without --allow-dirty
    (proj / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox"]\n')
    code, _, err = _run("build", "docker", str(proj), "-t", "ossr-test/cli:2")
    assert code == 1 and "Hint:" in err
    docker_engine.remove("ossr-test/cli:1", force=True)


def test_export_into_an_unwritable_place(tmp_path: Path) -> None:
    src = tmp_path / "img.tar"
    write_docker_archive(src, labels=LABELS, tag="synth:1.0")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = _run("export", str(src), "-o", str(blocker / "x.tar"))
    assert code == 1 and "cannot write in" in err and "Traceback" not in err


def test_inspect_verify(tmp_path: Path) -> None:
    path = tmp_path / "img.tar.gz"
    write_docker_archive(path, labels=LABELS, tag="synth:1.0", compression="gzip")
    code, out, _ = _run("inspect", str(path), "--verify")
    assert code == 0 and "each verified against its digest" in out
    code, out, _ = _run("inspect", str(path), "--verify", "--json")
    assert json.loads(out)["layers_verified"] is True


@pytest.mark.parametrize("method", ["zstd", "gzip", "none"])
def test_interrupted_export_leaves_nothing(tmp_path: Path, method: str) -> None:
    """Ctrl-C in the middle of writing: no file under the final name, no temporary folder left."""
    from ossr_images.images.export import export_image

    src_dir = tmp_path / "src"
    src_dir.mkdir()
    src = src_dir / "img.tar"
    write_docker_archive(src, labels=LABELS, tag="synth:1.0", files={"big": os.urandom(3 * 1024 * 1024)})
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    seen = 0

    def progress(n: int) -> None:
        nonlocal seen
        seen += n
        if seen > 1024 * 1024:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_image(str(src), out_dir / "img.tar.x", compress=method, progress=progress)
    assert list(out_dir.iterdir()) == []
