"""`fetch --load docker|singularity` with the real engines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fetch.records import COMMIT, REPO, image_files, publish_record
from ossr_images.cli import main
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, build_image_record, dump_image_record

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.docker
@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_load_docker_checks_the_loaded_image_id(
    docker_engine, zenodo_env, client, tmp_path, compression
) -> None:
    version = f"3.0.{len(compression)}"
    record = publish_record(client, image_files(tmp_path / "src", version=version, compression=compression))
    result = CliRunner().invoke(
        main, ["fetch", str(record.id), "-d", str(tmp_path / "o"), "--load", "docker", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    loaded = doc["loaded"]
    assert loaded["engine"] == "docker" and loaded["id_verified"] is True
    assert loaded["image_id"] == doc["image"]["id"]
    assert loaded["ref"] == f"example/image:{version}"
    assert loaded["command"] == f"docker run --rm example/image:{version}"
    assert docker_engine.image_id(loaded["ref"]) == doc["image"]["id"]  # what the engine holds now

    human = CliRunner().invoke(main, ["fetch", str(record.id), "-d", str(tmp_path / "o"), "--load", "docker"])
    assert human.exit_code == 0, human.stderr
    assert f"built from {REPO} at {COMMIT}" in human.stdout
    assert f"Run it with: docker run --rm example/image:{version}" in human.stdout


@pytest.mark.docker
def test_load_docker_refuses_a_sif(docker_engine, zenodo_env, client, tmp_path) -> None:
    files, repo, commit = _sif_files()
    record = publish_record(client, files, repository=repo, commit=commit)
    result = CliRunner().invoke(
        main, ["fetch", str(record.id), "-d", str(tmp_path / "o"), "--load", "docker"]
    )
    assert result.exit_code == 1 and "--load singularity" in result.stderr


def _sif_files() -> tuple[dict[str, bytes | Path], str, str]:
    """A record around the small real .sif fixture, its labels taken as the source."""
    from ossr_images.images.inspect import inspect_image

    sif = DATA / "hello.sif"
    info = inspect_image(sif)
    labels = dict(info.labels)
    repo = labels.get("org.opencontainers.image.source", REPO)
    commit = labels.get("org.opencontainers.image.revision", COMMIT)
    data = sif.read_bytes()
    doc = build_image_record(
        repository=repo,
        commit=commit,
        version="1.0.0",
        file_name="hello.sif",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        image_format="sif",
        labels={
            **labels,
            "org.opencontainers.image.source": repo,
            "org.opencontainers.image.revision": commit,
        },
    )
    return {"hello.sif": sif, IMAGE_RECORD_KEY: dump_image_record(doc)}, repo, commit


@pytest.mark.apptainer
def test_load_singularity_keeps_a_sif_and_builds_one_from_a_docker_archive(
    zenodo_env, client, tmp_path
) -> None:
    from ossr_images.images.apptainer import find_apptainer

    files, repo, commit = _sif_files()
    record = publish_record(client, files, repository=repo, commit=commit)
    kept = CliRunner().invoke(
        main, ["fetch", str(record.id), "-d", str(tmp_path / "s"), "--load", "singularity", "--json"]
    )
    assert kept.exit_code == 0, kept.stderr
    loaded = json.loads(kept.stdout)["loaded"]
    assert loaded["path"] == str(tmp_path / "s" / "hello.sif")
    assert loaded["command"] == f"apptainer run {tmp_path / 's' / 'hello.sif'}"

    if find_apptainer() is None:
        pytest.skip("apptainer is not installed")
    record = publish_record(client, image_files(tmp_path / "src", version="4.0.0", compression="zstd"))
    built = CliRunner().invoke(
        main, ["fetch", str(record.id), "-d", str(tmp_path / "d"), "--load", "singularity", "--json"]
    )
    assert built.exit_code == 0, built.stderr
    loaded = json.loads(built.stdout)["loaded"]
    sif = tmp_path / "d" / "example-4.0.0.sif"
    assert loaded["path"] == str(sif) and sif.read_bytes()[:128].find(b"SIF_MAGIC") >= 0
    assert sorted(p.name for p in (tmp_path / "d").iterdir() if p.name.startswith(".e")) == []
