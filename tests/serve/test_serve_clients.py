"""`ossr-images serve` with real clients: docker pull (by record, DOI, concept DOI + version, digest) and
run, skopeo inspect and copy, podman pull; 8 concurrent pulls share one download."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import requests

from fetch.records import COMMIT
from serve.conftest import run


def _pull(serve, ref: str) -> str:
    """docker pull; returns the pulled image's ID (and remembers the tag for clean-up)."""
    full = f"{serve.host}/{ref}"
    res = run(["docker", "pull", full])
    assert res.returncode == 0, res.stdout + res.stderr + serve.log()
    serve.images.append(full)
    res = run(["docker", "image", "inspect", "--format", "{{.Id}}", full])
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.mark.docker
def test_docker_pull_by_record_doi_version_and_digest(built_images, publish, serve) -> None:
    hello = built_images["hello"]
    v1 = publish(hello.archive, version="1.0.0")
    layers = built_images["layers"]
    v2 = publish(layers.archive, version="2.0.0", after=v1)
    rid, doi, concept = v1.id, v1.doi, v1.conceptdoi

    assert _pull(serve, f"records/{rid}:latest") == hello.image_id
    res = run(["docker", "run", "--rm", "--network", "none", f"{serve.host}/records/{rid}:latest"])
    assert res.returncode == 0 and res.stdout.strip() == "hello from serve", res.stderr

    assert _pull(serve, f"doi/{doi}:latest") == hello.image_id
    # the concept DOI: latest is version 2.0.0; the version tag 1.0.0 is the first version
    assert _pull(serve, f"doi/{concept}:latest") == layers.image_id
    assert _pull(serve, f"doi/{concept}:1.0.0") == hello.image_id
    assert _pull(serve, f"records/{v1.conceptrecid}:2.0.0") == layers.image_id
    res = run(["docker", "run", "--rm", "--network", "none", f"{serve.host}/doi/{concept}:latest"])
    assert res.returncode == 0 and res.stdout.split() == ["layer", "a", "layer", "b"], res.stderr

    # by digest: the digest docker recorded for the tag
    res = run(
        [
            "docker",
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            f"{serve.host}/records/{v2.id}:latest",
        ]
    )
    if res.returncode != 0:  # not pulled under that name yet
        _pull(serve, f"records/{v2.id}:latest")
        res = run(
            [
                "docker",
                "image",
                "inspect",
                "--format",
                "{{json .RepoDigests}}",
                f"{serve.host}/records/{v2.id}:latest",
            ]
        )
    digests = [d for d in json.loads(res.stdout) if d.startswith(f"{serve.host}/records/{v2.id}@")]
    assert digests, res.stdout
    by_digest = digests[0].split("/", 1)[1]
    assert _pull(serve, by_digest) == layers.image_id

    tags = requests.get(f"{serve.url}/v2/doi/{concept}/tags/list", timeout=10).json()
    assert tags == {"name": f"doi/{concept}", "tags": ["1.0.0", "2.0.0", "latest"]}


@pytest.mark.docker
def test_docker_pull_of_a_zstd_archive_serves_the_decompressed_layers(built_images, publish, serve) -> None:
    image = built_images["layers-zstd"]
    record = publish(image.archive)
    assert _pull(serve, f"records/{record.id}:latest") == image.image_id
    res = run(["docker", "run", "--rm", "--network", "none", f"{serve.host}/records/{record.id}:latest"])
    assert res.stdout.split() == ["layer", "a", "layer", "b"], res.stderr
    folder = serve.cache / "records" / str(record.id)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["image.tar", "serve.json"], names  # decompressed once; the .zst is not kept twice


