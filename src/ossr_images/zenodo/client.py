"""A thin, careful client for Zenodo's REST API (deposit API to publish, records API to read).

Each method is one API operation on top of :class:`~ossr_images.zenodo.transport.Transport` (session, token,
retry policy, JSON shape checks, logging without the token). A POST that changes state (create, publish, edit,
discard, newversion) carries a check that tells whether a lost attempt took effect, so that it is repeated only
when it did not; uploads and downloads are in :mod:`~ossr_images.zenodo.upload` and
:mod:`~ossr_images.zenodo.download`, on the same transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ossr_images.zenodo import paging, upload
from ossr_images.zenodo.client_base import ClientBase
from ossr_images.zenodo.download import DownloadResult
from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.models import Deposition, Record, RemoteFile
from ossr_images.zenodo.transfer import Progress
from ossr_images.zenodo.transport import USER_AGENT, Request, RetryPolicy, shaped
from ossr_images.zenodo.upload import UploadResult


class ZenodoClient(ClientBase):
    """Zenodo's deposit and records APIs for one :class:`Target`.

    ``read_timeout`` applies to API calls; ``transfer_timeout`` is the read timeout for uploads and downloads
    (Zenodo may take minutes to answer after the last byte of a multi-GB upload).
    """

    api = "legacy"

    def request_json(
        self,
        method: str,
        path: str,
        *,
        expected: tuple[int, ...] = (200,),
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        idempotent: bool | None = None,
        check: Callable[[], Any] | None = None,
    ) -> Any:
        """One API call returning parsed JSON (None for an empty body). ``path`` is relative to the API base
        or absolute. GET/PUT/DELETE are retried; other methods only through ``check``."""
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE")
        url = self.url(path)
        request = Request(method, url, idempotent, expected, json_body=json_body, params=params, check=check)
        return self.transport.request_json(request)

    def _shaped(
        self, value: Any, method: str, path: str, kind: type = dict, needs: tuple[str, ...] = ()
    ) -> Any:
        return shaped(value, method, self.url(path), kind, needs)

    # ------------------------------------------------------------------ deposit API
    def create_deposition(self, metadata: dict[str, Any] | None = None) -> Deposition:
        """Create a draft (201). If the answer is lost, looks for the draft before creating another."""
        body: dict[str, Any] = {"metadata": metadata} if metadata else {}
        started = time.time()
        title = (metadata or {}).get("title") or ""

        def check() -> Deposition | None:
            for dep in self.list_depositions(status="draft", max_pages=1):
                if dep.title == title and not dep.files and dep.created_after(started):
                    return dep
            return None

        path = "/deposit/depositions"
        answer = self.request_json("POST", path, expected=(201,), json_body=body, check=check)
        if isinstance(answer, Deposition):
            return answer
        self._shaped(answer, "POST", path, needs=("id", "links"))
        self._shaped(answer["links"], "POST", path, needs=("bucket",))
        return Deposition.from_json(answer)

    def get_deposition(self, deposition_id: int | str) -> Deposition:
        """The deposition (draft or published) as the deposit API shows it."""
        path = f"/deposit/depositions/{deposition_id}"
        return self._deposition(self.request_json("GET", path), "GET", path)

    def _deposition(self, answer: Any, method: str, path: str) -> Deposition:
        if isinstance(answer, Deposition):  # what a check returned
            return answer
        return Deposition.from_json(self._shaped(answer, method, path, needs=("id",)))

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
        """All of the token owner's depositions (drafts and published), every page."""
        params: dict[str, Any] = {"size": size, "sort": sort}
        if q:
            params["q"] = q
        if status:
            params["status"] = status
        if all_versions:
            params["all_versions"] = "true"
        return paging.depositions(self.transport, params, max_pages)

    def update_deposition(self, deposition_id: int | str, metadata: dict[str, Any]) -> Deposition:
        """Replace the draft's metadata (PUT; Zenodo checks completeness only at publish)."""
        path = f"/deposit/depositions/{deposition_id}"
        return self._deposition(self.request_json("PUT", path, json_body={"metadata": metadata}), "PUT", path)

    def delete_deposition(self, deposition_id: int | str) -> None:
        """Delete an unpublished draft (204)."""
        url = self.url(f"/deposit/depositions/{deposition_id}")

        def check() -> bool | None:
            try:
                self.get_deposition(deposition_id)
            except ZenodoError as exc:
                if exc.status in (404, 410):
                    return True
                raise
            return None

        self.transport.send(Request("DELETE", url, False, expected=(201, 202, 204), check=check))

    def _action(
        self,
        deposition_id: int | str,
        action: str,
        expected: tuple[int, ...],
        done: Callable[[Deposition], bool],
    ) -> Deposition | None:
        def check() -> Deposition | None:
            dep = self.get_deposition(deposition_id)
            return dep if done(dep) else None

        path = f"/deposit/depositions/{deposition_id}/actions/{action}"
        answer = self.request_json("POST", path, expected=expected, check=check)
        if answer is None and action == "discard":
            return None  # 204 with an empty body
        return self._deposition(answer, "POST", path)

    def publish(self, deposition_id: int | str) -> Deposition:
        """Publish the draft (202); a lost answer is checked (state "done") before any repeat."""
        return self._action(deposition_id, "publish", (202, 200, 201), lambda d: d.state == "done")

    def edit(self, deposition_id: int | str) -> Deposition:
        """Unlock a published record's metadata for editing (201)."""
        return self._action(deposition_id, "edit", (201, 200), lambda d: d.state == "inprogress")

    def discard(self, deposition_id: int | str) -> Deposition | None:
        """Discard the changes of an edit (204, empty body on Zenodo-RDM)."""
        return self._action(deposition_id, "discard", (204, 201, 200), lambda d: d.state != "inprogress")

    def new_version(self, deposition_id: int | str) -> Deposition:
        """The draft of a new version of the published record ``deposition_id``.

        An existing next-version draft (``links.latest_draft`` of the record) is returned as it is, without a
        POST; otherwise ``newversion`` is posted and its draft returned (older servers answered with the
        original record: then ``links.latest_draft`` is followed). The new draft holds the previous files.
        """
        existing = self._latest_draft_of(deposition_id)
        if existing is not None:
            return existing

        def check() -> Deposition | None:
            return self._latest_draft_of(deposition_id)

        path = f"/deposit/depositions/{deposition_id}/actions/newversion"
        result = self._deposition(
            self.request_json("POST", path, expected=(201, 200), check=check), "POST", path
        )
        if str(result.id) == str(deposition_id) and result.latest_draft_url:
            latest = result.latest_draft_url
            return self._deposition(self.request_json("GET", latest), "GET", latest)
        return result

    def _latest_draft_of(self, deposition_id: int | str) -> Deposition | None:
        latest = self.get_deposition(deposition_id).latest_draft_url
        if not latest or latest.rstrip("/").rsplit("/", 1)[-1] == str(deposition_id):
            return None
        draft = self.request_json("GET", latest)
        if isinstance(draft, dict) and draft.get("state") != "done" and not draft.get("submitted"):
            return self._deposition(draft, "GET", latest)
        return None

    def list_files(self, deposition_id: int | str) -> list[RemoteFile]:
        """The draft's files as the deposit API lists them (``filename``, ``filesize``, ``checksum``, ``id``)."""
        path = f"/deposit/depositions/{deposition_id}/files"
        files = self._shaped(self.request_json("GET", path), "GET", path, kind=list)
        # each entry a file object, or a clean error (no AttributeError later)
        return [RemoteFile.from_json(self._shaped(entry, "GET", path)) for entry in files]

    def delete_file(self, deposition_id: int | str, file_id: str) -> None:
        """Delete one file of a draft (204); a 404 after a lost answer counts as done."""
        url = self.url(f"/deposit/depositions/{deposition_id}/files/{file_id}")

        def check() -> bool | None:
            files = self.list_files(deposition_id)
            return True if all(f.id != str(file_id) for f in files) else None

        self.transport.send(Request("DELETE", url, False, expected=(204, 200, 201), check=check))

    def upload_file(
        self,
        bucket_url: str,
        key: str,
        fileobj: BinaryIO,
        size: int,
        *,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Stream ``size`` bytes of ``fileobj`` to ``<bucket_url>/<key>`` in one PUT with Content-Length.

        md5 and sha256 are computed while the bytes go out; Zenodo's returned ``md5:`` checksum and size must
        match (else :class:`ZenodoIntegrityError`). A failed PUT is repeated from the start when ``fileobj``
        can seek (a PUT of the same key replaces the file). See :mod:`ossr_images.zenodo.upload`.
        """
        return upload.upload_file(
            self.transport, bucket_url, key, fileobj, size, chunk_size=self.chunk_size, progress=progress
        )

    # ------------------------------------------------------------------ records API
    def get_record(self, record_id: int | str) -> Record:
        """A published record (``GET /records/<id>``); a concept id is redirected to its latest version, so
        the returned ``id`` may differ from ``record_id``."""
        path = f"/records/{record_id}"
        return Record.from_json(self._shaped(self.request_json("GET", path), "GET", path, needs=("id",)))

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
        """Published records matching ``q`` (Zenodo query syntax), every page followed to the end."""
        params: dict[str, Any] = {"size": size or (100 if self.target.token else 25)}
        if q:
            params["q"] = q
        if communities:
            params["communities"] = communities if isinstance(communities, str) else ",".join(communities)
        if all_versions:
            params["all_versions"] = "true"
        if sort:
            params["sort"] = sort
        return paging.records(self.transport, params, max_results)


__all__ = [
    "USER_AGENT",
    "DownloadResult",
    "RetryPolicy",
    "UploadResult",
    "ZenodoClient",
]
