"""`ossr-images fetch`: resolve a record, download its files safely, prove the image is the archived one,
optionally load it into an engine and clone its source, and report where everything is.

Order of steps (nothing is written before the record's file keys are known to be safe):
  1. parse the identifier, read the record (a concept id gives the latest version);
  2. check every file key; refuse the whole record on any unsafe key (exit 3);
  3. read the image metadata file (when the record has one) into a scratch folder, validate it, compare it
     with the record's source link, and reach the engine that --load needs: all before any big download;
  4. create DIR, lock it (a flock on the folder itself, else a lock file in the cache folder: DIR holds only
     the record's files), check files already there (identical: kept; different: only with --force);
  5. download the selected files, three at a time, into `DIR/<key>.part` (resumed with Range, retried with
     backoff; size, md5 and the sha256 from the image metadata file verified), only then renamed to `DIR/<key>`;
  6. provenance: image labels == metadata file == Zenodo related identifiers (repository and commit); on a
     disagreement the files are moved to `DIR/<key>.unverified-provenance` (left in place with --force);
  7. optionally load into Docker / Apptainer and clone the source at the recorded commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ossr_images.errors import IntegrityError, InvalidInputError, OssrError, RemoteError
from ossr_images.workflows.fetch_load import (
    Loaded,
    check_source_dir,
    clone_source,
    load_docker,
    load_singularity,
)
from ossr_images.workflows.fetch_records import (
    LOCK_NAME,
    PART_SUFFIX,
    UNVERIFIED_SUFFIX,
    FetchedFile,
    check_file_keys,
    check_provenance,
    compare_zenodo_link,
    guess_image_key,
    parse_tree_url,
    raise_provenance,
    read_image_info,
    record_files,
    unsafe_key_reason,
    zenodo_source,
)
from ossr_images.zenodo.models import Record

log = logging.getLogger("ossr_images.fetch")

MAX_WORKERS = 3
MAX_RESUMES = 5  # extra rounds when the client gave up on a download that was still making progress
MAX_METADATA_BYTES = 5 * 1024 * 1024  # the image metadata file is small; refuse a hostile huge one
CHUNK = 1024 * 1024


ONLY_CHOICES = ("image", "metadata")
LOAD_CHOICES = ("docker", "singularity")


class ProgressSink(Protocol):
    def __call__(self, nbytes: int) -> None: ...


ProgressFactory = Callable[[int, str], ProgressSink]
"""(total bytes, description) -> a callable sink; the CLI passes `cli.progress.Progress`."""

Notify = Callable[[str], None]
"""Human progress lines (the CLI prints them on stderr); the workflow never prints."""


# ----------------------------------------------------------------------------------------------- results


@dataclass
class FetchResult:
    """Everything fetch did; `to_dict()` is the `--json` document of the issue."""

    record_id: str
    doi: str | None
    conceptdoi: str | None
    requested: str
    from_concept: bool
    directory: Path
    files: list[FetchedFile]
    repository: str | None = None
    commit: str | None = None
    provenance_checked: bool = False
    image_key: str | None = None
    image_format: str | None = None
    image_id: str | None = None
    image_labels: dict[str, str] | None = None
    image_fetched: bool = False
    load_command: str | None = None
    run_command: str | None = None
    loaded: Loaded | None = None
    checkout: Path | None = None
    title: str | None = None
    version: str | None = None
    repo_tags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict, repr=False)

    def image_file(self) -> FetchedFile | None:
        """The record's image file (None when the record has none that can be told)."""
        return next((f for f in self.files if f.key == self.image_key), None)

    def to_dict(self) -> dict[str, Any]:
        source = None
        if self.repository or self.commit:
            source = {
                "repository": self.repository,
                "commit": self.commit,
                "checkout": str(self.checkout) if self.checkout else None,
                "verified": self.provenance_checked,
            }
        image = None
        if self.image_key is not None:
            image = {"format": self.image_format, "id": self.image_id, "labels": self.image_labels}
        return {
            "record_id": self.record_id,
            "doi": self.doi,
            "conceptdoi": self.conceptdoi,
            "files": [f.to_dict() for f in self.files if f.path is not None],
            "source": source,
            "image": image,
            "loaded": self.loaded.to_dict() if self.loaded else None,
        }


