"""The client against the local stand-in over real HTTP: every flow of the deposit and records APIs."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
import requests

from ossr_images.standin.faults import DropResponse, Faults
from ossr_images.zenodo.client import USER_AGENT, ZenodoClient
from ossr_images.zenodo.errors import ZenodoError, ZenodoIntegrityError
from ossr_images.zenodo.target import Target

from .conftest import METADATA, TOKEN, fast_retry, make_published


def test_create_upload_publish_read_download(client: ZenodoClient, tmp_path: Path) -> None:
    dep = client.create_deposition(METADATA)
    assert dep.state == "unsubmitted" and dep.submitted is False
    raw = client.request_json("GET", f"/deposit/depositions/{dep.id}")  # the JSON as the stand-in sends it
    assert "doi" not in raw and dep.doi is None
    assert raw["metadata"]["prereserve_doi"] == {"doi": f"10.5281/zenodo.{dep.id}", "recid": dep.id}
    assert int(dep.conceptrecid) == dep.id - 1
    image = os.urandom(3 * 1024 * 1024 + 17)
    seen: list[int] = []
    up = client.upload_file(dep.bucket_url, "image.tar", io.BytesIO(image), len(image), progress=seen.append)
    assert up.md5 == hashlib.md5(image).hexdigest()  # noqa: S324
    assert up.sha256 == hashlib.sha256(image).hexdigest()
    assert up.size == len(image) == sum(seen)
    assert up.response["checksum"] == f"md5:{up.md5}"
    client.upload_file(dep.bucket_url, "codemeta.json", io.BytesIO(b"{}"), 2)
    files = client.list_files(dep.id)
    assert sorted(f.key for f in files) == ["codemeta.json", "image.tar"]
    assert {f.key: f.md5 for f in files}["image.tar"] == up.md5

    updated = client.update_deposition(dep.id, {**METADATA, "title": "Example image, renamed"})
    assert updated.title == "Example image, renamed"

    pub = client.publish(dep.id)
    assert pub.state == "done" and pub.submitted is True
    assert pub.doi == f"10.5072/zenodo.{dep.id}"
    assert pub.conceptdoi == f"10.5072/zenodo.{dep.conceptrecid}"
    rec = client.get_record(dep.id)
    assert rec.raw["doi_url"] == f"https://handle.test.datacite.org/{pub.doi}"
    assert rec.raw["id"] == dep.id and rec.raw["status"] == "published"
    assert rec.raw["metadata"]["resource_type"]["type"] == "software"
    assert rec.raw["metadata"]["license"] == {"id": "mit-license"}  # what Zenodo reads back for MIT
    raw_entry = next(f for f in rec.raw["files"] if f["key"] == "image.tar")
    assert raw_entry["checksum"] == f"md5:{up.md5}" and raw_entry["size"] == len(image)
    entry = rec.file("image.tar")
    assert entry.md5 == up.md5 and entry.size == len(image)
    assert entry.url == f"{client.api_url}/records/{dep.id}/files/image.tar/content"

    out = client.download_file(entry.url, tmp_path / "image.tar", size=entry.size, md5=entry.md5)
    assert out.path.read_bytes() == image and out.sha256 == up.sha256
    assert not (tmp_path / "image.tar.part").exists()


def test_concept_id_resolves_to_latest_version(client: ZenodoClient) -> None:
    v1 = make_published(client, files={"image.tar": b"one"})
    assert client.get_record(v1.conceptrecid).id == str(v1.id)
    draft = client.new_version(v1.id)
    assert draft.id != v1.id and draft.state == "unsubmitted"
    assert draft.conceptrecid == v1.conceptrecid
    assert [f.key for f in draft.files] == ["image.tar"]  # previous files imported
    draft_json = client.request_json("GET", f"/deposit/depositions/{draft.id}")
    assert "version" not in draft_json["metadata"] and "doi" not in draft_json
    # the same draft again (found through links.latest_draft, no second POST)
    assert client.new_version(v1.id).id == draft.id
    assert client.get_deposition(v1.id).latest_draft_url.endswith(f"/{draft.id}")

    client.delete_file(draft.id, draft.files[0].id)
    assert client.list_files(draft.id) == []
    client.upload_file(draft.bucket_url, "image.tar", io.BytesIO(b"two"), 3)
    client.update_deposition(draft.id, {**draft_json["metadata"], "version": "2.0.0"})
    v2 = client.publish(draft.id)
    assert v2.conceptdoi == v1.conceptdoi and v2.doi != v1.doi

    latest = client.get_record(v1.conceptrecid)
    assert latest.id == str(v2.id)
    assert latest.raw["metadata"]["relations"]["version"][0] == {
        "index": 1, "is_last": True, "parent": {"pid_type": "recid", "pid_value": v1.conceptrecid},
    }  # fmt: skip
    assert client.get_record(v1.id).raw["metadata"]["relations"]["version"][0]["is_last"] is False
    # search: latest versions only, unless all_versions
    found = [r.id for r in client.search_records(f"conceptrecid:{v1.conceptrecid}")]
    assert found == [str(v2.id)]
    found_all = sorted(
        r.id for r in client.search_records(f"conceptrecid:{v1.conceptrecid}", all_versions=True)
    )
    assert found_all == sorted([str(v1.id), str(v2.id)])
    by_doi = list(client.search_records(f'doi:"{v1.doi}"', all_versions=True))
    assert [r.id for r in by_doi] == [str(v1.id)]
    by_concept_doi = list(client.search_records(f'conceptdoi:"{v1.conceptdoi}"'))
    assert [r.id for r in by_concept_doi] == [str(v2.id)]


def test_newversion_with_files_present_is_refused(client: ZenodoClient) -> None:
    v1 = make_published(client)
    client.new_version(v1.id)
    with pytest.raises(ZenodoError) as info:
        client.request_json("POST", f"/deposit/depositions/{v1.id}/actions/newversion", expected=(201,))
    assert info.value.status == 400
    assert info.value.field_errors == [("files.enabled", ["Please remove all files first."])]


def test_newversion_of_concept_id_is_404(client: ZenodoClient) -> None:
    v1 = make_published(client)
    with pytest.raises(ZenodoError) as info:
        client.request_json(
            "POST", f"/deposit/depositions/{v1.conceptrecid}/actions/newversion", expected=(201,)
        )
    assert info.value.status == 404


def test_publish_refuses_incomplete_draft(client: ZenodoClient) -> None:
    dep = client.create_deposition({"title": "ab"})
    with pytest.raises(ZenodoError) as info:
        client.publish(dep.id)
    err = info.value
    assert err.status == 400 and "A validation error occurred." in err.message
    fields = dict(err.field_errors)
    assert fields["metadata.title"] == ["Shorter than minimum length 3."]
    assert fields["metadata.creators"] == ["Missing data for required field."]
    assert fields["metadata.resource_type"] == ["Missing data for required field."]
    assert "Missing uploaded files" in fields["files.enabled"][0]
    assert client.get_deposition(dep.id).state == "unsubmitted"


def test_metadata_validation_on_update(client: ZenodoClient) -> None:
    dep = client.create_deposition()
    with pytest.raises(ZenodoError) as info:
        client.update_deposition(dep.id, {**METADATA, "license": "not-a-licence"})
    assert info.value.field_errors == [("metadata.license", ["Invalid license provided: not-a-licence"])]
    with pytest.raises(ZenodoError) as info:
        client.update_deposition(dep.id, {**METADATA, "communities": ["escape2020"]})
    assert info.value.field_errors[0][0] == "metadata.communities"
    # unknown keys inside metadata are dropped silently, like Zenodo-RDM
    client.update_deposition(dep.id, {**METADATA, "no_such_field": 1})
    assert "no_such_field" not in client.request_json("GET", f"/deposit/depositions/{dep.id}")["metadata"]


def test_published_records_are_immutable(client: ZenodoClient) -> None:
    pub = make_published(client)
    for call in (
        lambda: client.update_deposition(pub.id, METADATA),
        lambda: client.delete_deposition(pub.id),
        lambda: client.publish(pub.id),
    ):
        with pytest.raises(ZenodoError) as info:
            call()
        assert info.value.status == 404
    bucket = client.get_deposition(pub.id).bucket_url
    with pytest.raises(ZenodoError) as info:
        client.upload_file(bucket, "more.bin", io.BytesIO(b"x"), 1)
    assert info.value.status == 403


def test_edit_discard_and_republish(client: ZenodoClient) -> None:
    pub = make_published(client)
    edited = client.edit(pub.id)
    assert edited.state == "inprogress"
    client.update_deposition(pub.id, {**METADATA, "title": "A better title"})
    client.discard(pub.id)
    after = client.get_deposition(pub.id)
    assert after.state == "done" and after.title == METADATA["title"]
    client.edit(pub.id)
    client.update_deposition(pub.id, {**METADATA, "title": "A better title"})
    again = client.publish(pub.id)
    assert again.doi == pub.doi
    rec = client.get_record(pub.id)
    assert rec.title == "A better title" and rec.raw["revision"] == 2


def test_delete_draft(client: ZenodoClient) -> None:
    dep = client.create_deposition(METADATA)
    client.upload_file(dep.bucket_url, "a.bin", io.BytesIO(b"abc"), 3)
    client.delete_deposition(dep.id)
    with pytest.raises(ZenodoError) as info:
        client.get_deposition(dep.id)
    assert info.value.status == 404 and "does not exist" in info.value.message


def test_list_depositions_filters_and_pages(client: ZenodoClient) -> None:
    pub = make_published(client, title="Published one")
    drafts = [client.create_deposition({**METADATA, "title": f"Draft {i}"}).id for i in range(5)]
    everything = list(client.list_depositions(size=2))
    assert sorted(d.id for d in everything) == sorted([pub.id, *drafts])
    assert [d.id for d in everything] == sorted((d.id for d in everything), reverse=True)  # mostrecent
    assert sorted(d.id for d in client.list_depositions(status="draft", size=2)) == sorted(drafts)
    assert [d.id for d in client.list_depositions(status="published")] == [pub.id]
    assert [d.id for d in client.list_depositions(q='title:"Draft 3"')] == [drafts[3]]


def test_search_pagination_to_the_end(client: ZenodoClient, anon_client: ZenodoClient) -> None:
    ids = {str(make_published(client, title=f"Image number {i}", files={"f": b"x"}).id) for i in range(31)}
    make_published(client, title="Something else", files={"f": b"y"}, keywords=["other"],
                   communities=[{"identifier": "another"}])  # fmt: skip
    found = [r.id for r in client.search_records("number", size=7)]
    assert len(found) == len(set(found)) == 31 and set(found) == ids
    anon = [r.id for r in anon_client.search_records("image", communities="escape2020")]
    assert set(anon) == ids  # 25 per page without a token: two pages
    assert [r.title for r in anon_client.search_records(communities=["another"])] == ["Something else"]
    assert len(list(client.search_records(max_results=5))) == 5


def test_download_resumes_from_part(client: ZenodoClient, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    pub = make_published(client, files={"big.bin": data})
    entry = client.get_record(pub.id).files[0]
    dest = tmp_path / "big.bin"
    half = len(data) // 2
    (tmp_path / "big.bin.part").write_bytes(data[:half])
    got: list[int] = []
    result = client.download_file(entry.url, dest, size=len(data), md5=entry.md5, progress=got.append)
    assert sum(got) == len(data) - half  # only the missing half travelled
    assert dest.read_bytes() == data and result.md5 == hashlib.md5(data).hexdigest()  # noqa: S324


def test_download_part_too_long_or_complete(client: ZenodoClient, tmp_path: Path) -> None:
    data = os.urandom(10_000)
    pub = make_published(client, files={"f.bin": data})
    entry = client.get_record(pub.id).files[0]
    (tmp_path / "f.bin.part").write_bytes(data + b"junk")
    assert client.download_file(entry.url, tmp_path / "f.bin", size=len(data)).path.read_bytes() == data
    (tmp_path / "g.bin.part").write_bytes(data)  # already complete: verified, no request needed
    assert client.download_file(entry.url, tmp_path / "g.bin", size=len(data), md5=entry.md5).size == len(
        data
    )
    # a part longer than the file but size unknown: the server's 416 makes the client start again
    (tmp_path / "h.bin.part").write_bytes(data + b"junk")
    assert client.download_file(entry.url, tmp_path / "h.bin", md5=entry.md5).size == len(data)


def test_download_md5_mismatch_deletes_part(client: ZenodoClient, tmp_path: Path) -> None:
    data = os.urandom(50_000)
    pub = make_published(client, files={"f.bin": data})
    entry = client.get_record(pub.id).files[0]
    (tmp_path / "f.bin.part").write_bytes(b"\0" * 1000)  # wrong first bytes: the resumed file cannot match
    with pytest.raises(ZenodoIntegrityError) as info:
        client.download_file(entry.url, tmp_path / "f.bin", size=len(data), md5=entry.md5)
    assert "md5" in info.value.message and info.value.exit_code == 3
    assert not (tmp_path / "f.bin.part").exists() and not (tmp_path / "f.bin").exists()
    # the re-run succeeds
    assert client.download_file(entry.url, tmp_path / "f.bin", size=len(data), md5=entry.md5).size == len(
        data
    )


def test_download_resumes_after_a_cut(standin, client: ZenodoClient, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024)

    class CutOnce(Faults):
        done = False

        def download_cut(self, request, size):
            if not self.done:
                self.done = True
                return 1024 * 1024
            return None

    pub = make_published(client, files={"f.bin": data})
    entry = client.get_record(pub.id).files[0]
    standin.faults = CutOnce()
    result = client.download_file(entry.url, tmp_path / "f.bin", size=len(data), md5=entry.md5)
    assert result.size == len(data) and (tmp_path / "f.bin").read_bytes() == data


def test_wrong_md5_from_server_is_an_integrity_error(standin, client: ZenodoClient) -> None:
    class WrongMd5(Faults):
        def after(self, request, status, body):
            if request.route == "bucket_put" and status == 201:
                return status, {**body, "checksum": "md5:" + "0" * 32}
            return None

    dep = client.create_deposition(METADATA)
    standin.faults = WrongMd5()
    with pytest.raises(ZenodoIntegrityError) as info:
        client.upload_file(dep.bucket_url, "x.bin", io.BytesIO(b"hello"), 5)
    assert "0" * 32 in info.value.message and "5d41402abc4b2a76b9719d911017c592" in info.value.message


def test_lost_publish_answer_is_checked_not_repeated(standin, client: ZenodoClient) -> None:
    calls: list[str] = []

    class LosePublishAnswer(Faults):
        def after(self, request, status, body):
            if request.route == "dep_action" and request.path.endswith("/publish"):
                calls.append(request.path)
                raise DropResponse()  # the record IS published; only the answer is lost
            return None

    dep = client.create_deposition(METADATA)
    client.upload_file(dep.bucket_url, "x.bin", io.BytesIO(b"hello"), 5)
    standin.faults = LosePublishAnswer()
    pub = client.publish(dep.id)
    assert pub.state == "done" and pub.doi.endswith(f".{dep.id}")
    assert len(calls) == 1  # checked with a GET, not posted again


def test_upload_retried_after_connection_reset(standin, client: ZenodoClient) -> None:
    class ResetOnce(Faults):
        cuts = 0

        def upload_cut(self, request, size):
            if self.cuts == 0:
                self.cuts += 1
                return 100_000
            return None

    data = os.urandom(1_000_000)
    dep = client.create_deposition(METADATA)
    standin.faults = ResetOnce()
    seen: list[int] = []
    up = client.upload_file(dep.bucket_url, "x.bin", io.BytesIO(data), len(data), progress=seen.append)
    assert sum(seen) == len(data)  # the repeated PUT does not count bytes twice
    assert up.md5 == hashlib.md5(data).hexdigest()  # noqa: S324
    assert [f.size for f in client.list_files(dep.id)] == [len(data)]


def test_auth_errors(standin, anon_client: ZenodoClient) -> None:
    with pytest.raises(ZenodoError) as info:
        anon_client.create_deposition(METADATA)
    assert info.value.status == 401 and "could not verify" in info.value.message
    assert "ZENODO_TOKEN" in info.value.hint
    wrong = ZenodoClient(Target("custom", standin.api_url, "wrong-token", None), retry=fast_retry())
    with pytest.raises(ZenodoError) as info:
        list(wrong.list_depositions())
    assert info.value.status == 403 and "Permission denied." in info.value.message
    assert "wrong-token" not in str(info.value) + info.value.hint


def test_unknown_record_is_404(anon_client: ZenodoClient) -> None:
    with pytest.raises(ZenodoError) as info:
        anon_client.get_record(999999)
    assert info.value.status == 404 and info.value.is_not_found


def test_user_agent_and_header_only_token(standin, client: ZenodoClient) -> None:
    seen = {}

    class Spy(Faults):
        def before(self, request):
            h = request.handler
            seen.update(ua=h.headers.get("User-Agent"), auth=h.headers.get("Authorization"), path=h.path)
            return False

    standin.faults = Spy()
    client.create_deposition()
    assert seen["ua"] == USER_AGENT and USER_AGENT.startswith("ossr-images/")
    assert seen["auth"] == f"Bearer {TOKEN}" and "access_token" not in seen["path"]


def test_no_token_to_other_hosts(standin, client: ZenodoClient) -> None:
    # the same server under another name is another host: the token is not sent there
    pub = make_published(client)
    other = f"http://localhost:{standin.port}/api/records/{pub.id}"
    assert client.transport.auth_headers(other) == {}
    assert client.transport.auth_headers(f"{standin.api_url}/records/1") == {
        "Authorization": f"Bearer {TOKEN}"
    }


def test_client_refuses_plain_http_to_remote_host() -> None:
    from ossr_images.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="http://zenodo.example.org/api"):
        ZenodoClient(Target("custom", "http://zenodo.example.org/api", TOKEN, None))
    ZenodoClient(
        Target("custom", "http://zenodo.example.org/api", TOKEN, None, allow_insecure_http=True)
    ).close()


def test_access_token_query_is_accepted_by_standin(standin) -> None:
    # other clients (eossr, zenodo_get) use ?access_token=; ossr-images never does
    r = requests.get(f"{standin.api_url}/deposit/depositions", params={"access_token": TOKEN}, timeout=10)
    assert r.status_code == 200 and r.json() == []


def test_source_shorter_than_declared_is_refused_once(standin, client: ZenodoClient) -> None:
    from ossr_images.errors import InvalidInputError

    puts: list[str] = []

    class Count(Faults):
        def before(self, request):
            if request.route == "bucket_put":
                puts.append(request.path)
            return False

    dep = client.create_deposition(METADATA)
    standin.faults = Count()
    with pytest.raises(InvalidInputError) as info:
        client.upload_file(dep.bucket_url, "short.bin", io.BytesIO(b"abc"), 10)
    assert "ended after 3 of 10 bytes" in info.value.message
    assert len(puts) <= 1  # not retried (the server may not even see the aborted request)
    assert client.list_files(dep.id) == []


def test_deleting_an_imported_file_keeps_the_published_one(client: ZenodoClient, tmp_path: Path) -> None:
    v1 = make_published(client, files={"image.tar": b"version one"})
    draft = client.new_version(v1.id)
    client.delete_file(draft.id, draft.files[0].id)
    client.delete_deposition(draft.id)
    entry = client.get_record(v1.id).files[0]
    out = client.download_file(entry.url, tmp_path / "image.tar", size=entry.size, md5=entry.md5)
    assert out.path.read_bytes() == b"version one"
    # the concept has no draft any more: a new version can be made again
    assert client.new_version(v1.id).files[0].key == "image.tar"


def test_upload_sends_content_length_in_big_chunks(standin, client: ZenodoClient) -> None:
    seen: dict[str, str | None] = {}
    reads: list[int] = []

    class Source(io.BytesIO):
        def readinto(self, buffer):  # type: ignore[override]
            got = super().readinto(buffer)
            reads.append(got)
            return got

    class Headers(Faults):
        def before(self, request):
            if request.route == "bucket_put":
                h = request.handler.headers
                seen.update(length=h.get("Content-Length"), te=h.get("Transfer-Encoding"))
            return False

    standin.faults = Headers()
    size = 9 * 1024 * 1024 + 3
    data = os.urandom(size)
    dep = client.create_deposition()
    res = client.upload_file(dep.bucket_url, "big.bin", Source(data), size)
    assert seen == {"length": str(size), "te": None}  # Content-Length, never chunked
    assert max(reads) == client.chunk_size and len(reads) <= 5  # 4 MiB reads, not urllib3's 16 KiB
    assert (res.md5, res.sha256) == (hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
