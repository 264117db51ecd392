"""`ossr-images publish` on InvenioRDM's native API, end to end through the CLI against the stand-in over HTTP:
the record's RDM metadata, new versions with files-import (only changed files uploaded), community review
requests (submitted, found again, accepted, declined), a crash after the submission, and `--api rdm` against
the Zenodo surface (one store: the legacy API shows the same record)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from tests.helpers.clients import target_for

from conftest import GUEST_TOKEN, TEST_TOKEN, start_standin
from ossr_images.cli import main
from ossr_images.images.synth import write_docker_archive
from ossr_images.metadata.image_record import IMAGE_KEYWORD, IMAGE_RECORD_KEY
from ossr_images.workflows import publish as wf
from ossr_images.workflows.publish_options import PublishOptions
from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.rdm_client import RdmClient

from .conftest import Project

NATIVE = "application/vnd.inveniordm.v1+json"


@pytest.fixture
def rdm(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """A plain InvenioRDM stand-in (native API only) and the CLI pointed at it with --api rdm's environment
    variable, publishing as a guest (a member of no community: its submissions to escape2020 wait for the
    curators)."""
    with start_standin(tmp_path_factory, "rdm") as server:
        server.backend, server.client_token = "rdm", GUEST_TOKEN
        monkeypatch.setenv("OSSR_IMAGES_ZENODO_URL", server.api_url)
        monkeypatch.setenv("ZENODO_TOKEN", GUEST_TOKEN)
        monkeypatch.setenv("OSSR_IMAGES_API", "rdm")
        yield server


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def publish(project: Project, image: Path, *extra: str):
    res = run(
        "publish",
        str(image),
        "--codemeta",
        str(project.codemeta),
        "--repo",
        str(project.path),
        "--json",
        *extra,
    )
    return res, (json.loads(res.stdout) if res.stdout.strip() else {})


def native(server, path: str) -> dict:
    """A record (or any API path) as native JSON, read with the native Accept."""
    resp = requests.get(
        f"{server.api_url}{path}",
        headers={"Accept": NATIVE, "Authorization": f"Bearer {GUEST_TOKEN}"},
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json()


def requests_of(server) -> list[dict]:
    return list(server.store.state.get("requests", {}).values())


def test_publish_writes_the_rdm_schema(rdm, project: Project):
    image = project.image()
    res, doc = publish(project, image, "--no-community")
    assert res.exit_code == 0, res.output
    assert (doc["state"], doc["api"], doc["review"]) == ("published", "rdm", None)
    rec = native(rdm, f"/records/{doc['record_id']}")
    assert rec["is_published"] and rec["pids"]["doi"]["identifier"] == doc["doi"] == f"10.5072/{rec['id']}"
    md = rec["metadata"]
    assert md["resource_type"] == {"id": "software"}
    assert md["title"].startswith("hello-publish") and md["version"] == "1.0.0"
    creator = md["creators"][0]
    assert creator["person_or_org"]["type"] == "personal"
    assert (creator["person_or_org"]["family_name"], creator["person_or_org"]["given_name"]) == (
        "Lovelace",
        "Ada",
    )
    assert creator["affiliations"] == [{"name": "Analytical Engines"}]
    assert md["rights"][0]["id"] == "mit"
    subjects = [s["subject"] for s in md["subjects"]]
    assert IMAGE_KEYWORD in subjects and any(s.startswith("ossr-images:release:") for s in subjects)
    tree = {
        "identifier": f"{project.repository}/tree/{project.commit}",
        "scheme": "url",
        "relation_type": {"id": "isderivedfrom"},
        "resource_type": {"id": "software"},
    }
    assert tree in md["related_identifiers"]
    assert sorted(rec["files"]["entries"]) == sorted([image.name, "codemeta.json", IMAGE_RECORD_KEY])
    assert rec["files"]["entries"][image.name]["size"] == image.stat().st_size


def test_verbose_names_the_api(rdm, project: Project):
    res = run("-v", "publish", str(project.image()), "--codemeta", str(project.codemeta), "--repo",
              str(project.path), "--no-community")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"API: rdm ({rdm.api_url})" in res.stderr


def test_new_version_uploads_only_the_changed_files(rdm, project: Project):
    res, first = publish(project, project.image(), "--no-community")
    assert res.exit_code == 0, res.output
    project.release("1.1.0")
    image2 = project.image()
    before = rdm.bytes_received
    res, second = publish(project, image2)
    assert res.exit_code == 0, res.output
    assert second["state"] == "published"  # a new version needs no review: it is published at once
    # the first version is in no community: the new one is proposed to escape2020 (an inclusion request)
    assert second["review"]["status"] == "submitted"
    assert second["conceptdoi"] == first["conceptdoi"] and second["doi"] != first["doi"]
    # the image, codemeta.json and the image metadata file all changed: exactly their bytes went up
    assert rdm.bytes_received - before == sum(f["size"] for f in second["files"])
    rec = native(rdm, f"/records/{second['record_id']}")
    assert rec["versions"]["index"] == 2 and rec["metadata"]["version"] == "1.1.0"


@pytest.mark.parametrize("which", ["doi", "conceptdoi"])
def test_new_version_of_a_plain_doi(rdm, project: Project, which: str):
    """A plain instance's DOI ({prefix}/{id}) holds no id the client can read: the record is found by a search
    for the DOI, a version's or the concept's."""
    res, first = publish(project, project.image(), "--no-community")
    assert res.exit_code == 0, res.output
    assert first[which].startswith("10.5072/") and "zenodo." not in first[which]
    project.release("2.0.0")
    res, second = publish(project, project.image(), "--new-version-of", first[which])
    assert res.exit_code == 0, res.output
    assert second["state"] == "published"
    assert second["conceptdoi"] == first["conceptdoi"] and second["doi"] != first["doi"]
    assert native(rdm, f"/records/{second['record_id']}")["versions"]["index"] == 2


def test_new_version_of_an_unknown_doi_names_it(rdm, project: Project):
    res, first = publish(project, project.image(), "--no-community")
    assert res.exit_code == 0, res.output
    project.release("2.0.0")
    res, doc = publish(project, project.image(), "--new-version-of", "10.5072/nothing-here")
    assert res.exit_code == 4, res.output
    assert "10.5072/nothing-here" in doc["error"]["message"] and rdm.api_url in doc["error"]["message"]
    assert len(native(rdm, "/user/records")["hits"]["hits"]) == 1  # no draft was made


def test_inclusion_request_for_a_published_record_found_again_then_accepted(rdm, project: Project):
    """A record published outside a community, then published again (the same release) for escape2020: the
    guest's inclusion request waits for the curators (POST /records/{id}/communities), a re-run finds it
    (GET /records/{id}/requests) instead of asking again, and once accepted the record is in the community."""
    image = project.image()
    res, first = publish(project, image, "--no-community")
    assert res.exit_code == 0, res.output
    assert first["review"] is None
    res, again = publish(project, image)
    assert res.exit_code == 0, res.output
    assert (again["state"], again["record_id"]) == ("published", first["record_id"])
    review = again["review"]
    assert review["status"] == "submitted" and review["url"].endswith(review["id"])
    assert "include record" in res.stderr and review["url"] in res.stderr
    inclusions = [r for r in requests_of(rdm) if r["type"] == "community-inclusion"]
    assert [r["id"] for r in inclusions] == [review["id"]]

    res, third = publish(project, image)
    assert res.exit_code == 0, res.output
    assert third["review"] == review  # found again, not asked twice
    assert len([r for r in requests_of(rdm) if r["type"] == "community-inclusion"]) == 1

    rdm.curate(review["id"], "accept")
    escape = native(rdm, "/communities/escape2020")["id"]
    assert native(rdm, f"/records/{first['record_id']}")["parent"]["communities"]["ids"] == [escape]
    res, fourth = publish(project, image)
    assert res.exit_code == 0, res.output
    assert fourth["review"] is None  # in the community: nothing to ask or report
    assert len([r for r in requests_of(rdm) if r["type"] == "community-inclusion"]) == 1


def test_inclusion_by_the_community_owner_is_accepted_at_once(rdm, project: Project, monkeypatch):
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)  # user 1 owns escape2020: it includes directly
    res, first = publish(project, project.image(), "--no-community")
    assert res.exit_code == 0, res.output
    project.release("1.1.0")
    res, second = publish(project, project.image())
    assert res.exit_code == 0, res.output
    assert second["review"]["status"] == "accepted"
    escape = native(rdm, "/communities/escape2020")["id"]
    record = requests.get(
        f"{rdm.api_url}/records/{second['record_id']}",
        headers={"Accept": NATIVE, "Authorization": f"Bearer {TEST_TOKEN}"},
        timeout=10,
    ).json()
    assert record["parent"]["communities"]["ids"] == [escape]


def test_unknown_community_for_a_published_record_names_it(rdm, project: Project):
    image = project.image()
    res, first = publish(project, image, "--no-community")
    assert res.exit_code == 0, res.output
    res, doc = publish(project, image, "--community", "no-such-community")
    assert res.exit_code == 4, res.output
    assert "no-such-community" in doc["error"]["message"] and "--community" in doc["error"]["hint"]


def test_new_version_with_the_same_image_sends_no_image_bytes(rdm, project: Project):
    """Only codemeta.json (and the image metadata file, which names the commit) change: files-import brings
    the image into the new version's draft and it is not uploaded again."""
    image = project.images / "hello.tar.zst"
    write_docker_archive(  # no revision label, so that the same bytes serve two commits (a warning)
        image,
        labels={"org.opencontainers.image.source": project.repository},
        tag="hello-publish:latest",
        files={"app/hello.txt": b"hello\n"},
        compression="zstd",
    )
    res, first = publish(project, image, "--no-community")
    assert res.exit_code == 0, res.output
    assert rdm.bytes_received == sum(f["size"] for f in first["files"])
    project.release("1.0.1")
    before = rdm.bytes_received
    res, second = publish(project, image)
    assert res.exit_code == 0, res.output
    sizes = {f["key"]: f["size"] for f in second["files"]}
    assert rdm.bytes_received - before == sizes["codemeta.json"] + sizes[IMAGE_RECORD_KEY]
    assert "already uploaded" in res.stderr and "Uploading hello.tar.zst" not in res.stderr
    image_entry = native(rdm, f"/records/{second['record_id']}")["files"]["entries"]["hello.tar.zst"]
    assert image_entry["checksum"] == f"md5:{first['files'][0]['md5']}"


