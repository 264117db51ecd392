"""What a fetch will do, decided before anything is written to the download folder: the options (a frozen
object the CLI builds), and the plan: the record, its files (every key checked), the folder, the selected
files, and the image metadata file read into a scratch folder, validated and compared with the record's
source link (so that which file is the image and its sha256 are known before any big download)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ossr_images.errors import IntegrityError, InvalidInputError
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, ImageRecord
from ossr_images.workflows.fetch_provenance import ImageFacts, provenance_error, zenodo_link_problems
from ossr_images.workflows.fetch_records import (
    FetchedFile,
    FetchRecord,
    check_file_keys,
    guess_image_key,
)
from ossr_images.workflows.fetch_remote import DownloadJob, download
from ossr_images.zenodo.doi import RecordRef
from ossr_images.zenodo.models import RemoteFile
from ossr_images.zenodo.protocol import RepositoryClient

MAX_WORKERS = 3
MAX_METADATA_BYTES = 5 * 1024 * 1024  # the image metadata file is small; refuse a hostile huge one
ONLY_CHOICES = ("image", "metadata")
LOAD_CHOICES = ("docker", "singularity")

Notify = Callable[[str], None]
"""Human progress lines (the CLI prints them on stderr); the workflow never prints."""


@dataclass(frozen=True)
class FetchOptions:
    """What the user asked for besides the record (the CLI's options). Invalid combinations are refused when
    the object is made (InvalidInputError)."""

    dest: Path | None = None  # default ./zenodo-<record id>
    only: str | None = None  # "image" | "metadata"
    force: bool = False
    load: str | None = None  # "docker" | "singularity"
    source_dir: Path | None = None
    allow_unverified: bool = False
    max_workers: int = MAX_WORKERS

    def __post_init__(self) -> None:
        if self.only is not None and self.only not in ONLY_CHOICES:
            raise InvalidInputError(
                f"--only {self.only!r} is not one of {', '.join(ONLY_CHOICES)}",
                "Use --only image or --only metadata.",
            )
        if self.load is not None and self.load not in LOAD_CHOICES:
            raise InvalidInputError(
                f"--load {self.load!r} is not one of {', '.join(LOAD_CHOICES)}",
                "Use --load docker or --load singularity.",
            )
        if self.load and self.only == "metadata":
            raise InvalidInputError(
                "--load needs the image, but --only metadata skips it",
                "Drop --only metadata, or drop --load.",
            )


@dataclass(frozen=True)
class StagedMetadata:
    """The record's image metadata file, downloaded (md5 verified) into the scratch folder and validated."""

    image_record: ImageRecord
    path: Path  # the scratch copy
    fetched: FetchedFile  # how it was verified


@dataclass(frozen=True)
class FetchPlan:
    """The record to fetch, where to, which files and what is known of its image before the download."""

    record: FetchRecord
    requested: str  # the identifier as the user gave it
    from_concept: bool  # the identifier named all versions: the latest one is fetched
    directory: Path
    options: FetchOptions = field(default_factory=FetchOptions)
    image: ImageFacts | None = None  # None: no file of the record can be told to be the image
    metadata: StagedMetadata | None = None  # None: the record has no image metadata file
    warnings: tuple[str, ...] = ()

    @property
    def image_key(self) -> str | None:
        return self.image.key if self.image is not None else None

    @property
    def selected(self) -> tuple[RemoteFile, ...]:
        """The files to put into the folder (all, or as --only says)."""
        only = self.options.only
        if only is None:
            return self.record.files
        if only == "image":
            return tuple(f for f in self.record.files if f.key == self.image_key)
        return tuple(f for f in self.record.files if f.key != self.image_key)  # metadata: all but the image

    def expected_sha256(self, key: str) -> str | None:
        """The sha256 the image metadata file gives for `key` (only the image has one)."""
        if self.metadata is not None and key == self.image_key:
            return self.metadata.image_record.sha256
        return None


def make_plan(
    client: RepositoryClient,
    record: FetchRecord,
    ref: RecordRef,
    requested: str,
    options: FetchOptions,
    scratch: Path,
    say: Notify,
) -> FetchPlan:
    """Check every file key (before anything at all is written), choose the folder, and read the image
    metadata file into `scratch`. Raises IntegrityError (exit 3) for an unsafe record and InvalidInputError
    for a record without files."""
    from_concept = bool(ref.record_id and record.id != str(ref.record_id)) or bool(
        ref.doi and record.conceptdoi and ref.doi.lower() == str(record.conceptdoi).lower()
    )
    check_file_keys([f.key for f in record.files], where=f"record {record.id}")
    if not record.files:
        raise InvalidInputError(
            f"record {record.id} has no files", "Check the identifier: this record has nothing to fetch."
        )
    if options.dest is not None:
        directory = Path(options.dest).absolute()
    else:
        directory = Path.cwd() / f"zenodo-{record.id}"
    if from_concept:
        say(f"{requested} names all versions (a concept): fetching the latest version, record {record.id}")
    plan = FetchPlan(record, requested, from_concept, directory, options)
    metadata = _stage_metadata(client, record, scratch, options.allow_unverified, say)
    if metadata is None:
        key = guess_image_key(record.files)
        warning = (
            f"provenance could not be checked: record {record.id} has no {IMAGE_RECORD_KEY} (it was not "
            "published by ossr-images); its files are verified by md5 only"
        )
        return replace(plan, image=ImageFacts(key) if key else None, warnings=(warning,))
    return replace(plan, image=ImageFacts.from_image_record(metadata.image_record), metadata=metadata)


def check_verifiable(
    record_id: str,
    files: Sequence[RemoteFile],
    expected_sha: Callable[[str], str | None],
    allow_unverified: bool,
    say: Notify,
) -> None:
    """Refuse (IntegrityError, exit 3) files that nothing can verify: the record gives no md5 and the image
    metadata file no sha256. With `allow_unverified` they are fetched anyway and reported as not verified."""
    blind = [f.key for f in files if not f.md5 and not expected_sha(f.key)]
    if not blind:
        return
    names = ", ".join(blind)
    if allow_unverified:
        say(
            f"Warning: {names}: the record gives no checksum; fetched anyway (--allow-unverified), NOT verified"
        )
        return
    raise IntegrityError(
        f"record {record_id} gives no checksum for {names}, so {'it' if len(blind) == 1 else 'they'} "
        "could not be verified after the download; nothing was downloaded",
        "Ask the record's owner or the server why the checksum is missing, or fetch again with "
        "--allow-unverified to keep the file(s) anyway, reported as not verified.",
        details={"files": blind},
    )


def _stage_metadata(
    client: RepositoryClient, record: FetchRecord, scratch: Path, allow_unverified: bool, say: Notify
) -> StagedMetadata | None:
    """Download the image metadata file into `scratch` (md5 verified), validate it, and check it against the
    record. A file that does not validate or disagrees with the record is an integrity failure (exit 3).
    None for a record without one."""
    entry = record.file(IMAGE_RECORD_KEY)
    if entry is None:
        return None
    if entry.size is not None and entry.size > MAX_METADATA_BYTES:
        raise IntegrityError(
            f"record {record.id}: {IMAGE_RECORD_KEY} is {entry.size} bytes, far more than an image "
            "metadata file can be",
            "Do not use this record; report it to its owner.",
        )
    check_verifiable(record.id, [entry], lambda _key: None, allow_unverified, say)
    local = scratch / entry.key
    fetched = download(client, DownloadJob(entry.key, entry.url, local, entry.size, entry.md5), _ignore)
    try:
        image_record = ImageRecord.from_bytes(local.read_bytes())
    except InvalidInputError as exc:
        raise IntegrityError(
            f"record {record.id}: {exc.message}",
            f"The {IMAGE_RECORD_KEY} of this record does not validate: do not trust its provenance; "
            "report the record to its owner.",
            details=exc.details,
        ) from None
    _check_against_record(record, image_record)
    return StagedMetadata(image_record, local, fetched)


def _check_against_record(record: FetchRecord, image_record: ImageRecord) -> None:
    """The image file the metadata file names is in the record with its size and md5, and the record's own
    source link agrees (compared now, before gigabytes are downloaded)."""
    name = image_record.file_name
    image = record.file(name)
    if image is None:
        raise IntegrityError(
            f"record {record.id}: {IMAGE_RECORD_KEY} names the image file {name!r}, which is not in the "
            f"record (files: {', '.join(sorted(f.key for f in record.files))})",
            "Do not use this record; report it to its owner.",
        )
    if image.size is not None and image.size != image_record.size:
        raise IntegrityError(
            f"record {record.id}: {name} is {image.size} bytes on Zenodo but {IMAGE_RECORD_KEY} says "
            f"{image_record.size}",
            "Do not use this record; report it to its owner.",
        )
    md5 = image_record.md5
    if image.md5 and md5 and image.md5.lower() != md5.lower().removeprefix("md5:"):
        raise IntegrityError(
            f"record {record.id}: {name} has md5 {image.md5} on Zenodo but {IMAGE_RECORD_KEY} says {md5}",
            "Do not use this record; report it to its owner.",
        )
    problems = zenodo_link_problems(record.source, image_record)
    if problems:
        raise provenance_error(record.id, problems)


def _ignore(_n: int) -> None:
    """No progress for the small metadata file."""
