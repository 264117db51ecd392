"""The Docker engine (20.10, legacy builder) for real: the build section it writes, a rebuild from the record
(same labels and files, but not the same image: see docs/reproducibility.md), base images pinned by
digest from the loopback registry."""

from __future__ import annotations

import io
import json
import secrets
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from ossr_images.cli import main
from ossr_images.images.compression import open_decompressed
from ossr_images.images.inspect import inspect_image
from ossr_images.images.rebuild import forget, rebuild
from ossr_images.metadata.build_record import read_sidecar, sidecar_path

from .conftest import EPOCH_20260203, BuildProject, layer_digests, push_base

pytestmark = pytest.mark.docker


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def files_of(archive: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mode) over all layers of a docker-archive (the last layer wins)."""
    out: dict[str, tuple[int, int]] = {}
    with open_decompressed(archive) as fh, tarfile.open(fileobj=fh, mode="r|") as outer:
        members = {}
        for m in outer:
            if m.isfile():
                data = outer.extractfile(m)
                assert data is not None
                members[m.name] = data.read()
    manifest = json.loads(members["manifest.json"])[0]

    for layer in manifest["Layers"]:
        with tarfile.open(fileobj=io.BytesIO(members[layer])) as t:
            for m in t:
                out[m.name] = (m.size, m.mode)
    return out


def test_docker_build_records_and_rebuilds(docker_engine, build_project: BuildProject, tmp_path: Path):
    tag = f"ossr-test/build-record:{secrets.token_hex(4)}"
    out = tmp_path / "hello.tar"
    res = cli(
        "build", "docker", str(build_project.path), "-t", tag, "-o", str(out), "--compress", "none",
        "--build-arg", "GREETING=hi", "--record-build-arg", "GREETING", "--build-arg", "TOKEN=zzz-secret",
        "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    try:
        build = doc["build"]
        assert build["builder"] == "docker" and build["builderVersion"] == docker_engine.version
        assert build["buildArgs"] == [{"name": "GREETING", "value": "hi"}, {"name": "TOKEN"}]
        assert "zzz-secret" not in sidecar_path(out).read_text() and "zzz-secret" not in res.stdout
        assert build["sourceDateEpoch"] == EPOCH_20260203 and build["platform"] == "linux/amd64"
        labels = docker_engine.labels(tag)
        assert labels["org.opencontainers.image.created"] == "2026-02-03T04:05:06Z"
        record = read_sidecar(out)
        assert record is not None and record.recorded_args == {"GREETING": "hi"}
        rebuilt = rebuild(record, build_project.clone(tmp_path / "clone"), tmp_path / "work")
        try:
            assert rebuilt.engine == "docker" and rebuilt.engine_version == docker_engine.version
            # Docker 20.10 writes build times into the config and file times into the layers: never the
            # same image, but the same labels and the same files (sizes, modes)
            assert rebuilt.image_id != doc["image_id"]
            assert inspect_image(rebuilt.archive, sha256=False).labels == labels
            assert files_of(rebuilt.archive) == files_of(out)
            assert files_of(out)["greeting"][0] == len("hi\n")  # the recorded value was passed again
        finally:
            forget(rebuilt, docker_engine)
    finally:
        docker_engine.remove(tag, force=True)


@pytest.mark.skopeo
def test_docker_base_pinned_by_digest(
    docker_engine, registry: str, build_project: BuildProject, tmp_path: Path
):
    base = f"{registry}/ossr-build-test/dbase-{secrets.token_hex(4)}:1"
    first = push_base(registry, base, b"one\n", tmp_path)
    build_project.commit_file("Dockerfile", f"ARG BASE={base}\nFROM $BASE\nCOPY busybox /busybox\n")
    tag = f"ossr-test/build-base:{secrets.token_hex(4)}"
    out = tmp_path / "built.tar"
    res = cli("build", "docker", str(build_project.path), "-t", tag, "-o", str(out), "--compress", "none")
    assert res.exit_code == 0, res.output
    try:
        record = read_sidecar(out)
        assert record is not None
        assert [(b.ref, b.digest) for b in record.base_images] == [(base, first)]
        assert record.base_images[0].image_id == docker_engine.image_id(base)
        second = push_base(registry, base, b"two\n", tmp_path)
        assert second != first
        docker_engine.remove(base, force=True)  # the rebuild must pull the recorded digest
        rebuilt = rebuild(record, build_project.clone(tmp_path / "clone"), tmp_path / "work")
        try:
            assert layer_digests(rebuilt.archive)[0] == layer_digests(out)[0]  # the base layer of "one"
            assert rebuilt.build.base_images[0].digest == first
        finally:
            forget(rebuilt, docker_engine)
    finally:
        docker_engine.remove(tag, force=True)
        docker_engine.remove(f"{base.rsplit(':', 1)[0]}@{first}", force=True)
