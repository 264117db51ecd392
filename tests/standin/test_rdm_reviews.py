"""The stand-in's communities and review requests (invenio-rdm-api.md section 7), and its plain InvenioRDM
surface (section 8: `--api-surface rdm`), over real HTTP."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
import requests
from tests.helpers.rdm_native import AUTH, METADATA, call, published, upload

from conftest import TEST_TOKEN

GUEST_TOKEN = "guest-token-0123456789abcdef"
GUEST = {"Authorization": f"Bearer {GUEST_TOKEN}"}


@pytest.fixture
def guest(standin):
    """The stand-in with a second user (a member of no community) whose token is GUEST_TOKEN."""
    standin.guest_tokens.append(GUEST_TOKEN)
    return standin


def gcall(method: str, url: str, **kwargs) -> requests.Response:
    """A native call as the guest user."""
    return call(method, url, headers={**GUEST, **kwargs.pop("headers", {})}, **kwargs)


REQUEST_KEYS = {"id", "number", "type", "status", "is_open", "receiver", "topic", "links"}
OPEN_REVIEW = (
    "You cannot publish a draft with an open review request. Please cancel the review request first."
)


def _escape(api: str) -> dict:
    got = call("GET", f"{api}/communities/escape2020")
    assert got.status_code == 200
    return got.json()


def _draft_with_files(api: str) -> str:
    """A guest's draft with one committed file."""
    rid = gcall("POST", f"{api}/records", json=METADATA).json()["id"]
    entry = [{"key": "a.txt", "size": 3, "checksum": f"md5:{hashlib.md5(b'abc').hexdigest()}"}]
    assert gcall("POST", f"{api}/records/{rid}/draft/files", json=entry).status_code == 201
    octets = {"Content-Type": "application/octet-stream"}
    assert gcall("PUT", f"{api}/records/{rid}/draft/files/a.txt/content", data=b"abc", headers=octets).ok
    assert gcall("POST", f"{api}/records/{rid}/draft/files/a.txt/commit").status_code == 200
    return rid


def test_communities_by_slug_and_id(standin) -> None:
    api = standin.api_url
    escape = _escape(api)
    assert {"id", "slug", "metadata", "access"} <= set(escape) and escape["slug"] == "escape2020"
    assert {"visibility", "member_policy", "record_submission_policy", "review_policy"} <= set(
        escape["access"]
    )
    assert call("GET", f"{api}/communities/{escape['id']}").json()["slug"] == "escape2020"
    missing = call("GET", f"{api}/communities/no-such-community")
    assert missing.status_code == 404 and missing.json()["status"] == 404


