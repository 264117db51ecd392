"""The read side of InvenioRDM's records API (see :class:`~ossr_images.zenodo.rdm_client.RdmClient`).

Skeleton: filled in by the rdm-read work.
"""

from __future__ import annotations

from collections.abc import Iterator

from ossr_images.zenodo.models import Record
from ossr_images.zenodo.transport import Transport


def get_record(transport: Transport, record_id: int | str) -> Record:
    raise NotImplementedError("the native API's record read is not written yet")


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
