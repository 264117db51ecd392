"""The native backend's read side (`zenodo/rdm_records.py`, `Record.from_rdm_json`): the reference's native
record parses; one record read through both APIs of the stand-in gives the same `Record`; the requests the
client sends (vnd Accept, native query fields, sorts, allversions, every page by links.next) as a real HTTP
server sees them; 404 / 410 / a concept redirect."""

from __future__ import annotations

import http.server
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.models import Record
from ossr_images.zenodo.rdm_client import RdmClient
from ossr_images.zenodo.rdm_records import NATIVE_JSON, native_query
from ossr_images.zenodo.target import Target

from .conftest import TOKEN, fast_retry, make_published

DATA = Path(__file__).parents[1] / "data" / "zenodo"


def native_sample() -> dict[str, Any]:
    doc = json.loads((DATA / "record_native__production_2867216__reference_abbreviated.json").read_text())
    return doc["response"]


def rdm_client(api_url: str, token: str | None = None) -> RdmClient:
    return RdmClient(Target("custom", api_url, token, None, False, "rdm"), retry=fast_retry())


def test_the_references_native_record_parses() -> None:
    record = Record.from_rdm_json(native_sample())
    assert (record.id, record.doi, record.conceptdoi, record.conceptrecid) == (
        "2867216",
        "10.5281/zenodo.2867216",
        "10.5281/zenodo.2867215",
        "2867215",
    )
    assert (record.title, record.publication_date, record.version) == ("Example dataset", "2019-05-17", None)
    (entry,) = record.files
    assert (entry.key, entry.size, entry.md5) == ("a.zip", 606144431, "98c5000000000000000000000000000a")
    assert entry.url == "https://zenodo.org/api/records/2867216/files/a.zip/content"
    assert record.html_url == "https://zenodo.org/records/2867216"
    assert (record.access_right, record.record_access, record.files_access) == ("open", "public", "public")
    assert record.communities == ("f0a8b890-0000-4000-8000-000000000000",) and record.published
    assert record.closed_reason is None


def test_native_subjects_relations_drafts_and_restricted_files() -> None:
    doc = native_sample()
    doc["metadata"]["subjects"] = [{"subject": "containers"}, {"id": "no-subject-text"}, "junk"]
    doc["metadata"]["related_identifiers"] = [
        {
            "identifier": "https://github.com/o/r/tree/abc",
            "scheme": "url",
            "relation_type": {"id": "isderivedfrom"},
        }
    ]
    doc["parent"]["communities"]["entries"] = [
        {"id": "f0a8b890-0000-4000-8000-000000000000", "slug": "escape2020"}
    ]
    record = Record.from_rdm_json(doc)
    assert record.keywords == ("containers",)
    assert [(r.identifier, r.relation) for r in record.related] == [
        ("https://github.com/o/r/tree/abc", "isderivedfrom")
    ]
    assert record.communities == ("escape2020", "f0a8b890-0000-4000-8000-000000000000")
    restricted = Record.from_rdm_json(
        {**doc, "access": {"record": "public", "files": "restricted", "status": "restricted"}}
    )
    assert restricted.closed_reason == "its access right is 'restricted', not open"
    draft = Record.from_rdm_json({**doc, "is_published": False, "is_draft": True})
    assert draft.closed_reason == "it is not published (a draft)"
    assert Record.from_rdm_json({"id": "4d0ns-ntd89"}).files == ()


def test_legacy_names_in_queries_become_native_fields_outside_quotes() -> None:
    assert native_query('keywords:"ossr-images:container-image" AND (gammapy)') == (
        'metadata.subjects.subject:"ossr-images:container-image" AND (gammapy)'
    )
    assert native_query("conceptrecid:12 +doi:x -recid:3") == "parent.id:12 +pids.doi.identifier:x -id:3"
    assert native_query('title:"doi:x" metadata.title:y') == 'metadata.title:"doi:x" metadata.title:y'


