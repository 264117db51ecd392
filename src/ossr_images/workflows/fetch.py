"""`ossr-images fetch`: resolve a record, download its files safely, prove the image is the archived one,
optionally load it into an engine and clone its source, and report where everything is.

Order of steps (nothing is written before the record's file keys are known to be safe); each step returns a
value and the result is built once, at the end:
  1. read the record (`fetch_remote.read_record`; a concept id gives the latest version) -> `FetchRecord`;
  2. plan (`fetch_plan.make_plan`): check every file key (refuse the whole record on any unsafe key, exit 3),
     read the image metadata file (when the record has one) into a scratch folder, validate it and compare it
     with the record's source link -> `FetchPlan`; then reach the engine that --load needs: all before any
     big download;
  3. create DIR, lock it (`fetch_download.folder_lock`: a flock on the folder itself, else a lock file in the
     cache folder: DIR holds only the record's files), check files already there (identical: kept;
     different: only with --force), download the selected files, three at a time, into `DIR/<key>.part`
     (resumed with Range, retried with backoff; size, md5 and the sha256 from the image metadata file
     verified), only then renamed to `DIR/<key>` (`fetch_download.place_files`) -> `FetchedFile`s;
  4. provenance (`fetch_provenance`): image labels == metadata file == Zenodo related identifiers
     (repository and commit) -> `Provenance`, `ImageFacts`; on a disagreement the files are moved to
     `DIR/<key>.unverified-provenance` (left in place with --force);
  5. optionally load into Docker / Apptainer (`fetch_load`) -> `Loaded`, and clone the source at the
     recorded commit.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ossr_images.errors import IntegrityError, InvalidInputError, OssrError, RemoteError
from ossr_images.images.apptainer import require_apptainer
from ossr_images.images.docker_engine import DockerEngine
from ossr_images.workflows.fetch_download import ProgressFactory, folder_lock, place_files
from ossr_images.workflows.fetch_load import (
    Loaded,
    check_source_dir,
    clone_source,
    load_docker,
    load_singularity,
)
from ossr_images.workflows.fetch_plan import (
    LOAD_CHOICES,
    MAX_WORKERS,
    ONLY_CHOICES,
    FetchOptions,
    FetchPlan,
    Notify,
    make_plan,
)
from ossr_images.workflows.fetch_provenance import (
    ImageFacts,
    Provenance,
    check_provenance,
    read_image_facts,
    set_aside,
)
from ossr_images.workflows.fetch_records import (
    LOCK_NAME,
    PART_SUFFIX,
    UNVERIFIED_SUFFIX,
    FetchedFile,
    FetchRecord,
    check_file_keys,
    guess_image_key,
    parse_tree_url,
    record_files,
    unsafe_key_reason,
    zenodo_source,
)
from ossr_images.workflows.fetch_remote import (
    open_client,
    parse_identifier,
    read_record,
    resolve_fetch_target,
)
from ossr_images.zenodo.doi import RecordRef
from ossr_images.zenodo.protocol import RepositoryClient
from ossr_images.zenodo.target import Target

log = logging.getLogger("ossr_images.fetch")


# ----------------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class FetchResult:
    """Everything fetch did, made once at the end; `to_dict()` is the `--json` document of the issue."""

    plan: FetchPlan  # the record, the folder, the options, what the image metadata file said
    files: tuple[FetchedFile, ...]  # every file of the record (`path` None: not selected)
    image: ImageFacts | None = None  # None: no file of the record is a readable image
    image_fetched: bool = False
    provenance: Provenance | None = None  # None: the record names no source
    loaded: Loaded | None = None
    checkout: Path | None = None
    warnings: tuple[str, ...] = ()
    api: str = ""  # the backend that read the record: "legacy" or "rdm"

    # what the CLI, the demo and serve read, by the names of the `--json` document
    record_id = property(lambda self: self.plan.record.id)
    doi = property(lambda self: self.plan.record.doi)
    conceptdoi = property(lambda self: self.plan.record.conceptdoi)
    title = property(lambda self: self.plan.record.title)
    requested = property(lambda self: self.plan.requested)
    from_concept = property(lambda self: self.plan.from_concept)
    directory = property(lambda self: self.plan.directory)
    image_key = property(lambda self: self.image.key if self.image else None)
    image_format = property(lambda self: self.image.format if self.image else None)
    image_id = property(lambda self: self.image.image_id if self.image else None)
    image_labels = property(
        lambda self: dict(self.image.labels) if self.image and self.image.labels is not None else None
    )
    repository = property(lambda self: self.provenance.repository if self.provenance else None)
    commit = property(lambda self: self.provenance.commit if self.provenance else None)
    provenance_checked = property(lambda self: bool(self.provenance and self.provenance.verified))

    @property
    def version(self) -> str | None:
        """The version the image metadata file gives, else the record's."""
        staged = self.plan.metadata
        return (staged.image_record.version if staged else None) or self.plan.record.version

    def image_file(self) -> FetchedFile | None:
        """The record's image file (None when the record has none that can be told)."""
        return next((f for f in self.files if f.key == self.image_key), None)

    def to_dict(self) -> dict[str, Any]:
        source = None
        if self.provenance is not None:
            source = {
                "repository": self.provenance.repository,
                "commit": self.provenance.commit,
                "checkout": str(self.checkout) if self.checkout else None,
                "verified": self.provenance.verified,
            }
        image = None
        if self.image is not None:
            image = {"format": self.image.format, "id": self.image.image_id, "labels": self.image_labels}
        return {
            "api": self.api,
            "record_id": self.record_id,
            "doi": self.doi,
            "conceptdoi": self.conceptdoi,
            "files": [f.to_dict() for f in self.files if f.path is not None],
            "source": source,
            "image": image,
            "loaded": self.loaded.to_dict() if self.loaded else None,
        }