# -------------------------------------------------------------------------------------------- the steps


def resolve_fetch_target(
    ref_text: str,
    *,
    sandbox: bool = False,
    zenodo_url: str | None = None,
    token_file: str | None = None,
    allow_insecure_http: bool = False,
) -> tuple[Any, Any]:
    """Parse the identifier and choose the server. TARGET options win; without them a DOI prefix picks
    production or the sandbox, and a record URL on another host (e.g. a local stand-in) picks that host,
    without sending it the token. Returns (RecordRef, Target)."""
    from ossr_images.zenodo.doi import parse_record_ref
    from ossr_images.zenodo.target import Target, reject_userinfo, resolve_target

    reject_userinfo(ref_text, "the record URL")  # before anything can echo it or send it as Basic auth
    ref = parse_record_ref(ref_text)
    explicit = sandbox or bool(zenodo_url)
    target = resolve_target(
        sandbox=sandbox,
        zenodo_url=zenodo_url,
        token_file=token_file,
        allow_insecure_http=allow_insecure_http,
        require_token=False,
        default_server=ref.server,
    )
    if not explicit and ref.api_url and ref.server is None:
        # a URL on a host that is neither zenodo.org nor the sandbox: read it there, anonymously
        target = Target("custom", ref.api_url.rstrip("/"), None, None, allow_insecure_http)
    return ref, target


def fetch(
    ref_text: str,
    target: Any,
    *,
    dest: Path | None = None,
    only: str | None = None,
    force: bool = False,
    load: str | None = None,
    source_dir: Path | None = None,
    allow_unverified: bool = False,
    progress_factory: ProgressFactory | None = None,
    notify: Notify | None = None,
    max_workers: int = MAX_WORKERS,
    client: Any = None,
) -> FetchResult:
    """Fetch a record by DOI, URL or id from `target` into `dest` (default `./zenodo-<record id>`).

    A file is verified only when a checksum matched: the record's md5 or the sha256 that the image metadata
    file gives. A file with neither is refused (IntegrityError, before it is downloaded) unless
    `allow_unverified`: then it is kept with `verified` False.

    Raises InvalidInputError (1: bad identifier or options, a different file present without `force`),
    IntegrityError (3: unsafe key, no checksum, checksum or provenance disagreement) or RemoteError (4).
    Never prints: human lines go to `notify`, byte counts to the sink made by
    `progress_factory(total, description)`.
    """
    from ossr_images.zenodo.doi import parse_record_ref
    from ossr_images.zenodo.target import reject_userinfo

    say = notify or (lambda _m: None)
    _check_options(only, load)
    if source_dir is not None:
        check_source_dir(Path(source_dir))  # before any download
    reject_userinfo(ref_text, "the record URL")
    ref = parse_record_ref(ref_text)
    opts = _Options(dest, only, force, load, source_dir, allow_unverified, max_workers)
    with contextlib.ExitStack() as stack:
        if client is None:
            from ossr_images.zenodo.client import ZenodoClient

            client = stack.enter_context(ZenodoClient(target))
        record, client = _get_record(client, ref, ref_text, say, stack)
        try:
            return _fetch(record, ref, ref_text, client, opts, progress_factory, say)
        except OSError as exc:  # the local disk (network errors reach here as RemoteError)
            import requests

            if isinstance(exc, requests.RequestException):
                raise RemoteError(f"the transfer failed: {exc}") from exc
            where = exc.filename or dest or "the download folder"
            raise InvalidInputError(
                f"cannot write {where}: {exc.strerror or exc}",
                "Check the free space and permissions there, then run the same command again: verified files "
                "are kept and partial ones resumed.",
            ) from exc


