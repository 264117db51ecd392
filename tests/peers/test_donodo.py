"""donodo 0.5 (Docker images on Zenodo) against the stand-in over HTTP, with the shared Docker engine: push
(new record, a new version for a new tag, an already published tag), pull by DOI, by DOI link, by concept
DOI and version, by legacy record link; the pulled image is the pushed one (same image ID).

donodo's users reach the sandbox with ``use_sandbox(True)``, which sets the class attribute
``ZenodoSession.base_url`` (zenodo.py:18-22); that attribute is pointed at the stand-in. donodo reaches Docker
through the ``docker`` command and refuses to import unless the user is in the ``docker`` group or has sudo
(docker.py:21-35); the test runs as a member of that group (the id list is extended while donodo is
imported), which is what donodo's own message tells its users to do.
"""

from __future__ import annotations

import grp
import io
import os
import subprocess
import tarfile
import uuid

import pytest

from conftest import TEST_TOKEN

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def donodo():
    if not os.environ.get("DOCKER_HOST"):
        pytest.skip("no Docker engine: DOCKER_HOST is not set (run `. .ci/services.sh; services_start`)")
    real = os.getgroups
    docker_gid = grp.getgrnam("docker").gr_gid
    os.getgroups = lambda: [*real(), docker_gid]  # type: ignore[assignment]
    try:
        import donodo as module
    finally:
        os.getgroups = real  # type: ignore[assignment]
    return module


@pytest.fixture
def zenodo(donodo, standin, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(donodo.ZenodoSession, "base_url", standin.api_url)
    return standin


def _docker(*args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True, check=True)
    return done.stdout.decode().strip()


def _image(name: str, tag: str, content: bytes) -> str:
    """A one-file image imported into the shared engine; its image ID."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    _docker("import", "-", f"{name}:{tag}", stdin=buf.getvalue())
    return _docker("image", "inspect", "--format", "{{.Id}}", f"{name}:{tag}")


@pytest.fixture
def image_name():
    name = f"ossrpeer/donodo-{uuid.uuid4().hex[:10]}"
    yield name
    tags = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", name).split()
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True, check=False)


def _pull_and_compare(donodo, doi: str, spec: str, image_id: str, **record_args) -> None:
    _docker("rmi", spec)
    record = donodo.doi_record(doi, **record_args) if record_args else None
    assert donodo.pull(doi, record) == 0
    assert _docker("image", "inspect", "--format", "{{.Id}}", spec) == image_id


def test_push_and_pull(donodo, zenodo, image_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    first_id = _image(image_name, "1.0", b"first\n")
    assert donodo.push(f"{image_name}:1.0", TEST_TOKEN, auto_publish=True) == 0
    doi_url = capsys.readouterr().out.strip().splitlines()[-1]
    assert doi_url.startswith("https://handle.test.datacite.org/10.5072/zenodo.")  # the sandbox doi_url
    doi = doi_url.split("datacite.org/", 1)[1]
    record = donodo.doi_record(doi)
    assert record.record["metadata"]["version"] == "1.0"
    assert record.image_file["key"] == "image.tar.gz"
    _pull_and_compare(donodo, doi, f"{image_name}:1.0", first_id)
    _pull_and_compare(donodo, f"https://doi.org/{doi}", f"{image_name}:1.0", first_id)  # a DOI link
    # a legacy record link: donodo GETs /api/records/N, whose ZenodoJSON carries "status": "published" (a
    # string, zenodo-api.md section 4), and compares that status with 400 (zenodo.py:39): a TypeError, on
    # zenodo.org as here
    rid = doi.rsplit(".", 1)[1]
    with pytest.raises(TypeError, match="'>=' not supported"):
        donodo.doi_record(f"https://sandbox.zenodo.org/record/{rid}")

    # a new tag of the same image is a new version of the same concept
    second_id = _image(image_name, "2.0", b"second\n")
    assert donodo.push(f"{image_name}:2.0", TEST_TOKEN, auto_publish=True) == 0
    second_doi = capsys.readouterr().out.strip().splitlines()[-1].split("datacite.org/", 1)[1]
    second = donodo.doi_record(second_doi)
    assert second.record["conceptrecid"] == record.record["conceptrecid"]
    assert [f["key"] for f in second.record["files"]] == ["image.tar.gz"]
    concept = record.record["conceptdoi"]
    _pull_and_compare(donodo, concept, f"{image_name}:2.0", second_id, version="latest")
    _pull_and_compare(donodo, concept, f"{image_name}:1.0", first_id, version="1.0")

    # pushing a tag that is already published is refused by donodo itself
    with pytest.raises(ValueError, match="already published"):
        donodo.push(f"{image_name}:1.0", TEST_TOKEN, auto_publish=True)


def test_push_onto_a_given_concept(
    donodo, zenodo, image_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(image_name, "1.0", b"one\n")
    donodo.push(f"{image_name}:1.0", TEST_TOKEN, auto_publish=True)
    doi = capsys.readouterr().out.strip().splitlines()[-1].split("datacite.org/", 1)[1]
    concept = donodo.doi_record(doi).record["conceptrecid"]
    other = f"{image_name}-renamed"
    try:
        third_id = _image(other, "3.0", b"three\n")
        assert donodo.push(f"{other}:3.0", TEST_TOKEN, auto_publish=True, conceptrecid=concept) == 0
        new_doi = capsys.readouterr().out.strip().splitlines()[-1].split("datacite.org/", 1)[1]
        assert donodo.doi_record(new_doi).record["conceptrecid"] == concept
        _pull_and_compare(donodo, new_doi, f"{other}:3.0", third_id)
    finally:
        subprocess.run(["docker", "rmi", "-f", f"{other}:3.0"], capture_output=True, check=False)


def test_current_record_links_are_searched_as_dois(donodo, zenodo, image_name: str, capsys) -> None:
    """donodo reads a link as a record link only when its path starts with "record/" (zenodo.py:181); the
    links zenodo.org shows today are /records/N, which donodo searches as the DOI "records/N" and does not
    find, on zenodo.org as here."""
    _image(image_name, "1.0", b"links\n")
    donodo.push(f"{image_name}:1.0", TEST_TOKEN, auto_publish=True)
    doi = capsys.readouterr().out.strip().splitlines()[-1].split("datacite.org/", 1)[1]
    rid = doi.rsplit(".", 1)[1]
    with pytest.raises(KeyError, match="No Zenodo record"):
        donodo.doi_record(f"https://sandbox.zenodo.org/records/{rid}")
