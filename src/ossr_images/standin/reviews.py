"""Communities and review requests of the native API: a draft's community submission (``PUT …/draft/review``,
``submit-review``), inclusion requests for published records, and the request states (``created`` ->
``submitted`` -> ``accepted`` | ``declined`` | ``cancelled``). Accepting publishes the draft and adds the
community; only a curator of the receiving community accepts or declines (`memberships`; `LocalZenodo.curate`
acts as the system), only the creator cancels. Legacy publishes turn ``metadata.communities`` into inclusions."""

from __future__ import annotations

import uuid
from typing import Any

from ossr_images.standin import memberships, rdm_files, rdm_ids, rdm_metadata, request_events
from ossr_images.standin.store import ApiError, Store, now, validation_error

SEED = {"escape2020": "ESCAPE 2020", "zenodo": "Zenodo"}
OPEN = {"created", "submitted"}
OPEN_REVIEW = (
    "You cannot publish a draft with an open review request. Please cancel the review request first."
)
NEW_VERSION_REVIEW = "You cannot create a review for a new version of a published record."


def communities(store: Store) -> dict[str, dict[str, Any]]:
    """The stand-in's communities by slug (escape2020 and zenodo exist from the start)."""
    known = store.state.setdefault("communities", {})
    for slug, title in SEED.items():
        if slug not in known:
            known[slug] = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ossr-images-standin/communities/{slug}")),
                "slug": slug,
                "metadata": {"title": title},
                "access": {
                    "visibility": "public",
                    "member_policy": "open",
                    "record_submission_policy": "open",
                    "review_policy": "open",
                },  # fmt: skip
                "created": now(),
            }
        if (
            "members" not in known[slug]
        ):  # the token owner owns the seeds (a data folder of an older stand-in too)
            known[slug]["members"] = {str(memberships.OWNER): "owner"}
            known[slug]["access"]["review_policy"] = "open"
    return known


def by_ref(store: Store, ref: str | None) -> dict[str, Any] | None:
    """The stored community whose uuid or slug is ``ref``."""
    return next((c for c in communities(store).values() if ref in (c["id"], c["slug"])), None)


def community(store: Store, ref: str, base: str) -> dict[str, Any] | None:
    """A community by slug or uuid, with its links (None if unknown)."""
    c = by_ref(store, ref)
    if c is None:
        return None
    url = f"{base}/api/communities/{c['id']}"  # API links name the uuid, html links the slug (COM links.py)
    links = {"self": url, "self_html": f"{base}/communities/{c['slug']}", "records": f"{url}/records",
             "requests": f"{url}/requests"}  # fmt: skip
    return {**{k: v for k, v in c.items() if k != "members"}, "links": links}


def _receiver(store: Store, req: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in communities(store).values() if c["id"] == req["receiver"]["community"])


def allowed_actions(store: Store, req: dict[str, Any], user: int | None) -> list[str]:
    """The actions ``user`` may take on the request now (its ``links.actions``: RQ services/requests/config.py
    `_is_action_available`: the state allows it and the user holds the permission)."""
    if req["status"] != "submitted":
        return []
    curator = memberships.is_curator(_receiver(store, req), user)
    creator = user == memberships.SYSTEM or str(user) == req["created_by"].get("user")
    return [a for a, ok in (("accept", curator), ("decline", curator), ("cancel", creator)) if ok]


def requests(store: Store) -> dict[str, dict[str, Any]]:
    return store.state.setdefault("requests", {})


def get_request(store: Store, request_id: str) -> dict[str, Any]:
    req = requests(store).get(request_id)
    if req is None:
        raise ApiError(404, "The persistent identifier does not exist.")
    return req


def view(store: Store, req: dict[str, Any], base: str, user: int | None) -> dict[str, Any]:
    """A request as ``user`` sees it (the actions offered depend on who asks; ``self_html`` is the user
    dashboard's page, RR requests/base.py -> invenio-app-rdm ``/me/requests/<id>``)."""
    url = f"{base}/api/requests/{req['id']}"
    actions = {a: f"{url}/actions/{a}" for a in allowed_actions(store, req, user)}
    links = {"self": url, "self_html": f"{base}/me/requests/{req['id']}", "comments": f"{url}/comments",
             "timeline": f"{url}/timeline", "actions": actions}  # fmt: skip
    return dict(req, topic=_topic(store, req), is_open=req["status"] == "submitted", is_closed=req["status"] not in OPEN,
                is_expired=False, expires_at=None, links=links)  # fmt: skip


def _topic(store: Store, req: dict[str, Any]) -> dict[str, str]:
    """A request's topic with the record id as the server shows it (`rdm_ids.shown`)."""
    return {"record": rdm_ids.shown(store, req["topic"]["record"])}


