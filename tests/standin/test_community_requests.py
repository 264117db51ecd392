"""Conformance of the stand-in's community routes, one fact per test with its source (paths inside the
packages): invenio-communities (COM), invenio-rdm-records (RR), invenio-requests (RQ), flask-resources (FR),
zenodo-rdm (ZR). User 1 (TEST_TOKEN) owns the seeded communities; user 2 (GUEST_TOKEN) is a member of none."""

from __future__ import annotations

import json

import pytest
import requests
from tests.helpers.rdm_native import METADATA, call

from conftest import TEST_TOKEN

GUEST_TOKEN = "guest-token-0123456789abcdef"
OWNER = {"Authorization": f"Bearer {TEST_TOKEN}"}
GUEST = {"Authorization": f"Bearer {GUEST_TOKEN}"}
LEGACY = {
    "title": "Guest upload",
    "upload_type": "software",
    "creators": [{"name": "Doe, Jane"}],
    "communities": [{"identifier": "escape2020"}],
}


@pytest.fixture
def guest(standin):
    standin.guest_tokens.append(GUEST_TOKEN)
    return standin


def _legacy_publish(api: str, auth: dict, metadata: dict) -> int:
    """A deposition made, filled and published through the legacy API by the token's user."""
    dep = requests.post(f"{api}/deposit/depositions", json={"metadata": metadata}, headers=auth, timeout=10)
    assert dep.status_code == 201, dep.text
    bucket = dep.json()["links"]["bucket"]
    assert requests.put(f"{bucket}/a.txt", data=b"abc", headers=auth, timeout=10).status_code == 201
    done = requests.post(
        f"{api}/deposit/depositions/{dep.json()['id']}/actions/publish", headers=auth, timeout=10
    )
    assert done.status_code == 202, done.text
    return int(done.json()["id"])


def _escape_id(api: str) -> str:
    return requests.get(f"{api}/communities/escape2020", timeout=10).json()["id"]


def _pending(api: str) -> list[dict]:
    got = requests.get(f"{api}/communities/{_escape_id(api)}/requests", headers=OWNER, timeout=10)
    assert got.status_code == 200
    return got.json()["hits"]["hits"]


def test_community_search_is_open_to_anyone(standin) -> None:
    """COM permissions.py can_search = [AnyUser()]; resources/config.py route "list": /communities."""
    got = requests.get(f"{standin.api_url}/communities", params={"q": "escape"}, timeout=10)
    assert got.status_code == 200
    body = got.json()
    assert body["hits"]["total"] == 1 and [c["slug"] for c in body["hits"]["hits"]] == ["escape2020"]
    assert "members" not in body["hits"]["hits"][0]
    assert requests.get(f"{standin.api_url}/communities", timeout=10).json()["hits"]["total"] == 2


def test_community_links_name_the_uuid(standin) -> None:
    """COM communities/services/links.py: API links take ``pid_value = record.id`` (the uuid), html links the
    slug; services/config.py links_item has requests and records."""
    c = requests.get(f"{standin.api_url}/communities/escape2020", timeout=10).json()
    assert c["links"]["requests"] == f"{standin.api_url}/communities/{c['id']}/requests"
    assert c["links"]["records"] == f"{standin.api_url}/communities/{c['id']}/records"
    assert c["links"]["self_html"].endswith("/communities/escape2020")


def test_community_records_by_slug_or_uuid_as_zenodo_json(standin) -> None:
    """RR services/community_records/service.py: anyone; the community resolved by slug or uuid (COM
    pidslug.py resolve), 404 otherwise; records of the community only. ZR invenio.cfg RDM_RECORDS_SERIALIZERS:
    ZenodoJSON under application/json, as /api/records."""
    api = standin.api_url
    inside = _legacy_publish(api, OWNER, LEGACY)
    _legacy_publish(api, OWNER, {**LEGACY, "title": "Elsewhere", "communities": [{"identifier": "zenodo"}]})
    for ref in ("escape2020", _escape_id(api)):
        hits = requests.get(f"{api}/communities/{ref}/records", timeout=10).json()["hits"]["hits"]
        assert [h["id"] for h in hits] == [inside] and isinstance(hits[0]["id"], int)
    native = call("GET", f"{api}/communities/escape2020/records").json()["hits"]["hits"]
    assert [h["id"] for h in native] == [str(inside)]
    missing = requests.get(f"{api}/communities/nowhere/records", timeout=10)
    assert missing.status_code == 404 and missing.json()["status"] == 404


