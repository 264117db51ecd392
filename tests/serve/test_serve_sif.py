"""A SIF record served as an ORAS artifact: `apptainer pull oras://` gets the archived bytes (best effort, as
the other Apptainer tests: Apptainer is not packaged for this Debian), and any OCI client sees the layout."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import requests

from serve.conftest import run

DATA = Path(__file__).resolve().parent.parent / "data"


def _sif_record(publish) -> tuple[dict, Path]:
    """A record around the small real .sif fixture; its labels name the source."""
    from fetch.records import COMMIT, REPO
    from ossr_images.images.inspect import inspect_image
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, build_image_record, dump_image_record

    sif = DATA / "hello.sif"
    labels = dict(inspect_image(sif).labels)
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
    files = {"hello.sif": sif, IMAGE_RECORD_KEY: dump_image_record(doc)}
    return publish.raw(files, commit=commit, repository=repo), sif


def test_a_sif_is_an_oras_artifact(publish, serve) -> None:
    record, sif = _sif_record(publish)
    base = f"{serve.url}/v2/records/{record.id}"
    resp = requests.get(f"{base}/manifests/latest", timeout=60)
    assert resp.status_code == 200, resp.text
    manifest = resp.json()
    assert manifest["config"]["mediaType"] == "application/vnd.sylabs.sif.config.v1+json"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.sylabs.sif.layer.v1.sif"
    data = sif.read_bytes()
    assert layer["digest"] == "sha256:" + hashlib.sha256(data).hexdigest() and layer["size"] == len(data)
    blob = requests.get(f"{base}/blobs/{layer['digest']}", timeout=30)
    assert blob.content == data


@pytest.mark.apptainer
def test_apptainer_pull_oras(publish, serve, tmp_path: Path) -> None:
    if not shutil.which("apptainer"):
        pytest.skip("apptainer is not installed")
    record, sif = _sif_record(publish)
    out = tmp_path / "pulled.sif"
    res = run(
        ["apptainer", "pull", "--no-https", str(out), f"oras://{serve.host}/records/{record.id}:latest"]
    )
    assert res.returncode == 0, res.stdout + res.stderr + serve.log()
    assert out.read_bytes() == sif.read_bytes()
    print("apptainer pull oras://:", json.dumps(res.stderr[-300:]))


@pytest.mark.apptainer
def test_apptainer_pull_docker(publish, serve, tmp_path: Path) -> None:
    if not shutil.which("apptainer"):
        pytest.skip("apptainer is not installed")
    from fetch.records import image_files

    record = publish.raw(image_files(tmp_path / "src", payload=b"payload\n"))
    out = tmp_path / "from-docker.sif"
    env_tmp = tmp_path / "atmp"
    env_tmp.mkdir()
    res = run(
        ["apptainer", "pull", "--no-https", str(out), f"docker://{serve.host}/records/{record.id}:latest"],
        env={
            **__import__("os").environ,
            "APPTAINER_TMPDIR": str(env_tmp),
            "APPTAINER_CACHEDIR": str(tmp_path / "acache"),
        },
    )
    if res.returncode != 0 and "mksquashfs" in res.stderr:
        pytest.skip(f"apptainer cannot build a SIF here: {res.stderr[-300:]}")
    assert res.returncode == 0, res.stdout + res.stderr + serve.log()
    from ossr_images.images.inspect import inspect_image

    assert inspect_image(out, sha256=False).format == "sif"
