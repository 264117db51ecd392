"""`ossr-images fetch`: resolve a record, download its files safely, prove the image is the archived one,
optionally load it into an engine and clone its source, and report where everything is.

Order of steps (nothing is written before the record's file keys are known to be safe):
  1. parse the identifier, read the record (a concept id gives the latest version);
  2. check every file key; refuse the whole record on any unsafe key (exit 3);
  3. create DIR, take the folder lock, check files already there (identical: kept; different: --force);
  4. read the image metadata file (when the record has one) and validate it;
  5. download the selected files in parallel into `DIR/<key>.part` (resumed with Range, md5 verified),
     verify sha256 against the image metadata file, only then rename to `DIR/<key>`;
  6. provenance: image labels == metadata file == Zenodo related identifiers (repository and commit);
  7. optionally load into Docker / Apptainer and clone the source at the recorded commit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ossr_images.errors import IntegrityError, InvalidInputError, OssrError, RemoteError

log = logging.getLogger("ossr_images.fetch")

LOCK_NAME = ".ossr-images.lock"
PART_SUFFIX = ".part"
MAX_WORKERS = 3
MAX_RESUMES = 5  # extra rounds when the client gave up on a download that was still making progress
MAX_METADATA_BYTES = 5 * 1024 * 1024  # the image metadata file is small; refuse a hostile huge one
CHUNK = 1024 * 1024

LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_REVISION = "org.opencontainers.image.revision"

ONLY_CHOICES = ("image", "metadata")
LOAD_CHOICES = ("docker", "singularity")

# file names a record made by another tool might use for its image (no image metadata file to tell)
_IMAGE_SUFFIXES = (".sif", ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".oci", ".oci.tar")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


class ProgressSink(Protocol):
    def __call__(self, nbytes: int) -> None: ...


ProgressFactory = Callable[[int, str], ProgressSink]
"""(total bytes, description) -> a callable sink; the CLI passes `cli.progress.Progress`."""

Notify = Callable[[str], None]
"""Human progress lines (the CLI prints them on stderr); the workflow never prints."""


# ----------------------------------------------------------------------------------------------- results


@dataclass
class FetchedFile:
    """One file of the record and what happened to it."""

    key: str
    path: Path | None  # None when not selected (--only)
    size: int | None
    md5: str | None
    sha256: str | None = None
    verified: bool = False  # md5 (and sha256 when the metadata file gives one) checked
    downloaded: bool = False  # False when an identical file was already there
    url: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "path": str(self.path) if self.path else None,
            "size": self.size,
            "md5": self.md5,
            "sha256": self.sha256,
            "verified": self.verified,
        }


@dataclass
class Loaded:
    """Where the image went: an engine image (docker) or a .sif file (singularity)."""

    engine: str  # "docker" | "singularity"
    image_id: str | None = None
    ref: str | None = None
    path: Path | None = None
    command: str = ""
    id_verified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "image_id": self.image_id,
            "ref": self.ref,
            "path": str(self.path) if self.path else None,
            "command": self.command,
            "id_verified": self.id_verified,
        }


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

    def to_dict(self) -> dict[str, Any]:
        source = None
        if self.repository or self.commit:
            source = {
                "repository": self.repository,
                "commit": self.commit,
                "checkout": str(self.checkout) if self.checkout else None,
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


# --------------------------------------------------------------------------------------------- file keys


def check_file_keys(keys: Iterable[str], *, where: str = "the record") -> None:
    """Refuse (IntegrityError, exit 3) a record whose file keys could escape the download folder or collide:
    empty, `.`/`..`, path separators, absolute paths, NUL or control characters, names equal ignoring case
    (and Unicode normalisation), our own lock and `.part` names, Windows device names and trailing dots."""
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
    if ":" in key and (os.name == "nt" or re.match(r"^[A-Za-z]:", key)):
        return "it contains a drive or stream separator"
    if os.path.isabs(key):
        return "it is an absolute path"
    if key.casefold() == LOCK_NAME or key.casefold().endswith(PART_SUFFIX):
        return f"it collides with the names fetch uses itself ({LOCK_NAME}, *{PART_SUFFIX})"
    if key.endswith((".", " ")):
        return "it ends with a dot or a space"
    if _WINDOWS_RESERVED.match(key):
        return "it is a reserved device name on Windows"
    if len(key.encode("utf-8")) > 240:
        return "it is longer than file systems allow"
    return None


# -------------------------------------------------------------------------------------- record reading


def record_files(record: Mapping[str, Any]) -> list[FetchedFile]:
    """The files of a record as Zenodo lists them (records API `files[]`; legacy `filename`/`filesize` too)."""
    out: list[FetchedFile] = []
    files = record.get("files") or []
    if isinstance(files, Mapping):  # RDM JSON: files.entries{key: {...}}
        files = list((files.get("entries") or {}).values())
    for entry in files:
        if not isinstance(entry, Mapping):
            continue
        key = entry.get("key", entry.get("filename"))
        size = entry.get("size", entry.get("filesize"))
        checksum = entry.get("checksum") or ""
        md5 = checksum.split(":")[-1].lower() if isinstance(checksum, str) and checksum else None
        links = entry.get("links") or {}
        url = links.get("self") or links.get("content") or links.get("download")
        if isinstance(url, str) and not url.endswith("/content") and "/files/" in url and "/api/" in url:
            url = url.rstrip("/") + "/content"
        out.append(
            FetchedFile(
                key=key,
                path=None,
                size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
                md5=md5,
                url=url,
            )
        )
    return out


def parse_tree_url(url: str) -> tuple[str, str] | None:
    """`https://github.com/o/r/tree/<c>` or `https://gitlab.x/g/p/-/tree/<c>` -> (repository, ref)."""
    m = re.match(r"^(?P<repo>.+?)(?:/-)?/tree/(?P<ref>[^/?#]+)/?$", url.strip())
    if not m:
        return None
    return m.group("repo"), m.group("ref")


def zenodo_source(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """(repository, commit) from the record's `isDerivedFrom` related identifier (a tree URL), or None."""
    metadata = record.get("metadata") or {}
    for rel in metadata.get("related_identifiers") or []:
        if not isinstance(rel, Mapping):
            continue
        if str(rel.get("relation", "")).lower() != "isderivedfrom":
            continue
        parsed = parse_tree_url(str(rel.get("identifier", "")))
        if parsed:
            return parsed
    return None


