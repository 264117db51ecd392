"""JSON shapes of the stand-in, as Zenodo-RDM serves them: legacy depositions, ZenodoJSON records, bucket
objects, search pages; and what the terms of ``q`` match (``doi:"..."``, ``conceptrecid:N``, free text; the
operators and grouping are parsed by `standin.query`)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from ossr_images.standin import rdm_ids
from ossr_images.standin.metadata import ORGANIZATIONAL, resource_type
from ossr_images.standin.query import Node, compile_query, evaluate, terms_of, words_match
from ossr_images.standin.store import PRERESERVE_PREFIX, ApiError, Store
from ossr_images.standin.vocabularies import grant_read_shape

SEARCH_SORTS = {
    "bestmatch", "mostrecent", "-mostrecent", "newest", "oldest", "updated-desc", "updated-asc", "version",
    "-version", "mostviewed", "mostdownloaded",
}  # fmt: skip
ASCENDING_SORTS = {"-mostrecent", "oldest", "updated-asc", "-version"}
MAX_RESULT_WINDOW = 10_000


def doi_url(doi: str) -> str:
    """Where a DOI resolves: DataCite's test handle server for the sandbox prefix, doi.org otherwise."""
    if doi.startswith("10.5072/"):
        return f"https://handle.test.datacite.org/{doi}"
    return f"https://doi.org/{doi}"


def _file_key_url(key: str) -> str:
    return quote(key, safe="")


def legacy_file(api: str, rec: dict[str, Any], entry: dict[str, Any], published: bool) -> dict[str, Any]:
    """A file entry of a deposition's ``files`` list (legacy deposit API)."""
    rid = rec["id"]
    kind = "files" if published else "draft/files"
    return {
        "id": entry["id"],
        "filename": entry["key"],
        "filesize": entry["size"],
        "checksum": entry["md5"],
        "links": {
            "self": f"{api}/deposit/depositions/{rid}/files/{entry['id']}",
            "download": f"{api}/records/{rid}/{kind}/{_file_key_url(entry['key'])}/content",
        },
    }