def test_community_review_submitted_found_again_then_accepted(rdm, project: Project):
    image = project.image()
    res, first = publish(project, image)
    assert res.exit_code == 0, res.output
    assert first["state"] == "submitted" and first["api"] == "rdm"
    review = first["review"]
    assert review["status"] == "submitted" and review["url"].endswith(review["id"])
    assert "awaits" in res.stderr or "curators" in res.stderr
    assert first["doi"]  # reserved with the draft
    assert [r["status"] for r in requests_of(rdm)] == ["submitted"]

    # a re-run finds the draft by its marker and reports the same request: nothing submitted again
    res, second = publish(project, image)
    assert res.exit_code == 0, res.output
    assert second["state"] == "submitted" and second["review"]["id"] == review["id"]
    assert len(requests_of(rdm)) == 1

    human = run("publish", str(image), "--codemeta", str(project.codemeta), "--repo", str(project.path))
    assert human.exit_code == 0, human.output
    assert "Submitted for review" in human.stdout and review["url"] in human.stdout

    rdm.curate(review["id"], "accept")
    res, third = publish(project, image)
    assert res.exit_code == 0, res.output
    assert third["state"] == "published" and third["doi"] == first["doi"]
    rec = native(rdm, f"/records/{third['record_id']}")
    assert rec["parent"]["communities"]["ids"], "the community holds the record"
    assert len(requests_of(rdm)) == 1