@pytest.mark.skopeo
@pytest.mark.docker
def test_skopeo_inspect_and_copy(built_images, publish, serve, tmp_path: Path) -> None:
    image = built_images["layers"]
    record = publish(image.archive)
    src = f"docker://{serve.host}/doi/{record.doi}:latest"
    res = run(["skopeo", "inspect", "--tls-verify=false", src])
    assert res.returncode == 0, res.stderr + serve.log()
    doc = json.loads(res.stdout)
    assert doc["Labels"]["org.opencontainers.image.revision"] == COMMIT
    assert len(doc["Layers"]) == 3
    res = run(["skopeo", "inspect", "--tls-verify=false", "--config", "--raw", src])
    assert res.returncode == 0, res.stderr
    import hashlib

    assert "sha256:" + hashlib.sha256(res.stdout.encode()).hexdigest() == image.image_id

    out = tmp_path / "oci"
    res = run(["skopeo", "copy", "--src-tls-verify=false", src, f"oci:{out}:copied"])
    assert res.returncode == 0, res.stderr
    index = json.loads((out / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((out / "blobs" / "sha256" / manifest_digest).read_text())
    assert manifest["config"]["digest"] == image.image_id


@pytest.mark.docker
def test_podman_pull(built_images, publish, serve, tmp_path: Path, request) -> None:
    image = built_images["hello"]
    record = publish(image.archive)
    import shutil
    import tempfile

    runroot = tempfile.mkdtemp(prefix="osp-", dir="/tmp")  # podman wants a runroot under 50 characters
    request.addfinalizer(lambda: shutil.rmtree(runroot, ignore_errors=True))
    storage = ["--root", str(tmp_path / "podman-root"), "--runroot", runroot, "--storage-driver", "vfs"]
    ref = f"{serve.host}/records/{record.id}:latest"
    res = run(["podman", *storage, "pull", "--tls-verify=false", ref])
    assert res.returncode == 0, res.stdout + res.stderr + serve.log()
    res = run(["podman", *storage, "image", "inspect", "--format", "{{.Id}}", ref])
    assert res.returncode == 0, res.stderr
    assert "sha256:" + res.stdout.strip() == image.image_id


@pytest.mark.skopeo
@pytest.mark.docker
def test_eight_concurrent_pulls_download_the_archive_once(
    built_images, publish, serve, counting, tmp_path: Path
) -> None:
    image = built_images["layers"]
    record = publish(image.archive)
    before = counting.count(rf"/records/{record.id}/files/{image.archive.name}/content$")
    results: list[int] = []
    lock = threading.Lock()

    def copy(i: int) -> None:
        res = run(
            [
                "skopeo",
                "copy",
                "--src-tls-verify=false",
                f"docker://{serve.host}/records/{record.id}:latest",
                f"oci:{tmp_path / f'c{i}'}:t",
            ]
        )
        with lock:
            results.append(res.returncode)
            if res.returncode:
                print(res.stderr)

    threads = [threading.Thread(target=copy, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0] * 8, serve.log()
    downloads = counting.count(rf"/records/{record.id}/files/{image.archive.name}/content$") - before
    assert downloads == 1, counting.paths
    for i in range(8):
        index = json.loads((tmp_path / f"c{i}" / "index.json").read_text())
        manifest = json.loads(
            (
                tmp_path / f"c{i}" / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
            ).read_text()
        )
        assert manifest["config"]["digest"] == image.image_id


@pytest.mark.skopeo
@pytest.mark.docker
def test_docker_pull_of_an_oci_archive(built_images, publish, serve, tmp_path: Path) -> None:
    """An OCI image-layout archive (skopeo's oci-archive): its manifest is served as archived."""
    from ossr_images.images.inspect import inspect_image

    oci = tmp_path / "hello-oci.tar"
    made = run(["skopeo", "copy", f"docker-archive:{built_images['hello'].archive}", f"oci-archive:{oci}"])
    assert made.returncode == 0, made.stderr
    info = inspect_image(oci)
    assert info.format == "oci-archive"
    record = publish(oci)
    head = requests.head(f"{serve.url}/v2/records/{record.id}/manifests/latest", timeout=60)
    assert head.headers["Docker-Content-Digest"] == info.manifest_digest  # taken as is: same digest
    assert _pull(serve, f"records/{record.id}:latest") == info.image_id
    res = run(["docker", "run", "--rm", "--network", "none", f"{serve.host}/records/{record.id}:latest"])
    assert res.stdout.strip() == "hello from serve", res.stderr


def _multi_platform_archive(oci: Path, out: Path) -> tuple[str, str]:
    """An OCI archive whose index.json names one image index with an amd64 and an arm64 manifest (the
    arm64 one differs by its config's architecture). Returns (index digest, amd64 config digest)."""
    import hashlib
    import io
    import tarfile

    blobs: dict[str, bytes] = {}
    with tarfile.open(oci) as tar:
        for m in tar.getmembers():
            if m.isfile():
                blobs[m.name.removeprefix("./")] = tar.extractfile(m).read()  # type: ignore[union-attr]
    index = json.loads(blobs["index.json"])
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads(blobs[f"blobs/sha256/{manifest_digest.split(':')[1]}"])
    config = json.loads(blobs[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"])

    def add(data: bytes) -> str:
        hexd = hashlib.sha256(data).hexdigest()
        blobs[f"blobs/sha256/{hexd}"] = data
        return f"sha256:{hexd}"

    arm_config = json.dumps({**config, "architecture": "arm64"}).encode()
    arm_manifest = json.dumps(
        {**manifest, "config": {**manifest["config"], "digest": add(arm_config), "size": len(arm_config)}}
    ).encode()
    mt = "application/vnd.oci.image.manifest.v1+json"
    amd_size = len(blobs[f"blobs/sha256/{manifest_digest.split(':')[1]}"])
    nested = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": mt,
                    "digest": manifest_digest,
                    "size": amd_size,
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
                {
                    "mediaType": mt,
                    "digest": add(arm_manifest),
                    "size": len(arm_manifest),
                    "platform": {"os": "linux", "architecture": "arm64"},
                },
            ],
        }
    ).encode()
    nested_digest = add(nested)
    blobs["index.json"] = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "digest": nested_digest,
                    "size": len(nested),
                }
            ],
        }
    ).encode()
    with tarfile.open(out, "w") as tar:
        for name, data in sorted(blobs.items()):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return nested_digest, manifest["config"]["digest"]


@pytest.mark.skopeo
@pytest.mark.docker
def test_a_multi_platform_index_is_served_as_an_index(built_images, publish, serve, tmp_path: Path) -> None:
    oci = tmp_path / "hello-oci.tar"
    assert (
        run(
            ["skopeo", "copy", f"docker-archive:{built_images['hello'].archive}", f"oci-archive:{oci}"]
        ).returncode
        == 0
    )
    multi = tmp_path / "multi.tar"
    index_digest, amd64_config = _multi_platform_archive(oci, multi)
    record = publish(multi)
    resp = requests.get(f"{serve.url}/v2/records/{record.id}/manifests/latest", timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/vnd.oci.image.index.v1+json"
    assert resp.headers["Docker-Content-Digest"] == index_digest
    raw = run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--raw",
            f"docker://{serve.host}/records/{record.id}:latest",
        ]
    )
    assert len(json.loads(raw.stdout)["manifests"]) == 2, raw.stderr
    assert _pull(serve, f"records/{record.id}:latest") == amd64_config  # docker picks this machine's
