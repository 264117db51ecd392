"""Fault plans for the stand-in's hook (`LocalZenodo.faults`): a record whose files come without a checksum,
and an image download that waits (so that a real process can be interrupted in the middle of it)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from ossr_images.standin.faults import Faults, RequestInfo


class NoChecksum(Faults):
    """The records API answers without the `checksum` of the files named (all files when `keys` is None),
    as a server that does not give checksums would: in either dialect (a `files` list, or native
    `files.entries` keyed by file key)."""

    def __init__(self, keys: Iterable[str] | None = None) -> None:
        self.keys = None if keys is None else set(keys)

    def after(self, request: RequestInfo, status: int, body: Any) -> tuple[int, Any] | None:
        if request.route != "rec_get" or not isinstance(body, dict):
            return None
        files = body.get("files")
        entries = files.get("entries") if isinstance(files, dict) else files
        for entry in entries.values() if isinstance(entries, dict) else entries or []:
            if isinstance(entry, dict) and (self.keys is None or entry.get("key") in self.keys):
                entry.pop("checksum", None)
        return status, body


class HeldDownload(Faults):
    """A file download whose path contains `marker` waits (up to `limit` seconds, or until `release()`)
    before it is answered; `arrived` is set when it comes in."""

    def __init__(self, marker: str, limit: float = 120.0) -> None:
        self.marker = marker
        self.limit = limit
        self.arrived = threading.Event()
        self._release = threading.Event()

    def before(self, request: RequestInfo) -> bool:
        if request.route == "rec_file_content" and self.marker in request.path:
            self.arrived.set()
            self._release.wait(self.limit)
        return False

    def release(self) -> None:
        self._release.set()