def _get_record(
    client: Any, ref: Any, ref_text: str, say: Notify, stack: contextlib.ExitStack
) -> tuple[Record, Any]:
    """Read the record (a concept id is redirected to the latest version). A public record needs no token:
    when the server refuses the token (401, e.g. a stale ZENODO_TOKEN), the record is read without it.
    Returns the record and the client to use from then on."""
    from ossr_images.zenodo.errors import ZenodoError

    try:
        return client.get_record(ref.record_id), client
    except ZenodoError as exc:
        target = getattr(client, "target", None)
        if exc.status == 401 and getattr(target, "token", None):
            from ossr_images.zenodo.client import ZenodoClient

            say("Warning: the server refused the token (401); reading the record without it.")
            anonymous = stack.enter_context(
                ZenodoClient(dataclasses.replace(target, token=None), retry=client.retry)
            )
            return _get_record(anonymous, ref, ref_text, say, stack)
        if exc.status in (404, 410):
            api = getattr(target, "api_url", "the server")
            raise ZenodoError(
                f"there is no record {ref.record_id} on {api} ({ref_text})",
                "Check the DOI or id, and the server: sandbox DOIs (10.5072) live on --sandbox, production "
                "ones (10.5281) on zenodo.org; --zenodo-url or OSSR_IMAGES_ZENODO_URL override both.",
                status=exc.status,
                url=exc.url,
                method="GET",
            ) from None
        raise


@dataclass(frozen=True)
class _Options:
    """What the user asked for (the keyword arguments of `fetch`)."""

    dest: Path | None
    only: str | None
    force: bool
    load: str | None
    source_dir: Path | None
    allow_unverified: bool
    max_workers: int


def _fetch(
    record: Record,
    ref: Any,
    ref_text: str,
    client: Any,
    opts: _Options,
    progress_factory: ProgressFactory | None,
    say: Notify,
) -> FetchResult:
    dest, only, load, source_dir = opts.dest, opts.only, opts.load, opts.source_dir
    record_id = record.id or str(ref.record_id)
    conceptdoi = record.conceptdoi
    from_concept = record_id != str(ref.record_id) or bool(
        ref.doi and conceptdoi and ref.doi.lower() == str(conceptdoi).lower()
    )
    files = record_files(record)
    # 1. every key is checked before anything at all is written
    check_file_keys([f.key for f in files], where=f"record {record_id}")
    if not files:
        raise InvalidInputError(
            f"record {record_id} has no files", "Check the identifier: this record has nothing to fetch."
        )
    result = FetchResult(
        record_id=record_id,
        doi=record.doi,
        conceptdoi=conceptdoi,
        requested=ref_text,
        from_concept=from_concept,
        directory=Path(dest).absolute() if dest is not None else Path.cwd() / f"zenodo-{record_id}",
        files=files,
        title=record.title,
        version=record.version,
        record=dict(record.raw),
    )
    if from_concept:
        say(f"{ref_text} names all versions (a concept): fetching the latest version, record {record_id}")

    with tempfile.TemporaryDirectory(prefix="ossr-fetch-") as scratch:
        # 2. the image metadata file (small) is read first, into a scratch folder: it says which file is
        #    the image and its sha256
        image_record = _read_image_record(client, result, Path(scratch), opts.allow_unverified, say)
        engine = _engine_for(load, result)  # an engine that is not there fails before the download
        selected = [f for f in files if _selected(f, only, result.image_key)]
        directory = result.directory
        directory.mkdir(parents=True, exist_ok=True)
        with _folder_lock(directory, say):
            _download_selected(
                client, result, selected, image_record, Path(scratch), opts, progress_factory, say
            )
            image_entry = result.image_file()
            result.image_fetched = bool(image_entry and image_entry.path)
            # 3. provenance: labels == metadata file == Zenodo related identifiers, checked while the lock
            #    is held so that no other fetch sees the files before they are moved aside
            if image_record is not None:
                try:
                    check_provenance(result, image_record, image_on_disk=only != "metadata")
                except IntegrityError as exc:
                    raise _set_aside(result, exc, keep=opts.force) from None

    if image_record is None:
        zsrc = zenodo_source(record)
        if zsrc:
            result.repository, result.commit = zsrc
        image_entry = result.image_file()
        if image_entry is not None and image_entry.path is not None:
            try:  # another tool's record: a .tar may be data, not an image
                read_image_info(result, image_entry)
            except OssrError:
                result.warnings.append(
                    f"{image_entry.key} is not a container image that ossr-images can read"
                )
                result.image_key = None
                result.image_fetched = False

    # 4. load and source
    if load == "docker":
        result.loaded = load_docker(result, say, engine=engine)
    elif load == "singularity":
        result.loaded = load_singularity(result, say)
    if source_dir is not None:
        if not result.repository or not result.commit:
            raise InvalidInputError(
                f"--source needs the repository and commit, but record {record_id} does not name them",
                "Fetch without --source: this record has no image metadata file or source link.",
            )
        result.checkout = clone_source(result.repository, result.commit, Path(source_dir), say)
    return result


