"""The files of a Zenodo record as fetch sees them, and the checks made before anything is written: file keys
that could escape the download folder or collide are refused; the source link is read from the record's
related identifiers. `FetchRecord` is what fetch keeps of the client's `Record`. No network."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ossr_images.atomic import PART_SUFFIX
from ossr_images.errors import IntegrityError
from ossr_images.zenodo.models import Record, RemoteFile

LOCK_NAME = ".ossr-images.lock"  # in DIR only when the cache folder is not writable
UNVERIFIED_SUFFIX = ".unverified-provenance"  # verified bytes whose provenance check failed

# file names a record made by another tool might use for its image (no image metadata file to tell)
_IMAGE_SUFFIXES = (".sif", ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".oci", ".oci.tar")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class FetchRecord:
    """What fetch reads from a Zenodo record: identity, files and the source link (repository, commit) of its
    `isDerivedFrom` related identifier (None when it has none)."""

    id: str
    doi: str | None = None
    conceptdoi: str | None = None
    title: str | None = None
    version: str | None = None
    files: tuple[RemoteFile, ...] = ()
    source: tuple[str, str] | None = None

    def file(self, key: str | None) -> RemoteFile | None:
        """The file named `key`, or None."""
        return next((f for f in self.files if f.key == key), None)


@dataclass(frozen=True)
class FetchedFile:
    """One file of the record and what happened to it (`path` None: not selected, --only)."""

    key: str
    path: Path | None
    size: int | None
    md5: str | None  # the record's md5 (None when the record gives none); never one computed here
    sha256: str | None = None  # of the bytes on disk
    verified: bool = False  # True only when a checksum matched: see `checked`
    downloaded: bool = False  # False when an identical file was already there
    checked: Sequence[str] = ()  # "md5" (the record's), "sha256" (the metadata file's)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "path": str(self.path) if self.path else None,
            "size": self.size,
            "md5": self.md5,
            "sha256": self.sha256,
            "verified": self.verified,
            "checked": list(self.checked),
        }


# --------------------------------------------------------------------------------------------- file keys


def check_file_keys(keys: Iterable[str], *, where: str = "the record") -> None:
    """Refuse (IntegrityError, exit 3) a record whose file keys could escape the download folder or collide:
    empty, `.`/`..`, path separators, absolute paths, NUL or control characters, names equal ignoring case
    (and Unicode normalisation), our own lock, `.part` and `.unverified-provenance` names, Windows device
    names and trailing dots."""
    seen: dict[str, str] = {}
    for key in keys:
        reason = unsafe_key_reason(key)
        if reason is None:
            folded = unicodedata.normalize("NFC", key).casefold()
            if folded in seen:
                reason = f"it differs only in case or Unicode form from {seen[folded]!r}"
            else:
                seen[folded] = key
        if reason is not None:
            raise IntegrityError(
                f"{where} has an unsafe file name {key!r}: {reason}; nothing was written",
                "Do not use this record: it could write outside the download folder or overwrite its own "
                "files. Report it to the record's owner or to Zenodo.",
                details={"key": key, "reason": reason},
            )


def unsafe_key_reason(key: Any) -> str | None:
    """Why a file key is unsafe to use as a file name in the download folder, or None when it is safe."""
    if not isinstance(key, str):
        return "it is not a string"
    if key == "":
        return "it is empty"
    if key in (".", ".."):
        return "it names a folder"
    if "/" in key or "\\" in key:
        return "it contains a path separator"
    if any(ord(c) < 32 or ord(c) == 127 or unicodedata.category(c) == "Cc" for c in key):
        return "it contains a NUL or control character"
    if any(unicodedata.category(c) == "Cs" for c in key):
        return "it contains an invalid Unicode character (a lone surrogate)"
    if ":" in key and (os.name == "nt" or re.match(r"^[A-Za-z]:", key)):
        return "it contains a drive or stream separator"
    if os.path.isabs(key):
        return "it is an absolute path"
    folded = key.casefold()
    if folded == LOCK_NAME or folded.endswith((PART_SUFFIX, UNVERIFIED_SUFFIX)):
        return f"it collides with the names fetch uses itself ({LOCK_NAME}, *{PART_SUFFIX}, *{UNVERIFIED_SUFFIX})"
    if key.endswith((".", " ")):
        return "it ends with a dot or a space"
    if _WINDOWS_RESERVED.match(key):
        return "it is a reserved device name on Windows"
    if len(key.encode("utf-8")) > 240:
        return "it is longer than file systems allow"
    return None


# -------------------------------------------------------------------------------------- record reading


def record_files(record: Record) -> list[RemoteFile]:
    """The files of a record as the client read them (key, size, the record's md5, link)."""
    return list(record.files)


def parse_tree_url(url: str) -> tuple[str, str] | None:
    """`https://github.com/o/r/tree/<c>` or `https://gitlab.x/g/p/-/tree/<c>` -> (repository, ref)."""
    m = re.match(r"^(?P<repo>.+?)(?:/-)?/tree/(?P<ref>[^/?#]+)/?$", url.strip())
    if not m:
        return None
    return m.group("repo"), m.group("ref")


def zenodo_source(record: Record) -> tuple[str, str] | None:
    """(repository, commit) from the record's `isDerivedFrom` related identifier (a tree URL), or None."""
    for rel in record.related:
        if rel.relation.lower() != "isderivedfrom":
            continue
        parsed = parse_tree_url(rel.identifier)
        if parsed:
            return parsed
    return None


class _Sized(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int | None: ...


def guess_image_key(files: Iterable[_Sized]) -> str | None:
    """Without an image metadata file: the largest file whose name looks like an image archive or .sif."""
    candidates = [f for f in files if f.key.lower().endswith(_IMAGE_SUFFIXES)]
    if not candidates:
        return None
    return max(candidates, key=lambda f: f.size or 0).key