def test_declined_review_is_a_clear_error_then_no_community_publishes(rdm, project: Project):
    image = project.image()
    res, first = publish(project, image)
    assert res.exit_code == 0 and first["state"] == "submitted", res.output
    rdm.curate(first["review"]["id"], "decline")
    res, doc = publish(project, image)
    assert res.exit_code == 4, res.output
    assert "declined" in doc["error"]["message"] and first["review"]["url"] in doc["error"]["message"]
    assert "--no-community" in doc["error"]["hint"]
    res, doc = publish(project, image, "--no-community")
    assert res.exit_code == 0, res.output
    assert doc["state"] == "published" and doc["doi"] == first["doi"]
    assert len(requests_of(rdm)) == 1


class Crash(BaseException):
    """The process dies here."""


def test_crash_after_the_submission_then_rerun_finds_it(rdm, project: Project, monkeypatch):
    image = project.image()
    original = RdmClient.publish

    def dying(self, deposition_id):
        original(self, deposition_id)
        raise Crash("crash after submit-review")

    with monkeypatch.context() as m:
        m.setattr(RdmClient, "publish", dying)
        with pytest.raises(Crash):  # through the workflow: the CLI turns any exception into an exit status
            options = PublishOptions(codemeta=project.codemeta, repo_dir=project.path)
            wf.publish(image, options, target=target_for(rdm))
    res, doc = publish(project, image)
    assert res.exit_code == 0, res.output
    assert doc["state"] == "submitted"
    assert len(requests_of(rdm)) == 1
    with RdmClient(target_for(rdm)) as c:
        assert [d.state for d in c.list_depositions(all_versions=True)] == ["unsubmitted"]