def can_read(store: Store, req: dict[str, Any], user: int | None) -> bool:
    """RQ services/permissions.py can_read: the creator; once submitted also the receiver's curators."""
    if user == memberships.SYSTEM or str(user) == req["created_by"].get("user"):
        return True
    return req["status"] != "created" and memberships.is_curator(_receiver(store, req), user)


def _new_request(
    store: Store, kind: str, rec: dict[str, Any], community_id: str, status: str
) -> dict[str, Any]:
    stamp = now()
    req = {
        "id": str(uuid.uuid4()), "number": str(len(requests(store)) + 1), "type": kind, "status": status,
        "receiver": {"community": community_id}, "topic": {"record": str(rec["id"])},
        "created_by": {"user": str(rec["owner"])}, "created": stamp, "updated": stamp, "title": rec["metadata"].get("title") or "",
    }  # fmt: skip
    requests(store)[req["id"]] = req
    return req


def review_of(store: Store, rec: dict[str, Any]) -> dict[str, Any] | None:
    """The draft's review request, if it has one."""
    return requests(store).get(rec.get("review") or "")


def check_publishable(store: Store, rec: dict[str, Any]) -> None:
    """400 when the draft has an open review request."""
    review = review_of(store, rec)
    if review is not None and review["status"] in OPEN:
        raise ApiError(400, OPEN_REVIEW)


def put_review(store: Store, rec: dict[str, Any], body: Any) -> dict[str, Any]:
    """Create (or replace) the draft's community-submission request (status ``created``)."""
    if not isinstance(body, dict) or body.get("type") != "community-submission":
        raise validation_error(
            [{"field": "type", "messages": ["Invalid request type: use community-submission."]}]
        )
    ref = (body.get("receiver") or {}).get("community") if isinstance(body.get("receiver"), dict) else None
    with store.lock:
        target = next((c for c in communities(store).values() if c["id"] == ref), None)
        if target is None:
            raise validation_error(
                [{"field": "receiver", "messages": [f"Community {ref} not found (give its uuid)."]}]
            )
        if rec.get("published") or store.published_versions(rec["conceptrecid"]):
            raise ApiError(400, NEW_VERSION_REVIEW)
        old = review_of(store, rec)
        if old is not None and old["status"] == "submitted":
            raise ApiError(400, "An open review cannot be deleted.")
        req = _new_request(store, "community-submission", rec, target["id"], "created")
        rec["review"] = req["id"]
        store.save()
        return req


def delete_review(store: Store, rec: dict[str, Any]) -> None:
    with store.lock:
        review = review_of(store, rec)
        if review is None:
            raise ApiError(404, "Review for draft not found")
        if review["status"] == "submitted":
            raise ApiError(400, "An open review cannot be deleted.")
        rec["review"] = None
        store.save()


def submit_review(store: Store, rec: dict[str, Any], user: int) -> dict[str, Any]:
    """Submit the draft's review request: completeness is checked now (400), the draft goes ``in_review``;
    accepted (and published) at once when the user may include directly (RR services/review/service.py)."""
    with store.lock:
        review = review_of(store, rec)
        if review is None:
            raise ApiError(404, "Review for draft not found")
        if review["status"] != "created":
            raise ApiError(400, f"The request is {review['status']} and cannot be submitted.")
        errors = publish_errors(rec)
        if errors:
            raise validation_error(errors)
        review.update(status="submitted", updated=now())
        rec["submitted_review"] = True
        if memberships.can_include_directly(_receiver(store, review), user):
            _execute(store, review, "accept", memberships.SYSTEM)
        store.save()
        return review