def bucket_object(api: str, rec: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The answer to a bucket PUT (and an entry of a bucket listing)."""
    url = f"{api}/files/{rec['bucket']}/{_file_key_url(entry['key'])}"
    return {
        "created": entry["created"],
        "updated": entry["updated"],
        "version_id": entry["version_id"],
        "key": entry["key"],
        "size": entry["size"],
        "mimetype": entry.get("mimetype") or "application/octet-stream",
        "checksum": f"md5:{entry['md5']}",
        "is_head": True,
        "delete_marker": False,
        "links": {
            "self": url,
            "version": f"{url}?versionId={entry['version_id']}",
            "uploads": f"{url}?uploads",
        },
    }


def legacy_people(md: dict[str, Any]) -> dict[str, Any]:
    """Creators and contributors as the legacy serializer shows them: ``name`` (person_or_org.name),
    affiliation, orcid, whatever the person type (zenodo-rdm legacy/serializers/schemas/common.py)."""
    for key in ("creators", "contributors"):
        if isinstance(md.get(key), list):
            md[key] = [{k: v for k, v in c.items() if k != ORGANIZATIONAL} if isinstance(c, dict) else c
                       for c in md[key]]  # fmt: skip
    return md


def deposition(store: Store, rec: dict[str, Any], base: str) -> dict[str, Any]:
    """A deposition as the legacy deposit API shows it."""
    with store.lock:
        return copy.deepcopy(_deposition(store, rec, base))


def _deposition(store: Store, rec: dict[str, Any], base: str) -> dict[str, Any]:
    api = f"{base}/api"
    rid = rec["id"]
    dep_url = f"{api}/deposit/depositions/{rid}"
    published = bool(rec.get("published"))
    draft = store.latest_draft(rec) if published else rec
    latest_draft_id = (draft or rec)["id"]
    links = {
        "self": f"{api}/records/{rid}" if published else dep_url,
        "html": f"{base}/deposit/{rid}",
        "badge": f"{base}/badge/doi/{rec['doi']}.svg" if rec.get("doi") else f"{base}/badge/doi/.svg",
        "files": f"{dep_url}/files",
        "bucket": f"{api}/files/{rec['bucket']}",
        "latest_draft": f"{api}/deposit/depositions/{latest_draft_id}",
        "latest_draft_html": f"{base}/deposit/{latest_draft_id}",
        "publish": f"{dep_url}/actions/publish",
        "edit": f"{dep_url}/actions/edit",
        "discard": f"{dep_url}/actions/discard",
        "newversion": f"{dep_url}/actions/newversion",
    }
    files = rec["published"]["files"] if published else rec["files"]
    metadata = legacy_people(dict(rec["metadata"]))
    metadata["prereserve_doi"] = {"doi": f"{PRERESERVE_PREFIX}/zenodo.{rid}", "recid": rid}
    doc: dict[str, Any] = {
        "created": rec["created"],
        "modified": rec["modified"],
        "id": rid,
        "record_id": rid,
        "conceptrecid": rec["conceptrecid"],
        "title": rec["metadata"].get("title") or "",
        "owner": rec["owner"],
        "metadata": metadata,
        "links": links,
        "files": [legacy_file(api, rec, f, published) for f in files],
        "state": rec["state"],
        "submitted": rec["submitted"],
    }
    if rec.get("doi"):
        concept = store.concept(rec)
        doc["doi"] = rec["doi"]
        doc["conceptdoi"] = concept.get("conceptdoi")
        doc["doi_url"] = doi_url(rec["doi"])
        links.update(
            {
                "record": f"{api}/records/{rid}",
                "record_html": f"{base}/records/{rid}",
                "latest": f"{api}/records/{rid}/versions/latest",
                "latest_html": f"{base}/records/{rid}/latest",
                "doi": doi_url(rec["doi"]),
                "parent_doi": doi_url(concept["conceptdoi"]) if concept.get("conceptdoi") else None,
                "conceptbadge": f"{base}/badge/doi/{concept.get('conceptdoi')}.svg",
            }
        )
    return doc


def record(store: Store, rec: dict[str, Any], base: str) -> dict[str, Any]:
    """A published record as ZenodoJSON (what ``GET /api/records/N`` returns on Zenodo)."""
    with store.lock:
        return copy.deepcopy(_record(store, rec, base))


def _record(store: Store, rec: dict[str, Any], base: str) -> dict[str, Any]:
    api = f"{base}/api"
    rid = rec["id"]
    pub = rec["published"]
    concept = store.concept(rec)
    versions = store.published_versions(rec["conceptrecid"])
    index = next((i for i, v in enumerate(versions) if v["id"] == rid), 0)
    md = legacy_people(dict(pub["metadata"]))
    upload_type_fields = {"upload_type", "publication_type", "image_type"}
    md = {k: v for k, v in md.items() if k not in upload_type_fields}
    md["resource_type"] = resource_type(pub["metadata"])
    if md.get("communities"):  # the record serializer names them by id, the deposit API by identifier
        md["communities"] = [{"id": c.get("identifier")} for c in md["communities"]]
    if md.get("grants"):  # zenodojson dump_grants: code, internal_id, funder{name, doi, acronym}, title...
        md["grants"] = [grant_read_shape(g["id"]) for g in md["grants"]]
    md["relations"] = {
        "version": [
            {
                "index": index,
                "is_last": index == len(versions) - 1,
                "parent": {"pid_type": "recid", "pid_value": rec["conceptrecid"]},
            }
        ]
    }
    conceptdoi = concept.get("conceptdoi")
    links = {
        "self": f"{api}/records/{rid}",
        "self_html": f"{base}/records/{rid}",
        "doi": doi_url(rec["doi"]),
        "self_doi": doi_url(rec["doi"]),
        "self_doi_html": f"{base}/doi/{rec['doi']}",
        "parent": f"{api}/records/{rec['conceptrecid']}",
        "parent_html": f"{base}/records/{rec['conceptrecid']}",
        "parent_doi": doi_url(conceptdoi) if conceptdoi else None,
        "parent_doi_html": f"{base}/doi/{conceptdoi}" if conceptdoi else None,
        "files": f"{api}/records/{rid}/files",
        "archive": f"{api}/records/{rid}/files-archive",
        "latest": f"{api}/records/{rid}/versions/latest",
        "latest_html": f"{base}/records/{rid}/latest",
        "versions": f"{api}/records/{rid}/versions",
        "draft": f"{api}/records/{rid}/draft",
    }
    return {
        "created": pub["created"],
        "modified": pub["modified"],
        "updated": pub["modified"],
        "id": rid,
        "recid": str(rid),
        "conceptrecid": rec["conceptrecid"],
        "doi": rec["doi"],
        "conceptdoi": conceptdoi,
        "doi_url": doi_url(rec["doi"]),
        "title": md.get("title") or "",
        "metadata": md,
        "links": links,
        "revision": pub["revision"],
        "files": [
            {
                "id": f["id"],
                "key": f["key"],
                "size": f["size"],
                "checksum": f"md5:{f['md5']}",
                "links": {"self": f"{api}/records/{rid}/files/{_file_key_url(f['key'])}/content"},
            }
            for f in pub["files"]
        ],
        "swh": {},
        "owners": [{"id": str(rec["owner"])}],
        "status": "published",
        "stats": {
            "downloads": 0,
            "unique_downloads": 0,
            "views": 0,
            "unique_views": 0,
            "version_downloads": 0,
            "version_unique_downloads": 0,
            "version_unique_views": 0,
            "version_views": 0,
        },  # fmt: skip
        "state": "done",
        "submitted": True,
    }


# ---------------------------------------------------------------- query language


def parse_query(q: str) -> list[tuple[str | None, str]]:
    """``doi:"10.5281/zenodo.1" word "a phrase"`` -> [("doi", ...), (None, "word"), (None, "a phrase")]: the
    terms of a query (see `standin.query` for the operators and grouping `matches` evaluates)."""
    return [(t.field, t.value) for t in terms_of(compile_query(q))]


def _text_of(md: dict[str, Any]) -> str:
    parts = [str(md.get("title") or ""), str(md.get("description") or "")]
    parts += [str(k) for k in md.get("keywords") or []]
    parts += [str(c.get("name") or "") for c in md.get("creators") or [] if isinstance(c, dict)]
    parts.append(str(md.get("notes") or ""))
    return "\n".join(parts)


# zenodo.org's legacy query field names and the RDM names they map to (zenodo-rdm site/zenodo_rdm/queryparser.py,
# ZENODO_LEGACY_SEARCH_MAP), each to what the stand-in compares; a name not listed searches the record's text
FIELDS = {
    "doi": "doi", "pids.doi.identifier": "doi",
    "conceptdoi": "conceptdoi", "parent.pids.doi.identifier": "conceptdoi",
    "conceptrecid": "conceptrecid", "parent.id": "conceptrecid",
    "recid": "recid", "id": "recid",
    "title": "title", "metadata.title": "title",
    "description": "description", "metadata.description": "description",
    "keywords": "keywords", "metadata.subjects.subject": "keywords", "subjects": "keywords",
    "version": "version_index", "versions.index": "version_index", "metadata.version": "version",
    "creators.name": "creators", "metadata.creators.person_or_org.name": "creators",
    "communities": "communities", "parent.communities.ids": "communities",
    "resource_type.type": "type", "type": "type", "metadata.resource_type.props.type": "type",
    "notes": "notes", "metadata.additional_descriptions.description": "notes",
    "owners": "owner", "user": "owner", "parent.access.owned_by.user": "owner",
    "filename": "filename", "files.entries.key": "filename",
    "publication_date": "publication_date", "publicationdate": "publication_date",
    "metadata.publication_date": "publication_date",
    "license.identifier": "license", "metadata.rights.id": "license",
    "grants.code": "grant_code", "metadata.funding.award.number": "grant_code",
}  # fmt: skip


def matches(store: Store, rec: dict[str, Any], md: dict[str, Any], query: Node | None) -> bool:
    """Does a record (with metadata ``md``) satisfy the compiled query (`standin.query.compile_query`)?"""
    concept = store.state["concepts"].get(rec["conceptrecid"], {})

    def version_index() -> str:
        ids = [v["id"] for v in store.published_versions(rec["conceptrecid"])]
        return str(ids.index(rec["id"]) + 1) if rec["id"] in ids else ""

    def term(field: str | None, value: str) -> bool:
        v = value.lower()
        kind = FIELDS.get(field or "", "text")
        files = rec["published"]["files"] if rec.get("published") else rec["files"]
        exact: dict[str, Callable[[], list[str]]] = {
            "doi": lambda: [rec.get("doi") or ""],
            "conceptdoi": lambda: [concept.get("conceptdoi") or ""],
            "conceptrecid": lambda: [rdm_ids.shown(store, rec["conceptrecid"])],
            "recid": lambda: [rdm_ids.shown(store, rec["id"])],
            "keywords": lambda: [str(k) for k in md.get("keywords") or []],
            "version_index": lambda: [version_index()],
            "version": lambda: [str(md.get("version") or "")],
            "communities": lambda: [str(c.get("identifier") or "") for c in md.get("communities") or []],
            "type": lambda: [str(md.get("upload_type") or "")],
            "owner": lambda: [str(rec["owner"])],
            "filename": lambda: [f["key"] for f in files],
            "publication_date": lambda: [str(md.get("publication_date") or "")],
            "license": lambda: [str((md.get("license") or {}).get("id") or "")],
            "grant_code": lambda: [g["id"].split("::")[-1] for g in md.get("grants") or []],
        }
        if kind in exact:
            if v.endswith("*"):
                return any(candidate.lower().startswith(v[:-1]) for candidate in exact[kind]())
            return any(v == candidate.lower() for candidate in exact[kind]())
        texts = {
            "title": lambda: str(md.get("title") or ""),
            "description": lambda: str(md.get("description") or ""),
            "notes": lambda: str(md.get("notes") or ""),
            "creators": lambda: "\n".join(
                str(c.get("name") or "") for c in md.get("creators") or [] if isinstance(c, dict)
            ),
        }
        return words_match(texts.get(kind, lambda: _text_of(md))(), value)

    return evaluate(query, term)


def int_param(params: dict[str, str], name: str, default: int) -> int:
    """A positive integer query parameter, or a 400 like Zenodo."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400, "Invalid querystring parameters.", [{"field": name, "messages": ["Not a valid integer."]}]
        ) from None
    if value < 1:
        raise ApiError(
            400,
            "Invalid querystring parameters.",
            [{"field": name, "messages": ["Must be greater than or equal to 1."]}],
        )
    return value


