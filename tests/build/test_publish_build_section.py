"""The build section reaches the published image metadata file: from the record `build -o` writes beside
the image, or from `publish --recipe ...` for a build made elsewhere (stand-in over real HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.helpers.clients import client_for

from ossr_images.cli import main
from ossr_images.images.synth import write_docker_archive
from ossr_images.metadata.build_record import read_sidecar, write_sidecar
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, ImageRecord

from .conftest import REPO, BuildProject


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def published_record(standin, record_id: str, tmp_path: Path) -> ImageRecord:
    client = client_for(standin)
    rec = client.get_record(record_id)
    entry = rec.file(IMAGE_RECORD_KEY)
    dest = tmp_path / "fetched.json"
    client.download_file(entry.url, dest)
    return ImageRecord.from_bytes(dest.read_bytes())


def synth_image(project: BuildProject, out: Path) -> Path:
    labels = {
        "org.opencontainers.image.source": REPO,
        "org.opencontainers.image.revision": project.commit,
        "org.opencontainers.image.version": "1.0.0",
    }
    write_docker_archive(out, labels=labels, tag="ossr-build-test:1.0.0", files={"hello": b"hi\n"})
    return out


@pytest.mark.buildah
@pytest.mark.usefixtures("buildah_env")
def test_publish_carries_the_record_of_build(zenodo_env, build_project: BuildProject, tmp_path: Path):
    out = tmp_path / "hello.tar.zst"
    res = cli(
        "build", "buildah", str(build_project.path), "-t", "localhost/ossr-build-test:pub", "-o", str(out)
    )
    assert res.exit_code == 0, res.output
    res = cli("publish", str(out), "--repo", str(build_project.path), "--json")
    assert res.exit_code == 0, res.output
    record = published_record(zenodo_env, json.loads(res.stdout)["record_id"], tmp_path)
    assert record.document["metadataVersion"] == "1.1"
    assert record.build_record == read_sidecar(out)
    assert record.engine == "buildah" and record.build["sourceDateEpoch"] == 1770091506


def test_publish_describes_a_build_made_elsewhere(zenodo_env, build_project: BuildProject, tmp_path: Path):
    image = synth_image(build_project, tmp_path / "hello.tar")
    res = cli(
        "publish", str(image), "--repo", str(build_project.path), "--json",
        "--recipe", str(build_project.path / "Dockerfile"), "--platform", "linux/amd64",
        "--record-build-arg", "GREETING=hi",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    build = published_record(zenodo_env, json.loads(res.stdout)["record_id"], tmp_path).build
    assert build is not None
    assert (build["builder"], build["recipe"], build["context"], build["platform"]) == (
        "docker",
        "Dockerfile",
        ".",
        "linux/amd64",
    )
    assert build["buildArgs"] == [{"name": "GREETING", "value": "hi"}]
    assert build["baseImages"] == []  # FROM scratch


def test_recipe_options_need_a_recipe_and_a_stale_record_is_refused(
    build_project: BuildProject, tmp_path: Path
):
    image = synth_image(build_project, tmp_path / "hello.tar")
    res = cli(
        "publish", str(image), "--repo", str(build_project.path), "--platform", "linux/amd64", "--dry-run"
    )
    assert res.exit_code == 2 and "give --recipe too" in res.output
    from ossr_images.metadata.build_record import BuildRecord

    write_sidecar(image, BuildRecord("docker", "20.10", "Dockerfile"), image_id=None, size=1)
    res = cli("publish", str(image), "--repo", str(build_project.path), "--dry-run")
    assert res.exit_code == 3 and "hello.tar.build.json" in res.output and "bytes" in res.output
