"""Finding a record by its DOI with a search, for servers whose DOIs do not hold the record id.

Zenodo's DOIs are ``<prefix>/zenodo.<record id>`` (:mod:`ossr_images.zenodo.doi` reads the id from them); any
other InvenioRDM repository mints ``<prefix>/<id>`` or DOIs of its own choosing, so the record is looked up
with the search both APIs offer: first as a version's DOI (all versions), then as a concept DOI (the latest
version). Works with any :class:`~ossr_images.zenodo.protocol.RepositoryClient`.
"""

from __future__ import annotations

from ossr_images.zenodo.models import Record
from ossr_images.zenodo.protocol import RepositoryClient


def record_by_doi(client: RepositoryClient, doi: str) -> Record | None:
    """The record whose DOI is ``doi`` or, for a concept DOI, its latest version; None when neither exists.
    Only an exact (case-insensitive) DOI match counts, whatever else the search returns."""
    wanted = doi.strip().lower()
    phrase = wanted.replace("\\", "\\\\").replace('"', '\\"')
    for record in client.search_records(q=f'doi:"{phrase}"', all_versions=True, size=10, max_results=10):
        if (record.doi or "").lower() == wanted:
            return record
    for record in client.search_records(q=f'conceptdoi:"{phrase}"', size=10, max_results=10):
        if (record.conceptdoi or "").lower() == wanted:
            return record
    return None


__all__ = ["record_by_doi"]