# -------------------------------------------------------------------------------------------- the steps


def fetch(
    ref: RecordRef | str,
    target: Target,
    options: FetchOptions | None = None,
    *,
    requested: str | None = None,
    client: RepositoryClient | None = None,
    progress_factory: ProgressFactory | None = None,
    notify: Notify | None = None,
) -> FetchResult:
    """Fetch a record (`ref`: parsed, or a DOI, URL or id to parse; `requested`: the text the user typed)
    from `target` into `options.dest` (default `./zenodo-<record id>`).

    A file is verified only when a checksum matched: the record's md5 or the sha256 that the image metadata
    file gives. A file with neither is refused (IntegrityError, before it is downloaded) unless
    `options.allow_unverified`: then it is kept with `verified` False.

    Raises InvalidInputError (1: bad identifier or options, a different file present without `force`),
    IntegrityError (3: unsafe key, no checksum, checksum or provenance disagreement) or RemoteError (4).
    Never prints: human lines go to `notify`, byte counts to the sink made by
    `progress_factory(total, description)`.
    """
    say = notify or _quiet
    options = options or FetchOptions()
    if isinstance(ref, str):
        requested = requested or ref
        ref = parse_identifier(ref)
    requested = requested or ref.doi or ref.record_id
    if options.source_dir is not None:
        check_source_dir(Path(options.source_dir))  # before any download
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(open_client(target))
        record, client = read_record(client, ref, requested, say, stack)
        try:
            return _fetch(client, record, ref, requested, options, progress_factory, say)
        except OSError as exc:  # the local disk (network errors reach here as RemoteError)
            if isinstance(exc, requests.RequestException):
                raise RemoteError(f"the transfer failed: {exc}") from exc
            where = exc.filename or options.dest or "the download folder"
            raise InvalidInputError(
                f"cannot write {where}: {exc.strerror or exc}",
                "Check the free space and permissions there, then run the same command again: verified files "
                "are kept and partial ones resumed.",
            ) from exc


