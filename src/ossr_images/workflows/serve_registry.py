"""`ossr-images serve`: from repository names to records, verified cached archives, manifests and blobs.

Names (parsed by the HTTP layer): `records/<id>` and `doi/<doi>`; a concept id or DOI means its latest
version. Tags: `latest` and the `version` of each version of the record's concept. Nothing is served before
fetch has verified it (md5, sha256, provenance) and the archive reads consistently; a record that fails is
refused (`RegistryError` with code DENIED) and the refusal is remembered for a while so that a bad record is
not downloaded again at every pull.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ossr_images.errors import InvalidInputError, RemoteError
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY
from ossr_images.workflows.serve_archive import BlobLocation, Manifest, ServedImage
from ossr_images.workflows.serve_cache import RECORD_ID_RE, Cache
from ossr_images.workflows.serve_errors import RegistryError
from ossr_images.workflows.serve_prepare import Preparer
from ossr_images.workflows.serve_source import RecordInfo, RecordNotFound, ZenodoSource, record_id_of_doi

log = logging.getLogger("ossr_images.serve")

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
RECORD_TTL = 60.0  # seconds a concept's latest version and version list are trusted


@dataclass(frozen=True)
class RepoName:
    """A repository name of serve: kind "records" (ident = record id) or "doi" (ident = lowercase DOI)."""

    kind: str
    ident: str

    @property
    def text(self) -> str:
        return f"{self.kind}/{self.ident}"


@dataclass(frozen=True)
class AllowRule:
    """`community:<id>`, `doi:<DOI or prefix>`, `record:<id>` (an --allow option)."""

    kind: str
    value: str

    def matches(self, record: RecordInfo) -> bool:
        if self.kind == "community":
            return self.value in record.communities
        if self.kind == "record":
            return self.value in (record.record_id, record.concept_id)
        dois = [d.lower() for d in (record.doi, record.concept_doi) if d]
        value = self.value.lower()
        exact = "/" in value and not value.endswith("/")
        return any(d == value if exact else d.startswith(value.rstrip("/") + "/") for d in dois)


def parse_allow(text: str) -> AllowRule:
    """Parse one --allow RULE; raises InvalidInputError naming the rule."""
    kind, sep, value = text.partition(":")
    kind = kind.strip().lower()
    value = value.strip()
    if not sep or kind not in ("community", "doi", "record") or not value:
        raise InvalidInputError(
            f"--allow {text!r} is not a rule",
            "Use community:<id> (e.g. community:escape2020), doi:<DOI or prefix> (e.g. doi:10.5281) or "
            "record:<id>.",
        )
    if kind == "record":
        value = value.lower()  # "4D0NS-NTD89" is "4d0ns-ntd89" (base32)
    if kind == "record" and not RECORD_ID_RE.match(value):
        raise InvalidInputError(
            f"--allow {text!r}: a record id is a number (Zenodo) or like 4d0ns-ntd89 (InvenioRDM)",
            "Use record:<id>, e.g. record:123.",
        )
    return AllowRule(kind, value)


class Registry:
    """Thread-safe; the HTTP layer calls it from worker threads."""

    def __init__(self, source: ZenodoSource, cache: Cache, rules: Iterable[AllowRule] = ()) -> None:
        self.source = source
        self.cache = cache
        self.rules = tuple(rules)
        self._guard = threading.Lock()
        self._records: dict[str, tuple[float, RecordInfo]] = {}
        self._versions: dict[str, tuple[float, list[RecordInfo]]] = {}
        self.preparer = Preparer(source, cache)

    # ------------------------------------------------------------------------------------------- names

    def resolve(self, name: RepoName) -> RecordInfo:
        """The record a name stands for (a concept: its latest version). Raises NAME_UNKNOWN or DENIED."""
        if name.kind == "records":
            record = self._record(name.ident, name)
        else:
            record_id = record_id_of_doi(name.ident)
            if record_id is None:  # another repository's DOI, without the record id in it: a search finds it
                record = self._record(
                    f"doi:{name.ident}", name, lambda: self.source.record_of_doi(name.ident)
                )
                record_id = record.record_id
            else:
                record = self._record(record_id, name)
            expected = record.concept_doi if record.from_concept else record.doi
            if not expected or expected.lower() != name.ident:
                raise RegistryError(
                    "NAME_UNKNOWN",
                    f"no record with DOI {name.ident} on this server",
                    f"record {record_id} has DOI {expected or '(none)'}",
                )
        self._check_allowed(record)
        return record

    def _record(
        self, record_id: str, name: RepoName, read: Callable[[], RecordInfo] | None = None
    ) -> RecordInfo:
        """The record cached under `record_id` (a concept's for RECORD_TTL), else `read()` (by default the
        source's record of that id)."""
        now = time.monotonic()
        with self._guard:
            hit = self._records.get(record_id)
        if hit and (now - hit[0] < RECORD_TTL or not hit[1].from_concept):
            return hit[1]
        try:
            record = read() if read is not None else self.source.record(record_id)
        except RecordNotFound as exc:
            raise RegistryError("NAME_UNKNOWN", f"repository {name.text} is not known", exc.message) from None
        except RemoteError as exc:
            raise RegistryError("UNAVAILABLE", "Zenodo cannot be reached", exc.message) from None
        with self._guard:
            self._records[record_id] = (now, record)
        return record

    def _check_allowed(self, record: RecordInfo) -> None:
        if not record.open_access:
            raise RegistryError(
                "DENIED",
                f"record {record.record_id} is not served: {record.access_note}",
                "only public records are served",
                check="access",
            )
        if IMAGE_RECORD_KEY not in record.file_keys:  # refused before any download
            raise RegistryError(
                "DENIED",
                f"record {record.record_id} is not served: it has no {IMAGE_RECORD_KEY}, so its provenance "
                "cannot be checked",
                "serve only serves records published by ossr-images",
                check="image-metadata",
            )
        if self.rules and not any(rule.matches(record) for rule in self.rules):
            raise RegistryError(
                "DENIED",
                f"record {record.record_id} is not served here: no --allow rule of this server matches it",
                "rules: " + ", ".join(f"{r.kind}:{r.value}" for r in self.rules),
                check="allow",
            )

    def versions(self, record: RecordInfo) -> list[RecordInfo]:
        """The published versions of the record's concept, newest first (cached for RECORD_TTL)."""
        concept = record.concept_id
        if not concept:
            return [record]
        now = time.monotonic()
        with self._guard:
            hit = self._versions.get(concept)
        if hit and now - hit[0] < RECORD_TTL:
            return hit[1]
        try:
            found = self.source.versions(concept)
        except RemoteError as exc:
            raise RegistryError("UNAVAILABLE", "Zenodo cannot be reached", exc.message) from None
        if not any(v.record_id == record.record_id for v in found):
            found.append(record)
        with self._guard:
            self._versions[concept] = (now, found)
        return found

    def tags(self, name: RepoName) -> list[str]:
        """`latest` and each version's `version` that fits the tag grammar, in lexical order."""
        record = self.resolve(name)
        tags = {"latest"}
        for v in self.versions(record):
            if v.version and TAG_RE.match(v.version):
                tags.add(v.version)
        return sorted(tags)

    def record_for_tag(self, name: RepoName, tag: str) -> RecordInfo:
        """The record a tag names. Raises MANIFEST_UNKNOWN for an unknown tag."""
        record = self.resolve(name)
        if tag == "latest":
            return record
        if record.version == tag:
            return record
        for v in self.versions(record):  # newest first: the newest of equal versions wins
            if v.version == tag:
                self._check_allowed(v)
                return v
        raise RegistryError(
            "MANIFEST_UNKNOWN",
            f"repository {name.text} has no tag {tag}",
            "tags are latest and the version of each version of the record",
        )

    # ------------------------------------------------------------------------------- manifests and blobs

    def manifest(self, name: RepoName, reference: str, accepted: set[str] | None) -> Manifest:
        """The manifest for a tag (negotiated on `accepted`) or a digest."""
        if ":" in reference:
            for served in self._candidates(name):
                if reference in served.manifests:
                    return served.manifests[reference]
            raise RegistryError("MANIFEST_UNKNOWN", f"repository {name.text} has no manifest {reference}")
        if not TAG_RE.match(reference):
            raise RegistryError(
                "MANIFEST_INVALID",
                f"{reference!r} is not a tag",
                "tags match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
            )
        record = self.record_for_tag(name, reference)
        return self.image(record).for_accept(accepted)

    def blob(self, name: RepoName, digest: str) -> tuple[ServedImage, BlobLocation]:
        """Where a blob of the named repository lies. Raises BLOB_UNKNOWN."""
        for served in self._candidates(name):
            loc = served.blobs.get(digest)
            if loc is not None:
                return served, loc
        raise RegistryError("BLOB_UNKNOWN", f"repository {name.text} has no blob {digest}")

    def _candidates(self, name: RepoName) -> Iterable[ServedImage]:
        """Prepared images of the name's concept (no download), then the name's latest version."""
        record = self.resolve(name)
        prepared = self.preparer.prepared(record)
        yield from prepared
        latest = self.image(record)
        if all(latest is not p for p in prepared):
            yield latest

    def image(self, record: RecordInfo) -> ServedImage:
        """The record's image, fetched and verified once (see serve_prepare.Preparer)."""
        return self.preparer.image(record)

    def is_verified(self, served: ServedImage, digest: str) -> bool:
        return self.preparer.is_verified(served, digest)

    def mark_verified(self, served: ServedImage, digest: str) -> None:
        self.preparer.mark_verified(served, digest)

    def blob_failed(self, served: ServedImage, digest: str, why: str) -> None:
        self.preparer.blob_failed(served, digest, why)


__all__ = [
    "AllowRule",
    "Cache",
    "Registry",
    "RegistryError",
    "RepoName",
    "parse_allow",
    "DIGEST_RE",
    "TAG_RE",
]