def test_legacy_publish_by_a_non_member_makes_an_inclusion_request(guest) -> None:
    """ZR site/zenodo_rdm/legacy/services.py publish: each legacy community goes through `_include(...,
    require_review=False)`; RR community_inclusion/service.py include accepts only when the uploader may
    include directly, so a non-member's record waits; the record lists only the communities it is in
    (ZR legacy/serializers/schemas/common.py resolve_communities: parent communities once legacy:communities
    is popped). The owner's own upload is accepted at once (ZR site/tests/legacy/test_communities.py)."""
    api = guest.api_url
    rid = _legacy_publish(api, GUEST, LEGACY)
    assert "communities" not in requests.get(f"{api}/records/{rid}", timeout=10).json()["metadata"]
    (req,) = _pending(api)
    assert req["type"] == "community-inclusion" and req["status"] == "submitted" and req["is_open"]
    assert req["topic"] == {"record": str(rid)} and req["receiver"] == {"community": _escape_id(api)}
    owned = _legacy_publish(api, OWNER, LEGACY)
    assert requests.get(f"{api}/records/{owned}", timeout=10).json()["metadata"]["communities"] == [
        {"id": "escape2020"}
    ]
    assert len(_pending(api)) == 1


def test_community_requests_for_curators_only(guest) -> None:
    """COM services/service.py search_community_requests: require_permission("search_requests",
    community_id=<as given>) -> permissions.py can_search_requests = managers and curators; so a guest, an
    anonymous caller and a slug (no role is held for a slug) get 403; ``created`` requests are left out."""
    api = guest.api_url
    _legacy_publish(api, GUEST, LEGACY)
    uuid_url = f"{api}/communities/{_escape_id(api)}/requests"
    for headers in (GUEST, {}):
        refused = requests.get(uuid_url, headers=headers, timeout=10)
        assert refused.status_code == 403 and refused.json() == {
            "status": 403,
            "message": "Permission denied.",
        }
    by_slug = requests.get(f"{api}/communities/escape2020/requests", headers=OWNER, timeout=10)
    assert by_slug.status_code == 403
    draft = requests.post(f"{api}/records", json=METADATA, headers=GUEST, timeout=10).json()
    review = {"receiver": {"community": _escape_id(api)}, "type": "community-submission"}
    made = requests.put(f"{api}/records/{draft['id']}/draft/review", json=review, headers=GUEST, timeout=10)
    assert made.json()["status"] == "created"
    assert [r["status"] for r in _pending(api)] == ["submitted"]


def test_request_actions_errors_in_service_order(guest) -> None:
    """RQ services/requests/service.py execute_action: get_action (unknown -> NoSuchActionError, 400 "Error
    for action 'x': No such action available"), then the permission (accept/decline: the receiver; cancel:
    the creator; RQ services/permissions.py) -> 403, then can_execute (CannotExecuteActionError, 400 "...Could
    not execute the action"); RQ resources/requests/config.py maps both errors to 400 with str(e)."""
    api = guest.api_url
    _legacy_publish(api, GUEST, LEGACY)
    (req,) = _pending(api)
    url = f"{api}/requests/{req['id']}/actions"
    unknown = requests.post(f"{url}/approve", headers=OWNER, timeout=10)
    assert unknown.status_code == 400
    assert unknown.json() == {
        "status": 400,
        "message": "Error for action 'approve': No such action available",
    }
    assert requests.post(f"{url}/accept", headers=GUEST, timeout=10).status_code == 403
    assert requests.post(f"{url}/cancel", headers=OWNER, timeout=10).status_code == 403
    assert requests.post(f"{url}/accept", headers=OWNER, timeout=10).status_code == 200
    again = requests.post(f"{url}/decline", headers=OWNER, timeout=10)
    assert again.status_code == 400
    assert again.json() == {
        "status": 400,
        "message": "Error for action 'decline': Could not execute the action",
    }