def guess_image_key(files: list[FetchedFile]) -> str | None:
    """Without an image metadata file: the largest file whose name looks like an image archive or .sif."""
    candidates = [f for f in files if f.key.lower().endswith(_IMAGE_SUFFIXES)]
    if not candidates:
        return None
    return max(candidates, key=lambda f: f.size or 0).key


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
    from ossr_images.zenodo.target import Target, resolve_target

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
    progress_factory: ProgressFactory | None = None,
    notify: Notify | None = None,
    max_workers: int = MAX_WORKERS,
    client: Any = None,
) -> FetchResult:
    """Fetch a record by DOI, URL or id from `target` into `dest` (default `./zenodo-<record id>`).

    Raises InvalidInputError (1: bad identifier or options, a different file present without `force`),
    IntegrityError (3: unsafe key, checksum or provenance disagreement) or RemoteError (4). Never prints:
    human lines go to `notify`, byte counts to the sink made by `progress_factory(total, description)`.
    """
    from ossr_images.zenodo.doi import parse_record_ref

    say = notify or (lambda _m: None)
    _check_options(only, load)
    ref = parse_record_ref(ref_text)
    if client is None:
        from ossr_images.zenodo.client import ZenodoClient

        with ZenodoClient(target) as own_client:
            return _fetch(
                ref,
                ref_text,
                own_client,
                dest,
                only,
                force,
                load,
                source_dir,
                progress_factory,
                say,
                max_workers,
            )
    return _fetch(
        ref, ref_text, client, dest, only, force, load, source_dir, progress_factory, say, max_workers
    )