@contextlib.contextmanager
def _folder_lock(directory: Path, say: Notify) -> Iterator[None]:
    """One fetch into `directory` at a time, leaving no lock file in it: where the OS allows, an exclusive
    flock on the folder itself (so runs with different cache folders, or users, still exclude each other);
    else a lock file in the cache folder named by a hash of the folder's resolved path; else, when the cache
    is not writable, `DIR/.ossr-images.lock`."""
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        try:
            fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            log.debug("cannot open %s to lock it (%s); using a lock file", directory, exc)
        else:
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    say(f"Waiting for another ossr-images fetch into {directory} to finish...")
                    fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:  # e.g. a file system without flock on folders
                os.close(fd)
                log.debug("cannot flock %s (%s); using a lock file", directory, exc)
            else:
                try:
                    yield
                finally:
                    os.close(fd)  # releases the lock
                return
    with _lock_file(directory, say):
        yield


@contextlib.contextmanager
def _lock_file(directory: Path, say: Notify) -> Iterator[None]:
    """The lock of `_folder_lock` as a file: in the cache folder, or in DIR when the cache is not writable."""
    from filelock import FileLock, Timeout

    from ossr_images.workflows.journal import cache_dir, short_hash

    resolved = directory.resolve()
    path = cache_dir() / "fetch-locks" / f"{short_hash(str(resolved), 24)}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
    except OSError as exc:
        log.debug("cache folder not writable (%s); locking %s with %s in it", exc, resolved, LOCK_NAME)
        path = resolved / LOCK_NAME
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"Waiting for another ossr-images fetch into {directory} to finish...")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _set_aside(result: FetchResult, exc: IntegrityError, *, keep: bool) -> IntegrityError:
    """The provenance check failed: move the record's files in DIR to `<key>.unverified-provenance` (so that
    nothing of it is under its final name), or leave them in place with `keep` (--force). Returns the error
    to raise, naming where the files are and what to do."""
    placed: list[tuple[FetchedFile, Path]] = []
    for f in result.files:
        if f.path is None or f.path.is_symlink() or not f.path.is_file():
            continue
        where = f.path
        if not keep:
            aside = f.path.with_name(f.key + UNVERIFIED_SUFFIX)
            try:
                os.replace(f.path, aside)
                where = f.path = aside
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


def _engine_for(load: str | None, result: FetchResult) -> Any:
    """Connect to Docker (or find Apptainer) up front when --load needs it; the Docker engine is returned."""
    if load == "docker" and result.image_format == "sif":
        raise InvalidInputError(
            f"{result.image_key} is an Apptainer/Singularity .sif, which Docker cannot load",
            "Use --load singularity instead.",
        )
    if load == "docker":
        from ossr_images.images.docker_engine import DockerEngine

        return DockerEngine.connect()
    if load == "singularity" and result.image_format != "sif":
        from ossr_images.images.apptainer import require_apptainer

        require_apptainer()
    return None


