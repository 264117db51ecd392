"""The stand-in over raw HTTP: Zenodo's answers for auth, content types, limits, search, ranges, chunked
uploads, persistence across restarts and concurrent requests."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from ossr_images.standin.server import LocalZenodo, parse_range, redact

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
META = {
    "title": "A record",
    "upload_type": "software",
    "creators": [{"name": "Doe, Jane"}],
    "description": "Something to find: zebra.",
    "keywords": ["ossr-images:container-image"],
    "communities": [{"identifier": "escape2020"}],
}


def create(api: str, metadata: dict | None = None) -> dict:
    r = requests.post(
        f"{api}/deposit/depositions", json={"metadata": metadata or META}, headers=AUTH, timeout=10
    )
    assert r.status_code == 201, r.text
    return r.json()


def put(bucket: str, key: str, data, **kw) -> requests.Response:
    return requests.put(
        f"{bucket}/{key}", data=data, headers={**AUTH, **kw.pop("headers", {})}, timeout=30, **kw
    )


def publish(api: str, files: dict[str, bytes] | None = None, metadata: dict | None = None) -> dict:
    dep = create(api, metadata)
    for key, data in (files or {"f.bin": b"data"}).items():
        assert put(dep["links"]["bucket"], key, data).status_code == 201
    r = requests.post(f"{api}/deposit/depositions/{dep['id']}/actions/publish", headers=AUTH, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()


def test_anonymous_and_wrong_token(standin) -> None:
    r = requests.get(f"{standin.api_url}/deposit/depositions", timeout=10)
    assert r.status_code == 401 and r.json()["status"] == 401
    assert r.json()["message"].startswith("The server could not verify that you are authorized")
    r = requests.get(
        f"{standin.api_url}/deposit/depositions", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert r.status_code == 403 and r.json() == {"status": 403, "message": "Permission denied."}
    r = requests.put(f"{standin.api_url}/files/whatever/key", data=b"x", timeout=10)
    assert r.status_code == 401  # bucket writes need a token too
    r = requests.get(f"{standin.api_url}/deposit/depositions", params={"access_token": TOKEN}, timeout=10)
    assert r.status_code == 200


def test_records_api_is_public(standin) -> None:
    pub = publish(standin.api_url)
    r = requests.get(f"{standin.api_url}/records/{pub['id']}", timeout=10)
    assert r.status_code == 200 and r.json()["doi"] == pub["doi"]


def test_draft_is_not_a_record(standin) -> None:
    dep = create(standin.api_url)
    r = requests.get(f"{standin.api_url}/records/{dep['id']}", timeout=10)
    assert r.status_code == 404 and r.json()["message"] == "The persistent identifier is not registered."


def test_json_bodies_need_application_json(standin) -> None:
    url = f"{standin.api_url}/deposit/depositions"
    r = requests.post(
        url, data=json.dumps({"metadata": {}}), headers={**AUTH, "Content-Type": "text/plain"}, timeout=10
    )
    assert r.status_code == 415 and r.json()["status"] == 415
    r = requests.post(url, data="{not json", headers={**AUTH, "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["message"] == "Unable to decode JSON data in request body."
    r = requests.post(url, json={"metadata": {}, "files": []}, headers=AUTH, timeout=10)
    assert r.status_code == 400 and r.json()["errors"] == [{"field": "files", "messages": ["Unknown field."]}]
    r = requests.post(url, headers=AUTH, timeout=10)  # no body at all is fine
    assert r.status_code == 201 and r.json()["title"] == ""


def test_bucket_put_content_type(standin) -> None:
    dep = create(standin.api_url)
    r = put(dep["links"]["bucket"], "a.bin", b"abc", headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    r = put(dep["links"]["bucket"], "a.bin", b"abc", headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    body = r.json()
    assert body["checksum"] == "md5:" + hashlib.md5(b"abc").hexdigest()  # noqa: S324
    assert body["size"] == 3 and body["key"] == "a.bin" and body["is_head"] is True
    assert set(body["links"]) == {"self", "version", "uploads"}


def test_bucket_put_overwrites_same_key(standin) -> None:
    dep = create(standin.api_url)
    put(dep["links"]["bucket"], "a.bin", b"first")
    put(dep["links"]["bucket"], "a.bin", b"second!")
    files = requests.get(dep["links"]["files"], headers=AUTH, timeout=10).json()
    assert [(f["filename"], f["filesize"]) for f in files] == [("a.bin", 7)]
    assert len(list((standin.data_dir / "blobs").iterdir())) == 1  # the old blob is gone


def test_unknown_url_and_method(standin) -> None:
    r = requests.get(f"{standin.api_url}/nothing/here", timeout=10)
    assert r.status_code == 404 and r.json()["status"] == 404
    r = requests.delete(f"{standin.api_url}/records", timeout=10)
    assert r.status_code == 405


def test_rate_limit_headers_and_429(tmp_path: Path) -> None:
    with LocalZenodo(tmp_path, tokens=[TOKEN], rate_limit=3) as z:
        answers = [requests.get(f"{z.api_url}/records", timeout=10) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[0].headers["X-RateLimit-Remaining"] == "2"
    assert int(answers[0].headers["X-RateLimit-Reset"]) > time.time() - 1
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    assert answers[3].json()["status"] == 429


def test_quota_and_file_count(tmp_path: Path) -> None:
    with LocalZenodo(tmp_path, tokens=[TOKEN], quota_bytes=1000, max_files=2) as z:
        dep = create(z.api_url)
        bucket = dep["links"]["bucket"]
        r = put(bucket, "big", b"x" * 1001)
        assert r.status_code == 400 and r.json() == {"status": 400, "message": "File size limit exceeded."}
        assert put(bucket, "a", b"x" * 600).status_code == 201
        r = put(bucket, "b", b"x" * 600)
        assert r.status_code == 400 and r.json()["message"] == "Bucket quota exceeded."
        assert put(bucket, "a", b"x" * 900).status_code == 201  # replacing a key frees its size
        assert put(bucket, "b", b"x" * 10).status_code == 201
        r = put(bucket, "c", b"x")
        assert r.status_code == 400
        assert (
            r.json()["message"]
            == "Uploading selected files will result in exceeding the max amount per record."
        )
        assert not list((tmp_path / "tmp").iterdir())


def test_chunked_upload_is_stored_in_full(standin) -> None:
    dep = create(standin.api_url)
    parts = [bytes([i]) * 100_000 for i in range(7)]
    r = put(dep["links"]["bucket"], "chunked.bin", iter(parts))  # a generator: requests sends it chunked
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 201, r.text
    data = b"".join(parts)
    assert r.json()["size"] == len(data)
    assert r.json()["checksum"] == "md5:" + hashlib.md5(data).hexdigest()  # noqa: S324


def test_upload_is_written_back_while_it_arrives(standin, monkeypatch) -> None:
    from ossr_images.standin import bodies

    synced: list[int] = []
    monkeypatch.setattr(bodies, "SYNC_EVERY", 256 * 1024)
    monkeypatch.setattr(bodies, "datasync", lambda fd, path: synced.append(os.fstat(fd).st_size))
    dep = create(standin.api_url)
    data = os.urandom(3 * 1024 * 1024 + 7)
    r = put(dep["links"]["bucket"], "big.bin", data)
    assert r.status_code == 201, r.text
    assert r.json()["checksum"] == "md5:" + hashlib.md5(data).hexdigest()  # noqa: S324
    assert synced  # write-back started during the body (the fsync before the answer follows it)


def test_a_write_back_error_fails_the_upload(standin, monkeypatch, tmp_path: Path) -> None:
    from ossr_images.standin import bodies

    def broken(fd: int, path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(bodies, "SYNC_EVERY", 256 * 1024)
    monkeypatch.setattr(bodies, "datasync", broken)
    dep = create(standin.api_url)
    r = put(dep["links"]["bucket"], "big.bin", os.urandom(2 * 1024 * 1024))
    assert r.status_code == 500
    files = requests.get(dep["links"]["bucket"], headers=AUTH, timeout=10).json()["contents"]
    assert files == []  # never stored when it may not be on disk


def _raw(port: int, request: bytes, read_timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def test_upload_without_length_is_refused(standin) -> None:
    dep = create(standin.api_url)
    path = dep["links"]["bucket"].split(str(standin.port), 1)[1]
    answer = _raw(
        standin.port,
        f"PUT {path}/x.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\nabc".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 411")
    files = requests.get(dep["links"]["files"], headers=AUTH, timeout=10).json()
    assert files == []  # never stored as 0 bytes


def test_cut_upload_stores_nothing(standin) -> None:
    dep = create(standin.api_url)
    path = dep["links"]["bucket"].split(str(standin.port), 1)[1]
    head = f"PUT {path}/x.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n"
    answer = _raw(standin.port, head.encode() + b"y" * 10)
    assert answer == b""  # the client went away: no answer, nothing stored
    time.sleep(0.2)
    assert requests.get(dep["links"]["files"], headers=AUTH, timeout=10).json() == []
    assert not list((standin.data_dir / "tmp").iterdir())


def test_search_page_size_limits_and_links(standin) -> None:
    for i in range(3):
        publish(standin.api_url, metadata={**META, "title": f"Zebra {i}"})
    url = f"{standin.api_url}/records"
    r = requests.get(url, params={"size": 26}, timeout=10)
    assert r.status_code == 400 and r.json()["message"] == "Page size cannot be greater than 25."
    assert requests.get(url, params={"size": 100}, headers=AUTH, timeout=10).status_code == 200
    r = requests.get(url, params={"size": 101}, headers=AUTH, timeout=10)
    assert r.status_code == 400 and "100" in r.json()["message"]
    r = requests.get(url, params={"size": "x"}, timeout=10)
    assert r.status_code == 400
    r = requests.get(url, params={"q": "zebra", "size": 2, "access_token": TOKEN}, timeout=10)
    doc = r.json()
    assert doc["hits"]["total"] == 3 and len(doc["hits"]["hits"]) == 2
    assert "page=2" in doc["links"]["next"] and "access_token" not in json.dumps(doc["links"])
    last = requests.get(doc["links"]["next"], timeout=10).json()
    assert len(last["hits"]["hits"]) == 1 and "next" not in last["links"] and "prev" in last["links"]


def test_search_queries(standin) -> None:
    a = publish(standin.api_url, metadata={**META, "title": "Alpha tools", "keywords": ["gamma-ray"]})
    b = publish(
        standin.api_url, metadata={**META, "title": "Beta tools", "communities": [{"identifier": "other"}]}
    )

    def ids(**params) -> list[int]:
        return sorted(
            h["id"]
            for h in requests.get(f"{standin.api_url}/records", params=params, timeout=10).json()["hits"][
                "hits"
            ]
        )

    assert ids(q="tools") == sorted([a["id"], b["id"]])
    # zenodo.org ORs terms side by side (query_string without default_operator, zenodo-rdm invenio.cfg RDM_SEARCH)
    assert ids(q="alpha TOOLS") == sorted([a["id"], b["id"]])
    assert ids(q="alpha AND TOOLS") == ids(q="+alpha +tools") == ids(q="alpha && tools") == [a["id"]]
    assert ids(q="tools -alpha") == ids(q="tools AND NOT alpha") == [b["id"]]
    # legacy field names zenodo.org maps (zenodo_rdm/queryparser.py): a space after the colon, version = index
    assert ids(q=f"doi: {a['doi']}") == [a["id"]]
    assert ids(q=f"conceptrecid:{a['conceptrecid']} AND version:1") == [a["id"]]
    assert ids(q=f"parent.id:{b['conceptrecid']}") == [b["id"]]
    # what luqum cannot parse falls back to a multi_match of the words (any of them), never an error
    assert ids(q="alpha) OR (") == [a["id"]]
    assert ids(q='keywords:"gamma-ray"') == [a["id"]]
    assert ids(q=f"recid:{b['id']}") == [b["id"]]
    assert ids(q=f'doi:"{a["doi"]}"') == [a["id"]]
    assert ids(q=f"doi:{a['doi'].replace('/', chr(92) + '/')}") == [a["id"]]  # escaped slash
    assert ids(communities="escape2020") == [a["id"]]
    assert ids(communities="other,escape2020") == sorted([a["id"], b["id"]])
    assert ids(q="nothing-matches-this") == []


def test_download_ranges(standin) -> None:
    data = bytes(range(256)) * 40
    pub = publish(standin.api_url, files={"r.bin": data})
    url = f"{standin.api_url}/records/{pub['id']}/files/r.bin/content"
    full = requests.get(url, timeout=10)
    assert full.status_code == 200 and full.content == data and full.headers["Accept-Ranges"] == "bytes"
    part = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert requests.get(url, headers={"Range": "bytes=-5"}, timeout=10).content == data[-5:]
    assert requests.get(url, headers={"Range": "bytes=10000-"}, timeout=10).content == data[10000:]
    bad = requests.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=10)
    assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{len(data)}"
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)


@pytest.mark.parametrize(
    "header,size,expected",
    [("bytes=0-0", 10, (0, 0)), ("bytes=5-", 10, (5, 9)), ("bytes=-3", 10, (7, 9)), ("bytes=-30", 10, (0, 9)),
     ("bytes=3-100", 10, (3, 9)), ("bytes=10-", 10, None), ("bytes=5-2", 10, None), ("items=0-1", 10, None),
     ("bytes=a-b", 10, None), ("bytes=0-1,5-6", 10, (0, 1)), ("bytes=-0", 10, None)],
)  # fmt: skip
def test_parse_range(header: str, size: int, expected) -> None:
    assert parse_range(header, size) == expected


def test_concept_redirect_and_versions(standin) -> None:
    pub = publish(standin.api_url)
    r = requests.get(f"{standin.api_url}/records/{pub['conceptrecid']}", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/api/records/{pub['id']}")
    r = requests.get(
        f"{standin.api_url}/records/{pub['id']}/versions/latest", allow_redirects=False, timeout=10
    )
    assert r.status_code == 302
    r = requests.get(f"{standin.base_url}/doi/{pub['doi']}", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/records/{pub['id']}")
    html = requests.get(f"{standin.base_url}/records/{pub['id']}", timeout=10)
    assert html.status_code == 200 and "f.bin" in html.text


def test_record_shape_matches_zenodo(standin) -> None:
    pub = publish(standin.api_url, files={"image.tar": b"abc"})
    rec = requests.get(f"{standin.api_url}/records/{pub['id']}", timeout=10).json()
    example = json.loads(
        (
            Path(__file__).parents[1]
            / "data"
            / "zenodo"
            / "publish_202__sandbox_2025-10__record_as_zenodo_json.json"
        ).read_text()
    )["response"]
    assert set(example) <= set(rec)
    assert set(example["files"][0]) == set(rec["files"][0])
    assert set(example["metadata"]["relations"]["version"][0]) == set(
        rec["metadata"]["relations"]["version"][0]
    )
    for key in ("self", "self_html", "doi", "parent", "files", "latest", "versions"):
        assert key in rec["links"]
    assert rec["recid"] == str(rec["id"]) and isinstance(rec["conceptrecid"], str)


def test_state_survives_restart(tmp_path: Path) -> None:
    with LocalZenodo(tmp_path, tokens=[TOKEN]) as z:
        pub = publish(z.api_url, files={"keep.bin": b"persisted bytes"})
        draft = create(z.api_url)
    (tmp_path / "tmp" / "leftover.part").write_bytes(b"half an upload")  # as a crash would leave it
    (tmp_path / "blobs" / "orphan").write_bytes(b"renamed, but the state was not written")
    (tmp_path / ".state.json.1.2.tmp").write_text("{half")
    json.loads((tmp_path / "state.json").read_text())  # always a complete document
    with LocalZenodo(tmp_path, tokens=["another-token"]) as z:
        rec = requests.get(f"{z.api_url}/records/{pub['id']}", timeout=10).json()
        content = requests.get(rec["files"][0]["links"]["self"], timeout=10).content
        mine = requests.get(
            f"{z.api_url}/deposit/depositions", headers={"Authorization": "Bearer another-token"}, timeout=10
        ).json()
        new = requests.post(
            f"{z.api_url}/deposit/depositions",
            json={},
            headers={"Authorization": "Bearer another-token"},
            timeout=10,
        ).json()
    assert content == b"persisted bytes"
    assert {d["id"] for d in mine} == {pub["id"], draft["id"]}
    assert new["id"] > draft["id"]
    assert not (tmp_path / "tmp" / "leftover.part").exists()
    assert not (tmp_path / "blobs" / "orphan").exists()


def test_two_requests_at_once(standin) -> None:
    """A slow upload in progress does not block other requests."""
    dep = create(standin.api_url)
    path = dep["links"]["bucket"].split(str(standin.port), 1)[1]
    slow = socket.create_connection(("127.0.0.1", standin.port), timeout=10)
    try:
        slow.sendall(
            f"PUT {path}/slow.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 20\r\n\r\n".encode()
            + b"0123456789"
        )
        t0 = time.monotonic()
        r = requests.get(f"{standin.api_url}/deposit/depositions/{dep['id']}", headers=AUTH, timeout=5)
        assert r.status_code == 200 and time.monotonic() - t0 < 2
        slow.sendall(b"0123456789")
        answer = slow.recv(65536)
        assert answer.startswith(b"HTTP/1.1 201")
    finally:
        slow.close()


def test_many_parallel_clients(standin) -> None:
    pub = publish(standin.api_url, files={"p.bin": b"z" * 200_000})
    url = f"{standin.api_url}/records/{pub['id']}/files/p.bin/content"
    results: list[bytes] = []

    def get() -> None:
        results.append(requests.get(url, timeout=10).content)

    threads = [threading.Thread(target=get) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and all(r == b"z" * 200_000 for r in results)


def test_redact() -> None:
    assert redact("GET /api/x?access_token=abc&page=1") == "GET /api/x?access_token=***&page=1"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"


def test_concurrent_publish_of_one_draft(standin) -> None:
    dep = create(standin.api_url)
    put(dep["links"]["bucket"], "f.bin", b"data")
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def go() -> None:
        barrier.wait()
        r = requests.post(
            f"{standin.api_url}/deposit/depositions/{dep['id']}/actions/publish", headers=AUTH, timeout=10
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202, 404, 404, 404]
    hits = requests.get(
        f"{standin.api_url}/records",
        params={"q": f"conceptrecid:{dep['conceptrecid']}", "all_versions": "true"},
        timeout=10,
    ).json()
    assert hits["hits"]["total"] == 1


def test_concurrent_uploads_to_one_bucket(standin) -> None:
    dep = create(standin.api_url)
    blobs = {f"k{i}": bytes([i]) * (300_000 + i) for i in range(8)}
    threads = [threading.Thread(target=put, args=(dep["links"]["bucket"], k, v)) for k, v in blobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = requests.get(dep["links"]["files"], headers=AUTH, timeout=10).json()
    assert {f["filename"]: f["filesize"] for f in files} == {k: len(v) for k, v in blobs.items()}
    assert {f["filename"]: f["checksum"] for f in files} == {
        k: hashlib.md5(v).hexdigest() for k, v in blobs.items()
    }  # noqa: S324


def test_fault_hook_can_drop_an_error_answer(standin) -> None:
    from ossr_images.standin.faults import DropResponse, Faults

    class DropErrors(Faults):
        def after(self, request, status, body):
            if status >= 400:
                raise DropResponse()
            return None

    standin.faults = DropErrors()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{standin.api_url}/records/987654", timeout=10)
    assert requests.get(f"{standin.api_url}/records", timeout=10).status_code == 200


def test_fault_hook_before_answers_instead(standin) -> None:
    from ossr_images.standin.faults import Faults

    class Busy(Faults):
        def before(self, request):
            if request.route == "rec_search":
                request.send_json(503, {"status": 503, "message": "busy"}, headers={"Retry-After": "1"})
                return True
            return False

    standin.faults = Busy()
    r = requests.get(f"{standin.api_url}/records", timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1" and "X-RateLimit-Limit" in r.headers


def test_data_folder_used_by_one_server_only(standin) -> None:
    from ossr_images.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as info:
        LocalZenodo(standin.data_dir, tokens=[TOKEN]).start()
    assert "in use by another local Zenodo" in info.value.message and "--data" in info.value.hint


def test_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    from ossr_images.errors import InvalidInputError

    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(InvalidInputError) as info:
        LocalZenodo(tmp_path).start()
    assert str(tmp_path / "state.json") in info.value.message
    (tmp_path / "state.json").write_text("[]")
    with pytest.raises(InvalidInputError):
        LocalZenodo(tmp_path).start()
    (tmp_path / "state.json").unlink()
    with LocalZenodo(tmp_path) as z:  # the folder was released by the failed starts
        assert requests.get(f"{z.api_url}/records", timeout=10).status_code == 200


def test_update_needs_a_json_object(standin) -> None:
    dep = create(standin.api_url)
    r = requests.put(f"{standin.api_url}/deposit/depositions/{dep['id']}", json=[1], headers=AUTH, timeout=10)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "metadata"


def test_search_sorts(standin) -> None:
    first = publish(standin.api_url, metadata={**META, "title": "Sorted one"})
    second = publish(standin.api_url, metadata={**META, "title": "Sorted two"})

    def order(sort: str) -> list[int]:
        r = requests.get(f"{standin.api_url}/records", params={"q": "sorted", "sort": sort}, timeout=10)
        assert r.status_code == 200, r.text
        return [h["id"] for h in r.json()["hits"]["hits"]]

    assert order("mostrecent") == [second["id"], first["id"]]
    assert order("-mostrecent") == order("oldest") == [first["id"], second["id"]]
    r = requests.get(f"{standin.api_url}/records", params={"sort": "nonsense"}, timeout=10)
    assert r.status_code == 400


def test_record_names_communities_by_id(standin) -> None:
    pub = publish(standin.api_url)
    rec = requests.get(f"{standin.api_url}/records/{pub['id']}", timeout=10).json()
    assert rec["metadata"]["communities"] == [{"id": "escape2020"}]
    assert pub["metadata"]["communities"] == [{"identifier": "escape2020"}]


def test_deeply_nested_json_is_a_400(standin) -> None:
    body = b'{"metadata":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = requests.post(f"{standin.api_url}/deposit/depositions", data=body,
                      headers={**AUTH, "Content-Type": "application/json"}, timeout=10)  # fmt: skip
    assert r.status_code == 400 and r.json()["message"] == "Unable to decode JSON data in request body."


def test_legacy_form_upload(standin) -> None:
    dep = create(standin.api_url)
    data = os.urandom(300_000) + b"\r\n--not-the-boundary\r\n"
    url = f"{standin.api_url}/deposit/depositions/{dep['id']}/files"
    r = requests.post(url, params={"access_token": TOKEN}, data={"name": "image.tar"},
                      files={"file": ("ignored.bin", data)}, timeout=10)  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["filename"] == "image.tar" and body["filesize"] == len(data)
    assert body["checksum"] == hashlib.md5(data).hexdigest()  # noqa: S324
    # without a name field, the file part's own name is used
    r = requests.post(url, headers=AUTH, files={"file": ("other.bin", b"abc")}, timeout=10)
    assert r.status_code == 201 and r.json()["filename"] == "other.bin"
    files = requests.get(url, headers=AUTH, timeout=10).json()
    assert sorted(f["filename"] for f in files) == ["image.tar", "other.bin"]
    assert not list((standin.data_dir / "tmp").iterdir())


def test_legacy_form_upload_refusals(standin) -> None:
    dep = create(standin.api_url)
    url = f"{standin.api_url}/deposit/depositions/{dep['id']}/files"
    r = requests.post(url, headers=AUTH, data=b"raw", timeout=10)
    assert r.status_code == 400 and "multipart/form-data" in r.json()["message"]
    r = requests.post(url, headers=AUTH, data={"name": "x"}, files={"other": ("f", b"x")}, timeout=10)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "file"
    path = url.split(str(standin.port), 1)[1]
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: multipart/form-data; boundary=abc\r\nContent-Length: 200000000\r\n\r\n")  # fmt: skip
    assert _raw(standin.port, head.encode()).startswith(b"HTTP/1.1 413")
    pub = publish(standin.api_url)
    r = requests.post(f"{standin.api_url}/deposit/depositions/{pub['id']}/files", headers=AUTH,
                      files={"file": ("f", b"x")}, timeout=10)  # fmt: skip
    assert r.status_code == 403
