"""What both clients share: the transport for one :class:`Target` (session, token, retries, timeouts), the context
manager, URLs, and downloads (the same streaming, resume and checks on either API).

:class:`~ossr_images.zenodo.client.ZenodoClient` (legacy deposit API) and
:class:`~ossr_images.zenodo.rdm_client.RdmClient` (native records API) add the API's own operations.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import requests

from ossr_images.zenodo import download
from ossr_images.zenodo.download import DownloadResult
from ossr_images.zenodo.inclusions import Inclusions
from ossr_images.zenodo.target import Target
from ossr_images.zenodo.transfer import DEFAULT_CHUNK, Progress
from ossr_images.zenodo.transport import RetryPolicy, Transport

C = TypeVar("C", bound="ClientBase")


class ClientBase(Inclusions):
    """One :class:`Target`'s transport. ``read_timeout`` applies to API calls; ``transfer_timeout`` is the read
    timeout for uploads and downloads (Zenodo may take minutes to answer after the last byte of a multi-GB
    upload)."""

    api = ""

    def __init__(
        self,
        target: Target,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        transfer_timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        chunk_size: int = DEFAULT_CHUNK,
        session: requests.Session | None = None,
    ) -> None:
        self.transport = Transport(
            target,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            transfer_timeout=transfer_timeout,
            retry=retry,
            session=session,
        )
        self.target = target
        self.chunk_size = chunk_size
        self.retry, self.session = self.transport.retry, self.transport.session
        self.api_url = self.transport.api_url

    def __enter__(self: C) -> C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session."""
        self.transport.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"

    def url(self, path: str) -> str:
        """An absolute URL for an API path such as ``/records``."""
        return self.transport.url(path)

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
    ) -> DownloadResult:
        """Stream ``url`` into ``dest.part`` (resuming from an existing part with Range), verify size and md5
        (and ``sha256`` when given), then rename to ``dest``. A mismatch deletes the part and raises
        :class:`ZenodoIntegrityError`. A body that ends early is resumed; when the policy's attempts are spent
        while the part still grew, up to ``max_resumes`` more rounds follow; with ``restart_stale`` a part
        left by an earlier run that does not match is downloaded once more from the start. See
        :mod:`ossr_images.zenodo.download`."""
        return download.download_file(
            self.transport,
            url,
            dest,
            expect=download.Expected(size=size, md5=md5, sha256=sha256),
            progress=progress,
            max_resumes=max_resumes,
            restart_stale=restart_stale,
        )


__all__ = ["ClientBase"]
