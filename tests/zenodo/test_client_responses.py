"""Client edge cases a real server does not readily produce, with `responses`: 504 on publish, HTML error
pages, truncated bodies, 429 sequences with Retry-After, retry bounds."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from ossr_images.zenodo.client import RetryPolicy, ZenodoClient
from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.target import Target
from ossr_images.zenodo.transport import parse_retry_after

API = "https://zenodo.test/api"
TOKEN = "responses-token-abcdef123456"
DEP = f"{API}/deposit/depositions/7"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> ZenodoClient:
    policy = RetryPolicy(max_attempts=4, backoff_base=1.0, jitter=0.0, sleep=sleeps, max_elapsed=None)
    return ZenodoClient(Target("custom", API, TOKEN, None), retry=policy)


def _dep(state: str) -> dict:
    return {
        "id": 7,
        "state": state,
        "submitted": state != "unsubmitted",
        "links": {},
        "doi": "10.5072/zenodo.7",
    }


@responses.activate
def test_504_on_publish_that_did_succeed_returns_the_record(client: ZenodoClient) -> None:
    responses.post(
        f"{DEP}/actions/publish", status=504, body="<html><title>504 Gateway Time-out</title></html>"
    )
    responses.get(DEP, json=_dep("done"))
    result = client.publish(7)
    assert result.state == "done"
    posts = [c for c in responses.calls if c.request.method == "POST"]
    assert len(posts) == 1  # not posted again


@responses.activate
def test_504_on_publish_that_did_not_happen_is_repeated(client: ZenodoClient, sleeps: Sleeps) -> None:
    responses.post(f"{DEP}/actions/publish", status=504, body="<html><title>504</title></html>")
    responses.post(f"{DEP}/actions/publish", status=202, json=_dep("done"))
    responses.get(DEP, json=_dep("unsubmitted"))
    assert client.publish(7).state == "done"
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "POST"]
    assert sleeps == [1.0]


@responses.activate
def test_publish_gives_up_after_bounded_attempts(client: ZenodoClient, sleeps: Sleeps) -> None:
    responses.post(f"{DEP}/actions/publish", status=503, body="")
    responses.get(DEP, json=_dep("unsubmitted"))
    with pytest.raises(ZenodoError) as info:
        client.publish(7)
    assert info.value.status == 503 and "after 4 attempts" in info.value.message
    assert sleeps == [1.0, 2.0, 4.0]  # exponential


@responses.activate
def test_create_lost_answer_finds_the_draft(client: ZenodoClient) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc).isoformat()
    responses.post(
        f"{API}/deposit/depositions", body=requests.exceptions.ConnectionError("Connection reset by peer")
    )
    responses.get(
        f"{API}/deposit/depositions",
        json=[
            {
                "id": 9,
                "title": "T",
                "files": [],
                "created": now,
                "state": "unsubmitted",
                "links": {"bucket": "b"},
            }
        ],
    )
    dep = client.create_deposition({"title": "T"})
    assert dep.id == 9
    assert [c.request.method for c in responses.calls] == ["POST", "GET"]


@responses.activate
def test_post_without_check_is_not_repeated(client: ZenodoClient) -> None:
    responses.post(f"{API}/deposit/depositions/7/actions/custom", status=502, body="bad gateway")
    with pytest.raises(ZenodoError) as info:
        client.request_json("POST", "/deposit/depositions/7/actions/custom")
    assert len(responses.calls) == 1
    assert "may or may not have taken effect" in info.value.hint


@responses.activate
def test_429_honours_retry_after(client: ZenodoClient, sleeps: Sleeps) -> None:
    limited = {"Retry-After": "7", "X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0"}
    responses.get(
        f"{API}/records/1", status=429, json={"status": 429, "message": "100 per 1 minute"}, headers=limited
    )
    responses.get(
        f"{API}/records/1", status=429, json={"status": 429, "message": "100 per 1 minute"}, headers=limited
    )
    responses.get(f"{API}/records/1", json={"id": 1})
    assert client.get_record(1).raw == {"id": 1}
    assert sleeps == [7.0, 7.0]


@responses.activate
def test_429_with_ratelimit_reset(client: ZenodoClient, sleeps: Sleeps, monkeypatch) -> None:
    import ossr_images.zenodo.client as mod

    monkeypatch.setattr(mod.time, "time", lambda: 1_000_000.0)
    responses.get(f"{API}/records/1", status=429, headers={"X-RateLimit-Reset": "1000012"}, body="")
    responses.get(f"{API}/records/1", json={"id": 1})
    client.get_record(1)
    assert sleeps == [12.0]


@responses.activate
def test_429_asking_too_long_a_wait_stops(client: ZenodoClient, sleeps: Sleeps) -> None:
    responses.get(
        f"{API}/records/1",
        status=429,
        headers={"Retry-After": "3600"},
        json={"status": 429, "message": "slow down"},
    )
    with pytest.raises(ZenodoError) as info:
        client.get_record(1)
    assert info.value.status == 429 and sleeps == []
    assert "rate-limiting" in info.value.hint


@responses.activate
def test_429_on_post_is_repeated(client: ZenodoClient, sleeps: Sleeps) -> None:
    # a 429 means the request was not processed: repeating a POST is safe
    responses.post(f"{DEP}/actions/publish", status=429, headers={"Retry-After": "1"}, body="")
    responses.post(f"{DEP}/actions/publish", status=202, json=_dep("done"))
    assert client.publish(7).state == "done"
    assert sleeps == [1.0]


def test_retry_after_http_date() -> None:
    import email.utils
    import time

    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(future) <= 31
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("-5") == 0.0


@responses.activate
def test_html_error_page_gives_clean_message(client: ZenodoClient) -> None:
    page = "<!DOCTYPE html><html><head><title>Service Unavailable</title><style>x{}</style></head><body>...</body></html>"
    responses.get(DEP, status=403, body=page, content_type="text/html")
    with pytest.raises(ZenodoError) as info:
        client.get_deposition(7)
    msg = info.value.message
    assert info.value.status == 403 and "HTML page (Service Unavailable)" in msg and "<" not in msg


@responses.activate
def test_truncated_json_is_asked_again_for_get(client: ZenodoClient) -> None:
    responses.get(f"{API}/records/1", body='{"id": 1, "files": [', content_type="application/json")
    responses.get(f"{API}/records/1", json={"id": 1, "files": []})
    assert client.get_record(1).raw == {"id": 1, "files": []}


@responses.activate
def test_truncated_json_twice_is_a_clear_error(client: ZenodoClient) -> None:
    responses.get(f"{API}/records/1", body='{"id": 1, "fi', content_type="application/json")
    with pytest.raises(ZenodoError) as info:
        client.get_record(1)
    assert "not JSON" in info.value.message and "cut" in info.value.hint


@responses.activate
def test_cut_body_is_retried(client: ZenodoClient, sleeps: Sleeps) -> None:
    responses.get(
        f"{API}/records/1", body=requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
    )
    responses.get(f"{API}/records/1", json={"id": 1})
    assert client.get_record(1).raw == {"id": 1}
    assert sleeps == [1.0]


@responses.activate
def test_connection_refused_is_reported_without_token(client: ZenodoClient) -> None:
    responses.get(f"{API}/records/1", body=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(ZenodoError) as info:
        client.get_record(1)
    assert info.value.status is None and "refused" in info.value.message
    assert "could not be reached" in info.value.hint
    assert TOKEN not in json.dumps(info.value.to_dict())


@responses.activate
def test_elapsed_bound_stops_retries(sleeps: Sleeps) -> None:
    policy = RetryPolicy(
        max_attempts=10, backoff_base=100.0, backoff_max=1000.0, jitter=0.0, sleep=sleeps, max_elapsed=150.0
    )
    client = ZenodoClient(Target("custom", API, TOKEN, None), retry=policy)
    responses.get(f"{API}/records/1", status=502, body="")
    with pytest.raises(ZenodoError):
        client.get_record(1)
    assert sleeps == [100.0]  # the next wait (200 s) would pass the 150 s bound


@responses.activate
def test_old_newversion_answer_follows_latest_draft(client: ZenodoClient) -> None:
    # legacy Zenodo answered newversion with the original record; its links.latest_draft names the new draft
    responses.get(DEP, json={"id": 7, "state": "done", "links": {"latest_draft": DEP}})
    responses.post(f"{DEP}/actions/newversion", status=201,
                   json={"id": 7, "state": "done", "links": {"latest_draft": f"{API}/deposit/depositions/8"}})  # fmt: skip
    responses.get(f"{API}/deposit/depositions/8", json={"id": 8, "state": "unsubmitted", "links": {}})
    assert client.new_version(7).id == 8


@responses.activate
def test_search_follows_links_next_and_stops(client: ZenodoClient) -> None:
    page1 = {
        "hits": {"hits": [{"id": 1}, {"id": 2}], "total": 3},
        "links": {"next": f"{API}/records?page=2&size=2"},
    }
    page2 = {"hits": {"hits": [{"id": 3}], "total": 3}, "links": {"next": f"{API}/records?page=3&size=2"}}
    responses.get(f"{API}/records", json=page1)
    responses.get(f"{API}/records", json=page2)
    assert [r.id for r in client.search_records("x", size=2)] == ["1", "2", "3"]
    assert len(responses.calls) == 2


@responses.activate
def test_search_ignores_next_link_to_another_host(client: ZenodoClient) -> None:
    page1 = {
        "hits": {"hits": [{"id": 1}], "total": 2},
        "links": {"next": "https://evil.example/api/records?page=2"},
    }
    page2 = {"hits": {"hits": [{"id": 2}], "total": 2}, "links": {}}
    responses.get(f"{API}/records", json=page1)
    responses.get(f"{API}/records", json=page2)
    assert [r.id for r in client.search_records(size=1)] == ["1", "2"]
    assert all(c.request.url.startswith(API) for c in responses.calls)


@responses.activate
def test_download_retries_5xx_then_succeeds(client: ZenodoClient, tmp_path, sleeps: Sleeps) -> None:
    url = f"{API}/records/1/files/a.bin/content"
    responses.get(url, status=503, body="")
    responses.get(url, body=b"abc", content_type="application/octet-stream")
    out = client.download_file(url, tmp_path / "a.bin", size=3, md5="md5:900150983cd24fb0d6963f7d28e17f72")
    assert out.path.read_bytes() == b"abc" and sleeps == [1.0]


@responses.activate
def test_download_404_is_not_retried(client: ZenodoClient, tmp_path) -> None:
    url = f"{API}/records/1/files/a.bin/content"
    responses.get(url, status=404, json={"status": 404, "message": "The file does not exist."})
    with pytest.raises(ZenodoError) as info:
        client.download_file(url, tmp_path / "a.bin")
    assert info.value.status == 404 and len(responses.calls) == 1


@responses.activate
def test_publish_404_after_lost_answer_is_checked_again(client: ZenodoClient) -> None:
    # attempt 1: answer lost, the check still sees a draft; attempt 2: 404 because it did publish meanwhile
    responses.post(
        f"{DEP}/actions/publish", body=requests.exceptions.ConnectionError("Connection reset by peer")
    )
    responses.post(f"{DEP}/actions/publish", status=404, json={"status": 404, "message": "not found"})
    responses.get(DEP, json=_dep("unsubmitted"))
    responses.get(DEP, json=_dep("done"))
    assert client.publish(7).state == "done"
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "POST", "GET"]


@responses.activate
def test_tls_failure_is_named_and_not_retried(client: ZenodoClient, sleeps: Sleeps) -> None:
    responses.get(
        f"{API}/records/1",
        body=requests.exceptions.SSLError(
            "HTTPSConnectionPool(host='zenodo.test', port=443): Max retries exceeded (Caused by SSLError("
            "SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
            "self-signed certificate (_ssl.c:1006)')))"
        ),
    )
    with pytest.raises(ZenodoError) as info:
        client.get_record(1)
    assert "TLS certificate could not be verified (self-signed certificate)" in info.value.message
    assert "REQUESTS_CA_BUNDLE" in info.value.hint and "1006" not in info.value.message
    assert len(responses.calls) == 1 and sleeps == []


@pytest.mark.parametrize("body", [[], None, "text", {}, {"id": 7}, {"id": 7, "links": []}])
@responses.activate
def test_wrong_shape_answers_are_clean_errors(client: ZenodoClient, body) -> None:
    responses.post(f"{API}/deposit/depositions", status=201, json=body)
    with pytest.raises(ZenodoError) as info:
        client.create_deposition({"title": "T"})
    assert "wrong shape" in info.value.message and "--zenodo-url" in info.value.hint


@pytest.mark.parametrize(
    "call,method,path",
    [
        (lambda c: c.get_record(1), "GET", "/records/1"),
        (lambda c: c.get_deposition(7), "GET", "/deposit/depositions/7"),
        (lambda c: c.publish(7), "POST", "/deposit/depositions/7/actions/publish"),
        (lambda c: c.list_files(7), "GET", "/deposit/depositions/7/files"),
        (lambda c: list(c.search_records("x")), "GET", "/records"),
        (lambda c: list(c.list_depositions()), "GET", "/deposit/depositions"),
    ],
)
@pytest.mark.parametrize("body", [None, 5, "x"])
@responses.activate
def test_wrong_shapes_everywhere(client: ZenodoClient, call, method: str, path: str, body) -> None:
    responses.add(method, f"{API}{path}", json=body, status=202 if path.endswith("publish") else 200)
    with pytest.raises(ZenodoError):
        call(client)


@responses.activate
def test_search_with_wrong_hits(client: ZenodoClient) -> None:
    responses.get(f"{API}/records", json={"hits": {"hits": [1, 2], "total": 2}})
    with pytest.raises(ZenodoError, match="wrong shape"):
        list(client.search_records())


@responses.activate
def test_upload_answer_of_wrong_shape(client: ZenodoClient) -> None:
    import io

    def consume(request):
        b"".join(request.body)  # like a server, read the streamed body
        return 201, {}, "[]"

    responses.add_callback(responses.PUT, f"{API}/files/b/k", callback=consume)
    with pytest.raises(ZenodoError, match="wrong shape"):
        client.upload_file(f"{API}/files/b", "k", io.BytesIO(b"abc"), 3)


@responses.activate
def test_deeply_nested_answer_is_a_clean_error(client: ZenodoClient) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    responses.get(f"{API}/records/1", body=deep, content_type="application/json")
    responses.get(f"{API}/records/2", status=500, body=deep, content_type="application/json")
    with pytest.raises(ZenodoError):
        client.get_record(1)
    with pytest.raises(ZenodoError) as info:
        client.get_record(2)
    assert info.value.status == 500


@responses.activate
def test_search_stops_at_zenodos_result_window(client: ZenodoClient, caplog) -> None:
    def page(request):
        from urllib.parse import parse_qs, urlsplit

        q = parse_qs(urlsplit(request.url).query)
        n, size = int(q["page"][0]), int(q["size"][0])
        hits = [{"id": (n - 1) * size + i} for i in range(size)]
        return 200, {}, json.dumps({"hits": {"hits": hits, "total": 50_000}, "links": {}})

    responses.add_callback(responses.GET, f"{API}/records", callback=page)
    import logging

    logger = logging.getLogger("ossr_images.zenodo")
    logger.addHandler(caplog.handler)  # robust even if a CLI test turned propagation off
    try:
        with caplog.at_level("WARNING", logger="ossr_images.zenodo"):
            found = list(client.search_records("x"))
    finally:
        logger.removeHandler(caplog.handler)
    assert len(found) == 10_000 and len(responses.calls) == 100
    assert "first 10000 results" in caplog.text