def _check_options(only: str | None, load: str | None) -> None:
    if only is not None and only not in ONLY_CHOICES:
        raise InvalidInputError(
            f"--only {only!r} is not one of {', '.join(ONLY_CHOICES)}", "Use --only image or --only metadata."
        )
    if load is not None and load not in LOAD_CHOICES:
        raise InvalidInputError(
            f"--load {load!r} is not one of {', '.join(LOAD_CHOICES)}",
            "Use --load docker or --load singularity.",
        )
    if load and only == "metadata":
        raise InvalidInputError(
            "--load needs the image, but --only metadata skips it", "Drop --only metadata, or drop --load."
        )


def _selected(f: FetchedFile, only: str | None, image_key: str | None) -> bool:
    if only is None:
        return True
    if only == "image":
        return f.key == image_key
    return f.key != image_key  # metadata: everything but the image


def _check_verifiable(
    result: FetchResult,
    files: list[FetchedFile],
    expected_sha: dict[str | None, str],
    allow_unverified: bool,
    say: Notify,
) -> None:
    """Refuse (IntegrityError, exit 3) files that nothing can verify: the record gives no md5 and the image
    metadata file no sha256. With `allow_unverified` they are fetched anyway and reported as not verified."""
    blind = [f.key for f in files if not f.md5 and not expected_sha.get(f.key)]
    if not blind:
        return
    names = ", ".join(blind)
    if allow_unverified:
        say(
            f"Warning: {names}: the record gives no checksum; fetched anyway (--allow-unverified), NOT verified"
        )
        return
    raise IntegrityError(
        f"record {result.record_id} gives no checksum for {names}, so {'it' if len(blind) == 1 else 'they'} "
        "could not be verified after the download; nothing was downloaded",
        "Ask the record's owner or the server why the checksum is missing, or fetch again with "
        "--allow-unverified to keep the file(s) anyway, reported as not verified.",
        details={"files": blind},
    )


def _read_image_record(
    client: Any, result: FetchResult, scratch: Path, allow_unverified: bool, say: Notify
) -> Any:
    """Download the image metadata file into `scratch` (md5 verified), validate it, and note which file is
    the image. A file that does not validate or disagrees with the record is an integrity failure (exit 3).
    Returns the ImageRecord, or None for a record without one (a warning is recorded)."""
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, ImageRecord

    by_key = {f.key: f for f in result.files}
    entry = by_key.get(IMAGE_RECORD_KEY)
    if entry is None:
        result.image_key = guess_image_key(result.files)
        result.warnings.append(
            f"provenance could not be checked: record {result.record_id} has no {IMAGE_RECORD_KEY} (it was "
            "not published by ossr-images); its files are verified by md5 only"
        )
        return None
    if entry.size is not None and entry.size > MAX_METADATA_BYTES:
        raise IntegrityError(
            f"record {result.record_id}: {IMAGE_RECORD_KEY} is {entry.size} bytes, far more than an image "
            "metadata file can be",
            "Do not use this record; report it to its owner.",
        )
    _check_verifiable(result, [entry], {}, allow_unverified, say)
    local = scratch / entry.key
    _download_one(client, entry, None, _SharedProgress(None), dest=local)
    entry.downloaded = False  # set again when (and if) it is put into DIR
    data = local.read_bytes()
    try:
        rec = ImageRecord.from_bytes(data)
    except InvalidInputError as exc:
        raise IntegrityError(
            f"record {result.record_id}: {exc.message}",
            f"The {IMAGE_RECORD_KEY} of this record does not validate: do not trust its provenance; "
            "report the record to its owner.",
            details=exc.details,
        ) from None
    image = by_key.get(rec.file_name)
    if image is None:
        raise IntegrityError(
            f"record {result.record_id}: {IMAGE_RECORD_KEY} names the image file {rec.file_name!r}, which "
            f"is not in the record (files: {', '.join(sorted(by_key))})",
            "Do not use this record; report it to its owner.",
        )
    if image.size is not None and image.size != rec.size:
        raise IntegrityError(
            f"record {result.record_id}: {rec.file_name} is {image.size} bytes on Zenodo but "
            f"{IMAGE_RECORD_KEY} says {rec.size}",
            "Do not use this record; report it to its owner.",
        )
    if image.md5 and rec.md5 and image.md5.lower() != rec.md5.lower().removeprefix("md5:"):
        raise IntegrityError(
            f"record {result.record_id}: {rec.file_name} has md5 {image.md5} on Zenodo but "
            f"{IMAGE_RECORD_KEY} says {rec.md5}",
            "Do not use this record; report it to its owner.",
        )
    # the record's own source link is compared now, before gigabytes are downloaded
    problems: list[str] = []
    compare_zenodo_link(problems, result, rec)
    if problems:
        raise_provenance(result, problems)
    result.image_key = rec.file_name
    result.image_format = rec.format
    result.image_id = rec.image_id
    result.image_labels = dict(rec.labels)
    result.load_command = rec.load_command
    result.run_command = rec.run_command
    result.repo_tags = list(rec.repo_tags)
    result.version = rec.version or result.version
    return rec


