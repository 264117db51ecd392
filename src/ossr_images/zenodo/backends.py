"""Choosing the backend: Zenodo's legacy deposit API or InvenioRDM's native records API.

``--api legacy|rdm`` (or ``OSSR_IMAGES_API``) is taken as given. ``auto`` picks legacy for zenodo.org and
sandbox.zenodo.org (the documented API there, for now); any other server is asked once: a records search
answering like InvenioRDM while the deposit API is absent means rdm, anything else legacy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.protocol import RepositoryClient
from ossr_images.zenodo.rdm_client import RdmClient
from ossr_images.zenodo.target import PRODUCTION_HOST, SANDBOX_HOST, Target
from ossr_images.zenodo.transport import Request

NATIVE_JSON = "application/vnd.inveniordm.v1+json"


def choose_api(target: Target, client: ZenodoClient | None = None) -> str:
    """ "legacy" or "rdm" for ``target`` (its ``api`` unless that is "auto": then by host, else by probing)."""
    if target.api in ("legacy", "rdm"):
        return target.api
    if target.host.lower() in (PRODUCTION_HOST, SANDBOX_HOST):
        return "legacy"
    probe = client or ZenodoClient(target)
    try:
        return "rdm" if _answers_like_rdm(probe) and not _has_deposit_api(probe) else "legacy"
    finally:
        if client is None:
            probe.close()


def _answers_like_rdm(client: ZenodoClient) -> bool:
    """``GET {api}/records?size=1`` gives an InvenioRDM search answer (``hits.hits`` and ``hits.total``)."""
    try:
        answer = client.transport.request_json(
            _get(client, "/records", {"size": 1}, headers={"Accept": NATIVE_JSON})
        )
    except ZenodoError:
        return False
    hits = answer.get("hits") if isinstance(answer, dict) else None
    return isinstance(hits, dict) and isinstance(hits.get("hits"), list) and "total" in hits


def _has_deposit_api(client: ZenodoClient) -> bool:
    """Anything but 404 from ``GET {api}/deposit/depositions`` (401/403 without a token still means it is
    there)."""
    try:
        client.transport.request_json(_get(client, "/deposit/depositions", {"size": 1}))
    except ZenodoError as exc:
        return exc.status != 404
    return True


def _get(
    client: ZenodoClient, path: str, params: dict[str, Any], headers: dict[str, str] | None = None
) -> Request:
    return Request("GET", client.url(path), True, (200,), params=params, headers=headers or {})


def open_client(target: Target, **kwargs: Any) -> RepositoryClient:
    """A client for ``target`` speaking the API :func:`choose_api` picks; its ``api`` attribute says which,
    and its ``target.api`` is the resolved choice (never "auto")."""
    api = choose_api(target)
    resolved = dataclasses.replace(target, api=api)
    if api == "rdm":
        return RdmClient(resolved, **kwargs)
    return ZenodoClient(resolved, **kwargs)


__all__ = ["NATIVE_JSON", "choose_api", "open_client"]
