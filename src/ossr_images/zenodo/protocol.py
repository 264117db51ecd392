"""The one client interface the workflows call, whichever API the server speaks.

:class:`~ossr_images.zenodo.client.ZenodoClient` speaks Zenodo's legacy deposit API,
:class:`~ossr_images.zenodo.rdm_client.RdmClient` InvenioRDM's native records API. Both return the typed
models of :mod:`ossr_images.zenodo.models` and take the same arguments, so that publish, fetch, search and serve
do not branch on the backend; :func:`ossr_images.zenodo.backends.open_client` chooses one.
Metadata goes in as Zenodo's legacy deposit metadata (what :mod:`ossr_images.metadata.crosswalk` makes); the
native backend translates it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ossr_images.zenodo.download import DownloadResult
from ossr_images.zenodo.models import Deposition, Record, RemoteFile, Review
from ossr_images.zenodo.target import Target
from ossr_images.zenodo.transfer import Progress
from ossr_images.zenodo.transport import RetryPolicy
from ossr_images.zenodo.upload import UploadResult


class RepositoryClient(Protocol):
    """What the workflows need from a repository: drafts, files, publishing, versions, records, downloads.

    ``api`` names the backend ("legacy" or "rdm"): workflows report it, never branch on it.
    """

    api: str
    target: Target
    retry: RetryPolicy

    def __enter__(self) -> RepositoryClient: ...

    def __exit__(self, *exc: object) -> None: ...

    def close(self) -> None: ...

    def create_deposition(self, metadata: dict[str, Any] | None = None) -> Deposition: ...

    def get_deposition(self, deposition_id: int | str) -> Deposition: ...

    def list_depositions(
        self,
        q: str | None = None,
        status: str | None = None,
        all_versions: bool = False,
        *,
        sort: str = "mostrecent",
        size: int = 100,
        max_pages: int | None = None,
    ) -> Iterator[Deposition]: ...

    def update_deposition(self, deposition_id: int | str, metadata: dict[str, Any]) -> Deposition: ...

    def delete_deposition(self, deposition_id: int | str) -> None: ...

    def publish(self, deposition_id: int | str) -> Deposition: ...

    def new_version(self, deposition_id: int | str) -> Deposition: ...

    def list_files(self, deposition_id: int | str) -> list[RemoteFile]: ...

    def delete_file(self, deposition_id: int | str, file_id: str) -> None: ...

    def upload_file(
        self,
        bucket_url: str,
        key: str,
        fileobj: BinaryIO,
        size: int,
        *,
        progress: Progress | None = None,
    ) -> UploadResult: ...

    def get_record(self, record_id: int | str) -> Record: ...

    def include_in_community(
        self, record_id: int | str, community: str, present: tuple[str, ...]
    ) -> Review | None: ...

    def search_records(
        self,
        q: str | None = None,
        communities: str | list[str] | tuple[str, ...] | None = None,
        all_versions: bool = False,
        *,
        sort: str | None = None,
        size: int | None = None,
        max_results: int | None = None,
    ) -> Iterator[Record]: ...

    def download_file(
        self,
        url: str,
        dest: Path,
        *,
        size: int | None = None,
        md5: str | None = None,
        progress: Progress | None = None,
        sha256: str | None = None,
        max_resumes: int = 0,
        restart_stale: bool = False,
    ) -> DownloadResult: ...


__all__ = ["RepositoryClient"]
