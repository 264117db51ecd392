"""Uploading one file to a deposition's bucket: one streamed PUT, hashed on the way, checked against the answer.

The body is a :class:`~ossr_images.zenodo.transfer.HashingReader` (reused buffers, md5 on a worker thread,
sha256 and the socket send on the caller's); requests sends it with ``Content-Length`` (Zenodo takes no chunked
uploads). The PUT goes through the transport's retry policy; it is repeated from the start only when the file can
seek back (a PUT of the same key replaces the file), and each byte is reported to ``progress`` once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote

import requests

from ossr_images.errors import InvalidInputError
from ossr_images.zenodo.errors import ZenodoError, ZenodoIntegrityError, safe_url
from ossr_images.zenodo.models import parse_md5
from ossr_images.zenodo.transfer import DEFAULT_CHUNK, HashingReader, IterBody, Progress
from ossr_images.zenodo.transport import Request, Transport, shaped


@dataclass(frozen=True)
class UploadResult:
    """A file uploaded and checked: ``md5`` matched Zenodo's checksum; ``response`` is the bucket answer."""

    key: str
    size: int
    md5: str
    sha256: str
    response: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def upload_file(
    transport: Transport,
    bucket_url: str,
    key: str,
    fileobj: BinaryIO,
    size: int,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> UploadResult:
    """Stream ``size`` bytes of ``fileobj`` to ``<bucket_url>/<key>`` (see :meth:`ZenodoClient.upload_file`).

    Raises :class:`InvalidInputError` when the file ends before ``size`` bytes, :class:`ZenodoError` when the
    PUT fails (after the retries the policy allows), :class:`ZenodoIntegrityError` when Zenodo's md5 or size
    differ from the bytes sent.
    """
    url = f"{bucket_url.rstrip('/')}/{quote(key, safe='')}"
    sent = stream_put(transport, url, key, fileobj, size, chunk_size=chunk_size, progress=progress)
    answer = shaped(transport.decode(sent.response, "PUT", url), "PUT", url)
    check_answer(answer, key, url, size, sent.md5)
    return UploadResult(key, size, sent.md5, sent.sha256, answer)


@dataclass(frozen=True)
class Streamed:
    """One streamed PUT that the server accepted: its response and the hashes of the bytes sent."""

    response: requests.Response
    md5: str
    sha256: str


def stream_put(
    transport: Transport,
    url: str,
    key: str,
    fileobj: BinaryIO,
    size: int,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> Streamed:
    """PUT ``size`` bytes of ``fileobj`` to ``url`` in one request with Content-Length, md5 and sha256 computed
    on the way; repeated from the start (when ``fileobj`` can seek) as the transport's policy allows. Used by
    the deposit API's bucket upload and the native API's ``…/files/{key}/content``."""
    try:
        start_pos = fileobj.tell() if fileobj.seekable() else None
    except (OSError, AttributeError):
        start_pos = None
    readers: list[HashingReader] = []
    sent = {"now": 0, "reported": 0}

    def report(n: int) -> None:  # a repeated PUT re-sends bytes: report each byte once
        sent["now"] += n
        if progress is not None and sent["now"] > sent["reported"]:
            progress(sent["now"] - sent["reported"])
            sent["reported"] = sent["now"]

    def short_source(reader: HashingReader) -> InvalidInputError:
        return InvalidInputError(
            f"The file for {key} ended after {reader.bytes_read} of {size} bytes while being uploaded",
            "Was the file changed or truncated during the upload? Check it and run the command again.",
        )

    def body() -> IterBody:
        if readers and readers[-1].ended_early:
            raise short_source(readers[-1])
        if readers:
            readers[-1].close()
            if start_pos is None:
                raise ZenodoError(
                    f"Upload of {key} to {safe_url(url)} failed and the source cannot be read again",
                    status=None,
                    url=url,
                    method="PUT",
                )
            fileobj.seek(start_pos)
        sent["now"] = 0
        reader = HashingReader(fileobj, size, chunk_size=chunk_size, progress=report)
        readers.append(reader)
        return IterBody(reader)

    try:
        try:
            request = Request(
                "PUT",
                url,
                start_pos is not None,
                expected=(200, 201),
                body=body,
                headers={"Content-Type": "application/octet-stream"},
                transfer=True,
            )
            resp = transport.send(request)
        except ZenodoError:
            if readers and readers[-1].ended_early:
                raise short_source(readers[-1]) from None
            raise
        reader = readers[-1]
        if reader.bytes_read != size:
            raise ZenodoError(
                f"Upload of {key} sent {reader.bytes_read} of {size} bytes",
                status=None,
                url=url,
                method="PUT",
            )
        return Streamed(resp, reader.md5, reader.sha256)
    finally:
        for r in readers:
            r.close()


def check_answer(answer: dict[str, Any], key: str, url: str, size: int, md5: str) -> None:
    """The server's answer for an upload: Zenodo's ``checksum`` (``md5:<hex>``) and ``size`` must be those of the bytes sent."""
    remote_md5 = parse_md5(answer.get("checksum")) or ""
    remote_size = answer.get("size")
    if remote_md5 != md5 or (remote_size is not None and str(remote_size) != str(size)):
        raise ZenodoIntegrityError(
            f"Zenodo stored {key} with md5 {remote_md5 or 'none'} and size {remote_size}, but the bytes sent "
            f"have md5 {md5} and size {size} ({safe_url(url)})",
            "The upload was damaged on the way. Run the command again: it uploads the file again.",
            details={
                "key": key,
                "md5": md5,
                "remote_md5": remote_md5,
                "size": size,
                "remote_size": remote_size,
            },
        )
