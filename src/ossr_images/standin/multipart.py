"""The legacy form upload (``POST /deposit/depositions/<id>/files`` with fields ``file`` and ``name``).

Zenodo capped it at 100 MB (nginx answers 413 above), so the body is first streamed to a temporary file and
then split with ``mmap``: the ``file`` part is copied (md5 on the way) to its own temporary file, never held
in memory.
"""

from __future__ import annotations

import hashlib
import mmap
import re
from pathlib import Path

from ossr_images.standin.store import ApiError, sync_file

FORM_LIMIT = 100 * 1000 * 1000  # the legacy form API's documented 100 MB
_DISPOSITION = re.compile(
    rb'(?i)content-disposition:[^\r\n]*?\bname="([^"]*)"(?:[^\r\n]*?\bfilename="([^"]*)")?'
)


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary of a Content-Type header, or a 400."""
    match = re.search(r'(?i)^multipart/form-data\s*;.*?boundary="?([^";]+)"?', content_type or "")
    if not match:
        raise ApiError(
            400,
            "Expected a multipart/form-data body with the fields 'file' and 'name' "
            "(or upload with the bucket API: PUT <links.bucket>/<filename>).",
        )
    return match.group(1).strip().encode("latin-1")


def split_form(raw: Path, boundary: bytes, out: Path) -> tuple[str | None, str | None, int, str]:
    """Parse the form in ``raw``: copy the ``file`` part to ``out``; returns (name field, file part's filename,
    size, md5 hex). A 400 when the form is malformed or has no file."""
    delimiter = b"--" + boundary
    name: str | None = None
    filename: str | None = None
    found = False
    md5 = hashlib.md5()  # noqa: S324 - Zenodo's checksum
    size = 0
    if raw.stat().st_size == 0:
        raise ApiError(400, "The form is empty.")
    with open(raw, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = mm.find(delimiter)
        while pos >= 0:
            start = pos + len(delimiter)
            if mm[start : start + 2] == b"--":
                break  # closing delimiter
            header_end = mm.find(b"\r\n\r\n", start)
            if header_end < 0:
                raise ApiError(400, "Malformed multipart form (part without headers).")
            headers = mm[start:header_end]
            content_start = header_end + 4
            next_pos = mm.find(b"\r\n" + delimiter, content_start)
            if next_pos < 0:
                raise ApiError(400, "Malformed multipart form (no closing boundary).")
            match = _DISPOSITION.search(headers)
            field = match.group(1).decode("utf-8", "replace") if match else ""
            if field == "name":
                name = mm[content_start:next_pos].decode("utf-8", "replace").strip()
            elif field == "file" and not found:
                found = True
                if match and match.group(2) is not None:
                    filename = match.group(2).decode("utf-8", "replace")
                with open(out, "wb") as dst:
                    offset = content_start
                    while offset < next_pos:
                        chunk = mm[offset : min(next_pos, offset + 1024 * 1024)]
                        md5.update(chunk)
                        dst.write(chunk)
                        offset += len(chunk)
                    dst.flush()
                    sync_file(dst.fileno(), out)
                size = next_pos - content_start
            pos = next_pos + 2
    if not found:
        raise ApiError(
            400, "A validation error occurred.", [{"field": "file", "messages": ["Missing file."]}]
        )
    return name, filename, size, md5.hexdigest()
