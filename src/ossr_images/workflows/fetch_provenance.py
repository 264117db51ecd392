"""Provenance of a fetched image: the image labels, the image metadata file and the Zenodo record must name the
same repository and commit (and the image ID and format must agree). The checks are functions from what was
read to a value (`ImageFacts`, `Provenance`) or an IntegrityError listing every disagreement with both values;
`set_aside` moves the files of a record that failed them out of the way."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ossr_images.errors import IntegrityError, OssrError
from ossr_images.images.inspect import inspect_image
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, ImageRecord
from ossr_images.metadata.source import same_repository
from ossr_images.workflows.fetch_records import UNVERIFIED_SUFFIX, FetchedFile

log = logging.getLogger("ossr_images.fetch")

LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_REVISION = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class ImageFacts:
    """What is known about the record's image: from its image metadata file, then from the file itself."""

    key: str
    format: str | None = None
    image_id: str | None = None
    labels: Mapping[str, str] | None = None  # None: not known (not read from a metadata file or the image)
    repo_tags: tuple[str, ...] = ()
    load_command: str | None = None
    run_command: str | None = None

    @classmethod
    def from_image_record(cls, image_record: ImageRecord) -> ImageFacts:
        """What the image metadata file says about the image."""
        return cls(
            key=image_record.file_name,
            format=image_record.format,
            image_id=image_record.image_id,
            labels=dict(image_record.labels),
            repo_tags=tuple(image_record.repo_tags),
            load_command=image_record.load_command,
            run_command=image_record.run_command,
        )


@dataclass(frozen=True)
class Provenance:
    """The source the image was built from; `verified` when labels, metadata file and record agreed."""

    repository: str
    commit: str
    verified: bool = False


def read_image_facts(path: Path, known: ImageFacts) -> ImageFacts:
    """Read format, image ID, labels and tags from the downloaded image (no engine) over what was `known`.
    A file that cannot be read as an image is an IntegrityError."""
    try:
        info = inspect_image(path, sha256=False)
    except OssrError as exc:
        raise IntegrityError(
            f"{path}: the file matches its checksums but cannot be read as an image ({exc.message})",
            "Do not use this record; report it to its owner.",
        ) from None
    return replace(
        known,
        labels=dict(info.labels or {}),
        format=info.format or known.format,
        image_id=info.image_id or known.image_id,
        repo_tags=known.repo_tags or tuple(getattr(info, "repo_tags", None) or ()),
    )


def zenodo_link_problems(zenodo_link: tuple[str, str] | None, image_record: ImageRecord) -> list[str]:
    """How the record's source link (isDerivedFrom) disagrees with the image metadata file ([] if it agrees)."""
    problems: list[str] = []
    if zenodo_link is None:
        problems.append(
            f"the Zenodo record has no isDerivedFrom source link, but {IMAGE_RECORD_KEY} names "
            f"{image_record.repository} at {image_record.commit}"
        )
    else:
        _compare(problems, "the Zenodo related identifier (isDerivedFrom)", zenodo_link, image_record)
    return problems


def check_provenance(
    record_id: str,
    zenodo_link: tuple[str, str] | None,
    image_record: ImageRecord,
    image_path: Path | None,
) -> tuple[Provenance, ImageFacts]:
    """Image labels == image metadata file == Zenodo related identifiers, for repository and commit (and the
    image ID and format when the image is at `image_path`; without it, the labels the metadata file recorded
    are compared). Returns the verified provenance and what is known of the image (the metadata file, then
    what was read from the image); raises IntegrityError listing every disagreement with both values."""
    problems = zenodo_link_problems(zenodo_link, image_record)
    image = ImageFacts.from_image_record(image_record)
    if image_path is not None:
        image = read_image_facts(image_path, image)
        key = image.key
        if image_record.image_id and image.image_id and image.image_id != image_record.image_id:
            problems.append(
                f"image ID: {key} has {image.image_id}, {IMAGE_RECORD_KEY} says {image_record.image_id}"
            )
        if image_record.format and image.format and image.format != image_record.format:
            problems.append(f"format: {key} is {image.format}, {IMAGE_RECORD_KEY} says {image_record.format}")
        labels, whose = image.labels or {}, f"the labels of {key}"
    else:  # the image was not fetched (--only metadata): compare the labels the metadata file recorded
        labels, whose = image_record.labels or {}, f"the image labels recorded in {IMAGE_RECORD_KEY}"
    _compare(problems, whose, (labels.get(LABEL_SOURCE), labels.get(LABEL_REVISION)), image_record)
    if problems:
        raise provenance_error(record_id, problems)
    return Provenance(image_record.repository, image_record.commit, verified=True), image


def provenance_error(record_id: str, problems: list[str]) -> IntegrityError:
    """The IntegrityError of a provenance disagreement, every problem named."""
    return IntegrityError(
        f"record {record_id}: provenance disagreement: " + "; ".join(problems),
        "Do not trust this image's provenance: the image labels, its metadata file and the Zenodo record "
        "must name the same repository and commit. Report the record to its owner.",
        details={"disagreements": problems},
    )


def set_aside(files: Sequence[FetchedFile], exc: IntegrityError, *, keep: bool) -> IntegrityError:
    """The provenance check failed: move the record's files in DIR to `<key>.unverified-provenance` (so that
    nothing of it is under its final name), or leave them in place with `keep` (--force). Returns the error
    to raise, naming where the files are and what to do."""
    placed: list[tuple[FetchedFile, Path]] = []
    for f in files:
        if f.path is None or f.path.is_symlink() or not f.path.is_file():
            continue
        where = f.path
        if not keep:
            aside = f.path.with_name(f.key + UNVERIFIED_SUFFIX)
            try:
                os.replace(f.path, aside)
                where = aside
            except OSError as err:
                log.warning("could not move %s aside: %s", f.path, err)
        placed.append((f, where))
    in_place = [str(p) for f, p in placed if p.name == f.key]
    moved = [str(p) for f, p in placed if p.name != f.key]
    message = exc.message
    hint = exc.hint
    if moved:
        message += f"; its checksum-verified files were moved aside: {', '.join(moved)}"
        hint += (
            f" The files are kept as <key>{UNVERIFIED_SUFFIX} so that nothing uses them by mistake; to look "
            "at them anyway, rename them or fetch again with --force (which leaves them under their names)."
        )
    if in_place:
        why = " (--force)" if keep else ""
        message += f"; these files are in place under their own names{why}: {', '.join(in_place)}"
        hint += " Do not use them: delete them unless you have checked their provenance yourself."
    details = dict(exc.details) if isinstance(exc.details, dict) else {}
    details["files"] = [{"key": f.key, "path": str(p), "final_name": p.name == f.key} for f, p in placed]
    return IntegrityError(message, hint, details=details)


def _compare(
    out: list[str], a_name: str, a: tuple[str | None, str | None], image_record: ImageRecord
) -> None:
    repo_a, commit_a = a
    repository, commit = image_record.repository, image_record.commit
    if not repo_a or not same_repository(repo_a, repository):
        out.append(f"repository: {a_name} says {repo_a or '(none)'}, {IMAGE_RECORD_KEY} says {repository}")
    if not commit_a or commit_a.strip().lower() != commit.strip().lower():
        out.append(f"commit: {a_name} says {commit_a or '(none)'}, {IMAGE_RECORD_KEY} says {commit}")
