"""What `serve` refuses, over real HTTP and with real clients: a record whose archive was corrupted on the
server, a record whose provenance disagrees, a restricted record, push/delete/upload, malformed names and
digests, unknown DOIs, tags and blobs. No client ever gets an image's bytes from a refused record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from serve.conftest import run

OCI = "application/vnd.oci.image.manifest.v1+json"
DOCKER = "application/vnd.docker.distribution.manifest.v2+json"


def _errors(resp: requests.Response) -> list[dict]:
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    return resp.json()["errors"]


def _corrupt_stored_file(standin, record: dict, key: str) -> None:
    """Flip one byte in the middle of the stored file behind `key` (the stand-in keeps serving it with the
    md5 it recorded at upload)."""
    rec = standin.store.published_record(standin.store_key(record.id))
    entry = next(f for f in rec["published"]["files"] if f["key"] == key)
    path = standin.store.blob_path(entry)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.docker
def test_a_corrupted_archive_is_never_served(built_images, publish, serve, tmp_path: Path) -> None:
    image = built_images["hello"]
    record = publish(image.archive)
    _corrupt_stored_file(publish.standin, record, image.archive.name)
    url = f"{serve.url}/v2/records/{record.id}/manifests/latest"
    resp = requests.get(url, headers={"Accept": OCI}, timeout=60)
    assert resp.status_code == 403, resp.text
    [err] = _errors(resp)
    assert err["code"] == "DENIED" and "md5" in err["message"], err
    assert "md5" in err["detail"]
    assert "check md5 failed" in serve.log()

    ref = f"{serve.host}/records/{record.id}:latest"
    pulled = run(["docker", "pull", ref])
    assert pulled.returncode != 0 and "denied" in pulled.stderr.lower(), pulled.stderr
    print("docker pull of a corrupted record:", pulled.stderr.strip())
    inspected = run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"])
    assert inspected.returncode != 0 and "md5" in inspected.stderr, inspected.stderr
    print("skopeo inspect of a corrupted record:", inspected.stderr.strip())
    # nothing of the record is left in the cache, and no blob of it is served
    assert not (serve.cache / "records" / str(record.id)).exists()
    resp = requests.get(f"{serve.url}/v2/records/{record.id}/blobs/{image.image_id}", timeout=30)
    assert resp.status_code == 403 and _errors(resp)[0]["code"] == "DENIED"


@pytest.mark.docker
@pytest.mark.parametrize("case", ["labels", "zenodo"])
def test_a_record_with_mismatched_provenance_is_refused(built_images, publish, serve, case) -> None:
    image = built_images["hello"]
    other = "0" * 40
    if case == "labels":  # metadata file and Zenodo name another commit than the image's labels
        record = publish(image.archive, claim_commit=other)
    else:  # the Zenodo record's source link names another commit than the metadata file and labels
        record = publish(image.archive, zenodo_commit=other)
    ref = f"{serve.host}/records/{record.id}:latest"
    resp = requests.get(f"{serve.url}/v2/records/{record.id}/manifests/latest", timeout=60)
    assert resp.status_code == 403
    [err] = _errors(resp)
    assert err["code"] == "DENIED" and "check provenance failed" in err["message"], err
    assert "commit" in err["detail"] and other in err["detail"]
    assert f"record {record.id} refused: check provenance failed" in serve.log()
    pulled = run(["docker", "pull", ref])
    assert pulled.returncode != 0 and "provenance" in pulled.stderr, pulled.stderr
    print(f"docker pull of a record with mismatched provenance ({case}):", pulled.stderr.strip())
    assert not (serve.cache / "records" / str(record.id)).exists()


def test_a_restricted_record_is_refused_even_with_a_token(publish, client, serve, tmp_path: Path) -> None:
    from fetch.records import image_files, zenodo_metadata

    files = image_files(tmp_path / "src")
    meta = zenodo_metadata(
        title="Restricted image", version="1.0.0", repository="https://github.com/a/b", commit="1" * 40
    )
    meta["access_right"] = "restricted"
    meta["access_conditions"] = "ask"
    dep = client.create_deposition(meta)
    from fetch.records import upload_all

    upload_all(client, dep, files)
    record = client.get_record(client.publish(dep.id).id)
    resp = requests.get(f"{serve.url}/v2/records/{record.id}/manifests/latest", timeout=30)
    assert resp.status_code == 403
    [err] = _errors(resp)
    assert err["code"] == "DENIED" and "restricted" in err["message"], err


def test_push_delete_and_upload_get_405_unsupported(serve) -> None:
    base = f"{serve.url}/v2/records/1"
    calls = [
        ("PUT", f"{base}/manifests/latest"),
        ("DELETE", f"{base}/manifests/latest"),
        ("DELETE", f"{base}/blobs/sha256:{'a' * 64}"),
        ("POST", f"{base}/blobs/uploads/"),
        ("PATCH", f"{base}/blobs/uploads/abc"),
        ("PUT", f"{base}/blobs/uploads/abc?digest=sha256:{'a' * 64}"),
        ("GET", f"{base}/blobs/uploads/abc"),
        ("DELETE", f"{base}/blobs/uploads/abc"),
        ("GET", f"{serve.url}/v2/_catalog"),
    ]
    for method, url in calls:
        resp = requests.request(method, url, data=b"x" if method in ("PUT", "PATCH") else None, timeout=10)
        assert resp.status_code == 405, (method, url, resp.status_code)
        assert _errors(resp)[0]["code"] == "UNSUPPORTED", (method, url)


@pytest.mark.docker
def test_docker_push_is_refused(built_images, serve) -> None:
    ref = f"{serve.host}/records/1:pushed"
    assert run(["docker", "tag", built_images["hello"].ref, ref]).returncode == 0
    serve.images.append(ref)
    pushed = run(["docker", "push", ref])
    assert pushed.returncode != 0, pushed.stdout
    print("docker push:", (pushed.stdout + pushed.stderr).strip())
    assert (
        "read-only" in pushed.stdout + pushed.stderr
        or "unsupported" in (pushed.stdout + pushed.stderr).lower()
    )


def test_names_and_references_follow_the_spec(publish, serve, tmp_path: Path) -> None:
    from fetch.records import image_files

    record = publish.raw(image_files(tmp_path / "src"))
    v2 = serve.url + "/v2"
    cases = [
        (f"{v2}/records/../1/manifests/latest", 400, "NAME_INVALID"),
        (f"{v2}/records/a..b/manifests/latest", 400, "NAME_INVALID"),
        (f"{v2}/DOI/10.5072/zenodo.1/manifests/latest", 400, "NAME_INVALID"),
        (f"{v2}/Records/{record.id}/manifests/latest", 400, "NAME_INVALID"),
        (f"{v2}/library/busybox/manifests/latest", 404, "NAME_UNKNOWN"),
        (f"{v2}/doi/10.9999/unknown.1/manifests/latest", 404, "NAME_UNKNOWN"),
        (f"{v2}/doi/10.5281/zenodo.{record.id}/manifests/latest", 404, "NAME_UNKNOWN"),  # other prefix
        (f"{v2}/doi/10.5072/zenodo.999999/manifests/latest", 404, "NAME_UNKNOWN"),
        (f"{v2}/records/999999/tags/list", 404, "NAME_UNKNOWN"),
        (f"{v2}/records/{record.id}/manifests/9.9.9", 404, "MANIFEST_UNKNOWN"),
        (f"{v2}/records/{record.id}/manifests/sha256:{'0' * 64}", 404, "MANIFEST_UNKNOWN"),
        (f"{v2}/records/{record.id}/manifests/sha256:xyz", 400, "DIGEST_INVALID"),
        (f"{v2}/records/{record.id}/blobs/sha256:{'0' * 64}", 404, "BLOB_UNKNOWN"),
        (f"{v2}/records/{record.id}/blobs/md5:{'0' * 32}", 400, "DIGEST_INVALID"),
        (f"{v2}/records/{record.id}/blobs/sha256:ABC", 400, "DIGEST_INVALID"),
    ]
    for url, status, code in cases:
        resp_status, body = _raw_get(url)  # the path exactly as written (requests would drop the '..')
        assert resp_status == status, (url, resp_status, body)
        assert json.loads(body)["errors"][0]["code"] == code, (url, body)
        head = requests.head(url, timeout=30)
        if "/../" not in url:
            assert head.status_code == status and head.content == b"", url
    # what the clients print for the same names (docker refuses uppercase and '..' itself)
    for name in (f"records/{record.id}/../x", "Records/1", "doi/10.9999/unknown.1"):
        pulled = run(["docker", "pull", f"{serve.host}/{name}:latest"]) if _has_docker() else None
        if pulled is not None:
            assert pulled.returncode != 0
            print(f"docker pull {name}:", pulled.stderr.strip())


def _raw_get(url: str) -> tuple[int, bytes]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        conn.request("GET", parts.path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _has_docker() -> bool:
    import os

    return bool(os.environ.get("DOCKER_HOST"))


def test_protocol_details(publish, serve, tmp_path: Path) -> None:
    """Headers, HEAD, Accept negotiation, Range, tags pagination, byte-stable manifests."""
    from fetch.records import image_files

    record = publish.raw(image_files(tmp_path / "src"))
    base = f"{serve.url}/v2/records/{record.id}"
    root = requests.get(f"{serve.url}/v2/", timeout=10)
    assert root.status_code == 200 and root.headers["Docker-Distribution-API-Version"] == "registry/2.0"

    got = requests.get(f"{base}/manifests/latest", headers={"Accept": OCI}, timeout=60)
    assert got.status_code == 200, got.text
    digest = got.headers["Docker-Content-Digest"]
    assert got.headers["Content-Type"] == json.loads(got.content)["mediaType"]
    assert int(got.headers["Content-Length"]) == len(got.content)
    import hashlib

    assert digest == "sha256:" + hashlib.sha256(got.content).hexdigest()
    head = requests.head(f"{base}/manifests/latest", headers={"Accept": OCI}, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.headers["Content-Length"] == got.headers["Content-Length"]
    by_digest = requests.get(f"{base}/manifests/{digest}", timeout=10)
    assert by_digest.content == got.content

    manifest = json.loads(got.content)
    layer = manifest["layers"][0]
    blob = requests.get(f"{base}/blobs/{layer['digest']}", timeout=10)
    assert blob.status_code == 200 and len(blob.content) == layer["size"]
    assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == layer["digest"]
    assert blob.headers["Docker-Content-Digest"] == layer["digest"]
    part = requests.get(f"{base}/blobs/{layer['digest']}", headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206 and part.content == blob.content[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{layer['size']}"
    tail = requests.get(f"{base}/blobs/{layer['digest']}", headers={"Range": "bytes=-10"}, timeout=10)
    assert tail.status_code == 206 and tail.content == blob.content[-10:]
    bad = requests.get(
        f"{base}/blobs/{layer['digest']}", headers={"Range": f"bytes={layer['size']}-"}, timeout=10
    )
    assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{layer['size']}"
    config = requests.get(f"{base}/blobs/{manifest['config']['digest']}", timeout=10)
    assert "sha256:" + hashlib.sha256(config.content).hexdigest() == manifest["config"]["digest"]

    # the same bytes from another instance of serve with its own cache
    from serve.conftest import start_serve, stop_serve

    other = start_serve(publish.standin.api_url, tmp_path / "cache2", tmp_path / "serve2.log")
    try:
        again = requests.get(
            f"{other.url}/v2/records/{record.id}/manifests/latest", headers={"Accept": OCI}, timeout=60
        )
        assert again.content == got.content and again.headers["Docker-Content-Digest"] == digest
    finally:
        stop_serve(other)


@pytest.mark.docker
def test_docker_schema2_and_oci_for_a_docker_archive(built_images, publish, serve) -> None:
    archive = built_images["layers"].archive  # `docker save` of Docker 20.10: the legacy layout
    record = publish(archive)
    base = f"{serve.url}/v2/records/{record.id}"
    oci = requests.get(f"{base}/manifests/latest", headers={"Accept": OCI}, timeout=60)
    docker = requests.get(f"{base}/manifests/latest", headers={"Accept": DOCKER}, timeout=60)
    both = requests.get(f"{base}/manifests/latest", headers={"Accept": f"{DOCKER}, {OCI}"}, timeout=60)
    assert oci.headers["Content-Type"] == OCI and json.loads(oci.content)["mediaType"] == OCI
    assert docker.headers["Content-Type"] == DOCKER and json.loads(docker.content)["mediaType"] == DOCKER
    assert both.headers["Content-Type"] == OCI
    assert json.loads(oci.content)["config"]["digest"] == json.loads(docker.content)["config"]["digest"]
    for resp in (oci, docker):  # each is reachable by its own digest
        again = requests.get(f"{base}/manifests/{resp.headers['Docker-Content-Digest']}", timeout=10)
        assert again.content == resp.content and again.headers["Content-Type"] == resp.headers["Content-Type"]


def test_tags_list_pagination(publish, serve, tmp_path: Path) -> None:
    from fetch.records import image_files

    first = publish.raw(image_files(tmp_path / "v1", version="1.0.0"))
    second = publish.raw(image_files(tmp_path / "v2", version="1.1.0"), after=first, version="1.1.0")
    third = publish.raw(image_files(tmp_path / "v3", version="2.0.0"), after=second, version="2.0.0")
    name = f"doi/{third.conceptdoi}"
    url = f"{serve.url}/v2/{name}/tags/list"
    assert requests.get(url, timeout=30).json() == {
        "name": name,
        "tags": ["1.0.0", "1.1.0", "2.0.0", "latest"],
    }
    page = requests.get(url, params={"n": 2}, timeout=30)
    assert page.json()["tags"] == ["1.0.0", "1.1.0"]
    assert page.headers["Link"] == f'</v2/{name}/tags/list?n=2&last=1.1.0>; rel="next"'
    page2 = requests.get(url, params={"n": 2, "last": "1.1.0"}, timeout=30)
    assert page2.json()["tags"] == ["2.0.0", "latest"] and "Link" not in page2.headers


def test_a_record_without_image_metadata_file_is_refused_without_a_download(
    publish, serve, counting, tmp_path: Path
) -> None:
    from fetch.records import image_files
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY

    files = image_files(tmp_path / "src")
    del files[IMAGE_RECORD_KEY]
    record = publish.raw(files)
    resp = requests.get(f"{serve.url}/v2/records/{record.id}/manifests/latest", timeout=30)
    assert resp.status_code == 403
    [err] = _errors(resp)
    assert err["code"] == "DENIED" and IMAGE_RECORD_KEY in err["message"], err
    assert counting.count(rf"/records/{record.id}/files/") == 0  # nothing was downloaded


def test_zenodo_unreachable_is_503_unavailable(tmp_path: Path) -> None:
    import socket

    from serve.conftest import start_serve, stop_serve

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    server = start_serve(f"http://127.0.0.1:{dead}/api", tmp_path / "cache", tmp_path / "serve.log")
    try:
        resp = requests.get(f"{server.url}/v2/records/1/manifests/latest", timeout=120)
        assert resp.status_code == 503, resp.text
        [err] = _errors(resp)
        assert err["code"] == "UNAVAILABLE" and resp.headers["Retry-After"] == "30"
    finally:
        stop_serve(server)