def _fetch(
    ref: Any,
    ref_text: str,
    client: Any,
    dest: Path | None,
    only: str | None,
    force: bool,
    load: str | None,
    source_dir: Path | None,
    progress_factory: ProgressFactory | None,
    say: Notify,
    max_workers: int,
) -> FetchResult:
    from ossr_images.zenodo.errors import ZenodoError

    try:
        record = client.get_record(ref.record_id)
    except ZenodoError as exc:
        if exc.status in (404, 410):
            api = getattr(getattr(client, "target", None), "api_url", "the server")
            raise ZenodoError(
                f"there is no record {ref.record_id} on {api} ({ref_text})",
                "Check the DOI or id, and the server: sandbox DOIs (10.5072) live on --sandbox, production "
                "ones (10.5281) on zenodo.org; --zenodo-url or OSSR_IMAGES_ZENODO_URL override both.",
                status=exc.status,
                url=exc.url,
                method="GET",
            ) from None
        raise
    record_id = str(record.get("id") or record.get("recid") or ref.record_id)
    conceptdoi = record.get("conceptdoi")
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
    metadata = record.get("metadata") or {}
    result = FetchResult(
        record_id=record_id,
        doi=record.get("doi") or metadata.get("doi"),
        conceptdoi=conceptdoi,
        requested=ref_text,
        from_concept=from_concept,
        directory=Path(dest).absolute() if dest is not None else Path.cwd() / f"zenodo-{record_id}",
        files=files,
        title=record.get("title") or metadata.get("title"),
        version=metadata.get("version"),
        record=dict(record),
    )
    if from_concept:
        say(f"{ref_text} names all versions (a concept): fetching the latest version, record {record_id}")

    with tempfile.TemporaryDirectory(prefix="ossr-fetch-") as scratch:
        # 2. the image metadata file (small) is read first, into a scratch folder: it says which file is
        #    the image and its sha256
        image_record = _read_image_record(client, result, Path(scratch))
        selected = [f for f in files if _selected(f, only, result.image_key)]
        directory = result.directory
        directory.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock, Timeout

        lock = FileLock(str(directory / LOCK_NAME))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            say(f"Waiting for another ossr-images fetch into {directory} to finish...")
            lock.acquire()
        try:
            _download_selected(
                client,
                result,
                selected,
                image_record,
                Path(scratch),
                force,
                progress_factory,
                say,
                max_workers,
            )
        finally:
            lock.release()

    image_entry = _image_entry(result)
    result.image_fetched = bool(image_entry and image_entry.path and image_entry.verified)
    # 3. provenance: labels == metadata file == Zenodo related identifiers
    if image_record is not None:
        check_provenance(result, image_record, image_on_disk=only != "metadata")
    else:
        zsrc = zenodo_source(record)
        if zsrc:
            result.repository, result.commit = zsrc
        image_entry = _image_entry(result)
        if image_entry is not None and image_entry.path is not None:
            _read_image_info(result, image_entry)

    # 4. load and source
    if load == "docker":
        result.loaded = load_docker(result, say)
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


def _image_entry(result: FetchResult) -> FetchedFile | None:
    return next((f for f in result.files if f.key == result.image_key), None)


