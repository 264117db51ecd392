"""The error every part of serve's workflow raises for an answer other than success."""

from __future__ import annotations

from ossr_images.errors import OssrError


class RegistryError(OssrError):
    """An answer of the registry API other than success: `code` is the OCI error code (NAME_UNKNOWN,
    MANIFEST_UNKNOWN, BLOB_UNKNOWN, DENIED, UNAVAILABLE, ...), `detail` says why; `check` names the failed
    verification for the log line (None when nothing failed)."""

    def __init__(
        self, code: str, message: str, detail: str | None = None, *, check: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail
        self.check = check
