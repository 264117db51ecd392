"""The read side of InvenioRDM's records API (see :class:`~ossr_images.zenodo.rdm_client.RdmClient`).

Skeleton: filled in by the rdm-read work.
"""

from __future__ import annotations

from collections.abc import Iterator

from ossr_images.zenodo.models import Record
from ossr_images.zenodo.transport import Transport


def get_record(transport: Transport, record_id: int | str) -> Record:
    # STOPGAP (rdm-publish): publish's read-back needs a record; the rdm-read branch replaces this function
    from ossr_images.zenodo.rdm_drafts import call
    from ossr_images.zenodo.rdm_metadata import record_of
    from ossr_images.zenodo.transport import shaped

    path = f"/records/{record_id}"
    return record_of(shaped(call(transport, "GET", path), "GET", transport.url(path), needs=("id",)))


def search(
    transport: Transport,
    q: str | None,
    communities: str | list[str] | tuple[str, ...] | None,
    all_versions: bool,
    sort: str | None,
    size: int | None,
    max_results: int | None,
) -> Iterator[Record]:
    raise NotImplementedError("the native API's search is not written yet")
