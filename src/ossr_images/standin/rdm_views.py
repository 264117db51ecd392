"""Native InvenioRDM JSON of the stand-in's depositions (``application/vnd.inveniordm.v1+json``): records and
drafts (ids as strings, ``files.entries`` an object, ``versions.index`` from 1), and search pages."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote, urlencode

from ossr_images.standin import rdm_files, rdm_ids, rdm_metadata, views
from ossr_images.standin.query import compile_query
from ossr_images.standin.store import Store

NATIVE = "application/vnd.inveniordm.v1+json"


def _doi(identifier: str) -> dict[str, str]:
    return {"identifier": identifier, "provider": "datacite", "client": "datacite"}


def draft_status(store: Store, rec: dict[str, Any]) -> str:
    """RDM's draft ``status`` of a deposition's draft side."""
    review = store.state.get("requests", {}).get(rec.get("review") or "")
    if review is not None:
        return {"submitted": "in_review", "declined": "declined", "expired": "expired"}.get(
            review["status"], "draft_with_review"
        )
    if rec.get("published"):
        return "published"
    return "new_version_draft" if store.published_versions(rec["conceptrecid"]) else "draft"


def record(store: Store, rec: dict[str, Any], base: str, draft: bool = False) -> dict[str, Any]:
    """A deposition as native JSON: its published side, or (``draft``) its draft side."""
    with store.lock:
        return copy.deepcopy(_record(store, rec, base, draft))


def _record(store: Store, rec: dict[str, Any], base: str, draft: bool) -> dict[str, Any]:
    api = f"{base}/api"
    rid = rdm_ids.shown(store, rec["id"])
    pid = rdm_ids.shown(store, rec["conceptrecid"])
    published_side = bool(rec.get("published")) and not draft
    md = rec["published"]["metadata"] if published_side else rec["metadata"]
    concept = store.concept(rec)
    versions = [str(v) for v in concept["versions"]]
    index = versions.index(str(rec["id"])) + 1 if str(rec["id"]) in versions else 1
    latest = store.latest_published(rec["conceptrecid"])
    doi = rec.get("doi") or rec.get("reserved_doi")
    parent: dict[str, Any] = {
        "id": pid,
        "access": {"owned_by": {"user": str(rec["owner"])}},
        "communities": _communities(store, md),
        "pids": {"doi": _doi(concept["conceptdoi"])} if concept.get("conceptdoi") else {},
    }
    files_on = rec.get("files_enabled", True)
    entries = {
        k: rdm_files.file_entry(api, rec, k, published_side, rid) for k in rdm_files.keys(rec, published_side)
    }
    self_url = f"{api}/records/{rid}" + ("" if published_side else "/draft")
    links = {
        "self": self_url,
        "self_html": f"{base}/records/{rid}" if published_side else f"{base}/uploads/{rid}",
        "files": f"{api}/records/{rid}/{'files' if published_side else 'draft/files'}",
        "latest": f"{api}/records/{rid}/versions/latest",
        "versions": f"{api}/records/{rid}/versions",
        "draft": f"{api}/records/{rid}/draft",
        "record": f"{api}/records/{rid}",
        "parent": f"{api}/records/{pid}",
    }
    if not published_side:
        links.update(
            publish=f"{api}/records/{rid}/draft/actions/publish",
            review=f"{api}/records/{rid}/draft/review",
            reserve_doi=f"{api}/records/{rid}/draft/pids/doi",
            files_import=f"{api}/records/{rid}/draft/actions/files-import",
        )
    if doi:
        links["doi"] = views.doi_url(doi)
    is_published = bool(rec.get("published"))
    pub = rec.get("published") or {}
    return {
        "id": rid,
        "created": pub.get("created") or rec["created"],
        "updated": pub.get("modified") if published_side else rec["modified"],
        "is_published": is_published,
        "is_draft": not published_side,
        "status": "published" if published_side else draft_status(store, rec),
        "revision_id": _revision(rec),
        "parent": parent,
        "pids": {"doi": _doi(doi)}
        if doi and (published_side or rec.get("doi") or rec.get("reserved_doi"))
        else {},
        "metadata": rdm_metadata.to_native(md),
        "access": rdm_metadata.access_of(md),
        "files": {
            "enabled": files_on,
            "count": len(entries),
            "total_bytes": sum(e.get("size") or 0 for e in entries.values()),
            "entries": entries,
            "order": [],
        },
        "versions": {
            "index": index,
            "is_latest": latest is not None and latest["id"] == rec["id"] and published_side,
            "is_latest_draft": not published_side and rec is store.latest_draft(rec),
        },
        "links": links,
    }


def _revision(rec: dict[str, Any]) -> int:
    return int(rec.get("revision_id", 1))


def etag(rec: dict[str, Any]) -> dict[str, str]:
    """The ``ETag`` header of a deposition (its revision id)."""
    return {"ETag": f'"{_revision(rec)}"'}


def _communities(store: Store, md: dict[str, Any]) -> dict[str, Any]:
    known = store.state.get("communities", {})
    ids = [
        known.get(c.get("identifier"), {}).get("id") or c.get("identifier")
        for c in md.get("communities") or []
    ]
    return {"ids": ids, "default": ids[0]} if ids else {}


def search(store: Store, params: dict[str, str], base: str, authenticated: bool) -> dict[str, Any]:
    """``GET /api/records`` as native JSON: latest versions unless ``allversions`` (or ``all_versions``)."""
    params = dict(params)
    if views.truthy(params.get("allversions")):
        params["all_versions"] = "true"
    return views.search_records(
        store, params, base, authenticated, render=lambda r: record(store, r, base), path="/api/records"
    )


def user_records(store: Store, owner: int, params: dict[str, str], base: str) -> dict[str, Any]:
    """``GET /api/user/records``: the owner's drafts and records (the draft side when there is one)."""
    page, size = views.page_params(params, True)
    query = compile_query(params.get("q") or "")
    all_versions = views.truthy(params.get("allversions")) or views.truthy(params.get("all_versions"))
    sort = params.get("sort") or ("bestmatch" if params.get("q") else "newest")
    with store.lock:
        items = []
        for rec in list(store.records()):
            if rec["owner"] != owner:
                continue
            if not all_versions and rec.get("published"):
                latest = store.latest_published(rec["conceptrecid"])
                if latest is not None and latest["id"] != rec["id"]:
                    continue
            if query is not None and not views.matches(store, rec, rec["metadata"], query):
                continue
            items.append(rec)
        ordered = views.sort_records(items, sort)
        window = ordered[(page - 1) * size : page * size]
        hits = [record(store, r, base, draft=r["state"] != "done") for r in window]
    keep = {k: v for k, v in params.items() if k != "page"}
    links = {"self": f"{base}/api/user/records?{urlencode({**keep, 'page': page, 'size': size})}"}
    if page * size < len(ordered):
        links["next"] = f"{base}/api/user/records?{urlencode({**keep, 'page': page + 1, 'size': size})}"
    return {"hits": {"hits": hits, "total": len(ordered)}, "aggregations": {}, "links": links, "sortBy": sort}


def file_url(api: str, rid: Any, key: str) -> str:
    """The content URL of a published file."""
    return f"{api}/records/{rid}/files/{quote(key, safe='')}/content"