def test_api_rdm_against_the_zenodo_surface(tmp_path_factory, project: Project, monkeypatch):
    """Zenodo serves both APIs over one store: a record published natively is the same deposition, id and DOI,
    through the legacy API."""
    with start_standin(tmp_path_factory, "zenodo") as server:
        monkeypatch.setenv("OSSR_IMAGES_ZENODO_URL", server.api_url)
        monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
        res = run("publish", str(project.image()), "--codemeta", str(project.codemeta), "--repo",
                  str(project.path), "--api", "rdm", "--no-community", "--json")  # fmt: skip
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["api"] == "rdm" and doc["doi"] == f"10.5072/zenodo.{doc['record_id']}"
        server.backend = "legacy"
        with ZenodoClient(target_for(server)) as legacy:
            dep = legacy.get_deposition(doc["record_id"])
            assert (str(dep.id), dep.doi, dep.state) == (doc["record_id"], doc["doi"], "done")
            assert sorted(f.key for f in legacy.list_files(dep.id)) == sorted(f["key"] for f in doc["files"])


class RivalSubmitsAfterLookup:
    """Right after this run's first look at the owner's records, another machine makes a draft of the same
    release and submits it to the community (it did not show in that list)."""

    def __init__(self, server, metadata: dict) -> None:
        self.server, self.metadata = server, metadata
        self.rival_id: str | None = None

    def before(self, request) -> bool:  # noqa: ANN001
        return False

    def upload_cut(self, request, size):  # noqa: ANN001
        return None

    def download_cut(self, request, size):  # noqa: ANN001
        return None

    def after(self, request, status, body):  # noqa: ANN001
        if request.route == "rdm_user_records" and self.rival_id is None:
            self.rival_id = "pending"
            with RdmClient(target_for(self.server)) as c:
                dep = c.create_deposition(metadata=self.metadata)
                c.upload_file(dep.bucket_url, "other.txt", io.BytesIO(b"rival"), 5)
                self.rival_id = str(c.publish(dep.id).id)
        return None


def test_a_rival_submitted_to_the_community_is_reported(rdm, project: Project, monkeypatch):
    """Two machines at once on the native API: the run that steps aside stops waiting when the winner's draft
    is submitted to the community, and reports that request (no second draft, no second request)."""
    from ossr_images.workflows import publish_discovery as pd

    image = project.image()
    plan = wf.prepare(image, codemeta=project.codemeta, repo_dir=project.path)
    rival = RivalSubmitsAfterLookup(rdm, plan.zenodo_metadata)
    rdm.faults = rival
    monkeypatch.setattr(pd, "RIVAL_POLL_SECONDS", (0.2,))
    options = PublishOptions(codemeta=project.codemeta, repo_dir=project.path)
    result = wf.publish(image, options, target=target_for(rdm))
    assert result.state == "submitted" and result.deposition_id == rival.rival_id
    # this run's own request was only created, then taken back with its draft: one request went to curators
    assert sorted(r["status"] for r in requests_of(rdm)) == ["created", "submitted"]
    assert (
        next(r for r in requests_of(rdm) if r["status"] == "submitted")["topic"]["record"]
        == rdm.store_key(rival.rival_id)  # the store's own key (requests_of reads the stand-in's state)
    )
    with RdmClient(target_for(rdm)) as c:
        assert [d.id for d in c.list_depositions(all_versions=True)] == [rival.rival_id]


def test_the_previous_record_is_the_newest_by_creation_when_ids_are_random(project: Project) -> None:
    """InvenioRDM ids ("4d0ns-ntd89") are random: the newest earlier record of the repository is found by its
    creation time, not by the order of its id (Zenodo's numeric ids still order by value)."""
    from ossr_images.workflows.publish_discovery import find_previous
    from ossr_images.zenodo.models import Deposition

    plan = wf.prepare(project.image(), codemeta=project.codemeta, repo_dir=project.path)
    keywords = (IMAGE_KEYWORD, plan.repo_marker)

    def dep(dep_id: int | str, created: str) -> Deposition:
        return Deposition(id=dep_id, record_id=dep_id, state="done", submitted=True, created=created,
                          keywords=keywords)  # fmt: skip

    plain = [dep("zzzzz-00001", "2026-01-01T10:00:00+00:00"), dep("00000-zzzz1", "2026-03-01T10:00:00+00:00"),
             dep("kkkkk-00001", "2026-02-01T10:00:00+00:00")]  # fmt: skip
    found = find_previous(None, plan, plain, None)
    assert found is not None and found.dep.id == "00000-zzzz1"
    zenodo = [dep(9, "2026-01-01T10:00:00+00:00"), dep(12, "2025-01-01T10:00:00+00:00")]
    found = find_previous(None, plan, zenodo, None)
    assert found is not None and found.dep.id == 12