def test_request_links_offer_what_the_caller_may_do(guest) -> None:
    """RQ services/requests/config.py links_item (self, self_html, comments, timeline, actions) and
    `_is_action_available`: an action link only when the state allows it and the caller holds the permission."""
    api = guest.api_url
    _legacy_publish(api, GUEST, LEGACY)
    (req,) = _pending(api)
    assert set(req["links"]["actions"]) == {"accept", "decline"}
    assert {"self", "self_html", "comments", "timeline"} <= set(req["links"])
    # RR requests/base.py: self_html is the user dashboard's page (invenio-app-rdm /me/requests/<id>)
    assert req["links"]["self_html"] == f"{api[: -len('/api')]}/me/requests/{req['id']}"
    as_creator = requests.get(req["links"]["self"], headers=GUEST, timeout=10).json()
    assert set(as_creator["links"]["actions"]) == {"cancel"}
    anonymous = requests.get(req["links"]["self"], timeout=10)  # RRS resources/errors.py: 403 for anonymous
    assert anonymous.status_code == 403 and anonymous.json() == {
        "status": 403,
        "message": "Permission denied.",
    }
    assert requests.post(req["links"]["actions"]["accept"], timeout=10).status_code == 403


def test_comments_and_timeline(guest) -> None:
    """RQ resources/events: POST /requests/{id}/comments -> 201, GET /requests/{id}/timeline -> 200 search
    result; an action leaves a log event {"event": <new status>} (RQ customizations/actions.py). A body with
    no Content-Type is read as JSON (FR parsers/decorators.py request_body_parser default_content_type), as
    eossr's post_message sends it."""
    api = guest.api_url
    _legacy_publish(api, GUEST, LEGACY)
    (req,) = _pending(api)
    body = json.dumps({"payload": {"content": "<p>Hi</p>", "format": "html"}})
    made = requests.post(req["links"]["comments"], data=body, headers=GUEST, timeout=10)
    assert made.status_code == 201 and made.json()["type"] == "C"
    assert made.json()["payload"] == {"content": "<p>Hi</p>", "format": "html"}
    requests.post(req["links"]["actions"]["decline"], headers=OWNER, timeout=10)
    hits = requests.get(req["links"]["timeline"], headers=OWNER, timeout=10).json()["hits"]["hits"]
    assert [(h["type"], h["payload"]) for h in hits] == [
        ("C", {"content": "<p>Hi</p>", "format": "html"}),
        ("L", {"event": "declined"}),
    ]
    empty = requests.post(req["links"]["comments"], json={"payload": {}}, headers=GUEST, timeout=10)
    assert empty.status_code == 400


def test_accepting_includes_every_version(guest) -> None:
    """RR services/community_records/service.py filters on ``parent.communities.ids``: communities belong to
    the parent, so accepting the first version's request puts the concept's latest version in the community."""
    api = guest.api_url
    first = _legacy_publish(api, GUEST, LEGACY)
    made = requests.post(f"{api}/deposit/depositions/{first}/actions/newversion", headers=GUEST, timeout=10)
    assert made.status_code == 201
    second = made.json()["id"]
    md = {**made.json()["metadata"], "version": "2"}
    assert requests.put(
        f"{api}/deposit/depositions/{second}", json={"metadata": md}, headers=GUEST, timeout=10
    ).ok
    published = requests.post(
        f"{api}/deposit/depositions/{second}/actions/publish", headers=GUEST, timeout=10
    )
    assert published.status_code == 202
    (req,) = _pending(api)
    assert req["topic"] == {"record": str(first)}
    assert requests.post(req["links"]["actions"]["accept"], headers=OWNER, timeout=10).status_code == 200
    hits = requests.get(f"{api}/communities/escape2020/records", timeout=10).json()["hits"]["hits"]
    assert [h["id"] for h in hits] == [second]
    everything = requests.get(f"{api}/communities/escape2020/records?all_versions=true", timeout=10).json()
    assert sorted(h["id"] for h in everything["hits"]["hits"]) == [first, second]
