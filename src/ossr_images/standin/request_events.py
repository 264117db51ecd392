"""A request's timeline (invenio-requests resources/events): comments (type "C", ``POST
/api/requests/{id}/comments`` -> 201) and the log events an action leaves (type "L", payload ``{"event":
<new status>}``, customizations/actions.py), listed by ``GET /api/requests/{id}/timeline`` (200, a search
result, oldest first)."""

from __future__ import annotations

import uuid
from typing import Any

from ossr_images.standin.store import Store, now, validation_error

COMMENT, LOG = "C", "L"


def _events(store: Store) -> list[dict[str, Any]]:
    return store.state.setdefault("request_events", [])


def add(store: Store, request_id: str, kind: str, payload: dict[str, Any], user: int) -> dict[str, Any]:
    """Record one event (the caller holds the store lock and saves)."""
    stamp = now()
    event = {
        "id": str(uuid.uuid4()), "request_id": request_id, "type": kind, "payload": payload,
        "created_by": {"user": str(user)} if user else {"user": "system"}, "created": stamp, "updated": stamp,
        "revision_id": 1,
    }  # fmt: skip
    _events(store).append(event)
    return event


def comment_payload(body: Any) -> dict[str, Any]:
    """The ``payload`` of a comment body (400 when it has no content)."""
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict) or not str(payload.get("content") or "").strip():
        raise validation_error(
            [{"field": "payload.content", "messages": ["Missing data for required field."]}]
        )
    return {"content": str(payload["content"]), "format": str(payload.get("format") or "html")}


def view(event: dict[str, Any], base: str) -> dict[str, Any]:
    """An event as the API shows it."""
    rid = event["request_id"]
    url = f"{base}/api/requests/{rid}/comments/{event['id']}"
    return {**{k: v for k, v in event.items() if k != "request_id"}, "links": {"self": url}}


def timeline(store: Store, request_id: str, base: str) -> dict[str, Any]:
    """The request's events, oldest first, as a search result."""
    hits = [view(e, base) for e in _events(store) if e["request_id"] == request_id]
    url = f"{base}/api/requests/{request_id}/timeline"
    return {"hits": {"hits": hits, "total": len(hits)}, "links": {"self": url}, "sortBy": "oldest"}
