"""eossr 2.3.1 (the ESCAPE OSSR library, `eossr.api.zenodo`) against the stand-in over HTTP: every operation of
`ZenodoAPI`, `Record` and the module's search / get functions.

eossr's users reach the sandbox with ``ZenodoAPI(token, sandbox=True)``, which reads the module constants
``zenodo_sandbox_url`` / ``zenodo_sandbox_api_base_url``; those are pointed at the stand-in. eossr decides
whether a *record* is a sandbox one by looking for "sandbox" in its ``links.self`` (zenodo.py:830), so the
production constants are pointed at the stand-in too (a loopback URL contains no "sandbox").
eossr sends the token as ``?access_token=`` and builds every URL with a double slash (``/api//deposit/...``,
from ``f"{sandbox_url}/api/"`` + ``"/deposit/..."``), both of which zenodo.org accepts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eossr.api.zenodo import http_status
from eossr.api.zenodo import zenodo as ez
from tests.peers.conftest import md5_of

from conftest import TEST_TOKEN

META = {
    "title": "eossr peer test record",
    "upload_type": "software",
    "creators": [{"name": "Doe, Jane", "affiliation": "Example Lab"}],
    "description": "A record made by eossr against the local stand-in.",
    "access_right": "open",
    "license": "MIT",
    "keywords": ["eossr-peer"],
    "communities": [{"identifier": "escape2020"}],
    "grants": [{"id": "10.13039/501100000780::824064"}],
    "version": "1.0.0",
}


@pytest.fixture
def api(standin, monkeypatch: pytest.MonkeyPatch) -> ez.ZenodoAPI:
    for name, value in {
        "zenodo_url": standin.base_url,
        "zenodo_api_base_url": f"{standin.base_url}/api/",
        "zenodo_sandbox_url": standin.base_url,
        "zenodo_sandbox_api_base_url": f"{standin.base_url}/api/",
    }.items():
        monkeypatch.setattr(ez, name, value)
    return ez.ZenodoAPI(access_token=TEST_TOKEN, sandbox=True)


def _published(api: ez.ZenodoAPI, payload: Path, metadata: dict | None = None) -> int:
    return int(api.upload_dir_content(payload, metadata=metadata or META, publish=True))


def test_deposit_steps(api: ez.ZenodoAPI, payload: Path) -> None:
    """create, upload, set and update metadata, query, erase a file, publish."""
    created = api.create_new_deposit()
    assert created.status_code == 201
    dep_id = created.json()["id"]
    up = api.upload_file_deposit(dep_id, "data.bin", payload / "data.bin")
    assert up.status_code == 201 and up.json()["checksum"] == f"md5:{md5_of(payload / 'data.bin')}"
    api.upload_file_deposit(dep_id, "extra.txt", payload / "README.md")
    assert api.set_deposit_metadata(dep_id, META).status_code == 200
    updated = api.update_deposit_metadata(dep_id, {"version": "1.0.1"})
    assert updated.status_code == 200 and updated.json()["metadata"]["version"] == "1.0.1"
    files = api.query_deposit(dep_id).json()["files"]
    extra = next(f for f in files if f["filename"] == "extra.txt")
    assert api.erase_file_deposit(dep_id, extra["id"]).status_code == 204
    assert [f["filename"] for f in api.query_deposit(dep_id).json()["files"]] == ["data.bin"]
    published = api.publish_deposit(dep_id)
    assert published.status_code == 202
    body = published.json()
    assert body["state"] == "done" and body["doi"] == f"10.5072/zenodo.{dep_id}"
    assert any(d["id"] == dep_id for d in api.query_user_deposits().json())


def test_erase_deposit(api: ez.ZenodoAPI, capsys: pytest.CaptureFixture[str]) -> None:
    dep_id = api.create_new_deposit().json()["id"]
    assert api.erase_deposit(dep_id).status_code == 204
    assert "The deposit has been deleted" in capsys.readouterr().out
    # a second erase is a 404 on zenodo.org (RDM tests), which eossr turns into its HTTPStatusError
    with pytest.raises(http_status.HTTPStatusError, match="404"):
        api.erase_deposit(dep_id)


def test_upload_dir_content_new_record_and_new_version(
    api: ez.ZenodoAPI, payload: Path, tmp_path: Path
) -> None:
    first = _published(api, payload)
    record = ez.get_record(first, sandbox=True)
    assert record.doi == f"10.5072/zenodo.{first}"
    assert sorted(Path(u.rsplit("/content", 1)[0]).name for u in record.filelist) == ["README.md", "data.bin"]

    (payload / "data.bin").write_bytes(b"second version\n")
    second = int(api.upload_dir_content(payload, record_id=first, metadata={**META, "version": "2.0.0"}))
    assert second != first
    latest = ez.get_record(first, sandbox=True).get_last_version()
    assert latest.id == second and latest.metadata["version"] == "2.0.0"
    assert latest.data["conceptrecid"] == record.data["conceptrecid"]
    versions = record.get_associated_versions()
    assert versions == {first: "1.0.0", second: "2.0.0"}

    out = tmp_path / "download"
    latest.download(out)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data.bin"]
    assert (out / "data.bin").read_bytes() == b"second version\n"


def test_upload_dir_content_reads_zenodo_json_and_keeps_a_draft(api: ez.ZenodoAPI, payload: Path) -> None:
    (payload / ".zenodo.json").write_text(json.dumps(META), encoding="utf-8")
    dep_id = int(api.upload_dir_content(payload, publish=False))
    dep = api.query_deposit(dep_id).json()
    assert dep["state"] == "unsubmitted" and dep["metadata"]["title"] == META["title"]
    assert sorted(f["filename"] for f in dep["files"]) == [".zenodo.json", "README.md", "data.bin"]


def test_check_upload_to_zenodo(api: ez.ZenodoAPI, payload: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (payload / ".zenodo.json").write_text(json.dumps(META), encoding="utf-8")
    before = len(api.query_user_deposits().json())
    api.check_upload_to_zenodo(payload)
    assert "Successful testing of the connection to Zenodo" in capsys.readouterr().out
    assert len(api.query_user_deposits().json()) == before  # the dummy deposit was erased


def test_records_search_and_user_records(api: ez.ZenodoAPI, payload: Path) -> None:
    rid = _published(api, payload)
    other = _published(api, payload, {**META, "title": "Another eossr record", "communities": []})
    found = ez.search_records("eossr peer", sandbox=True)
    assert {r.id for r in found} == {rid, other}  # "eossr" OR "peer", as on zenodo.org
    assert [r.id for r in ez.search_records("title:another", sandbox=True)] == [other]
    community = api.query_community_records("escape2020").json()["hits"]["hits"]
    assert [h["id"] for h in community] == [rid]
    mine = api.get_user_records()
    assert {r.id for r in mine} == {rid, other}
    record = ez.Record.from_id(rid, sandbox=True)
    assert [r.id for r in api.find_similar_records(record)] == [rid]
    assert record.data["metadata"]["communities"] == [{"id": "escape2020"}]
    grant = record.data["metadata"]["grants"][0]
    assert grant["code"] == "824064" and grant["funder"]["doi"] == "10.13039/501100000780"
    assert record.web_url.endswith(f"/records/{rid}")


def test_record_codemeta_and_zenodo_json(api: ez.ZenodoAPI, payload: Path, tmp_path: Path) -> None:
    codemeta = {"@context": "https://w3id.org/codemeta/3.0", "name": "peer", "version": "1.0.0"}
    (payload / "codemeta.json").write_text(json.dumps(codemeta), encoding="utf-8")
    record = ez.get_record(_published(api, payload), sandbox=True)
    assert record.get_codemeta() == codemeta
    out = tmp_path / "zenodo.json"
    record._write_zenodo_deposit(out, validate=False)
    written = json.loads(out.read_text())
    assert written["communities"] == [{"identifier": "escape2020"}] and written["license"] == "mit-license"
    record.print_info()


def test_update_record_metadata(api: ez.ZenodoAPI, payload: Path) -> None:
    """eossr re-sends the record's metadata (read shapes) as deposit metadata: on zenodo.org the legacy
    deserializer refuses communities as [{"id": ...}] (zenodo-api.md section 2: any shape but
    [{"identifier": ...}] is a 400), so eossr's update fails on a record in a community (zenodo.py:699-711
    copies `communities` and `grants` as read). Without communities it works."""
    rid = _published(api, payload, {**META, "communities": [], "grants": []})
    answer = api.update_record_metadata(rid, {"title": "Renamed by eossr"})
    assert answer.status_code == 202
    assert ez.get_record(rid, sandbox=True).title == "Renamed by eossr"

    in_community = _published(api, payload)
    with pytest.raises(http_status.HTTPStatusError, match="400"):
        api.update_record_metadata(in_community, {"title": "Renamed again"})


def test_vocabulary_lookups_and_searches(api: ez.ZenodoAPI) -> None:
    """get_license / get_funder and search_licenses / search_funders use InvenioRDM's vocabulary endpoints;
    /api/licenses is redirected to /api/vocabularies/licenses with its arguments (zenodo-rdm config.py
    API_REDIRECTOR_RULES)."""
    lic = ez.get_license("mit", sandbox=True)
    assert lic["id"] == "mit" and lic["title"]["en"] == "MIT License"
    funder = ez.get_funder("00k4n6c32", sandbox=True)
    assert funder["id"] == "00k4n6c32" and funder["name"] == "European Commission"
    assert [h["id"] for h in ez.search_licenses("apache", sandbox=True)] == [
        "apache-1.0",
        "apache-1.1",
        "apache-2.0",
    ]
    assert [h["id"] for h in ez.search_funders("health", sandbox=True)] == ["01cwqze88"]
    supported = ez.get_supported_licenses()  # one page of 1000 (the vocabulary holds fewer)
    assert {"cc-by-4.0", "mit", "apache-2.0"} <= set(supported) and len(supported) > 400


def test_module_functions(api: ez.ZenodoAPI, payload: Path) -> None:
    assert ez.is_live(sandbox=True)
    rid = _published(api, payload)
    assert ez.get_deposit(rid, TEST_TOKEN, sandbox=True)["id"] == rid
    assert ez.query_deposit(rid, TEST_TOKEN, sandbox=True).json()["doi"] == f"10.5072/zenodo.{rid}"
    hits = ez.query_deposits("eossr", TEST_TOKEN, sandbox=True).json()
    assert [d["id"] for d in hits] == [rid]
    assert [h["id"] for h in ez.query_records("peer", sandbox=True).json()["hits"]["hits"]] == [rid]


GUEST_TOKEN = "guest-token-0123456789abcdef"


@pytest.fixture
def guest_api(standin, api: ez.ZenodoAPI) -> ez.ZenodoAPI:
    """eossr as a second user, a member of no community (the stand-in's ``guest_tokens``)."""
    standin.guest_tokens.append(GUEST_TOKEN)
    return ez.ZenodoAPI(access_token=GUEST_TOKEN, sandbox=True)


def test_community_get_and_search(api: ez.ZenodoAPI) -> None:
    """get_community: GET /api/communities/{slug}; search_communities: GET /api/communities?q= (anyone may
    search: invenio-communities permissions.py can_search = AnyUser)."""
    community = ez.get_community("escape2020", sandbox=True)
    assert community["slug"] == "escape2020" and community["metadata"]["title"] == "ESCAPE 2020"
    assert community["links"]["requests"].endswith(f"/api/communities/{community['id']}/requests")
    assert [c["slug"] for c in ez.search_communities("escape", sandbox=True)] == ["escape2020"]
    assert {c["slug"] for c in ez.search_communities("", sandbox=True)} >= {"escape2020", "zenodo"}


def test_pending_requests_accepted_by_the_curator(
    api: ez.ZenodoAPI, guest_api: ez.ZenodoAPI, payload: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A guest's legacy publish into escape2020 becomes a submitted inclusion request (zenodo-rdm
    legacy/services.py publish -> `_include`); the record is not in the community until a curator accepts.
    Only curators list a community's requests (invenio-communities permissions.py can_search_requests)."""
    rid = int(guest_api.upload_dir_content(payload, metadata=META, publish=True))
    assert "communities" not in ez.get_record(rid, sandbox=True).data["metadata"]
    assert api.query_community_records("escape2020").json()["hits"]["hits"] == []
    with pytest.raises(http_status.HTTPStatusError, match="403"):
        guest_api.get_community_pending_requests("escape2020")

    (pending,) = api.get_community_pending_requests("escape2020")
    assert pending.record_id == str(rid) and pending.is_open and pending.status == "submitted"
    assert pending.title == META["title"] and pending.record.id == rid
    community_id = ez.get_community("escape2020", sandbox=True)["id"]
    # PendingRequest.url (zenodo.py:1655-1667) rewrites links.self_html, which is the user dashboard's
    # /me/requests/<id> on zenodo.org (invenio-rdm-records requests/base.py, invenio-app-rdm
    # RDM_REQUESTS_ROUTES), into /me/communities/<uuid>/requests/<id>: a page that does not exist (the
    # community dashboard is /communities/<slug>/requests/<id>). A client bug; the stand-in serves zenodo's link.
    assert pending.data["links"]["self_html"].endswith(f"/me/requests/{pending.id}")
    assert pending.url.endswith(f"/me/communities/{community_id}/requests/{pending.id}")
    assert pending.post_message("Welcome to ESCAPE") is True
    pending.display_discussion()
    assert "Welcome to ESCAPE" in capsys.readouterr().out

    pending.accept()
    assert "Request accepted successfully." in capsys.readouterr().out
    assert [h["id"] for h in api.query_community_records("escape2020").json()["hits"]["hits"]] == [rid]
    assert ez.get_record(rid, sandbox=True).data["metadata"]["communities"] == [{"id": "escape2020"}]
    assert api.get_community_pending_requests("escape2020") == []
    events = pending.get_timeline(force_refresh=True)["hits"]["hits"]
    assert [e["type"] for e in events] == ["C", "L"] and events[1]["payload"] == {"event": "accepted"}


def test_pending_request_declined(api: ez.ZenodoAPI, guest_api: ez.ZenodoAPI, payload: Path) -> None:
    rid = int(guest_api.upload_dir_content(payload, metadata=META, publish=True))
    (pending,) = api.get_community_pending_requests("escape2020")
    pending.decline()
    assert api.get_community_pending_requests("escape2020") == []
    assert api.query_community_records("escape2020").json()["hits"]["hits"] == []
    assert "communities" not in ez.get_record(rid, sandbox=True).data["metadata"]


def test_answer_to_pending_request_client_bugs(
    api: ez.ZenodoAPI, guest_api: ez.ZenodoAPI, payload: Path
) -> None:
    """answer_to_pending_request fails on zenodo.org too: it indexes the PendingRequest objects it made
    (`req["topic"]["record"]`, eossr 2.3.1 zenodo.py:663; PendingRequest has no __getitem__) and never sets
    `pending_record`, so it raises ValueError even after answering (zenodo.py:660-669). The stand-in serves the
    request exactly as zenodo.org does; the answer is given through PendingRequest.accept / decline above."""
    with pytest.raises(ValueError, match="is not in the pending requests"):
        api.answer_to_pending_request("escape2020", 1, accept=True)  # no pending request at all
    rid = int(guest_api.upload_dir_content(payload, metadata=META, publish=True))
    with pytest.raises(TypeError, match="not subscriptable"):
        api.answer_to_pending_request("escape2020", str(rid), accept=True)
    (still,) = api.get_community_pending_requests("escape2020")
    assert still.record_id == str(rid) and still.status == "submitted"