def _download_selected(
    client: Any,
    result: FetchResult,
    selected: list[FetchedFile],
    image_record: Any,
    scratch: Path,
    opts: _Options,
    progress_factory: ProgressFactory | None,
    say: Notify,
) -> None:
    """Check files already in DIR (identical: kept; different: only with `force`), then download the rest
    in parallel. The image metadata file, already verified in `scratch`, is moved into place."""
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY

    directory = result.directory
    expected_sha = {result.image_key: image_record.sha256} if image_record is not None else {}
    others = [f for f in selected if not (f.key == IMAGE_RECORD_KEY and image_record is not None)]
    _check_verifiable(result, others, expected_sha, opts.allow_unverified, say)  # before anything is written
    todo: list[FetchedFile] = []
    for f in selected:
        f.path = directory / f.key
        _unlink_if_symlink(directory / (f.key + PART_SUFFIX))
        if f.path.is_symlink() or f.path.exists():
            if f.key == IMAGE_RECORD_KEY and image_record is not None:
                expected_sha[f.key] = hashlib.sha256((scratch / f.key).read_bytes()).hexdigest()
            if f.path.is_symlink() or not f.path.is_file():
                raise InvalidInputError(
                    f"{f.path} exists and is not a regular file",
                    "Remove it, or fetch into another folder with -d DIR.",
                )
            checked_in_scratch = list(f.checked)
            if _is_identical(f, f.path, expected_sha.get(f.key)):
                if f.key == IMAGE_RECORD_KEY and image_record is not None:  # as verified as the scratch copy
                    f.checked, f.verified = checked_in_scratch, bool(checked_in_scratch)
                say(f"{f.path}: already there and identical, kept")
                continue
            if not opts.force:
                comparable = f.md5 or expected_sha.get(f.key)
                differs = "differs from" if comparable else "cannot be compared (no checksum) with"
                raise InvalidInputError(
                    f"{f.path} already exists and {differs} {f.key} in record {result.record_id}",
                    "Run again with --force to replace it, or fetch into another folder with -d DIR.",
                )
        todo.append(f)

    meta = next((f for f in todo if f.key == IMAGE_RECORD_KEY and image_record is not None), None)
    if meta is not None:  # checked already (when the record gives its md5): move it into place
        staged = directory / (meta.key + PART_SUFFIX)
        shutil.copyfile(scratch / meta.key, staged)
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())  # durable before it takes its final name; an error is raised
        os.replace(staged, meta.path)
        meta.downloaded = True
        todo.remove(meta)
    if not todo:
        return
    total = sum(f.size or 0 for f in todo)
    sink = progress_factory(total, f"Downloading {len(todo)} file(s)") if progress_factory else None
    shared = _SharedProgress(sink)
    workers = max(1, min(opts.max_workers, len(todo)))
    # Daemon threads, not a ThreadPoolExecutor: on Ctrl-C the run must end at once even when a worker is
    # blocked on a stalled server (an executor's threads are joined at exit, up to the transfer timeout).
    jobs: queue.Queue[FetchedFile] = queue.Queue()
    for f in todo:
        jobs.put(f)
    errors: list[BaseException] = []
    errors_lock = threading.Lock()

    def work() -> None:
        while not shared.cancelled:
            try:
                f = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                _download_one(client, f, expected_sha.get(f.key), shared)
            except BaseException as exc:  # noqa: BLE001 - collected, the most serious is raised
                with errors_lock:
                    errors.append(exc)

    threads = [threading.Thread(target=work, name=f"ossr-fetch-{i}", daemon=True) for i in range(workers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
        failures = [e for e in errors if isinstance(e, Exception)]
        if failures:
            raise _most_serious(failures)
        if errors:  # only a KeyboardInterrupt from a cancelled worker
            raise errors[0]
    except KeyboardInterrupt:
        shared.cancel()  # workers stop at their next chunk; their .part files are resumed next time
        raise
    finally:
        close = getattr(sink, "close", None)
        if callable(close):
            close()


def _download_one(
    client: Any,
    f: FetchedFile,
    expected_sha256: str | None,
    shared: _SharedProgress,
    *,
    dest: Path | None = None,
) -> None:
    """Download one file with the client into `<dest>.part` (Range resume, retries with backoff; size, md5
    and the sha256 of the image metadata file verified before the rename to `dest`). When the retries are
    spent although the part grew, the download is resumed again, up to MAX_RESUMES times in this run."""
    target = dest if dest is not None else f.path
    if target is None or not f.url:
        raise IntegrityError(
            f"{f.key}: the record gives no download link for this file", "Report the record to its owner."
        )
    res = client.download_file(
        f.url,
        target,
        size=f.size,
        md5=f.md5,
        sha256=expected_sha256,
        progress=shared,
        max_resumes=MAX_RESUMES,
        restart_stale=True,
    )
    # only what was compared counts: the md5 the record gives, the sha256 the image metadata file gives
    # (the md5 computed here is never reported as the record's)
    f.checked = [name for name, expected in (("md5", f.md5), ("sha256", expected_sha256)) if expected]
    f.verified = bool(f.checked)
    f.sha256 = res.sha256
    f.size = f.size if f.size is not None else res.size
    f.downloaded = True


class _SharedProgress:
    """One total progress sink fed by several download threads (the sink is not thread-safe itself)."""

    def __init__(self, sink: ProgressSink | None) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Make every download thread stop at its next chunk (Ctrl-C)."""
        self._cancelled.set()

    def __call__(self, n: int) -> None:
        if self._cancelled.is_set():
            raise KeyboardInterrupt
        if self._sink is not None and n:
            with self._lock:
                self._sink(n)


def _is_identical(f: FetchedFile, path: Path, expected_sha256: str | None) -> bool:
    """Size and md5 (and sha256 when known) of an existing file equal the record's."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    if f.size is not None and size != f.size:
        return False
    if not f.md5 and not expected_sha256:
        return False  # nothing to compare with: download again
    md5, sha = _hash_file(path)
    if f.md5 and md5 != f.md5:
        return False
    if expected_sha256 and sha != expected_sha256.lower().removeprefix("sha256:"):
        return False
    f.sha256 = sha
    f.checked = [name for name, expected in (("md5", f.md5), ("sha256", expected_sha256)) if expected]
    f.verified = True
    return True


def _hash_file(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file in one read, the two hashes on two threads."""
    from ossr_images.zenodo.transfer import hash_file

    with open(path, "rb") as fh:
        _size, md5, sha = hash_file(fh)
    return md5, sha


def _unlink_if_symlink(path: Path) -> None:
    if path.is_symlink():
        path.unlink()


def _most_serious(errors: list[BaseException]) -> BaseException:
    for kind in (KeyboardInterrupt, IntegrityError, InvalidInputError, RemoteError, OssrError):
        for exc in errors:
            if isinstance(exc, kind):
                return exc
    return errors[0]


__all__ = [
    "LOCK_NAME",
    "PART_SUFFIX",
    "UNVERIFIED_SUFFIX",
    "FetchResult",
    "FetchedFile",
    "Loaded",
    "check_file_keys",
    "check_provenance",
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
