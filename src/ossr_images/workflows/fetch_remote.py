"""Every call fetch makes into the Zenodo client, in one place: choose the server, open the client, read the
record (a stale token falls back to anonymous reading) and download one file to its final name. What comes
back is turned into fetch's own values here (`FetchRecord`, `FetchedFile`)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ossr_images.errors import IntegrityError
from ossr_images.workflows.fetch_records import FetchedFile, FetchRecord, zenodo_source
from ossr_images.zenodo.backends import open_client as open_backend
from ossr_images.zenodo.doi import RecordRef, parse_record_ref
from ossr_images.zenodo.download import DownloadResult
from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.lookup import record_by_doi
from ossr_images.zenodo.models import Record
from ossr_images.zenodo.protocol import RepositoryClient
from ossr_images.zenodo.target import Target, reject_userinfo, resolve_target

MAX_RESUMES = 5  # extra rounds when the client gave up on a download that was still making progress

Notify = Callable[[str], None]


@dataclass(frozen=True)
class DownloadJob:
    """One file to download to `dest` (through `<dest>.part`), with the checksums it must match."""

    key: str
    url: str | None
    dest: Path
    size: int | None
    md5: str | None
    sha256: str | None = None  # from the image metadata file


def parse_identifier(text: str) -> RecordRef:
    """The record a user named (DOI, URL or id); a URL with user:password is refused before anything can
    echo it or send it as Basic auth."""
    reject_userinfo(text, "the record URL")
    return parse_record_ref(text, any_doi=True)


def resolve_fetch_target(
    ref_text: str,
    *,
    sandbox: bool = False,
    zenodo_url: str | None = None,
    token_file: str | None = None,
    allow_insecure_http: bool = False,
    api: str = "auto",
) -> tuple[RecordRef, Target]:
    """Parse the identifier and choose the server. TARGET options win; without them a DOI prefix picks
    production or the sandbox, and a record URL on another host (e.g. a local stand-in) picks that host,
    without sending it the token. Returns (RecordRef, Target)."""
    ref = parse_identifier(ref_text)
    explicit = sandbox or bool(zenodo_url)
    target = resolve_target(
        sandbox=sandbox,
        zenodo_url=zenodo_url,
        token_file=token_file,
        allow_insecure_http=allow_insecure_http,
        require_token=False,
        default_server=ref.server,
        api=api,
    )
    if not explicit and ref.api_url and ref.server is None:
        # a URL on a host that is neither zenodo.org nor the sandbox: read it there, anonymously
        target = Target("custom", ref.api_url.rstrip("/"), None, None, allow_insecure_http, api)
    return ref, target


def open_client(target: Target) -> RepositoryClient:
    """A client for `target` speaking the API it chooses (a context manager)."""
    return open_backend(target)


def read_record(
    client: RepositoryClient, ref: RecordRef, requested: str, say: Notify, stack: contextlib.ExitStack
) -> tuple[FetchRecord, RepositoryClient]:
    """Read the record (a concept id is redirected to the latest version; a DOI that does not hold the record
    id is looked up with a search). A public record needs no token: when the server refuses the token (401,
    e.g. a stale ZENODO_TOKEN), the record is read without it. A record whose files are restricted is refused
    with a clear error when no token was given. Returns the record and the client to use from then on."""
    try:
        record = _read(client, ref, requested)
    except ZenodoError as exc:
        target = client.target
        if exc.status == 401 and target.token:
            say("Warning: the server refused the token (401); reading the record without it.")
            anonymous = stack.enter_context(
                open_backend(dataclasses.replace(target, token=None), retry=client.retry)
            )
            return read_record(anonymous, ref, requested, say, stack)
        if exc.status in (404, 410):
            raise ZenodoError(
                f"there is no record {ref.record_id or ref.doi} on {target.api_url} ({requested})",
                "Check the DOI or id, and the server: sandbox DOIs (10.5072) live on --sandbox, production "
                "ones (10.5281) on zenodo.org; --zenodo-url or OSSR_IMAGES_ZENODO_URL override both.",
                status=exc.status,
                url=exc.url,
                method="GET",
            ) from None
        if exc.status == 403:
            raise ZenodoError(
                f"record {ref.record_id or ref.doi} on {target.api_url} is not public ({requested}): the server "
                "refused to show it (403)",
                "Only its owner, or a user it is shared with, can read it: give their token (ZENODO_TOKEN, "
                "ZENODO_SANDBOX_TOKEN, OSSR_IMAGES_TOKEN or --token-file).",
                status=403,
                url=exc.url,
                method="GET",
            ) from None
        raise
    _check_files_open(record, client.target, requested)
    return _fetch_record(record, str(ref.record_id)), client


def _read(client: RepositoryClient, ref: RecordRef, requested: str) -> Record:
    """The record ``ref`` names: by id, or by a search for its DOI (a 404 ZenodoError when none has it)."""
    if ref.record_id:
        return client.get_record(ref.record_id)
    found = record_by_doi(client, ref.doi or requested)
    if found is None:
        raise ZenodoError(f"no record has the DOI {ref.doi}", status=404, url=client.target.api_url)
    return found


def _check_files_open(record: Record, target: Target, requested: str) -> None:
    """Restricted files cannot be downloaded without a token of someone they are shared with: say so before
    anything is written, instead of failing on a 403 (or on a record that lists no files)."""
    restricted = record.files_access == "restricted" or record.access_right in (
        "restricted",
        "closed",
        "embargoed",
    )
    if not restricted or (target.token and record.files):
        return
    why = f"its files are {record.files_access or record.access_right}"
    raise ZenodoError(
        f"record {record.id} on {target.api_url} ({requested}): {why}, so they cannot be fetched"
        + ("" if target.token else " without a token"),
        "Only the record's owner, or a user it is shared with, can download restricted files: give their token "
        "(ZENODO_TOKEN, ZENODO_SANDBOX_TOKEN, OSSR_IMAGES_TOKEN or --token-file), or ask the owner for access.",
        status=403,
        url=record.html_url or target.api_url,
        method="GET",
    )


def _fetch_record(record: Record, fallback_id: str) -> FetchRecord:
    """What fetch keeps of the client's record (its id is `fallback_id`, the requested one, when it has none)."""
    return FetchRecord(
        id=record.id or fallback_id,
        doi=record.doi,
        conceptdoi=record.conceptdoi,
        title=record.title,
        version=record.version,
        files=record.files,
        source=zenodo_source(record),
    )


