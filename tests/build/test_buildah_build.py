"""Buildah for real (private vfs storage): two builds of one commit from two fresh clones give the same
image ID and layer digests; the build section is written, schema-valid and used by `rebuild`; build
argument values are recorded only when asked; base images are pinned by digest at rebuild."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from ossr_images.cli import main
from ossr_images.errors import RemoteError
from ossr_images.images.inspect import inspect_image
from ossr_images.images.rebuild import forget, rebuild
from ossr_images.metadata.build_record import BaseImage, read_sidecar, sidecar_path
from ossr_images.metadata.image_record import image_record_from, validate_image_record
from ossr_images.metadata.source import resolve_source

from .conftest import EPOCH_20260203, REPO, BuildProject, layer_digests, push_base

pytestmark = [pytest.mark.buildah, pytest.mark.usefixtures("buildah_env")]


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_two_builds_of_one_commit_are_identical(build_project: BuildProject, tmp_path: Path):
    outs = []
    for i in (1, 2):
        clone = build_project.clone(tmp_path / f"clone{i}")  # new files: new mtimes
        out = tmp_path / f"out{i}" / "hello.tar.zst"
        res = cli(
            "build", "buildah", str(clone), "-t", f"localhost/ossr-build-test:{i}", "-o", str(out), "--json"
        )
        assert res.exit_code == 0, res.output
        outs.append((json.loads(res.stdout), out))
    (doc1, out1), (doc2, out2) = outs
    assert doc1["engine"] == "buildah" and doc1["image_id"].startswith("sha256:")
    assert doc1["image_id"] == doc2["image_id"]
    layers = layer_digests(out1)
    assert len(layers) == 2 and layers == layer_digests(out2)  # COPY and RUN
    build = doc1["build"]
    assert build["builder"] == "buildah" and build["builderVersion"]
    assert build["sourceDateEpoch"] == EPOCH_20260203  # the commit's date
    assert f"--timestamp={EPOCH_20260203}" in build["builderOptions"]
    assert (build["recipe"], build["context"], build["platform"]) == ("Dockerfile", ".", "linux/amd64")
    assert build["baseImages"] == []  # FROM scratch has no digest
    info = inspect_image(out1)
    assert info.labels["org.opencontainers.image.created"] == "2026-02-03T04:05:06Z"
    assert info.created.startswith("2026-02-03T04:05:06")
    # the record beside the image goes into a valid image metadata file
    record = read_sidecar(out1)
    assert record is not None and record.to_json() == build
    source = resolve_source(REPO, repo_dir=build_project.path)
    doc = image_record_from(info, source=source, build=record)
    assert validate_image_record(doc) == [] and doc["build"] == build and doc["engine"] == "buildah"


def test_rebuild_from_a_fresh_clone_with_recorded_args(build_project: BuildProject, tmp_path: Path):
    from ossr_images.images.build import build_buildah
    from ossr_images.images.build_spec import BuildSpec
    from ossr_images.metadata.build_record import parse_build_args

    source = resolve_source(REPO, repo_dir=build_project.path)
    values, recorded = parse_build_args(["GREETING=bonjour", "UNUSED=secret-value"], ["GREETING"])
    out = tmp_path / "built" / "hello.tar"
    built = build_buildah(
        build_project.path,
        tag="localhost/ossr-build-test:args",
        source=source,
        out=out,
        compress="none",
        spec=BuildSpec(build_args=values, recorded_args=recorded),
    )
    record = read_sidecar(out)
    assert record is not None
    assert record.recorded_args == {"GREETING": "bonjour"} and record.unrecorded_args == ["UNUSED"]
    assert "secret-value" not in sidecar_path(out).read_text()
    rebuilt = rebuild(record, build_project.clone(tmp_path / "clone"), tmp_path / "work")
    try:
        assert rebuilt.image_id == built.image_id
        assert layer_digests(rebuilt.archive) == layer_digests(out)
        assert rebuilt.engine == "buildah" and rebuilt.engine_version == built.engine_version
        assert any("UNUSED" in note for note in rebuilt.notes)
    finally:
        forget(rebuilt)


def test_unrecorded_value_is_not_replayed(build_project: BuildProject, tmp_path: Path):
    """A value given but not recorded cannot be passed again: the rebuild uses the recipe's default, so
    the image differs (and the notes say why)."""
    from ossr_images.images.build import build_buildah
    from ossr_images.images.build_spec import BuildSpec
    from ossr_images.metadata.build_record import parse_build_args

    values, recorded = parse_build_args(["GREETING=bonjour"], [])
    out = tmp_path / "hello.tar"
    built = build_buildah(
        build_project.path,
        tag="localhost/ossr-build-test:unrecorded",
        out=out,
        compress="none",
        spec=BuildSpec(build_args=values, recorded_args=recorded),
    )
    record = read_sidecar(out)
    assert record is not None and record.build_args[0].value is None
    rebuilt = rebuild(record, build_project.clone(tmp_path / "clone"), tmp_path / "work")
    forget(rebuilt)
    assert rebuilt.image_id != built.image_id
    assert layer_digests(rebuilt.archive)[0] == layer_digests(out)[0]  # the COPY layer is the same
    assert rebuilt.notes == [
        "build argument GREETING was given at build time but its value was not recorded: the recipe's "
        "default is used"
    ]


@pytest.mark.skopeo
def test_base_image_pinned_by_digest_at_rebuild(build_project: BuildProject, registry: str, tmp_path: Path):
    from ossr_images.images.buildah import BuildahEngine

    base = f"{registry}/ossr-build-test/base-{secrets.token_hex(4)}:1"
    first = push_base(registry, base, b"one\n", tmp_path)
    build_project.commit_file("Dockerfile", f"FROM {base}\nCOPY busybox /bin/busybox\n")
    out = tmp_path / "built.tar"
    res = cli(
        "build", "buildah", str(build_project.path), "-t", "localhost/ossr-build-test:base", "-o", str(out)
    )
    assert res.exit_code == 0, res.output
    record = read_sidecar(out)
    assert record is not None
    assert [(b.ref, b.digest) for b in record.base_images] == [(base, first)]
    assert record.base_images[0].image_id.startswith("sha256:")
    # the tag moves to other content, and the local copy is gone: the rebuild pulls the recorded digest
    second = push_base(registry, base, b"two\n", tmp_path)
    assert second != first
    engine = BuildahEngine.connect()
    engine.remove(base)
    rebuilt = rebuild(record, build_project.clone(tmp_path / "clone"), tmp_path / "work")
    forget(rebuilt)
    assert layer_digests(rebuilt.archive) == layer_digests(out)
    assert rebuilt.build.base_images[0].digest == first
    # a digest the registry does not have: a clear error naming the base image
    from dataclasses import replace

    gone = replace(record, base_images=(BaseImage(base, "sha256:" + "0" * 64),))
    engine.remove(f"{base.rsplit(':', 1)[0]}@sha256:" + "0" * 64)
    with pytest.raises(RemoteError, match=f"the base image {base} .*cannot be had"):
        rebuild(gone, build_project.path, tmp_path / "work2")
