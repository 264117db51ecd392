"""A client for InvenioRDM's native records API (Zenodo's new API, and every other InvenioRDM repository).

Same methods, arguments and returned models as :class:`~ossr_images.zenodo.client.ZenodoClient` (see
:class:`~ossr_images.zenodo.protocol.RepositoryClient`), on the same
:class:`~ossr_images.zenodo.transport.Transport`. The write side (drafts, DOI reservation, file register /
content / commit, publish, versions with files-import, community review requests) is in
:mod:`ossr_images.zenodo.rdm_drafts`; the read side (records, search, the user's records) in
:mod:`ossr_images.zenodo.rdm_records`. A deposition's ``bucket_url`` is the draft's files URL
(``{api}/records/{id}/draft/files``): :meth:`upload_file` registers, streams and commits one file there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from ossr_images.zenodo import rdm_drafts, rdm_records, rdm_uploads
from ossr_images.zenodo.client_base import ClientBase
from ossr_images.zenodo.models import Deposition, Record, RemoteFile
from ossr_images.zenodo.transfer import Progress
from ossr_images.zenodo.upload import UploadResult


class RdmClient(ClientBase):
    """InvenioRDM's records API for one :class:`Target` (timeouts as for the legacy client)."""

    api = "rdm"

    # ------------------------------------------------------------------ drafts (rdm_drafts)
    def create_deposition(self, metadata: dict[str, Any] | None = None) -> Deposition:
        """Create a draft (``POST /records``) with the legacy ``metadata`` translated, and reserve its DOI."""
        return rdm_drafts.create(self.transport, metadata)

    def get_deposition(self, deposition_id: int | str) -> Deposition:
        """The draft of ``deposition_id`` if it has one, else the published record, as a Deposition."""
        return rdm_drafts.get(self.transport, deposition_id)

    def list_depositions(
        self,
        q: str | None = None,
        status: str | None = None,
        all_versions: bool = False,
        *,
        sort: str = "mostrecent",
        size: int = 100,
        max_pages: int | None = None,
    ) -> Iterator[Deposition]:
        """The token owner's drafts and records (``GET /user/records``), legacy query and status translated."""
        return rdm_drafts.user_records(self.transport, q, status, all_versions, sort, size, max_pages)

    def update_deposition(self, deposition_id: int | str, metadata: dict[str, Any]) -> Deposition:
        """Replace the draft's metadata (``PUT .../draft``) with the legacy ``metadata`` translated."""
        return rdm_drafts.update(self.transport, deposition_id, metadata)

    def delete_deposition(self, deposition_id: int | str) -> None:
        """Delete an unpublished draft (204)."""
        rdm_drafts.delete(self.transport, deposition_id)

    def publish(self, deposition_id: int | str) -> Deposition:
        """Publish the draft (202), or submit its community review request (the Deposition then carries it)."""
        return rdm_drafts.publish(self.transport, deposition_id)

    def new_version(self, deposition_id: int | str) -> Deposition:
        """The draft of a new version of the published record, holding the previous files (files-import)."""
        return rdm_drafts.new_version(self.transport, deposition_id)

    def list_files(self, deposition_id: int | str) -> list[RemoteFile]:
        """The draft's files."""
        return rdm_drafts.list_files(self.transport, deposition_id)

    def delete_file(self, deposition_id: int | str, file_id: str) -> None:
        """Delete one file of the draft; ``file_id`` is its key."""
        rdm_drafts.delete_file(self.transport, deposition_id, file_id)

    def upload_file(
        self,
        bucket_url: str,
        key: str,
        fileobj: BinaryIO,
        size: int,
        *,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Register ``key`` under the draft's files URL ``bucket_url``, stream its content, commit it and check
        the committed md5 and size against the bytes sent."""
        return rdm_uploads.upload_file(
            self.transport, bucket_url, key, fileobj, size, chunk_size=self.chunk_size, progress=progress
        )

    # ------------------------------------------------------------------ records (rdm_records)
    def get_record(self, record_id: int | str) -> Record:
        """A published record; a parent (concept) id is redirected to its latest version."""
        return rdm_records.get_record(self.transport, record_id)

    def search_records(
        self,
        q: str | None = None,
        communities: str | list[str] | tuple[str, ...] | None = None,
        all_versions: bool = False,
        *,
        sort: str | None = None,
        size: int | None = None,
        max_results: int | None = None,
    ) -> Iterator[Record]:
        """Published records matching ``q``, every page followed to the end."""
        return rdm_records.search(self.transport, q, communities, all_versions, sort, size, max_results)


__all__ = ["RdmClient"]
