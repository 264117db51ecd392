"""Communities and review requests of the native API: a draft's community submission (``PUT …/draft/review``,
``submit-review``), inclusion requests for published records, and the request states (``created`` ->
``submitted`` -> ``accepted`` | ``declined`` | ``cancelled``). Accepting publishes the draft and adds the
community; only a curator accepts or declines (`LocalZenodo.curate`), the submitter may cancel."""

from __future__ import annotations

import uuid
from typing import Any

from ossr_images.standin import rdm_files, rdm_metadata
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
                    "review_policy": "closed",
                },  # fmt: skip
                "created": now(),
            }
    return known


def community(store: Store, ref: str, base: str) -> dict[str, Any] | None:
    """A community by slug or uuid, with its links (None if unknown)."""
    for c in communities(store).values():
        if ref in (c["id"], c["slug"]):
            url = f"{base}/api/communities/{c['id']}"
            return dict(c, links={"self": url, "records": f"{url}/records", "requests": f"{url}/requests"})
    return None


def requests(store: Store) -> dict[str, dict[str, Any]]:
    return store.state.setdefault("requests", {})


def get_request(store: Store, request_id: str) -> dict[str, Any]:
    req = requests(store).get(request_id)
    if req is None:
        raise ApiError(404, "The persistent identifier does not exist.")
    return req


def view(req: dict[str, Any], base: str) -> dict[str, Any]:
    """A request as the API shows it."""
    url = f"{base}/api/requests/{req['id']}"
    actions = (
        {a: f"{url}/actions/{a}" for a in ("accept", "decline", "cancel")}
        if req["status"] == "submitted"
        else {}
    )
    return dict(req, is_open=req["status"] == "submitted", is_closed=req["status"] not in OPEN,
                links={"self": url, "actions": actions})  # fmt: skip


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


def submit_review(store: Store, rec: dict[str, Any]) -> dict[str, Any]:
    """Submit the draft's review request: completeness is checked now (400), the draft goes ``in_review``."""
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
        store.save()
        if review["receiver"]["community"] in store.state.get("direct_include", []):
            return act(store, review["id"], "accept", curator=True)  # the owner may include directly
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


def act(store: Store, request_id: str, action: str, curator: bool) -> dict[str, Any]:
    """Accept, decline or cancel a submitted request (accept/decline: curators only)."""
    with store.lock:
        req = get_request(store, request_id)
        if action not in ("accept", "decline", "cancel"):
            raise ApiError(404, "The requested URL was not found on the server.")
        if action != "cancel" and not curator:
            raise ApiError(403, "Permission denied.")
        if req["status"] != "submitted":
            raise ApiError(400, f"Action {action} is not possible on a request that is {req['status']}.")
        rec = store.get(req["topic"]["record"])
        slug = next(c["slug"] for c in communities(store).values() if c["id"] == req["receiver"]["community"])
        if action == "accept":
            if req["type"] == "community-submission":
                _add_community(store, rec, slug)
                store.publish(rec)
            else:
                _add_community(store, rec, slug)
        status = {"accept": "accepted", "decline": "declined", "cancel": "cancelled"}[action]
        req.update(status=status, updated=now())
        if action == "cancel" and rec.get("review") == request_id:
            rec["review"] = None
        store.save()
        return req


def include(store: Store, rec: dict[str, Any], body: Any) -> tuple[int, dict[str, Any]]:
    """``POST /api/records/{id}/communities``: inclusion requests for a published record."""
    wanted = body.get("communities") if isinstance(body, dict) else None
    if not isinstance(wanted, list):
        raise validation_error([{"field": "communities", "messages": ["Missing data for required field."]}])
    processed: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with store.lock:
        included = {c.get("identifier") for c in rec["published"]["metadata"].get("communities") or []}
        for item in wanted:
            ref = item.get("id") if isinstance(item, dict) else None
            target = next((c for c in communities(store).values() if ref in (c["id"], c["slug"])), None)
            if target is None:
                errors.append({"community_id": ref, "message": "Community not found."})
            elif target["slug"] in included:
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
                processed.append({"community_id": target["id"], "request_id": req["id"], "request": req})
        store.save()
    return (200 if processed else 400), {"processed": processed, "errors": errors}


def record_requests(store: Store, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every request about a record (``GET /api/records/{id}/requests``)."""
    return [r for r in requests(store).values() if r["topic"]["record"] == str(rec["id"])]
