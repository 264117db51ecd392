"""Community and request routes of the native API that clients such as eossr call (route functions named as
their routes): the community search, a community's records and requests, one request, its actions, timeline
and comments. Sources: invenio-communities (COM) communities/resources/config.py and services/service.py,
invenio-rdm-records (RR) services/community_records/service.py, invenio-requests (RQ) resources and
services; zenodo-rdm (ZR) invenio.cfg."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ossr_images.standin import memberships, rdm_views, request_events, reviews, views
from ossr_images.standin.query import compile_query, evaluate, words_match
from ossr_images.standin.rdm_read import native
from ossr_images.standin.routing import Reply, Request
from ossr_images.standin.store import NOT_FOUND, ApiError

COMMUNITY_FIELDS = ("slug", "metadata.title", "metadata.description")


def _field(doc: dict[str, Any], path: str) -> str:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return str(value or "")


def rdm_communities_search(req: Request) -> Reply:
    """``GET /api/communities?q=``: anyone (COM permissions.py ``can_search``); a search result of
    communities, 25 a page by default."""
    page, size = views.page_params(req.params, req.authenticated())
    query = compile_query(req.params.get("q") or "")

    def term(field: str | None, value: str) -> bool:
        fields = [f for f in COMMUNITY_FIELDS if field in (None, f, f.rsplit(".", 1)[-1])]
        return any(words_match(_field(doc, f), value) for f in fields)

    with req.store.lock:
        found = []
        for c in sorted(reviews.communities(req.store).values(), key=lambda c: c["slug"]):
            doc = reviews.community(req.store, c["id"], req.base)
            if doc is not None and evaluate(query, term):
                found.append(doc)
    keep = {k: v for k, v in req.params.items() if k != "page"}
    links = {"self": f"{req.api}/communities?{urlencode({**keep, 'page': page, 'size': size})}"}
    hits = found[(page - 1) * size : page * size]
    return Reply(200, {"hits": {"hits": hits, "total": len(found)}, "aggregations": {}, "links": links,
                       "sortBy": "bestmatch" if req.params.get("q") else "newest"})  # fmt: skip


def rdm_community_records(req: Request) -> Reply:
    """``GET /api/communities/{slug or uuid}/records``: anyone; the community's published records (RR
    community_records/service.py resolves the slug or the uuid, 404 otherwise), serialised as ``/api/records``
    is (ZR invenio.cfg ``RDM_RECORDS_SERIALIZERS``: ZenodoJSON unless the vnd Accept)."""
    target = reviews.by_ref(req.store, req.args["ref"])
    if target is None:
        raise ApiError(404, NOT_FOUND)
    params = {**req.params, "communities": target["slug"]}
    if native(req):
        params.setdefault("size", "25")
        if views.truthy(params.get("allversions")):
            params["all_versions"] = "true"
    render = (lambda r: rdm_views.record(req.store, r, req.base)) if native(req) else None
    path = f"/api/communities/{target['id']}/records"
    return Reply(200, views.search_records(req.store, params, req.base, req.authenticated(), render, path))


def rdm_community_requests(req: Request) -> Reply:
    """``GET /api/communities/{uuid}/requests``: the community's curators only (403 for anyone else, and for
    a slug: the permission is checked against the id as given); requests past ``created``."""
    user = req.user()
    hits = [
        reviews.view(req.store, r, req.base, user)
        for r in community_requests(req.store, req.args["ref"], user)
    ]
    if "is_open" in req.params:
        wanted = views.truthy(req.params["is_open"])
        hits = [h for h in hits if h["is_open"] == wanted]
    page, size = views.page_params(req.params, True)
    url = f"{req.api}/communities/{req.args['ref']}/requests"
    return Reply(200, {"hits": {"hits": hits[(page - 1) * size : page * size], "total": len(hits)},
                       "aggregations": {}, "links": {"self": url}, "sortBy": "newest"})  # fmt: skip


def community_requests(store: Any, ref: str, user: int | None) -> list[dict[str, Any]]:
    """COM communities/services/service.py search_community_requests: ``can_search_requests`` (managers,
    curators) checked for the id as given, then the requests the community receives, minus ``created``."""
    target = next((c for c in reviews.communities(store).values() if c["id"] == ref), None)
    if target is None or not memberships.is_curator(target, user):
        raise ApiError(403, "Permission denied.")
    found = [r for r in reviews.requests(store).values() if r["receiver"]["community"] == target["id"]]
    return sorted((r for r in found if r["status"] != "created"), key=lambda r: r["created"], reverse=True)


def _readable(req: Request) -> dict[str, Any]:
    """The request of the path, if the caller may read it (RQ can_read; 403 otherwise)."""
    user = req.user()  # anonymous or a bad token: 403 (invenio-rdm-api.md section 1, RRS resources/errors.py)
    found = reviews.get_request(req.store, req.args["rid"])
    if not reviews.can_read(req.store, found, user):
        raise ApiError(403, "Permission denied.")
    return found


def rdm_request_get(req: Request) -> Reply:
    return Reply(200, reviews.view(req.store, _readable(req), req.base, req.user()))


def rdm_request_action(req: Request) -> Reply:
    """``POST /api/requests/{id}/actions/{accept|decline|cancel}`` -> 200 request (optional comment payload)."""
    user = req.user()
    body = req.body.json()
    payload = request_events.comment_payload(body) if isinstance(body, dict) and body.get("payload") else None
    done = reviews.act(req.store, req.args["rid"], req.args["action"], user, payload)
    return Reply(200, reviews.view(req.store, done, req.base, user))


def rdm_request_timeline(req: Request) -> Reply:
    found = _readable(req)
    return Reply(200, request_events.timeline(req.store, found["id"], req.base))


def rdm_request_comment(req: Request) -> Reply:
    """``POST /api/requests/{id}/comments``, body ``{"payload": {"content", "format"}}`` -> 201 event."""
    found = _readable(req)
    payload = request_events.comment_payload(req.body.json())
    with req.store.lock:
        event = request_events.add(req.store, found["id"], request_events.COMMENT, payload, req.user() or 0)
        req.store.save()
    return Reply(201, request_events.view(event, req.base))