def test_submission_review_accepted_by_the_curator_publishes(guest) -> None:
    """RQ services/permissions.py: accept and decline belong to the receiver (the community's curators),
    cancel to the creator; RR services/review/service.py: an uploader who may not include directly waits."""
    api = guest.api_url
    escape = _escape(api)
    rid = _draft_with_files(api)
    body = {"receiver": {"community": escape["id"]}, "type": "community-submission"}
    made = gcall("PUT", f"{api}/records/{rid}/draft/review", json=body)
    assert made.status_code == 200 and REQUEST_KEYS <= set(made.json())
    assert made.json()["status"] == "created" and made.json()["is_open"] is False
    blocked = gcall("POST", f"{api}/records/{rid}/draft/actions/publish")
    assert blocked.status_code == 400 and blocked.json() == {"status": 400, "message": OPEN_REVIEW}
    slug = call(
        "PUT",
        f"{api}/records/{rid}/draft/review",
        headers=GUEST,
        json={**body, "receiver": {"community": "escape2020"}},
    )
    assert slug.status_code == 400  # the receiver is the community's uuid, not its slug
    sent = gcall("POST", f"{api}/records/{rid}/draft/actions/submit-review", json={})
    assert sent.status_code == 202 and sent.json()["status"] == "submitted" and sent.json()["is_open"]
    assert gcall("GET", f"{api}/records/{rid}/draft").json()["status"] == "in_review"
    request_id = sent.json()["id"]
    seen = gcall("GET", f"{api}/requests/{request_id}")
    assert seen.status_code == 200 and seen.json()["status"] == "submitted"
    assert seen.json()["topic"] == {"record": rid} and seen.json()["receiver"] == {"community": escape["id"]}
    assert gcall("GET", f"{api}/records/{rid}/draft/review").json()["id"] == request_id
    again = gcall("POST", f"{api}/records/{rid}/draft/actions/publish")
    assert again.status_code == 400 and again.json()["message"] == OPEN_REVIEW
    self_accept = gcall("POST", f"{api}/requests/{request_id}/actions/accept")
    assert self_accept.status_code == 403 and self_accept.json() == {
        "status": 403,
        "message": "Permission denied.",
    }
    assert call("GET", f"{api}/records/{rid}").status_code == 404  # not published yet

    as_curator = call("GET", f"{api}/requests/{request_id}").json()["links"]["actions"]
    assert sorted(as_curator) == ["accept", "decline"]  # RQ `_is_action_available`: what this user may do
    assert list(seen.json()["links"]["actions"]) == ["cancel"]
    accepted = call(
        "POST", f"{api}/requests/{request_id}/actions/accept", json={"payload": {"content": "ok"}}
    )
    assert (
        accepted.status_code == 200
        and accepted.json()["status"] == "accepted"
        and accepted.json()["is_closed"]
    )
    events = call("GET", f"{api}/requests/{request_id}/timeline").json()["hits"]["hits"]
    assert [(e["type"], e["payload"]) for e in events] == [
        ("L", {"event": "accepted"}),
        ("C", {"content": "ok", "format": "html"}),
    ]
    record = call("GET", f"{api}/records/{rid}").json()
    assert record["is_published"] and record["parent"]["communities"]["ids"] == [escape["id"]]
    legacy = requests.get(f"{api}/deposit/depositions/{rid}", headers=GUEST, timeout=10).json()
    assert legacy["metadata"]["communities"] == [{"identifier": "escape2020"}]
    assert call("GET", f"{api}/requests/{request_id}").json()["status"] == "accepted"
    late = gcall("POST", f"{api}/requests/{request_id}/actions/cancel")
    assert late.status_code == 400 and late.json() == {
        "status": 400,
        "message": "Error for action 'cancel': Could not execute the action",
    }