def publish_errors(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """What a native publish would refuse (files not committed, missing fields)."""
    from ossr_images.standin.metadata import publish_errors as legacy_errors

    errors = rdm_files.incomplete(rec) + rdm_metadata.publish_errors(rec["metadata"])
    errors += legacy_errors(rec["metadata"], len(rec["files"]))
    return errors


def _add_community(store: Store, rec: dict[str, Any], slug: str) -> None:
    for md in (rec["metadata"], (rec.get("published") or {}).get("metadata")):
        if md is not None and not any(c.get("identifier") == slug for c in md.get("communities") or []):
            md["communities"] = [*(md.get("communities") or []), {"identifier": slug}]


ACTION_STATUS = {"accept": "accepted", "decline": "declined", "cancel": "cancelled", "expire": "expired"}


def act(
    store: Store, request_id: str, action: str, user: int | None, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``POST /api/requests/{id}/actions/{action}`` in RQ services/requests/service.py's order: unknown action
    400, permission 403, a state that does not allow it 400; an optional payload becomes a comment."""
    with store.lock:
        req = get_request(store, request_id)
        if action not in ACTION_STATUS:
            raise ApiError(400, f"Error for action '{action}': No such action available")
        curator = memberships.is_curator(_receiver(store, req), user)
        creator = user == memberships.SYSTEM or str(user) == req["created_by"].get("user")
        system = user == memberships.SYSTEM  # RQ can_action_expire: the system only
        if not {"accept": curator, "decline": curator, "cancel": creator, "expire": system}[action]:
            raise ApiError(403, "Permission denied.")
        if req["status"] != "submitted":
            raise ApiError(400, f"Error for action '{action}': Could not execute the action")
        _execute(store, req, action, user)
        if payload:
            request_events.add(store, req["id"], request_events.COMMENT, payload, user or 0)
        store.save()
        return req


def _execute(store: Store, req: dict[str, Any], action: str, user: int | None) -> None:
    """Apply an allowed action (lock held): accept publishes a submitted draft and adds the community."""
    rec = store.get(req["topic"]["record"])
    if action == "accept":
        for version in store.versions(rec["conceptrecid"]):  # the parent's communities: every version's
            _add_community(store, version, _receiver(store, req)["slug"])
        if req["type"] == "community-submission":
            store.publish(rec)
    req.update(status=ACTION_STATUS[action], updated=now())
    request_events.add(store, req["id"], request_events.LOG, {"event": req["status"]}, user or 0)
    if action == "cancel" and rec.get("review") == req["id"]:
        rec["review"] = None


def include(store: Store, rec: dict[str, Any], body: Any, user: int) -> tuple[int, dict[str, Any]]:
    """``POST /api/records/{id}/communities``: inclusion requests for a published record, accepted at once
    when the user may include directly and ``require_review`` is not true (RR services/communities)."""
    wanted = body.get("communities") if isinstance(body, dict) else None
    review = isinstance(body, dict) and body.get("require_review") is True
    if not isinstance(wanted, list):
        raise validation_error([{"field": "communities", "messages": ["Missing data for required field."]}])
    processed: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with store.lock:
        already = included(store, rec)  # communities belong to the parent: every version is in them
        for item in wanted:
            ref = item.get("id") if isinstance(item, dict) else None
            target = next((c for c in communities(store).values() if ref in (c["id"], c["slug"])), None)
            if target is None:
                errors.append({"community_id": ref, "message": "Community not found."})
            elif target["slug"] in already:
                errors.append(
                    {"community_id": ref, "message": "The record is already included in this community."}
                )
            elif any(r["topic"]["record"] == str(rec["id"]) and r["receiver"]["community"] == target["id"]
                     and r["status"] == "submitted" for r in requests(store).values()):  # fmt: skip
                errors.append(
                    {
                        "community_id": ref,
                        "message": "There is already an open inclusion request for this community.",
                    }
                )
            else:
                req = _new_request(store, "community-inclusion", rec, target["id"], "submitted")
                if not review and memberships.can_include_directly(target, user):
                    _execute(store, req, "accept", memberships.SYSTEM)
                # the request as stored: the route renders it (view) with the record id as the server shows it
                processed.append(
                    {"community_id": target["id"], "request_id": req["id"], "request": dict(req)}
                )
        store.save()
    return (200 if processed else 400), {"processed": processed, "errors": errors}


def record_requests(store: Store, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every request about a record (``GET /api/records/{id}/requests``)."""
    return [r for r in requests(store).values() if r["topic"]["record"] == str(rec["id"])]


def included(store: Store, rec: dict[str, Any]) -> set[str]:
    """The slugs of the communities the record's concept is in (those of its published versions)."""
    return {str(c.get("identifier")) for r in store.published_versions(rec["conceptrecid"])
            for c in r["published"]["metadata"].get("communities") or []}  # fmt: skip


def legacy_inclusions(store: Store, rec: dict[str, Any], before: set[str], user: int) -> None:
    """After a legacy publish: each ``metadata.communities`` entry not already the record's becomes an
    inclusion (zenodo-rdm site/zenodo_rdm/legacy/services.py publish: `_include(require_review=False)`,
    errors ignored): direct when the user may include directly, else a submitted request, and the record
    lists only the communities it is in (legacy:communities is popped at publish; the serializer shows the
    parent's communities). Slugs of no known community are kept as written (a stand-in simplification)."""
    with store.lock:
        kept = []
        for entry in rec["published"]["metadata"].get("communities") or []:
            slug = entry.get("identifier")
            target = by_ref(store, slug)
            if target is None or slug in before or memberships.can_include_directly(target, user):
                kept.append(entry)
            elif not any(r["topic"]["record"] == str(rec["id"]) and r["receiver"]["community"] == target["id"]
                         and r["status"] == "submitted" for r in requests(store).values()):  # fmt: skip
                _new_request(store, "community-inclusion", rec, target["id"], "submitted")
        for md in (rec["metadata"], rec["published"]["metadata"]):
            md["communities"] = kept
            if not kept:
                md.pop("communities")
        store.save()
