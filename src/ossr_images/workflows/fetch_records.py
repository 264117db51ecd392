"""The files of a Zenodo record as fetch sees them, and the checks fetch makes: file keys that could escape
the download folder or collide are refused before anything is written; the source link is read from the
record's related identifiers; provenance (image labels == image metadata file == Zenodo record) is compared
with both values named on any disagreement. No network."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ossr_images.errors import IntegrityError, OssrError
from ossr_images.zenodo.models import Record, RemoteFile

if TYPE_CHECKING:
    from ossr_images.workflows.fetch import FetchResult

LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_REVISION = "org.opencontainers.image.revision"
LOCK_NAME = ".ossr-images.lock"  # in DIR only when the cache folder is not writable
PART_SUFFIX = ".part"
UNVERIFIED_SUFFIX = ".unverified-provenance"  # verified bytes whose provenance check failed

# file names a record made by another tool might use for its image (no image metadata file to tell)
_IMAGE_SUFFIXES = (".sif", ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".oci", ".oci.tar")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


@dataclass
class FetchedFile:
    """One file of the record and what happened to it."""

    key: str
    path: Path | None  # None when not selected (--only)
    size: int | None
    md5: str | None  # the record's md5 (None when the record gives none); never one computed here
    sha256: str | None = None  # of the bytes on disk
    verified: bool = False  # True only when a checksum matched: see `checked`
    downloaded: bool = False  # False when an identical file was already there
    url: str | None = field(default=None, repr=False)
    checked: list[str] = field(default_factory=list)  # "md5" (the record's), "sha256" (the metadata file's)

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


def record_files(record: Record) -> list[FetchedFile]:
    """The files of a record, none selected yet (`path` None)."""
    return [FetchedFile(key=f.key, path=None, size=f.size, md5=f.md5, url=f.url) for f in record.files]


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


def guess_image_key(files: Sequence[FetchedFile | RemoteFile]) -> str | None:
    """Without an image metadata file: the largest file whose name looks like an image archive or .sif."""
    candidates = [f for f in files if f.key.lower().endswith(_IMAGE_SUFFIXES)]
    if not candidates:
        return None
    return max(candidates, key=lambda f: f.size or 0).key


# ----------------------------------------------------------------------------------------- verification


def check_provenance(result: FetchResult, rec: Any, *, image_on_disk: bool = True) -> None:
    """Image labels == image metadata file == Zenodo related identifiers, for repository and commit (and the
    image ID). Raises IntegrityError listing every disagreement with both values."""
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY

    result.repository, result.commit = rec.repository, rec.commit
    problems: list[str] = []
    compare_zenodo_link(problems, result, rec)

    entry = result.image_file()
    if image_on_disk and entry is not None and entry.path is not None:
        info = read_image_info(result, entry)
        if rec.image_id and info.image_id and info.image_id != rec.image_id:
            problems.append(
                f"image ID: {entry.key} has {info.image_id}, {IMAGE_RECORD_KEY} says {rec.image_id}"
            )
        if rec.format and info.format and info.format != rec.format:
            problems.append(f"format: {entry.key} is {info.format}, {IMAGE_RECORD_KEY} says {rec.format}")
        labels = result.image_labels or {}
        _compare(
            problems,
            f"the labels of {entry.key}",
            (labels.get(LABEL_SOURCE), labels.get(LABEL_REVISION)),
            IMAGE_RECORD_KEY,
            rec,
        )
    else:  # the image was not fetched (--only metadata): compare the labels the metadata file recorded
        labels = rec.labels or {}
        _compare(
            problems,
            f"the image labels recorded in {IMAGE_RECORD_KEY}",
            (labels.get(LABEL_SOURCE), labels.get(LABEL_REVISION)),
            IMAGE_RECORD_KEY,
            rec,
        )
    if problems:
        raise_provenance(result, problems)
    result.provenance_checked = True


def compare_zenodo_link(problems: list[str], result: FetchResult, rec: Any) -> None:
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY

    zsrc = zenodo_source(Record.from_json(result.record))  # FetchResult keeps the JSON it reports
    if zsrc is None:
        problems.append(
            f"the Zenodo record has no isDerivedFrom source link, but {IMAGE_RECORD_KEY} names "
            f"{rec.repository} at {rec.commit}"
        )
    else:
        _compare(problems, "the Zenodo related identifier (isDerivedFrom)", zsrc, IMAGE_RECORD_KEY, rec)


def raise_provenance(result: FetchResult, problems: list[str]) -> None:
    raise IntegrityError(
        f"record {result.record_id}: provenance disagreement: " + "; ".join(problems),
        "Do not trust this image's provenance: the image labels, its metadata file and the Zenodo record "
        "must name the same repository and commit. Report the record to its owner.",
        details={"disagreements": problems},
    )


def read_image_info(result: FetchResult, entry: FetchedFile) -> Any:
    """Read format, image ID and labels from the downloaded image (no engine)."""
    from ossr_images.images.inspect import inspect_image

    try:
        info = inspect_image(entry.path, sha256=False)
    except OssrError as exc:
        raise IntegrityError(
            f"{entry.path}: the file matches its checksums but cannot be read as an image ({exc.message})",
            "Do not use this record; report it to its owner.",
        ) from None
    result.image_labels = dict(info.labels or {})
    result.image_format = info.format or result.image_format
    result.image_id = info.image_id or result.image_id
    if getattr(info, "repo_tags", None) and not result.repo_tags:
        result.repo_tags = list(info.repo_tags)
    return info


def _compare(out: list[str], a_name: str, a: tuple[str | None, str | None], b_name: str, rec: Any) -> None:
    from ossr_images.metadata.source import same_repository

    repo_a, commit_a = a
    if not repo_a or not same_repository(repo_a, rec.repository):
        out.append(f"repository: {a_name} says {repo_a or '(none)'}, {b_name} says {rec.repository}")
    if not commit_a or commit_a.strip().lower() != rec.commit.strip().lower():
        out.append(f"commit: {a_name} says {commit_a or '(none)'}, {b_name} says {rec.commit}")
