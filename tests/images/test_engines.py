"""With real engines: build with the Docker engine, check labels through `docker image inspect` and the
readers, the readers' image ID equals the engine's, every compression loads back, export from the loopback
registry with skopeo, Apptainer builds and conversions (best effort)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.helpers.project import git

from ossr_images.errors import EngineUnavailableError, InvalidInputError, RemoteError
from ossr_images.images.compression import open_decompressed
from ossr_images.images.export import export_image
from ossr_images.images.inspect import inspect_image
from ossr_images.images.synth import write_docker_archive
from ossr_images.metadata.codemeta import parse_codemeta
from ossr_images.metadata.labels import oci_labels
from ossr_images.metadata.source import resolve_source

REPO = "https://github.com/escape2020/hello-p4"
CODEMETA = {
    "@context": "https://w3id.org/codemeta/3.0",
    "@type": "SoftwareSourceCode",
    "name": "hello-p4",
    "description": "A tiny test image for ossr-images",
    "version": "v1.0.0",
    "license": "https://spdx.org/licenses/MIT",
    "codeRepository": REPO,
    "author": [{"@type": "Person", "givenName": "Jane", "familyName": "Doe"}],
}
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git checkout with a Dockerfile (FROM scratch + static busybox), a definition and codemeta.json."""
    root = tmp_path_factory.mktemp("hello-p4")
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    shutil.copy(BUSYBOX, root / "busybox")
    (root / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'LABEL org.opencontainers.image.title="Title set by the Dockerfile"\n'
        'CMD ["/bin/busybox", "echo", "hello"]\n'
    )
    (root / "codemeta.json").write_text(json.dumps(CODEMETA))
    (root / ".gitignore").write_text("*.tar\n*.zst\n*.gz\n*.sif\nout/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "hello")
    git(root, "remote", "add", "origin", REPO + ".git")
    return root


@pytest.fixture(scope="module")
def provenance(project: Path):
    cm = parse_codemeta((project / "codemeta.json").read_text()).codemeta
    source = resolve_source(cm.code_repository, repo_dir=project)
    return cm, source


@pytest.fixture(scope="module")
def built(docker_engine, project: Path, provenance, tmp_path_factory: pytest.TempPathFactory):
    """The project built once with build_docker and exported (zstd)."""
    from ossr_images.images.build import build_docker

    cm, source = provenance
    out = tmp_path_factory.mktemp("built") / "hello.tar.zst"
    log: list[str] = []
    result = build_docker(
        project,
        tag="ossr-test/hello-p4:1.0",
        codemeta=cm,
        source=source,
        created="2026-01-02T03:04:05Z",
        out=out,
        compress="zstd",
        log=log.append,
        engine=docker_engine,
    )
    assert any("Successfully" in line or "Step" in line for line in log), "the build log was streamed"
    yield result
    docker_engine.remove("ossr-test/hello-p4:1.0", force=True)  # keep the test engine's disk small


@pytest.mark.docker
def test_build_labels_through_docker_inspect_and_readers(built, docker_engine, provenance) -> None:
    cm, source = provenance
    expected = oci_labels(cm, source, "2026-01-02T03:04:05Z")
    expected["org.opencontainers.image.title"] = "Title set by the Dockerfile"  # the Dockerfile's own wins
    engine_labels = docker_engine.inspect("ossr-test/hello-p4:1.0")["Config"]["Labels"]
    assert engine_labels == expected
    assert engine_labels["org.opencontainers.image.revision"] == source.commit
    assert len(source.commit) == 40
    info = inspect_image(built.export.path)
    assert info.labels == expected
    # the readers' image ID is the engine's
    assert info.image_id == built.image_id == docker_engine.image_id("ossr-test/hello-p4:1.0")
    assert info.repo_tags == ["ossr-test/hello-p4:1.0"]
    assert built.problems == []
    assert built.export.sha256 == info.sha256


@pytest.mark.docker
def test_plain_docker_save_names_the_engine(built, docker_engine, provenance, tmp_path: Path) -> None:
    """An archive written by `docker save` itself (not by ossr-images): its config's `docker_version` gives
    engine and engineVersion in the image metadata file."""
    from ossr_images.metadata.image_record import image_record_from

    cm, source = provenance
    saved = tmp_path / "saved.tar"
    with saved.open("wb") as fh:
        for chunk in docker_engine.save_stream("ossr-test/hello-p4:1.0"):
            fh.write(chunk)
    for info in (inspect_image(saved), inspect_image(saved, sha256=False)):
        assert info.image_id == built.image_id
        assert info.docker_version == docker_engine.version  # the test engine builds with the classic builder
        doc = image_record_from(info, source=source, codemeta=cm, sha256="ab" * 32)
        assert (doc["engine"], doc["engineVersion"]) == ("docker", docker_engine.version)


@pytest.mark.docker
@pytest.mark.parametrize("method", ["none", "gzip", "zstd"])
def test_export_round_trip_every_compression(built, docker_engine, tmp_path: Path, method: str) -> None:
    out = tmp_path / f"hello.{method}"
    seen: list[int] = []
    result = export_image(
        "docker-daemon:ossr-test/hello-p4:1.0",
        out,
        compress=method,
        progress=seen.append,
        engine=docker_engine,
    )
    assert result.image_id == built.image_id
    assert result.compression == method and inspect_image(out).compression == method
    assert sum(seen) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name], "no temporary file left"
    # load back; decompress on the fly (Docker 20.10 cannot read zstd)
    docker_engine.remove("ossr-test/hello-p4:1.0", force=True)
    with open_decompressed(out) as fh:
        assert docker_engine.load(fh) == [built.image_id]
    assert docker_engine.image_id("ossr-test/hello-p4:1.0") == built.image_id