def _fetch(
    client: RepositoryClient,
    record: FetchRecord,
    ref: RecordRef,
    requested: str,
    options: FetchOptions,
    progress_factory: ProgressFactory | None,
    say: Notify,
) -> FetchResult:
    provenance: Provenance | None = None
    with tempfile.TemporaryDirectory(prefix="ossr-fetch-") as scratch:
        plan = make_plan(client, record, ref, requested, options, Path(scratch), say)
        # an engine that is not there fails before the download
        engine = _engine_for(options.load, plan.image)
        plan.directory.mkdir(parents=True, exist_ok=True)
        with folder_lock(plan.directory, say):
            files = place_files(client, plan, progress_factory, say)
            image_path = _image_path(files, plan.image_key)
            image = plan.image
            # provenance: checked while the lock is held so that no other fetch sees the files before they
            # are moved aside
            if plan.metadata is not None:
                try:
                    provenance, image = check_provenance(
                        record.id, record.source, plan.metadata.image_record, image_path
                    )
                except IntegrityError as exc:
                    raise set_aside(files, exc, keep=options.force) from None
    warnings = plan.warnings
    if plan.metadata is None:  # another tool's record: the source link is the record's word only
        provenance = Provenance(*record.source) if record.source else None
        image, image_path, warnings = _read_foreign_image(image, image_path, warnings)
    loaded = _load(options.load, image_path, image, record.id, say, engine)
    checkout = None
    if options.source_dir is not None:
        if provenance is None:
            raise InvalidInputError(
                f"--source needs the repository and commit, but record {record.id} does not name them",
                "Fetch without --source: this record has no image metadata file or source link.",
            )
        checkout = clone_source(provenance.repository, provenance.commit, Path(options.source_dir), say)
    return FetchResult(
        plan, files, image, image_path is not None, provenance, loaded, checkout, warnings, client.api
    )


def _read_foreign_image(
    image: ImageFacts | None, image_path: Path | None, warnings: tuple[str, ...]
) -> tuple[ImageFacts | None, Path | None, tuple[str, ...]]:
    """What the file guessed to be the image of a record without an image metadata file holds; a .tar may be
    data, not an image: then there is no image (and a warning says so)."""
    if image is None or image_path is None:
        return image, image_path, warnings
    try:
        return read_image_facts(image_path, image), image_path, warnings
    except OssrError:
        return None, None, (*warnings, f"{image.key} is not a container image that ossr-images can read")


def _image_path(files: tuple[FetchedFile, ...], image_key: str | None) -> Path | None:
    """Where the image file is in DIR (None when the record has none or it was not selected)."""
    return next((f.path for f in files if f.key == image_key and f.path is not None), None)


def _engine_for(load: str | None, image: ImageFacts | None) -> DockerEngine | None:
    """Connect to Docker (or find Apptainer) up front when --load needs it; the Docker engine is returned."""
    image_format = image.format if image else None
    if load == "docker" and image_format == "sif":
        raise InvalidInputError(
            f"{image.key if image else None} is an Apptainer/Singularity .sif, which Docker cannot load",
            "Use --load singularity instead.",
        )
    if load == "docker":
        return DockerEngine.connect()
    if load == "singularity" and image_format != "sif":
        require_apptainer()
    return None


def _load(
    load: str | None,
    image_path: Path | None,
    image: ImageFacts | None,
    record_id: str,
    say: Notify,
    engine: DockerEngine | None,
) -> Loaded | None:
    """Load the fetched image as --load asks (None without --load)."""
    if load is None:
        return None
    if image is None or image_path is None:
        raise InvalidInputError(
            f"record {record_id} has no image file to load", "Fetch a record that holds an image."
        )
    if load == "docker":
        return load_docker(image_path, image, say, engine=engine)
    return load_singularity(image_path, image, say)


def _quiet(_message: str) -> None:
    """The default `notify`: say nothing."""


__all__ = [
    "LOAD_CHOICES",
    "LOCK_NAME",
    "MAX_WORKERS",
    "ONLY_CHOICES",
    "PART_SUFFIX",
    "UNVERIFIED_SUFFIX",
    "FetchOptions",
    "FetchPlan",
    "FetchRecord",
    "FetchResult",
    "FetchedFile",
    "ImageFacts",
    "Loaded",
    "Provenance",
    "check_file_keys",
    "clone_source",
    "fetch",
    "guess_image_key",
    "load_docker",
    "load_singularity",
    "parse_tree_url",
    "record_files",
    "resolve_fetch_target",
    "unsafe_key_reason",
    "zenodo_source",
]