def test_declined_and_cancelled_reviews(guest) -> None:
    api = guest.api_url
    escape = _escape(api)
    body = {"receiver": {"community": escape["id"]}, "type": "community-submission"}
    rid = _draft_with_files(api)
    gcall("PUT", f"{api}/records/{rid}/draft/review", json=body)
    request_id = gcall("POST", f"{api}/records/{rid}/draft/actions/submit-review").json()["id"]
    assert gcall("DELETE", f"{api}/records/{rid}/draft/review").status_code == 400  # open: cannot be deleted
    assert gcall("DELETE", f"{api}/records/{rid}/draft").status_code == 400
    assert guest.curate(request_id, "decline")["status"] == "declined"
    assert gcall("GET", f"{api}/records/{rid}/draft").json()["status"] == "declined"

    other = _draft_with_files(api)
    gcall("PUT", f"{api}/records/{other}/draft/review", json=body)
    second = gcall("POST", f"{api}/records/{other}/draft/actions/submit-review").json()["id"]
    cancelled = gcall("POST", f"{api}/requests/{second}/actions/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert gcall("GET", f"{api}/records/{other}/draft/review").status_code == 404
    assert gcall("POST", f"{api}/records/{other}/draft/actions/publish").status_code == 202


def test_new_version_cannot_have_a_review_and_inclusion_of_published_records(standin) -> None:
    api = standin.api_url
    escape = _escape(api)
    record = published(api)
    nv = call("POST", f"{api}/records/{record['id']}/versions").json()
    body = {"receiver": {"community": escape["id"]}, "type": "community-submission"}
    refused = call("PUT", f"{api}/records/{nv['id']}/draft/review", json=body)
    assert refused.status_code == 400
    assert refused.json()["message"] == "You cannot create a review for a new version of a published record."

    # the owner of escape2020 could include directly: require_review keeps the request open (RR communities)
    wanted = {"communities": [{"id": "escape2020"}, {"id": "nowhere"}], "require_review": True}
    included = call("POST", f"{api}/records/{record['id']}/communities", json=wanted)
    assert included.status_code == 200
    (done,) = included.json()["processed"]
    assert done["community_id"] == escape["id"] and done["request"]["status"] == "submitted"
    assert done["request"]["links"]["self"] == f"{api}/requests/{done['request_id']}"  # the request as viewed
    assert included.json()["errors"] == [{"community_id": "nowhere", "message": "Community not found."}]
    twice = call(
        "POST",
        f"{api}/records/{record['id']}/communities",
        json={"communities": [{"id": "escape2020"}], "require_review": True},
    )
    assert twice.status_code == 400 and twice.json()["processed"] == []
    assert "open inclusion request" in twice.json()["errors"][0]["message"]
    found = call("GET", f"{api}/records/{record['id']}/requests").json()["hits"]["hits"]
    assert [r["id"] for r in found] == [done["request_id"]]
    standin.curate(done["request_id"], "accept")
    assert call("GET", f"{api}/records/{record['id']}").json()["parent"]["communities"]["ids"] == [
        escape["id"]
    ]


def test_the_community_owner_includes_directly(standin) -> None:
    """invenio-communities permissions.py can_include_directly (review policy "open": curators, owners among
    them): the owner's submission is accepted and published at once (RR services/review/service.py), and so is
    an inclusion without require_review (RR services/communities/service.py `_include`)."""
    api = standin.api_url
    escape = _escape(api)
    assert escape["access"]["review_policy"] == "open"
    rid = call("POST", f"{api}/records", json=METADATA).json()["id"]
    upload(api, rid, {"a.txt": b"abc"})
    body = {"receiver": {"community": escape["id"]}, "type": "community-submission"}
    assert call("PUT", f"{api}/records/{rid}/draft/review", json=body).status_code == 200
    sent = call("POST", f"{api}/records/{rid}/draft/actions/submit-review")
    assert sent.status_code == 202 and sent.json()["status"] == "accepted"
    assert call("GET", f"{api}/records/{rid}").json()["parent"]["communities"]["ids"] == [escape["id"]]
    other = published(api)
    done = call("POST", f"{api}/records/{other['id']}/communities", json={"communities": [{"id": "zenodo"}]})
    assert done.status_code == 200 and done.json()["processed"][0]["request"]["status"] == "accepted"


@pytest.fixture
def plain(tmp_path):
    """A stand-in behaving like a plain InvenioRDM instance."""
    from ossr_images.standin.server import LocalZenodo

    with LocalZenodo(
        tmp_path / "data", tokens=[TEST_TOKEN], doi_prefix="10.1234", api_surface="rdm"
    ) as server:
        yield server


def test_plain_surface_has_no_deposit_api_and_answers_native_json(plain) -> None:
    api = plain.api_url
    gone = requests.get(f"{api}/deposit/depositions", headers=AUTH, timeout=10)
    assert gone.status_code == 404 and gone.json()["status"] == 404
    assert requests.post(f"{api}/deposit/depositions", json={}, headers=AUTH, timeout=10).status_code == 404
    headers = {**AUTH, "Accept": "application/json"}
    draft = requests.post(f"{api}/records", json=METADATA, headers=headers, timeout=10)
    assert draft.status_code == 201 and isinstance(draft.json()["id"], str) and draft.json()["is_draft"]
    rid = draft.json()["id"]
    upload(api, rid, {"f.bin": b"\x00" * 10})
    record = requests.post(f"{api}/records/{rid}/draft/actions/publish", headers=headers, timeout=10).json()
    assert record["pids"]["doi"]["identifier"] == f"10.1234/{rid}"  # DATACITE_FORMAT "{prefix}/{id}"
    plain_json = requests.get(
        f"{api}/records/{rid}", headers={"Accept": "application/json"}, timeout=10
    ).json()
    assert plain_json["id"] == rid and isinstance(plain_json["files"]["entries"], dict)
    search = requests.get(
        f"{api}/records", params={"size": 1}, headers={"Accept": "application/json"}, timeout=10
    )
    assert search.json()["hits"]["hits"][0]["id"] == rid
    bucket = record["links"]["files"]
    assert "/api/files/" not in bucket


def test_cli_api_surface_rdm_serves_a_plain_instance(tmp_path) -> None:
    from tests.standin.test_cli import Served

    served = Served("--data", str(tmp_path / "d"), "--token", "tok-rdm-123456", "--api-surface", "rdm")
    try:
        auth = {"Authorization": "Bearer tok-rdm-123456"}
        assert requests.get(f"{served.api}/deposit/depositions", headers=auth, timeout=10).status_code == 404
        made = requests.post(f"{served.api}/records", json={}, headers=auth, timeout=10)
        assert made.status_code == 201 and made.json()["is_draft"] and made.json()["status"] == "draft"
    finally:
        assert served.stop()[0] == 0
    wrong = subprocess.run([sys.executable, "-m", "ossr_images", "local-zenodo", "--api-surface", "fedora"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert wrong.returncode != 0 and "fedora" in wrong.stderr
