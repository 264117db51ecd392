"""`ossr-images serve --api auto` in front of a plain InvenioRDM (the stand-in's rdm surface, no deposit API):
serve finds out by itself that it speaks the native API, resolves the repository's own DOIs (``10.5072/<id>``,
no record id of Zenodo's form in them) with a search, and pulls by DOI, concept DOI and version; a record
whose files are restricted is refused from the native access fields. Records are made through the native
routes (`fetch.native_records`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from conftest import start_standin
from fetch.records import COMMIT
from serve.conftest import run, start_serve, stop_serve


@pytest.fixture
def standin(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """A plain InvenioRDM; the test records are made with the rdm backend's client."""
    monkeypatch.setenv("OSSR_IMAGES_API", "rdm")  # for `make_client`; serve itself is given --api auto
    with start_standin(tmp_path_factory, "rdm") as server:
        server.backend = "rdm"
        yield server


@pytest.fixture
def rdm_serve(standin, tmp_path: Path, docker_engine_optional):
    server = start_serve(standin.api_url, tmp_path / "serve-cache", tmp_path / "serve.log", "--api", "auto")
    yield server
    try:
        assert stop_serve(server) in (0, -15), server.log()
    finally:
        if docker_engine_optional is not None:
            for ref in server.images:
                docker_engine_optional.remove(ref, force=True)


@pytest.mark.docker
def test_docker_pull_by_doi_and_concept_doi_from_a_plain_invenio(built_images, publish, rdm_serve) -> None:
    hello, layers = built_images["hello"], built_images["layers"]
    v1 = publish(hello.archive, version="1.0.0")
    v2 = publish(layers.archive, version="2.0.0", after=v1)
    assert v1.doi == f"10.5072/{v1.id}" and v1.conceptdoi == f"10.5072/{v1.conceptrecid}"
    pulled = {}
    for ref in (f"doi/{v1.doi}:latest", f"doi/{v1.conceptdoi}:latest", f"doi/{v1.conceptdoi}:1.0.0"):
        full = f"{rdm_serve.host}/{ref}"
        res = run(["docker", "pull", full])
        assert res.returncode == 0, res.stdout + res.stderr + rdm_serve.log()
        rdm_serve.images.append(full)
        res = run(["docker", "image", "inspect", "--format", "{{.Id}}", full])
        pulled[ref] = res.stdout.strip()
    assert pulled == {
        f"doi/{v1.doi}:latest": hello.image_id,
        f"doi/{v1.conceptdoi}:latest": layers.image_id,  # the concept: its latest version, v2
        f"doi/{v1.conceptdoi}:1.0.0": hello.image_id,
    }
    res = run(["docker", "run", "--rm", "--network", "none", f"{rdm_serve.host}/doi/{v2.doi}:latest"])
    assert res.returncode == 0 and res.stdout.split() == ["layer", "a", "layer", "b"], res.stderr
    # (legacy would have failed: this server has no deposit API and its DOIs hold no Zenodo record id)


@pytest.mark.skopeo
@pytest.mark.docker
def test_skopeo_inspect_by_record_and_a_restricted_record_denied(
    built_images, publish, client, rdm_serve, tmp_path: Path
) -> None:
    from fetch.records import image_files, publish_record

    record = publish(built_images["layers"].archive)
    res = run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{rdm_serve.host}/records/{record.id}:latest"]
    )
    assert res.returncode == 0, res.stderr + rdm_serve.log()
    assert json.loads(res.stdout)["Labels"]["org.opencontainers.image.revision"] == COMMIT

    restricted = publish_record(client, image_files(tmp_path / "src"), access_right="restricted")
    assert restricted.files_access == "restricted"
    resp = requests.get(f"{rdm_serve.url}/v2/doi/{restricted.doi}/manifests/latest", timeout=30)
    assert resp.status_code == 403, resp.text
    [err] = resp.json()["errors"]
    assert err["code"] == "DENIED" and "restricted" in err["message"], err


def test_allow_community_by_slug_matches_native_records_that_list_uuids(
    publish, standin, tmp_path: Path
) -> None:
    """A native record names its communities by uuid only (``parent.communities.ids``): serve reads the slug
    of each once, so `--allow community:escape2020` serves the included record and refuses the other; a
    `records/<id>` name takes the plain instance's base32 id."""
    from fetch.native_records import add_to_community
    from fetch.records import image_files

    included = publish.raw(image_files(tmp_path / "a"))
    other = publish.raw(image_files(tmp_path / "b"))
    add_to_community(standin, included.id, "escape2020")
    native = requests.get(f"{standin.api_url}/records/{included.id}", timeout=10).json()
    escape = requests.get(f"{standin.api_url}/communities/escape2020", timeout=10).json()
    assert native["parent"]["communities"]["ids"] == [escape["id"]]  # the uuid, never the slug
    assert "-" in included.id and not included.id.isdigit()  # "xxxxx-xxxxx"
    server = start_serve(
        standin.api_url, tmp_path / "cache", tmp_path / "serve.log", "--api", "auto",
        "--allow", "community:escape2020",
    )  # fmt: skip
    try:
        for name in (f"records/{included.id}", f"doi/{included.doi}"):
            resp = requests.get(f"{server.url}/v2/{name}/manifests/latest", timeout=60)
            assert resp.status_code == 200, resp.text + server.log()
        assert (server.cache / "records" / included.id / "serve.json").exists()
        resp = requests.get(f"{server.url}/v2/records/{other.id}/manifests/latest", timeout=30)
        assert resp.status_code == 403, resp.text
        err = resp.json()["errors"][0]
        assert err["code"] == "DENIED" and "--allow" in err["message"], err
        bad = requests.get(f"{server.url}/v2/records/{included.id[:-1]}/manifests/latest", timeout=30)
        assert bad.status_code == 404 and bad.json()["errors"][0]["code"] == "NAME_UNKNOWN", bad.text
    finally:
        stop_serve(server)
    assert server.log().count(f"GET {standin.api_url}/communities/{escape['id']} ->") == 1, server.log()