def test_one_record_read_through_both_apis_is_the_same(client, standin) -> None:
    """A deposition published through the legacy API, read as ZenodoJSON and as native JSON."""
    dep = make_published(client, files={"image.tar": b"x" * 1000, "notes.txt": b"notes\n"})
    legacy = client.get_record(dep.id)
    with rdm_client(standin.api_url) as rdm:
        native = rdm.get_record(dep.id)
        latest = rdm.get_record(dep.conceptrecid)  # the concept id: redirected to the latest version
    fields = ("id", "doi", "conceptdoi", "conceptrecid", "title", "version", "publication_date", "keywords")
    assert {f: getattr(native, f) for f in fields} == {f: getattr(legacy, f) for f in fields}
    assert native.doi == f"10.5072/zenodo.{dep.id}" and latest.id == native.id
    assert {(f.key, f.size, f.md5) for f in native.files} == {(f.key, f.size, f.md5) for f in legacy.files}
    assert all(f.url and f.url.endswith(f"/records/{dep.id}/files/{f.key}/content") for f in native.files)
    assert native.closed_reason is None and legacy.closed_reason is None
    assert "escape2020" in legacy.communities and native.communities  # the slug, and the community's id


class _Native(http.server.BaseHTTPRequestHandler):
    """A small InvenioRDM: one record, a concept id that redirects, a deleted one, and a search of two pages."""

    seen: list[tuple[str, dict[str, list[str]], str | None]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        type(self).seen.append((parts.path, query, self.headers.get("Accept")))
        base = f"http://{self.headers['Host']}/api"
        if parts.path == "/api/records/2867216":
            self._json(200, native_sample())
        elif parts.path == "/api/records/2867215":
            self._json(302, {}, {"Location": f"{base}/records/2867216"})
        elif parts.path == "/api/records/gone1-gone2":
            self._json(410, {"status": 410, "message": "The record has been deleted."})
        elif parts.path == "/api/records":
            page = int(query.get("page", ["1"])[0])
            hits = [dict(native_sample(), id=f"{page}{i}") for i in range(2)]
            links = {"self": f"{base}/records?page={page}"}
            if page < 3:  # links.next carries the query on, as InvenioRDM writes it
                links["next"] = f"{base}/records?{parts.query.replace(f'page={page}', f'page={page + 1}')}"
            self._json(200, {"hits": {"hits": hits, "total": 6}, "aggregations": {}, "links": links})
        else:
            self._json(404, {"status": 404, "message": "The persistent identifier does not exist."})


def test_requests_as_an_invenio_server_sees_them() -> None:
    from fetch.records import serve

    _Native.seen = []
    with serve(_Native) as base, rdm_client(f"{base}/api") as rdm:
        assert rdm.get_record("2867215").id == "2867216"
        with pytest.raises(ZenodoError) as gone:
            rdm.get_record("gone1-gone2")
        assert gone.value.status == 410
        with pytest.raises(ZenodoError) as missing:
            rdm.get_record("nothere")
        assert missing.value.status == 404
        found = list(
            rdm.search_records(
                q='keywords:"x" AND conceptrecid:7', all_versions=True, sort="mostrecent", size=2
            )
        )
        assert [r.id for r in found] == ["10", "11", "20", "21", "30", "31"]
        assert len(list(rdm.search_records(q="x", size=2, max_results=3))) == 3
    assert all(accept == NATIVE_JSON for _, _, accept in _Native.seen)
    searches = [q for path, q, _ in _Native.seen if path == "/api/records"]
    assert searches[0] == {
        "size": ["2"],
        "page": ["1"],
        "q": ['metadata.subjects.subject:"x" AND parent.id:7'],
        "allversions": ["true"],
        "sort": ["newest"],
    }
    assert [q["page"] for q in searches[:3]] == [["1"], ["2"], ["3"]] and all("q" in q for q in searches)


def test_community_records_come_from_the_community_route(standin) -> None:
    """A community's records through `/communities/{slug}/records` (the route every InvenioRDM has); a
    record in two of the communities asked for is given once."""
    from fetch.native_records import add_to_community

    with rdm_client(standin.api_url, TOKEN) as rdm:
        target = Target("custom", standin.api_url, TOKEN, "10.5072")
        from ossr_images.zenodo.client import ZenodoClient

        with ZenodoClient(target, retry=fast_retry()) as legacy:
            inside = make_published(legacy, title="In both", communities=[])
            make_published(legacy, title="Outside", communities=[])
        add_to_community(standin, str(inside.id), "escape2020")
        add_to_community(standin, str(inside.id), "zenodo")
        found = list(rdm.search_records(communities=["escape2020", "zenodo"]))
        assert [r.title for r in found] == ["In both"]
        assert [r.title for r in rdm.search_records(communities="zenodo")] == ["In both"]
        with pytest.raises(ZenodoError) as unknown:
            list(rdm.search_records(communities="no-such-community"))
        assert unknown.value.status == 404 and "no community 'no-such-community'" in unknown.value.message
