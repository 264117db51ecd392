"""The one adapter between `serve` and the Zenodo client and fetch workflow: every use of
`ossr_images.zenodo` and `ossr_images.workflows.fetch*` by serve goes through this module, so that a change of
their names is fixed here only.

It reads records (as `RecordInfo`, a typed view), lists the versions of a concept, and fetches a record's image
with fetch's own machinery: md5 from the record, sha256 from the image metadata file, `.part` files with Range
resume, and fetch's provenance check (image labels == image metadata file == Zenodo related identifiers).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ossr_images.errors import IntegrityError, InvalidInputError, OssrError, RemoteError
from ossr_images.zenodo.models import Record

log = logging.getLogger("ossr_images.serve")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$")  # a community id of native JSON


class RecordNotFound(OssrError):
    """No published record with this id or DOI on the target."""


class RecordRefused(OssrError):
    """A record that exists but must not be served; `check` names the check that failed."""

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message, "Do not use this record; report it to its owner.")
        self.check = check


@dataclass(frozen=True)
class RecordInfo:
    """What serve needs to know about one published record."""

    record_id: str
    concept_id: str | None
    doi: str | None
    concept_doi: str | None
    version: str | None
    communities: tuple[str, ...]
    open_access: bool
    access_note: str
    file_keys: tuple[str, ...]
    total_size: int
    from_concept: bool = False  # the record was reached through its concept id (the latest version)


@dataclass
class FetchedImage:
    """A record's image archive downloaded and verified (md5, sha256, provenance) by fetch."""

    record_id: str
    path: Path
    key: str
    image_format: str
    image_id: str | None
    sha256: str | None
    size: int
    version: str | None
    repository: str | None
    commit: str | None
    labels: dict[str, str] = field(default_factory=dict)


def resolve_target(
    *,
    sandbox: bool = False,
    zenodo_url: str | None = None,
    token_file: str | None = None,
    allow_insecure_http: bool = False,
    api: str = "auto",
) -> Any:
    """The Zenodo target of serve (production by default); a token is read when configured but never needed.
    ``api`` is --api (legacy, rdm or auto: resolved once, when the first client is opened)."""
    from ossr_images.zenodo.target import resolve_target as _resolve

    return _resolve(
        sandbox=sandbox,
        zenodo_url=zenodo_url,
        token_file=token_file,
        allow_insecure_http=allow_insecure_http,
        require_token=False,
        api=api,
    )


def describe_target(target: Any) -> str:
    """The API URL of a target (never its token)."""
    return str(getattr(target, "api_url", "?"))


def record_id_of_doi(doi: str) -> str | None:
    """The record id a Zenodo DOI names (`10.5281/zenodo.123` -> "123"), or None for another DOI."""
    from ossr_images.zenodo.doi import parse_record_ref

    try:
        ref = parse_record_ref(doi)
    except InvalidInputError:
        return None
    return str(ref.record_id) if ref.record_id else None


