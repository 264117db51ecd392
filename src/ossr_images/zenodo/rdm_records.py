"""The read side of InvenioRDM's records API (see :class:`~ossr_images.zenodo.rdm_client.RdmClient`).

Every request sends ``Accept: application/vnd.inveniordm.v1+json``: native JSON on Zenodo (whose
``application/json`` is ZenodoJSON) and on a plain instance (where it only adds a ``ui`` object, ignored), so
one parser, :meth:`Record.from_rdm_json`, reads both. Queries arrive in the legacy field names the workflows
write (``keywords:"x"``, ``doi:"..."``, ``conceptrecid:N``): :func:`native_query` renames them, in this one
place, to the native fields every InvenioRDM indexes (zenodo.org maps the legacy names itself, a plain
instance does not). A community is searched through ``GET /communities/{slug}/records``, the route every
InvenioRDM has (Zenodo's ``communities=<slug>`` parameter is Zenodo's own; a plain instance would take it for
an unknown facet and return every record).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from ossr_images.zenodo import paging
from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.models import Record
from ossr_images.zenodo.rdm_metadata import NATIVE_JSON
from ossr_images.zenodo.transport import Request, Transport, shaped

HEADERS = {"Accept": NATIVE_JSON}

# legacy query field -> native field (zenodo-rdm site/zenodo_rdm/queryparser.py maps the same legacy names)
NATIVE_FIELDS = {
    "doi": "pids.doi.identifier",
    "conceptdoi": "parent.pids.doi.identifier",
    "conceptrecid": "parent.id",
    "recid": "id",
    "keywords": "metadata.subjects.subject",
    "title": "metadata.title",
    "description": "metadata.description",
    "creators.name": "metadata.creators.person_or_org.name",
    "publication_date": "metadata.publication_date",
    "filename": "files.entries.key",
}
# legacy sort -> native sort (InvenioRDM's options: bestmatch, newest, oldest, version, ...)
NATIVE_SORTS = {"mostrecent": "newest", "-mostrecent": "oldest"}

_QUOTED = re.compile(r'("(?:\\.|[^"\\])*")')
_FIELD = re.compile(r"(?<![\w.])(" + "|".join(re.escape(f) for f in NATIVE_FIELDS) + r"):")


def native_query(q: str) -> str:
    """``q`` with the legacy field names renamed to native ones; quoted phrases are left as written."""
    parts = _QUOTED.split(q)
    return "".join(
        part if i % 2 else _FIELD.sub(lambda m: NATIVE_FIELDS[m.group(1)] + ":", part)
        for i, part in enumerate(parts)
    )


def get_record(transport: Transport, record_id: int | str) -> Record:
    """``GET /records/{id}`` as native JSON; a parent (concept) id is redirected (302) to the latest version,
    so the returned ``id`` may differ. 404 (unknown) and 410 (deleted) are ZenodoErrors with that status."""
    url = transport.url(f"/records/{quote(str(record_id).strip(), safe='')}")
    answer = transport.request_json(Request("GET", url, True, headers=HEADERS))
    return Record.from_rdm_json(shaped(answer, "GET", url, needs=("id",)))


def search(
    transport: Transport,
    q: str | None,
    communities: str | list[str] | tuple[str, ...] | None,
    all_versions: bool,
    sort: str | None,
    size: int | None,
    max_results: int | None,
) -> Iterator[Record]:
    """Published records matching ``q`` (legacy field names translated), latest versions unless
    ``all_versions``; every page followed by ``links.next`` to the end, or ``max_results``. With communities,
    each community's records in turn (``/communities/{slug}/records``), a record named twice given once."""
    params: dict[str, Any] = {"size": size or (100 if transport.target.token else 25)}
    if q:
        params["q"] = native_query(q)
    if all_versions:
        params["allversions"] = "true"
    if sort:
        params["sort"] = NATIVE_SORTS.get(sort, sort)
    slugs = [communities] if isinstance(communities, str) else list(communities or [])
    if not slugs:
        yield from _pages(transport, "/records", params, max_results)
        return
    seen: set[str] = set()
    for slug in slugs:
        path = f"/communities/{quote(slug.strip(), safe='')}/records"
        try:
            for record in _pages(transport, path, params, None):
                if record.id in seen:
                    continue
                seen.add(record.id)
                yield record
                if max_results is not None and len(seen) >= max_results:
                    return
        except ZenodoError as exc:
            if exc.status != 404:
                raise
            raise ZenodoError(
                f"there is no community {slug!r} on {transport.api_url}",
                "Check the community's name: the last part of its web address, e.g. escape2020 for "
                ".../communities/escape2020.",
                status=404,
                url=exc.url,
                method="GET",
            ) from None


def _pages(
    transport: Transport, path: str, params: dict[str, Any], max_results: int | None
) -> Iterator[Record]:
    return paging.records(
        transport, params, max_results, path=path, parse=Record.from_rdm_json, headers=HEADERS
    )


__all__ = ["NATIVE_FIELDS", "NATIVE_JSON", "get_record", "native_query", "search"]
