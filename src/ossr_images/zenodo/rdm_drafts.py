"""The write side of InvenioRDM's records API (see :class:`~ossr_images.zenodo.rdm_client.RdmClient`).

Skeleton: filled in by the rdm-publish work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from ossr_images.zenodo.models import Deposition, RemoteFile
from ossr_images.zenodo.transfer import DEFAULT_CHUNK, Progress
from ossr_images.zenodo.transport import Transport
from ossr_images.zenodo.upload import UploadResult


def _todo(what: str) -> NotImplementedError:
    return NotImplementedError(f"the native API's {what} is not written yet")


def create(transport: Transport, metadata: dict[str, Any] | None) -> Deposition:
    raise _todo("create")


def get(transport: Transport, deposition_id: int | str) -> Deposition:
    raise _todo("draft read")


def user_records(
    transport: Transport,
    q: str | None,
    status: str | None,
    all_versions: bool,
    sort: str,
    size: int,
    max_pages: int | None,
) -> Iterator[Deposition]:
    raise _todo("user records")


def update(transport: Transport, deposition_id: int | str, metadata: dict[str, Any]) -> Deposition:
    raise _todo("draft update")


def delete(transport: Transport, deposition_id: int | str) -> None:
    raise _todo("draft delete")


def publish(transport: Transport, deposition_id: int | str) -> Deposition:
    raise _todo("publish")


def new_version(transport: Transport, deposition_id: int | str) -> Deposition:
    raise _todo("new version")


def list_files(transport: Transport, deposition_id: int | str) -> list[RemoteFile]:
    raise _todo("draft files")


def delete_file(transport: Transport, deposition_id: int | str, key: str) -> None:
    raise _todo("file delete")


def upload_file(
    transport: Transport,
    files_url: str,
    key: str,
    fileobj: BinaryIO,
    size: int,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> UploadResult:
    raise _todo("file upload")
