"""`ossr-images reproduce` end to end: real git, real engines (Buildah in a private storage, the Docker
engine of DOCKER_HOST), images published on the Zenodo stand-in over real HTTP and reproduced from their
DOI; a local archive with the build record beside it; bad input."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from ossr_images.cli import main
from ossr_images.images.inspect import inspect_image

from .conftest import BuildProject, push_base


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def publish(image: Path, project: BuildProject, *extra: str) -> str:
    """Publish `image` (its build record beside it) on the stand-in; returns the DOI."""
    res = cli("publish", str(image), "--repo", str(project.path), "--json", *extra)
    assert res.exit_code == 0, res.output
    doi = json.loads(res.stdout)["doi"]
    assert doi
    return doi


def reproduce(*args: str) -> tuple[int, dict]:
    res = cli("reproduce", *args, "--json")
    return res.exit_code, json.loads(res.stdout)


def buildah_image(project: BuildProject, out: Path, *extra: str) -> Path:
    tag = f"localhost/ossr-reproduce-test:{secrets.token_hex(4)}"
    res = cli("build", "buildah", str(project.path), "-t", tag, "-o", str(out), *extra)
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.buildah
@pytest.mark.usefixtures("buildah_env", "git_maps_repo")
def test_buildah_image_reproduced_from_its_doi_is_identical(
    zenodo_env, build_project: BuildProject, tmp_path: Path
):
    image = buildah_image(build_project, tmp_path / "hello.tar.zst")
    doi = publish(image, build_project)
    work = tmp_path / "work"
    work.mkdir()  # the user's empty folder: emptied again at the end, not removed
    status, doc = reproduce(doi, "--work", str(work))
    assert status == 0, doc
    assert doc["verdict"] == "identical" and doc["ok"] is True
    assert doc["source"] == {"repository": "https://github.com/escape2020/ossr-build-test",
                             "commit": build_project.commit}  # fmt: skip
    assert doc["record"]["doi"] == doi and doc["record"]["build"]["builder"] == "buildah"
    archived_id = inspect_image(image, sha256=False).image_id
    assert doc["record"]["image_id"] == archived_id == doc["rebuilt"]["image_id"]
    assert doc["rebuilt"]["engine"] == "buildah" and doc["rebuilt"]["engine_version"]
    assert doc["differences"] == [] and doc["work"] is None
    assert work.is_dir() and not any(work.iterdir())
    human = CliRunner().invoke(main, ["reproduce", doi])
    assert human.exit_code == 0, human.output
    assert "Verdict: identical" in human.stdout and build_project.commit in human.stdout


@pytest.mark.buildah
@pytest.mark.usefixtures("buildah_env", "git_maps_repo")
def test_dirty_tree_differs_naming_the_file_and_the_copy(
    zenodo_env, build_project: BuildProject, tmp_path: Path
):
    build_project.commit_file("data/committed.txt", "in git\n")
    build_project.commit_file(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY data/ /data/\n",
        date="2026-02-04T00:00:00Z",
    )
    (build_project.path / "data" / "local-only.txt").write_text("never committed\n")
    image = buildah_image(build_project, tmp_path / "dirty.tar.zst", "--allow-dirty")
    doi = publish(image, build_project, "--allow-dirty")
    status, doc = reproduce(doi, "--keep", "--work", str(tmp_path / "w"))
    assert status == 3, doc
    assert doc["verdict"] == "differs" and doc["error"]["type"] == "IntegrityError"
    assert doc["counts"]["removed"] == 1 and sum(doc["counts"].values()) == 1
    (diff,) = doc["differences"]
    assert diff["path"] == "/data/local-only.txt" and diff["change"] == "removed"
    # the instruction as the image history has it (Buildah: "COPY dir:<content hash> in /data/ ")
    assert diff["instruction"].startswith("COPY ") and "/data/" in diff["instruction"]
    assert diff["layer"]["index"] == 1 and diff["rebuilt"] is None
    assert diff["archived"]["sha256"] and diff["archived"]["size"] == len("never committed\n")
    assert doc["work"] == str((tmp_path / "w").absolute())  # --keep: the rebuilt archive is still there
    assert Path(doc["rebuilt"]["archive"]).is_file()
    human = CliRunner().invoke(main, ["reproduce", doi, "--work", str(tmp_path / "w2")])
    assert human.exit_code == 3
    assert "removed  /data/local-only.txt  file, only in the archived image  [layer 1: COPY " in human.stdout
    assert not (tmp_path / "w2").exists()


@pytest.mark.docker
@pytest.mark.usefixtures("git_maps_repo")
def test_docker_image_is_same_content_with_mtimes_ignored(
    zenodo_env, docker_engine, build_project: BuildProject, tmp_path: Path
):
    tag = f"ossr-test/reproduce:{secrets.token_hex(4)}"
    image = tmp_path / "hello.tar.gz"
    res = cli("build", "docker", str(build_project.path), "-t", tag, "-o", str(image), "--compress", "gzip")
    assert res.exit_code == 0, res.output
    try:
        doi = publish(image, build_project)
        status, doc = reproduce(doi)
    finally:
        docker_engine.remove(tag, force=True)
    assert status == 0, doc
    assert doc["verdict"] == "same-content" and doc["differences"] == []
    assert doc["ignored"]["mtime"] >= 2  # /bin/busybox from a fresh clone, /greeting written at build time
    assert doc["rebuilt"]["engine"] == "docker" and doc["rebuilt"]["image_id"] != doc["record"]["image_id"]


@pytest.mark.buildah
@pytest.mark.skopeo
@pytest.mark.usefixtures("buildah_env", "git_maps_repo")
def test_base_image_tag_moved_the_rebuild_uses_the_recorded_digest(
    zenodo_env, registry: str, build_project: BuildProject, tmp_path: Path
):
    from ossr_images.images.buildah import BuildahEngine

    base = f"{registry}/ossr-reproduce-test/base-{secrets.token_hex(4)}:1"
    first = push_base(registry, base, b"one\n", tmp_path)
    build_project.commit_file("Dockerfile", f"FROM {base}\nCOPY busybox /bin/busybox\n")
    image = buildah_image(build_project, tmp_path / "based.tar")
    doi = publish(image, build_project)
    assert push_base(registry, base, b"two\n", tmp_path) != first  # the tag now names other content
    BuildahEngine.connect().remove(base)
    status, doc = reproduce(doi)
    assert status == 0, doc
    assert doc["verdict"] == "identical"
    assert [b["digest"] for b in doc["rebuilt"]["build"]["baseImages"]] == [first]
    assert doc["record"]["build"]["baseImages"][0]["digest"] == first


@pytest.mark.buildah
@pytest.mark.usefixtures("buildah_env", "git_maps_repo")
def test_local_image_file_with_its_build_record(build_project: BuildProject, tmp_path: Path):
    image = buildah_image(build_project, tmp_path / "local.tar", "--compress", "none")
    status, doc = reproduce(str(image))
    assert status == 0, doc
    assert doc["verdict"] == "identical" and doc["record"]["file"] == str(image)
    assert doc["source"]["commit"] == build_project.commit
    # without the build record and without --recipe: nothing says how to build it
    (image.with_name(image.name + ".build.json")).unlink()
    status, doc = reproduce(str(image))
    assert status == 1 and "--recipe" in doc["error"]["hint"]
    status, doc = reproduce(
        str(image), "--recipe", "Dockerfile", "--platform", "linux/amd64", "--engine", "buildah"
    )
    assert status == 0, doc
    assert doc["record"]["build"]["recipe"] == "Dockerfile"
    # without a build section the labels ossr-images added are not replayed (another config), but Buildah
    # makes the same layers
    assert doc["verdict"] == "identical" and doc["reason"] == "same layer digests"
    assert doc["rebuilt"]["image_id"] != doc["record"]["image_id"]
    assert "the record has no build section: rebuilt as --recipe describes it" in doc["notes"]


def test_bad_input(zenodo_env, build_project: BuildProject, tmp_path: Path):
    status, doc = reproduce(str(tmp_path / "missing.tar.zst"))
    assert status == 1 and "does not exist" in doc["error"]["message"]
    status, doc = reproduce("not a doi")
    assert status == 1 and doc["ok"] is False
    status, doc = reproduce("99999")
    assert status == 4 and "99999" in doc["error"]["message"]
    from ossr_images.images.synth import write_docker_archive

    unlabelled = tmp_path / "plain.tar"
    write_docker_archive(unlabelled, labels={}, tag="plain:1", files={"a": b"a"})
    status, doc = reproduce(str(unlabelled))
    assert status == 1 and "org.opencontainers.image.source" in doc["error"]["message"]
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine\n")
    status, doc = reproduce(str(unlabelled), "--work", str(busy))
    assert status == 1 and "not an empty folder" in doc["error"]["message"]
    assert (busy / "keep.txt").read_text() == "mine\n"
    status, doc = reproduce(str(unlabelled), "--engine", "podman")
    assert status == 2
    labelled = tmp_path / "labelled.tar"
    labels = {
        "org.opencontainers.image.source": "https://github.com/escape2020/ossr-build-test",
        "org.opencontainers.image.revision": build_project.commit,
    }
    write_docker_archive(labelled, labels=labels, tag="labelled:1", files={"a": b"a"})
    status, doc = reproduce(str(labelled), "--engine", "apptainer", "--recipe", "Dockerfile")
    assert status == 1 and "Apptainer is not supported" in doc["error"]["message"]


@pytest.mark.usefixtures("git_maps_repo")
def test_engine_failure_exits_4(build_project: BuildProject, tmp_path: Path, monkeypatch):
    from ossr_images.images.synth import write_docker_archive

    labels = {
        "org.opencontainers.image.source": "https://github.com/escape2020/ossr-build-test",
        "org.opencontainers.image.revision": build_project.commit,
    }
    image = tmp_path / "hello.tar"
    write_docker_archive(image, labels=labels, tag="hello:1", files={"a": b"a"})
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    status, doc = reproduce(str(image), "--recipe", "Dockerfile", "--engine", "docker")
    assert status == 4 and doc["error"]["type"] == "EngineUnavailableError"
