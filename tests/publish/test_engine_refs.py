"""IMAGE given as an engine reference: exported on the fly (zstd docker archive) and published."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from ossr_images.cli import main
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, ImageRecord

from .conftest import Project


def _publish(project: Project, ref: str, *extra: str):
    args = [
        "publish",
        ref,
        "--codemeta",
        str(project.codemeta),
        "--repo",
        str(project.path),
        "--json",
        *extra,
    ]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _image_record(standin, record_id: str, tmp_path) -> ImageRecord:
    from conftest import TEST_TOKEN
    from ossr_images.zenodo.client import ZenodoClient
    from ossr_images.zenodo.target import Target

    with ZenodoClient(Target("custom", standin.api_url, TEST_TOKEN, "10.5072")) as c:
        rec = c.get_record(record_id)
        entry = rec.file(IMAGE_RECORD_KEY)
        c.download_file(entry.url, tmp_path / "rec.json")
    return ImageRecord.from_bytes((tmp_path / "rec.json").read_bytes())


@pytest.mark.docker
def test_publish_from_docker_daemon(docker_engine, zenodo_env, project: Project, tmp_path, monkeypatch):
    import ossr_images.images.inspect as inspect_mod

    read: list[str] = []
    real_inspect = inspect_mod.inspect_image

    def recording_inspect(path, **kw):  # noqa: ANN001, ANN003
        read.append(str(path))
        return real_inspect(path, **kw)

    # the export is described while it is written: validation must not decompress it all again
    monkeypatch.setattr(inspect_mod, "inspect_image", recording_inspect)
    archive = project.image(compression="none")
    tag = f"ossr-publish-test:{project.commit[:12]}"
    with open(archive, "rb") as fh:
        loaded = docker_engine.load(fh)
    assert loaded
    subprocess.run(["docker", "tag", loaded[0], tag], check=True, capture_output=True)
    try:
        res = _publish(project, f"docker-daemon:{tag}")
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["state"] == "published"
        image_key = doc["files"][0]["key"]
        assert image_key.endswith(".tar.zst")
        record = _image_record(zenodo_env, doc["record_id"], tmp_path)
        assert record.commit == project.commit
        assert record.compression == "zstd" and record.format == "docker-archive"
        assert record.engine == "docker" and record.engine_version
        assert record.image_id == loaded[0]
        # the same reference again: already published (same image ID), nothing new
        again = _publish(project, f"docker-daemon:{tag}")
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["doi"] == doc["doi"]
        assert not [p for p in read if p.endswith(".tar.zst")], read
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


@pytest.mark.skopeo
def test_publish_from_registry(registry, zenodo_env, project: Project, tmp_path):
    archive = project.image(compression="none")
    ref = f"{registry}/ossr-publish-test:{project.commit[:12]}"
    subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{archive}", f"docker://{ref}"],
        check=True,
        capture_output=True,
    )
    res = _publish(project, f"docker://{ref}")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    record = _image_record(zenodo_env, doc["record_id"], tmp_path)
    assert record.repository == project.repository and record.commit == project.commit
    assert record.labels["org.opencontainers.image.revision"] == project.commit