def download(client: RepositoryClient, job: DownloadJob, progress: Callable[[int], None]) -> FetchedFile:
    """Download one file with the client into `<dest>.part` (Range resume, retries with backoff; size, md5
    and the sha256 of the image metadata file verified before the rename to `dest`). When the retries are
    spent although the part grew, the client resumes again, up to MAX_RESUMES times in this run.
    Returns the file as fetched: only what was compared counts as checked (the md5 the record gives, the
    sha256 the image metadata file gives; the md5 computed here is never reported as the record's)."""
    res = _download_file(client, job, progress)
    checked = tuple(name for name, expected in (("md5", job.md5), ("sha256", job.sha256)) if expected)
    return FetchedFile(
        key=job.key,
        path=job.dest,
        size=job.size if job.size is not None else res.size,
        md5=job.md5,
        sha256=res.sha256,
        verified=bool(checked),
        downloaded=True,
        checked=checked,
    )


def _download_file(
    client: RepositoryClient, job: DownloadJob, progress: Callable[[int], None]
) -> DownloadResult:
    if not job.url:
        raise IntegrityError(
            f"{job.key}: the record gives no download link for this file", "Report the record to its owner."
        )
    # the client resumes a body that ends early, and again up to MAX_RESUMES rounds while the part still
    # grows; a stale .part left by an earlier run that fails the checksum is downloaded once more from the start
    return client.download_file(
        job.url,
        job.dest,
        size=job.size,
        md5=job.md5,
        sha256=job.sha256,
        progress=progress,
        max_resumes=MAX_RESUMES,
        restart_stale=True,
    )
