"""Choosing the backend: Zenodo's legacy deposit API or InvenioRDM's native records API.

``--api legacy|rdm`` (or ``OSSR_IMAGES_API``) is taken as given, without a request. ``auto`` picks legacy for
zenodo.org and sandbox.zenodo.org (the documented API there, for now), without a request; any other server is
asked once: ``GET {api}/records?size=1`` answering like InvenioRDM (``hits.hits`` and ``hits.total``) while
``GET {api}/deposit/depositions`` answers 404 means rdm. When the server gives a definite answer that is
neither (a 404 for the search, a page that is not JSON, JSON of another shape, or a deposit API that is
there), the choice is legacy, the historical default. When it gives no answer at all (no connection, 5xx or
429 after the retries), nothing can be decided: a :class:`ZenodoError` says so and names ``--api``. The choice
is logged at INFO (``-v``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.errors import ZenodoError, safe_url
from ossr_images.zenodo.protocol import RepositoryClient
from ossr_images.zenodo.rdm_client import RdmClient
from ossr_images.zenodo.rdm_records import NATIVE_JSON
from ossr_images.zenodo.target import PRODUCTION_HOST, SANDBOX_HOST, Target
from ossr_images.zenodo.transport import Request, RetryPolicy

log = logging.getLogger("ossr_images.zenodo")


def choose_api(
    target: Target, client: ZenodoClient | None = None, *, retry: RetryPolicy | None = None
) -> str:
    """ "legacy" or "rdm" for ``target`` (its ``api`` unless that is "auto": then by host, else by probing
    with ``client``, or a client made for the probe with ``retry``). Raises ZenodoError when the server cannot
    be asked."""
    if target.api in ("legacy", "rdm"):
        log.info("API: %s (chosen with --api or OSSR_IMAGES_API)", target.api)
        return target.api
    if target.host.lower() in (PRODUCTION_HOST, SANDBOX_HOST):
        log.info("API: legacy (auto: the documented API of %s)", target.host)
        return "legacy"
    probe = client or ZenodoClient(target, retry=retry)
    try:
        native = _answers_like_rdm(probe)
        api = "rdm" if native and not _has_deposit_api(probe) else "legacy"
    finally:
        if client is None:
            probe.close()
    why = (
        "no deposit API" if api == "rdm" else ("it has the deposit API" if native else "no InvenioRDM search")
    )
    log.info("API: %s (auto: %s answers with %s)", api, safe_url(target.api_url), why)
    return api


def _undecidable(exc: ZenodoError) -> bool:
    """No answer that tells anything: no connection, or a server error / rate limit after the retries."""
    return exc.status is None or exc.status == 429 or exc.status >= 500


def _cannot_ask(exc: ZenodoError, target: Target) -> ZenodoError:
    return ZenodoError(
        f"cannot tell which API {safe_url(target.api_url)} speaks: {exc.message}",
        "Check the server URL (the API base, ending in /api) and that the server is up, or name the API with "
        "--api legacy (Zenodo's deposit API) or --api rdm (InvenioRDM's records API) / OSSR_IMAGES_API.",
        status=exc.status,
        url=exc.url,
        method="GET",
    )


def _answers_like_rdm(client: ZenodoClient) -> bool:
    """``GET {api}/records?size=1`` gives an InvenioRDM search answer (``hits.hits`` and ``hits.total``)."""
    try:
        answer = client.transport.request_json(
            _get(client, "/records", {"size": 1}, headers={"Accept": NATIVE_JSON})
        )
    except ZenodoError as exc:
        if _undecidable(exc) and exc.status != 200:  # 200 here: a body that is not JSON (a web page)
            raise _cannot_ask(exc, client.target) from None
        return False
    hits = answer.get("hits") if isinstance(answer, dict) else None
    return isinstance(hits, dict) and isinstance(hits.get("hits"), list) and "total" in hits


def _has_deposit_api(client: ZenodoClient) -> bool:
    """Anything but 404 from ``GET {api}/deposit/depositions`` (401/403 without a token still means it is
    there); no answer at all decides nothing (ZenodoError)."""
    try:
        client.transport.request_json(_get(client, "/deposit/depositions", {"size": 1}))
    except ZenodoError as exc:
        if exc.status == 404:
            return False
        if _undecidable(exc) and exc.status != 200:
            raise _cannot_ask(exc, client.target) from None
        return True
    return True


def _get(
    client: ZenodoClient, path: str, params: dict[str, Any], headers: dict[str, str] | None = None
) -> Request:
    return Request("GET", client.url(path), True, (200,), params=params, headers=headers or {})


def open_client(target: Target, **kwargs: Any) -> RepositoryClient:
    """A client for ``target`` speaking the API :func:`choose_api` picks; its ``api`` attribute says which,
    and its ``target.api`` is the resolved choice (never "auto")."""
    api = choose_api(target, retry=kwargs.get("retry"))
    resolved = dataclasses.replace(target, api=api)
    if api == "rdm":
        return RdmClient(resolved, **kwargs)
    return ZenodoClient(resolved, **kwargs)


__all__ = ["NATIVE_JSON", "choose_api", "open_client"]