def page_params(params: dict[str, str], authenticated: bool) -> tuple[int, int]:
    """(page, size) checked like Zenodo: at most 25 per page without a token, 100 with one."""
    size = int_param(params, "size", 10)
    page = int_param(params, "page", 1)
    limit = 100 if authenticated else 25
    if size > limit:
        raise ApiError(400, f"Page size cannot be greater than {limit}.")
    if page * size > MAX_RESULT_WINDOW:
        raise ApiError(400, "Invalid querystring parameters.")
    return page, size


def truthy(value: str | None) -> bool:
    """A query parameter's boolean value ('true', '1', ...)."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def sort_records(
    items: list[dict[str, Any]], sort: str, key_created: str = "created"
) -> list[dict[str, Any]]:
    """Depositions in the order a ``sort`` parameter asks for (400 for an unknown one)."""
    if sort not in SEARCH_SORTS:
        raise ApiError(
            400,
            "Invalid querystring parameters.",
            [{"field": "sort", "messages": [f"Invalid sort: {sort}."]}],
        )
    reverse = sort not in ASCENDING_SORTS
    return sorted(items, key=lambda r: (r[key_created], r["id"]), reverse=reverse)


def search_records(
    store: Store,
    params: dict[str, str],
    base: str,
    authenticated: bool,
    render: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    path: str = "/api/records",
) -> dict[str, Any]:
    """``GET /api/records``: published records, latest version per concept unless ``all_versions``; each hit
    rendered by ``render`` (ZenodoJSON by default)."""
    page, size = page_params(params, authenticated)
    q = params.get("q") or ""
    sort = params.get("sort") or ("bestmatch" if q else "mostrecent")
    terms = compile_query(q)
    communities = {c.strip().lower() for c in (params.get("communities") or "").split(",") if c.strip()}
    all_versions = truthy(params.get("all_versions"))
    with store.lock:
        candidates = []
        for rec in list(store.records()):
            if not rec.get("published"):
                continue
            if not all_versions:
                latest = store.latest_published(rec["conceptrecid"])
                if latest is None or latest["id"] != rec["id"]:
                    continue
            md = rec["published"]["metadata"]
            if communities and not communities & {
                str(c.get("identifier") or "").lower() for c in md.get("communities") or []
            }:
                continue
            if params.get("type") and str(md.get("upload_type") or "") != params["type"]:
                continue
            if terms is not None and not matches(store, rec, md, terms):
                continue
            candidates.append(rec)
        ordered = sorted(candidates, key=lambda r: (r["published"]["created"], r["id"]), reverse=True)
        if sort in ASCENDING_SORTS:
            ordered.reverse()
        elif sort not in SEARCH_SORTS:
            raise ApiError(400, "Invalid querystring parameters.")
        total = len(ordered)
        window = ordered[(page - 1) * size : page * size]
        hits = [render(r) if render else record(store, r, base) for r in window]
    keep = {k: v for k, v in params.items() if k not in ("page", "access_token")}

    def link(p: int) -> str:
        return f"{base}{path}?{urlencode({**keep, 'page': p, 'size': size})}"

    links = {"self": link(page)}
    if page * size < total and (page + 1) * size <= MAX_RESULT_WINDOW:
        links["next"] = link(page + 1)
    if page > 1:
        links["prev"] = link(page - 1)
    return {"hits": {"hits": hits, "total": total}, "aggregations": {}, "links": links, "sortBy": sort}


def list_depositions(
    store: Store, owner: int, params: dict[str, str], base: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``GET /api/deposit/depositions``: all the owner's depositions, drafts and published ones."""
    page, size = page_params(params, True)
    q = params.get("q") or ""
    sort = params.get("sort") or ("bestmatch" if q else "mostrecent")
    status = (params.get("status") or "").strip().lower()
    if status not in ("", "draft", "published"):
        raise ApiError(
            400,
            "Invalid querystring parameters.",
            [{"field": "status", "messages": ["Must be one of: draft, published."]}],
        )
    terms = compile_query(q)
    all_versions = truthy(params.get("all_versions"))
    with store.lock:
        items = []
        for rec in list(store.records()):
            if rec["owner"] != owner:
                continue
            if status == "draft" and rec["state"] == "done":
                continue
            if status == "published" and not rec["submitted"]:
                continue
            if not all_versions and rec.get("published"):
                latest = store.latest_published(rec["conceptrecid"])
                if latest is not None and latest["id"] != rec["id"]:
                    continue
            if terms is not None and not matches(store, rec, rec["metadata"], terms):
                continue
            items.append(rec)
        ordered = sort_records(items, sort)
        window = ordered[(page - 1) * size : page * size]
        docs = [deposition(store, r, base) for r in window]
    headers = {}
    if page * size < len(ordered):
        keep = {k: v for k, v in params.items() if k not in ("page", "access_token")}
        headers["Link"] = (
            f'<{base}/api/deposit/depositions?{urlencode({**keep, "page": page + 1, "size": size})}>; rel="next"'
        )
    return docs, headers