@pytest.mark.docker
def test_docker_cli_loads_gzip_itself(built, docker_engine, tmp_path: Path) -> None:
    out = tmp_path / "hello.tar.gz"
    export_image("docker-daemon:ossr-test/hello-p4:1.0", out, compress="gzip", engine=docker_engine)
    if not shutil.which("docker"):
        pytest.skip("no docker CLI")
    proc = subprocess.run(["docker", "load", "-i", str(out)], capture_output=True, text=True, check=True)
    assert built.image_id.split(":")[1][:12] in proc.stdout or "hello-p4:1.0" in proc.stdout


@pytest.mark.docker
@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_synthetic_archive_loads_with_the_same_id(docker_engine, tmp_path: Path, compression: str) -> None:
    out = tmp_path / "synth.tar"
    info = write_docker_archive(out, labels={"k": "v"}, tag="ossr-test/synth:1", compression=compression)
    with open_decompressed(out) as fh:
        assert docker_engine.load(fh) == [info.image_id]
    assert docker_engine.labels("ossr-test/synth:1") == {"k": "v"}
    docker_engine.remove("ossr-test/synth:1", force=True)


@pytest.mark.docker
def test_oci_archive_export_and_back(built, docker_engine, tmp_path: Path) -> None:
    oci = tmp_path / "hello.oci.tar.zst"
    result = export_image(
        "docker-daemon:ossr-test/hello-p4:1.0", oci, fmt="oci-archive", engine=docker_engine
    )
    info = inspect_image(oci)
    assert (info.format, info.compression, info.layout) == ("oci-archive", "zstd", "oci")
    assert info.labels == built.labels
    assert result.manifest_digest and result.manifest_digest == info.manifest_digest
    back = tmp_path / "back.tar"
    export_image(str(oci), back, fmt="docker-archive", compress="none")
    with open(back, "rb") as fh:
        ids = docker_engine.load(fh)
    assert ids == [inspect_image(back).image_id]
    assert docker_engine.labels(ids[0]) == built.labels


@pytest.mark.docker
def test_repack_keeps_the_image(built, tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar"
    result = export_image(str(built.export.path), plain, compress="none")
    assert result.image_id == built.image_id and result.tool == "ossr-images"
    assert inspect_image(plain, sha256=False).compression == "none"


@pytest.mark.docker
def test_dockerfile_contradicting_the_source_is_refused(
    docker_engine, project: Path, provenance, tmp_path
) -> None:
    from ossr_images.images.build import build_docker

    cm, source = provenance
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM scratch\nLABEL org.opencontainers.image.source=https://github.com/someone/else\n"
    )
    with pytest.raises(InvalidInputError) as err:
        build_docker(ctx, tag="ossr-test/bad:1", codemeta=cm, source=source, engine=docker_engine)
    assert "someone/else" in err.value.message and REPO in err.value.message


@pytest.mark.docker
def test_failed_build_and_missing_image(docker_engine, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY does-not-exist /x\n")
    with pytest.raises(RemoteError, match="does-not-exist"):
        docker_engine.build(ctx, tag="ossr-test/fail:1")
    out = tmp_path / "never.tar"
    with pytest.raises(InvalidInputError, match="no such image"):
        export_image("docker-daemon:ossr-test/absent:0", out, engine=docker_engine)
    assert list(tmp_path.iterdir()) == [ctx], "nothing written, not even a temporary file"


def test_engine_unavailable_names_what_was_tried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ossr_images.images.docker_engine import DockerEngine

    sock = f"unix://{tmp_path}/no.sock"
    monkeypatch.setenv("DOCKER_HOST", sock)
    with pytest.raises(EngineUnavailableError) as err:
        DockerEngine.connect()
    assert sock in err.value.message and "DOCKER_HOST" in err.value.message
    assert "systemctl start docker" in err.value.hint
    assert err.value.exit_code == 4
    with pytest.raises(EngineUnavailableError, match="no.sock"):
        DockerEngine.connect(base_url=sock)
    monkeypatch.delenv("DOCKER_HOST")
    from ossr_images.images.docker_engine import _where

    assert _where(None) == "unix:///var/run/docker.sock (DOCKER_HOST is not set)"


# ------------------------------------------------------------------------------------------ skopeo


@pytest.fixture(scope="module")
def pushed(built, registry: str) -> str:
    """The built image pushed to the loopback registry with skopeo; returns its docker:// reference."""
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    ref = f"{registry}/ossr-test/hello-p4:1.0"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            f"docker-archive:{_plain(built.export.path)}",
            f"docker://{ref}",
        ],
        check=True,
        capture_output=True,
    )
    return ref


