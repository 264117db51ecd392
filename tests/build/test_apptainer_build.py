"""`build singularity Dockerfile` for real: spython converts, Apptainer builds (SOURCE_DATE_EPOCH set), the
converted definition is kept beside the image and named in the build section; a rebuild from the record.
Marked `apptainer`: may skip only where the Apptainer install failed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ossr_images.cli import main
from ossr_images.images.inspect import inspect_image
from ossr_images.images.rebuild import rebuild
from ossr_images.metadata.build_record import read_sidecar

from .conftest import EPOCH_20260203, BuildProject

pytestmark = pytest.mark.apptainer

HPC_DOCKERFILE = (
    "FROM scratch\n"
    "COPY busybox /bin/busybox\n"
    'LABEL org.opencontainers.image.title="hello for HPC"\n'
    'CMD ["/bin/busybox", "echo", "hello"]\n'
)


def _apptainer() -> str:
    from ossr_images.images.apptainer import find_apptainer

    binary = find_apptainer()
    if not binary:
        pytest.skip("Apptainer is not installed")
    return binary


def _deffile(sif: Path) -> str:
    """sha256 of the definition file stored in the .sif (its first descriptor of type deffile)."""
    from ossr_images.images.sif import read_sif

    with open(sif, "rb") as fh:
        meta = read_sif(sif, fh, sif.stat().st_size)
        d = next(d for d in meta["descriptors"] if d["type"] == "deffile")
        fh.seek(d["offset"])
        return hashlib.sha256(fh.read(d["size"])).hexdigest()


def test_dockerfile_converted_with_spython_and_built(build_project: BuildProject, tmp_path: Path):
    _apptainer()
    (build_project.path / "docker").mkdir()
    (build_project.path / "docker" / "busybox").write_bytes((build_project.path / "busybox").read_bytes())
    commit = build_project.commit_file("docker/Dockerfile.hpc", HPC_DOCKERFILE, date="2026-02-03T04:05:06Z")
    recipe = build_project.path / "docker" / "Dockerfile.hpc"
    out = tmp_path / "out" / "hello.sif"
    res = CliRunner().invoke(
        main,
        ["build", "singularity", str(recipe), "--repo", str(build_project.path), "-o", str(out), "--json"],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    build = doc["build"]
    assert build["builder"] == "apptainer" and build["recipe"] == "docker/Dockerfile.hpc"
    assert build["context"] == "docker" and build["convertedRecipe"] == "hello.converted.def"
    converted = out.parent / "hello.converted.def"
    text = converted.read_text()
    assert "Bootstrap: scratch" in text and "busybox /bin/busybox" in text
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "hello.converted.def",
        "hello.sif",
        "hello.sif.build.json",
    ]
    labels = inspect_image(out).labels
    assert labels["org.opencontainers.image.revision"] == commit
    assert labels["org.opencontainers.image.title"] == "hello for HPC"
    record = read_sidecar(out)
    assert record is not None and record.source_date_epoch == build["sourceDateEpoch"] == EPOCH_20260203
    assert labels["org.opencontainers.image.created"] == "2026-02-03T04:05:06Z"
    # a rebuild from the record with the same epoch: the same definition goes in (the SIF header, the
    # build-date label Apptainer adds and so the squashfs differ: see docs/reproducibility.md)
    rebuilt = rebuild(record, build_project.clone(tmp_path / "clone"), tmp_path / "work")
    assert rebuilt.engine == "apptainer" and rebuilt.image_id is None and rebuilt.archive.suffix == ".sif"
    assert rebuilt.engine_version == build["builderVersion"] and rebuilt.engine_version[0].isdigit()
    assert _deffile(rebuilt.archive) == _deffile(out)
    assert inspect_image(rebuilt.archive).labels["org.opencontainers.image.revision"] == commit