def _read_image_record(client: Any, result: FetchResult, scratch: Path) -> Any:
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
    local = scratch / entry.key
    _download_one(client, entry, None, _SharedProgress(None), dest=local)
    entry.downloaded = entry.verified = False  # set again when (and if) it is put into DIR
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
    _compare_zenodo_link(problems, result, rec)
    if problems:
        _raise_provenance(result, problems)
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
    force: bool,
    progress_factory: ProgressFactory | None,
    say: Notify,
    max_workers: int,
) -> None:
    """Check files already in DIR (identical: kept; different: only with `force`), then download the rest
    in parallel. The image metadata file, already verified in `scratch`, is moved into place."""
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY

    directory = result.directory
    expected_sha = {result.image_key: image_record.sha256} if image_record is not None else {}
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
            if _is_identical(f, f.path, expected_sha.get(f.key)):
                f.verified = True
                say(f"{f.path}: already there and identical, kept")
                continue
            if not force:
                raise InvalidInputError(
                    f"{f.path} already exists and differs from {f.key} in record {result.record_id}",
                    "Run again with --force to replace it, or fetch into another folder with -d DIR.",
                )
        todo.append(f)

    meta = next((f for f in todo if f.key == IMAGE_RECORD_KEY and image_record is not None), None)
    if meta is not None:  # verified already: move it into place
        staged = directory / (meta.key + PART_SUFFIX)
        shutil.copyfile(scratch / meta.key, staged)
        os.replace(staged, meta.path)
        meta.verified = meta.downloaded = True
        todo.remove(meta)
    if not todo:
        return
    total = sum(f.size or 0 for f in todo)
    sink = progress_factory(total, f"Downloading {len(todo)} file(s)") if progress_factory else None
    shared = _SharedProgress(sink)
    workers = max(1, min(max_workers, len(todo)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ossr-fetch")
    try:
        futures = [pool.submit(_download_one, client, f, expected_sha.get(f.key), shared) for f in todo]
        errors: list[BaseException] = []
        for fut in futures:
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001 - collected, the most serious is raised
                errors.append(exc)
        if errors:
            raise _most_serious(errors)
    except KeyboardInterrupt:
        shared.cancel()  # workers stop at their next chunk; their .part files are resumed next time
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
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
    and the sha256 of the image metadata file verified before the rename to `dest`). When the client gives
    up although the part grew, the download is resumed again, up to MAX_RESUMES times in this run."""
    target = dest if dest is not None else f.path
    if target is None or not f.url:
        raise IntegrityError(
            f"{f.key}: the record gives no download link for this file", "Report the record to its owner."
        )
    resumes = 0
    fresh_retry = False
    while True:
        before = _part_size(target)
        try:
            res = client.download_file(
                f.url, target, size=f.size, md5=f.md5, sha256=expected_sha256, progress=shared
            )
            break
        except IntegrityError:
            # a stale .part (another version of the file, left by an earlier run) fails the checksum; the
            # client has deleted it: download once more from the start before calling the record damaged
            if before == 0 or fresh_retry:
                raise
            fresh_retry = True
            log.info("%s: the partial file left by an earlier run did not match; downloading it again", f.key)
        except RemoteError as exc:
            after = _part_size(target)
            status = getattr(exc, "status", None)
            if (
                after <= before
                or resumes >= MAX_RESUMES
                or (status is not None and status < 500 and status != 429)
            ):
                raise
            resumes += 1
            log.info(
                "download of %s stopped at %d bytes; resuming (%d/%d)", f.key, after, resumes, MAX_RESUMES
            )
    f.sha256 = res.sha256
    f.md5 = f.md5 or res.md5
    f.size = f.size if f.size is not None else res.size
    f.verified = True
    f.downloaded = True


def _part_size(target: Path) -> int:
    try:
        return target.with_name(target.name + PART_SUFFIX).stat().st_size
    except OSError:
        return 0


class _SharedProgress:
    """One total progress sink fed by several download threads (the sink is not thread-safe itself)."""

    def __init__(self, sink: ProgressSink | None) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Make every download thread stop at its next chunk (Ctrl-C)."""
        self._cancelled.set()

    def __call__(self, n: int) -> None:
        if self._cancelled.is_set():
            raise KeyboardInterrupt
        if self._sink is not None and n:
            with self._lock:
                self._sink(n)


# ----------------------------------------------------------------------------------------- verification


def check_provenance(result: FetchResult, rec: Any, *, image_on_disk: bool = True) -> None:
    """Image labels == image metadata file == Zenodo related identifiers, for repository and commit (and the
    image ID). Raises IntegrityError listing every disagreement with both values."""
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY

    result.repository, result.commit = rec.repository, rec.commit
    problems: list[str] = []
    _compare_zenodo_link(problems, result, rec)

    entry = _image_entry(result)
    if image_on_disk and entry is not None and entry.path is not None:
        info = _read_image_info(result, entry)
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
        _raise_provenance(result, problems)
    result.provenance_checked = True


def _compare_zenodo_link(problems: list[str], result: FetchResult, rec: Any) -> None:
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY

    zsrc = zenodo_source(result.record)
    if zsrc is None:
        problems.append(
            f"the Zenodo record has no isDerivedFrom source link, but {IMAGE_RECORD_KEY} names "
            f"{rec.repository} at {rec.commit}"
        )
    else:
        _compare(problems, "the Zenodo related identifier (isDerivedFrom)", zsrc, IMAGE_RECORD_KEY, rec)


def _raise_provenance(result: FetchResult, problems: list[str]) -> None:
    raise IntegrityError(
        f"record {result.record_id}: provenance disagreement: " + "; ".join(problems),
        "Do not trust this image's provenance: the image labels, its metadata file and the Zenodo record "
        "must name the same repository and commit. Report the record to its owner.",
        details={"disagreements": problems},
    )


def _read_image_info(result: FetchResult, entry: FetchedFile) -> Any:
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
    return True


def _hash_file(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file in one read, the two hashes on two threads."""
    from ossr_images.zenodo.transfer import hash_file

    with open(path, "rb") as fh:
        _size, md5, sha = hash_file(fh)
    return md5, sha


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _unlink_if_symlink(path: Path) -> None:
    if path.is_symlink():
        path.unlink()


def _most_serious(errors: list[BaseException]) -> BaseException:
    for kind in (KeyboardInterrupt, IntegrityError, InvalidInputError, RemoteError, OssrError):
        for exc in errors:
            if isinstance(exc, kind):
                return exc
    return errors[0]


# ------------------------------------------------------------------------------------------ load, source


def load_docker(result: FetchResult, say: Notify) -> Loaded:
    """Stream the image archive (decompressed on the fly) into the Docker engine and check that the loaded
    image ID is the archived one (IntegrityError otherwise)."""
    from ossr_images.images.compression import open_decompressed
    from ossr_images.images.docker_engine import DockerEngine

    entry = _image_entry(result)
    if entry is None or entry.path is None:
        raise InvalidInputError(
            f"record {result.record_id} has no image file to load", "Fetch a record that holds an image."
        )
    if result.image_format == "sif":
        raise InvalidInputError(
            f"{entry.key} is an Apptainer/Singularity .sif, which Docker cannot load",
            "Use --load singularity instead.",
        )
    engine = DockerEngine.connect()
    say(f"Loading {entry.path} into Docker...")
    with open_decompressed(entry.path) as stream:
        loaded_ids = list(engine.load(stream))
    expected = result.image_id
    if expected and expected not in loaded_ids:
        raise IntegrityError(
            f"Docker loaded {', '.join(loaded_ids) or 'no image'} from {entry.path}, but the archived image "
            f"ID is {expected}",
            "Do not run this image; remove it (docker rmi) and report the record.",
            details={"expected": expected, "loaded": loaded_ids},
        )
    image_id = expected or (loaded_ids[0] if loaded_ids else None)
    ref = result.repo_tags[0] if result.repo_tags else image_id
    return Loaded(
        engine="docker",
        image_id=image_id,
        ref=ref,
        command=f"docker run --rm {shlex.quote(ref or '')}",
        id_verified=bool(expected),
    )


def load_singularity(result: FetchResult, say: Notify) -> Loaded:
    """Keep a .sif as it is, or build one beside a Docker/OCI archive with Apptainer (a compressed archive is
    decompressed to a temporary tar first: Apptainer reads only plain archives)."""
    entry = _image_entry(result)
    if entry is None or entry.path is None:
        raise InvalidInputError(
            f"record {result.record_id} has no image file to load", "Fetch a record that holds an image."
        )
    if result.image_format == "sif":
        return Loaded(
            engine="singularity",
            path=entry.path,
            command=f"apptainer run {shlex.quote(str(entry.path))}",
            id_verified=True,
        )
    from ossr_images.images.apptainer import build_sif, require_apptainer
    from ossr_images.images.compression import detect_compression, open_decompressed

    binary = require_apptainer()
    sif = entry.path.with_name(_strip_archive_suffix(entry.path.name) + ".sif")
    building = sif.with_name(f".{sif.name}.building")
    plain = entry.path
    temp_tar: Path | None = None
    try:
        if detect_compression(entry.path) != "none":
            temp_tar = entry.path.with_name(f".{entry.path.name}.decompressed.tar")
            say(f"Decompressing {entry.path.name} for Apptainer...")
            with open_decompressed(entry.path) as src, open(temp_tar, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            plain = temp_tar
        transport = "oci-archive" if result.image_format == "oci-archive" else "docker-archive"
        say(f"Building {sif} from {entry.path.name} with Apptainer...")
        build_sif(f"{transport}:{plain}", building, binary=binary, log=lambda line: log.debug("%s", line))
        os.replace(building, sif)
    finally:
        for leftover in (temp_tar, building):
            if leftover is not None:
                _remove(leftover)
    return Loaded(
        engine="singularity",
        path=sif,
        command=f"apptainer run {shlex.quote(str(sif))}",
        id_verified=False,
    )


def _strip_archive_suffix(name: str) -> str:
    for suffix in (".tar.zst", ".tar.zstd", ".tar.gz", ".oci.tar", ".tgz", ".tar", ".zst", ".gz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def clone_source(repository: str, commit: str, dest: Path, say: Notify) -> Path:
    """Clone `repository` into `dest` and check out `commit` (detached); verify `git rev-parse HEAD`.
    An existing checkout of the same commit is accepted; a non-empty folder that is not one is refused."""
    git = shutil.which("git")
    if git is None:
        raise InvalidInputError("--source needs git, which is not on PATH", "Install git, or drop --source.")
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        if not (dest / ".git").exists():
            raise InvalidInputError(
                f"--source {dest} exists and is not empty", "Give a new or empty folder for the source."
            )
        head = _git(git, ["rev-parse", "HEAD"], cwd=dest, check=False)
        if head.lower() != commit.lower():
            _git(git, ["fetch", "--quiet", "origin"], cwd=dest, check=False)
            _git(git, ["checkout", "--quiet", "--detach", commit], cwd=dest)
    else:
        say(f"Cloning {repository} into {dest}...")
        _git(git, ["clone", "--quiet", "--no-checkout", "--", repository, str(dest)])
        _git(git, ["checkout", "--quiet", "--detach", commit], cwd=dest)
    head = _git(git, ["rev-parse", "HEAD"], cwd=dest)
    if head.lower() != commit.lower():
        raise IntegrityError(
            f"the checkout in {dest} is at {head}, but the image was built from {commit}",
            "Check the repository history (was the commit rewritten?) and report the record.",
        )
    return dest


def _git(git: str, args: list[str], *, cwd: Path | None = None, check: bool = True) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed git binary, no shell
        [git, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    if proc.returncode != 0 and check:
        detail = " ".join((proc.stderr or proc.stdout).split())[:300]
        raise RemoteError(
            f"git {args[0]} failed in {cwd or '.'}: {detail}",
            "Check that the repository is reachable and still holds the commit (git clone / git fetch).",
        )
    return proc.stdout.strip()
