"""Routes of the records API, the vocabularies, the web pages and DOI links: functions of a `Request`
returning a reply. Each function's name is its route name (what fault hooks see)."""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlencode

from ossr_images import __version__
from ossr_images.standin import rdm_ids, rdm_read, views, vocabularies
from ossr_images.standin.routing import FileReply, HtmlReply, Reply, Request, redirect
from ossr_images.standin.store import NOT_FOUND, ApiError


def api_root(req: Request) -> Reply:
    return Reply(200, {"status": 200, "message": "ossr-images local Zenodo stand-in", "version": __version__})


def rec_search(req: Request) -> Reply:
    if rdm_read.native(req):
        return rdm_read.search(req)
    return Reply(200, views.search_records(req.store, req.params, req.base, req.authenticated()))


def rec_get(req: Request) -> Reply:
    if rdm_read.native(req):
        return rdm_read.get(req)
    moved = rdm_read.concept_redirect(req)
    if moved is not None:
        return moved
    rec = req.store.published_record(req.args["id"])
    return Reply(200, views.record(req.store, rec, req.base))


def rec_latest(req: Request) -> Reply:
    if rdm_read.native(req):
        return rdm_read.latest(req)
    moved = rdm_read.concept_redirect(req)
    if moved is not None:
        return moved
    rec = req.store.published_record(req.args["id"])
    latest = req.store.latest_published(rec["conceptrecid"])
    assert latest is not None  # rec itself is published
    return redirect(f"{req.api}/records/{latest['id']}")


def rec_versions(req: Request) -> Reply:
    if rdm_read.native(req):
        return rdm_read.versions(req)
    moved = rdm_read.concept_redirect(req, "/versions")
    if moved is not None:
        return moved
    rec = req.store.published_record(req.args["id"])
    versions = req.store.published_versions(rec["conceptrecid"])
    hits = [views.record(req.store, v, req.base) for v in reversed(versions)]
    return Reply(200, {"hits": {"hits": hits, "total": len(hits)}, "links": {}, "sortBy": "version"})


def rec_files(req: Request) -> Reply:
    return rdm_read.files(req)  # file answers are alike in both dialects


def rec_file(req: Request) -> Reply:
    return rdm_read.file(req)


def rec_file_content(req: Request) -> FileReply:
    rec = req.store.published_record(req.args["id"])
    entry = next((f for f in rec["published"]["files"] if f["key"] == req.args["key"]), None)
    if entry is None:
        raise ApiError(404, "The file does not exist.")
    return FileReply(entry, req.store.blob_path(entry))


def legacy_licenses(req: Request) -> Reply:
    # zenodo-rdm config.py API_REDIRECTOR_RULES "redirect_licenses": to the vocabulary, arguments kept
    query = urlencode(req.params)
    return redirect(f"{req.api}/vocabularies/licenses" + (f"?{query}" if query else ""), 301)


def _page(req: Request) -> tuple[int, int]:
    return views.int_param(req.params, "page", 1), views.int_param(req.params, "size", 10)


def vocab_licenses(req: Request) -> Reply:
    return Reply(200, vocabularies.search_licenses(req.params.get("q") or "", *_page(req)))


def vocab_funders(req: Request) -> Reply:
    return Reply(200, vocabularies.search_funders(req.params.get("q") or "", *_page(req)))


def vocab_license(req: Request) -> Reply:
    doc = vocabularies.license_entry(req.args["id"])
    if doc is None:
        raise ApiError(404, NOT_FOUND)
    return Reply(200, doc)


def vocab_funder(req: Request) -> Reply:
    doc = vocabularies.funder_entry(req.args["id"])
    if doc is None:
        raise ApiError(404, NOT_FOUND)
    return Reply(200, doc)


def html_record(req: Request) -> Reply | HtmlReply:
    rid = req.args["id"]
    if req.store.is_concept(rid):
        latest = req.store.latest_published(rid)
        if latest is None:
            raise ApiError(404, NOT_FOUND)
        return redirect(f"{req.base}/records/{rdm_ids.shown(req.store, latest['id'])}")
    rec = req.store.published_record(rid)
    shown = rdm_ids.shown(req.store, rec["id"])
    title = html.escape(rec["published"]["metadata"].get("title") or "")
    items = "".join(
        f'<li><a href="/api/records/{shown}/files/{quote(f["key"], safe="")}/content">'
        f"{html.escape(f['key'])}</a> ({f['size']} bytes)</li>"
        for f in rec["published"]["files"]
    )
    return HtmlReply(200, title, f"<p>DOI {html.escape(rec['doi'])}</p><ul>{items}</ul>")


def html_file(req: Request) -> Reply:
    rid = rdm_ids.shown(req.store, req.args["id"])
    return redirect(f"{req.api}/records/{rid}/files/{quote(req.args['key'], safe='')}/content")


def html_legacy_record(req: Request) -> Reply:
    return redirect(f"{req.base}/records/{rdm_ids.shown(req.store, req.args['id'])}", 301)


def html_doi(req: Request) -> Reply:
    pattern = r"^10\.\d+/([0-9a-z]{5}-[0-9a-z]{5})$" if req.store.plain_ids else r"^10\.\d+/zenodo\.(\d+)$"
    m = re.match(pattern, req.args["doi"].strip(), re.I)
    if not m:
        raise ApiError(404, NOT_FOUND)
    return redirect(f"{req.base}/records/{m.group(1).lower()}")
