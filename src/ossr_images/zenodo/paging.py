"""Zenodo's two ways of paging a list, each read to its end: the deposit API's list by page number, and the
records API's search by ``links.next`` (never to another host) within the first 10,000 hits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.models import Deposition, Record
from ossr_images.zenodo.transport import Request, Transport, shaped

log = logging.getLogger("ossr_images.zenodo")

SEARCH_WINDOW = 10_000  # Zenodo answers 400 beyond page * size = 10000


def depositions(transport: Transport, params: dict[str, Any], max_pages: int | None) -> Iterator[Deposition]:
    """Every page of ``GET /deposit/depositions`` with ``params`` (``size`` among them), or ``max_pages``."""
    url = transport.url("/deposit/depositions")
    size = int(params["size"])
    page = 1
    while True:
        items = transport.request_json(Request("GET", url, True, params={**params, "page": page}))
        if not isinstance(items, list):
            raise ZenodoError(
                f"Zenodo answered the deposition list with a {type(items).__name__}, not a list",
                status=200,
                url=url,
                method="GET",
            )
        # each entry a deposition, or a clean error (no TypeError later)
        yield from [Deposition.from_json(shaped(item, "GET", url, needs=("id",))) for item in items]
        if len(items) < size or (max_pages is not None and page >= max_pages):
            return
        page += 1


def records(
    transport: Transport,
    params: dict[str, Any],
    max_results: int | None,
    *,
    path: str = "/records",
    parse: Callable[[Mapping[str, Any]], Record] = Record.from_json,
    headers: Mapping[str, str] | None = None,
) -> Iterator[Record]:
    """The hits of ``GET {path}`` (``/records`` by default) with ``params`` (``size`` among them), following
    ``links.next``; each hit read by ``parse`` (the native backend passes its parser and Accept header)."""
    page_size = int(params["size"])
    params = {**params, "page": 1}
    url: str | None = transport.url(path)
    headers = dict(headers or {})
    seen = 0
    page_params: dict[str, Any] | None = params
    while url:
        doc = shaped(
            transport.request_json(Request("GET", url, True, params=page_params, headers=headers)),
            "GET",
            url,
            needs=("hits",),
        )
        hits_doc = shaped(doc["hits"], "GET", url)
        hits = shaped(hits_doc.get("hits") or [], "GET", url, kind=list)
        total = _total(hits_doc.get("total"))
        for hit in hits:
            yield parse(shaped(hit, "GET", url))
            seen += 1
            if max_results is not None and seen >= max_results:
                return
        if not hits or (total is not None and seen >= total):
            return
        if seen + page_size > SEARCH_WINDOW:
            log.warning(
                "Zenodo serves at most the first %d results of a search; %s more were not read: narrow the query",
                SEARCH_WINDOW,
                "some" if total is None else total - seen,
            )
            return
        links = doc.get("links") if isinstance(doc.get("links"), dict) else {}
        next_url = links.get("next")
        if isinstance(next_url, str) and next_url and transport.on_api_host(next_url):
            url, page_params = next_url, None
        else:
            params["page"] = int(params["page"]) + 1
            page_params = params


def _total(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("value")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