class ZenodoSource:
    """Reads records and fetches images from one target; one client per thread (sessions are not shared)."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self._slugs: dict[str, str] = {}  # community uuid -> slug

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from ossr_images.zenodo.backends import open_client

            client = open_client(self.target)
            self.target = client.target  # "auto" resolved once: the other threads' clients do not ask again
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every client made by this source."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    def record(self, record_id: str) -> RecordInfo:
        """A published record by id; a concept id gives its latest version. Raises RecordNotFound."""
        from ossr_images.zenodo.errors import ZenodoError

        try:
            doc = self._client().get_record(record_id)
        except ZenodoError as exc:
            if exc.status in (401, 403, 404, 410):
                raise RecordNotFound(
                    f"there is no public record {record_id} on {describe_target(self.target)}"
                ) from None
            raise
        info = self._named(record_info(doc))
        if info.record_id != str(record_id):
            info = dataclasses.replace(info, from_concept=True)
        return info

    def _named(self, info: RecordInfo) -> RecordInfo:
        """``info`` with the slug of each community a native record names by uuid (``parent.communities.ids``)
        added, so that ``--allow community:<slug>`` matches records of either API."""
        slugs = [self._slug(c) for c in info.communities if _UUID_RE.match(c)]
        extra = tuple(s for s in slugs if s and s not in info.communities)
        return dataclasses.replace(info, communities=info.communities + extra) if extra else info

    def _slug(self, community_id: str) -> str | None:
        """A community's slug, asked once per uuid (``GET /communities/{uuid}``); None when it cannot be read
        (a rule naming the slug then does not match: the record is not served)."""
        from ossr_images.zenodo.errors import ZenodoError
        from ossr_images.zenodo.rdm_reviews import community_slug

        with self._lock:
            if community_id in self._slugs:
                return self._slugs[community_id]
        try:
            slug = community_slug(self._client().transport, community_id)
        except ZenodoError as exc:
            log.warning("cannot read the community %s: %s", community_id, exc)
            return None
        with self._lock:
            self._slugs[community_id] = slug
        return slug

    def record_of_doi(self, doi: str) -> RecordInfo:
        """The record a DOI names that does not hold its record id (a DOI of another InvenioRDM repository),
        found by a search; a concept DOI gives its latest version. Raises RecordNotFound."""
        from ossr_images.zenodo.errors import ZenodoError
        from ossr_images.zenodo.lookup import record_by_doi

        try:
            found = record_by_doi(self._client(), doi)
        except ZenodoError as exc:
            if exc.status in (401, 403, 404, 410):
                found = None
            else:
                raise
        if found is None:
            raise RecordNotFound(f"no public record has the DOI {doi} on {describe_target(self.target)}")
        info = self._named(record_info(found))
        if (found.doi or "").lower() != doi.lower():
            info = dataclasses.replace(info, from_concept=True)
        return info

    def versions(self, concept_id: str) -> list[RecordInfo]:
        """Every published version of a concept, newest first."""
        docs = self._client().search_records(
            q=f"conceptrecid:{concept_id}", all_versions=True, sort="mostrecent"
        )
        out = [self._named(record_info(d)) for d in docs]
        out = [r for r in out if r.concept_id == str(concept_id)]
        if all(r.record_id.isdigit() for r in out):  # Zenodo's ids grow with time; other InvenioRDM ids
            out.sort(
                key=lambda r: int(r.record_id), reverse=True
            )  # are random: the newest-first search stands
        return out

    def fetch_image(self, record_id: str, dest: Path) -> FetchedImage:
        """Download the record's image into `dest` with fetch (verified md5 + sha256 + provenance).

        Raises RecordRefused (with the check that failed) for a record that must not be served, RemoteError
        when Zenodo cannot be reached."""
        from ossr_images.workflows.fetch import FetchOptions, fetch

        options = FetchOptions(dest=dest, only="image")
        try:
            result = fetch(str(record_id), self.target, options, client=self._client())
        except IntegrityError as exc:
            raise RecordRefused(exc.message, check=_integrity_check(exc.message)) from None
        except InvalidInputError as exc:
            raise RecordRefused(exc.message, check="record") from None
        except RemoteError:
            raise
        entry = result.image_file()
        if entry is None or entry.path is None or not result.image_fetched:
            raise RecordRefused(
                f"record {record_id} has no image file that ossr-images published", check="image-metadata"
            )
        if not result.provenance_checked:
            raise RecordRefused(
                f"record {record_id} has no image metadata file (ossr-image-metadata.json), so its provenance "
                "cannot be checked",
                check="image-metadata",
            )
        if not entry.sha256:
            raise RecordRefused(f"record {record_id}: the image's sha256 was not checked", check="sha256")
        return FetchedImage(
            record_id=str(result.record_id),
            path=Path(entry.path),
            key=entry.key,
            image_format=result.image_format or "",
            image_id=result.image_id,
            sha256=entry.sha256,
            size=int(entry.size or Path(entry.path).stat().st_size),
            version=result.version,
            repository=result.repository,
            commit=result.commit,
            labels=dict(result.image_labels or {}),
        )


def _integrity_check(message: str) -> str:
    """Which of fetch's checks an IntegrityError message is about (for the log line)."""
    lowered = message.lower()
    for word, check in (
        ("provenance", "provenance"),
        ("is not valid", "image-metadata"),
        ("does not validate", "image-metadata"),
        ("md5", "md5"),
        ("sha256", "sha256"),
        ("unsafe file name", "file-keys"),
        ("size", "size"),
        ("image id", "image-id"),
    ):
        if word in lowered:
            return check
    return "integrity"


def record_info(record: Record) -> RecordInfo:
    """A typed view of a record for serving: ids, DOIs, version, communities, access, files (the client's
    `Record` reads communities and access from either API's JSON)."""
    reason = record.closed_reason
    return RecordInfo(
        record_id=str(record.id),
        concept_id=record.conceptrecid,
        doi=record.doi or None,
        concept_doi=record.conceptdoi or None,
        version=record.version,
        communities=record.communities,
        open_access=reason is None,
        access_note=reason or "",
        file_keys=tuple(f.key for f in record.files),
        total_size=sum(f.size or 0 for f in record.files),
    )