def _plain(path: Path) -> Path:
    plain = path.with_suffix(".plain")
    if not plain.exists():
        with open_decompressed(path) as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return plain


@pytest.mark.skopeo
@pytest.mark.docker
def test_export_from_registry_without_daemon(built, pushed: str, docker_engine, tmp_path: Path) -> None:
    out = tmp_path / "from-registry.tar.zst"
    result = export_image(f"docker://{pushed}", out)  # loopback: TLS not required
    assert result.tool == "skopeo" and result.image_id == built.image_id
    info = inspect_image(out)
    assert info.labels == built.labels and info.repo_tags == [pushed]
    with open_decompressed(out) as fh:
        assert docker_engine.load(fh) == [built.image_id]
    oci = tmp_path / "from-registry.oci.tar"
    res = export_image(f"docker://{pushed}", oci, fmt="oci-archive", compress="none")
    assert inspect_image(oci).format == "oci-archive" and res.manifest_digest
    docker_engine.remove(pushed, force=True)


@pytest.mark.skopeo
def test_registry_errors_are_clear(registry: str, tmp_path: Path) -> None:
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    out = tmp_path / "x.tar"
    with pytest.raises(RemoteError, match="skopeo copy"):
        export_image(f"docker://{registry}/ossr-test/absent:0", out)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ apptainer


def _apptainer() -> str:
    from ossr_images.images.apptainer import find_apptainer

    binary = find_apptainer()
    if not binary:
        pytest.skip("Apptainer is not installed")
    return binary


@pytest.mark.apptainer
@pytest.mark.docker
def test_archive_to_sif_keeps_labels(built, tmp_path: Path) -> None:
    _apptainer()
    from ossr_images.images.apptainer import inspect_labels

    sif = tmp_path / "hello.sif"
    result = export_image(str(built.export.path), sif, fmt="sif")
    assert result.format == "sif" and result.tool == "apptainer"
    ours = inspect_image(sif).labels
    theirs = inspect_labels(sif)
    for key in ("org.opencontainers.image.source", "org.opencontainers.image.revision"):
        assert ours[key] == theirs[key] == built.labels[key]


@pytest.mark.apptainer
@pytest.mark.docker
def test_oci_archive_to_sif(built, docker_engine, tmp_path: Path) -> None:
    _apptainer()
    oci = tmp_path / "hello.oci.tar.gz"
    export_image(
        "docker-daemon:ossr-test/hello-p4:1.0", oci, fmt="oci-archive", compress="gzip", engine=docker_engine
    )
    sif = tmp_path / "hello.sif"
    result = export_image(str(oci), sif, fmt="sif")
    assert (
        result.tool == "apptainer"
        and inspect_image(sif).labels["org.opencontainers.image.revision"]
        == (built.labels["org.opencontainers.image.revision"])
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.oci.tar.gz", "hello.sif"]


@pytest.mark.apptainer
@pytest.mark.docker
def test_build_singularity_with_labels(built, project: Path, provenance, tmp_path: Path) -> None:
    _apptainer()
    from ossr_images.images.build import build_singularity

    cm, source = provenance
    shutil.copy(_plain(built.export.path), tmp_path / "base.tar")
    definition = tmp_path / "hello.def"
    definition.write_text(
        "Bootstrap: docker-archive\nFrom: base.tar\n\n%labels\n    org.opencontainers.image.title Def title\n"
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)  # From: is relative to the working directory
    try:
        result = build_singularity(definition, tmp_path / "out" / "hello.sif", codemeta=cm, source=source)
    finally:
        os.chdir(cwd)
    labels = inspect_image(tmp_path / "out" / "hello.sif").labels
    assert labels["org.opencontainers.image.revision"] == source.commit
    assert labels["org.opencontainers.image.title"] == "Def title"
    assert labels["org.opencontainers.image.version"] == "v1.0.0"
    assert result.export is not None and result.export.sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.tar", "hello.def", "out"]


@pytest.mark.docker
def test_pure_oci_archive_and_old_engines(docker_engine, tmp_path: Path) -> None:
    """Docker before 25 cannot load an archive without manifest.json: the error says so."""
    from .conftest import make_tar, tar_members

    synth = tmp_path / "synth.tar"
    info = write_docker_archive(synth, labels={"k": "v"}, tag="ossr-test/oci-only:1")
    members = tar_members(synth.read_bytes())
    members.pop("manifest.json")
    oci = tmp_path / "oci.tar"
    oci.write_bytes(make_tar(list(members.items())))
    assert inspect_image(oci).image_id == info.image_id
    major = int(docker_engine.version.split(".")[0])
    with open(oci, "rb") as fh:
        if major >= 25:
            assert docker_engine.load(fh) == [info.image_id]
        else:
            with pytest.raises(RemoteError) as err:
                docker_engine.load(fh)
            assert "OCI" in err.value.hint
