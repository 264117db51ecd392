"""Zenodo's JSON as typed, frozen objects, parsed once where the client receives it.

:class:`Deposition` (deposit API: a draft or a published deposition), :class:`Record` (records API: a
published version), :class:`RemoteFile` (a file of either, legacy ``filename``/``filesize`` or ``key``/``size``)
and :func:`parse_md5` (Zenodo's ``md5:<hex>`` checksum). Each has one parser, ``from_json``, which reads
what it can and leaves None where Zenodo gave nothing: the shape checks that refuse an answer (not an object,
no ``id``) stay in the client. :meth:`Record.from_rdm_json` reads InvenioRDM's native record JSON into the same
:class:`Record` (the legacy and native shapes are mapped in the reference, invenio-rdm-api.md section 2).
Only :attr:`Record.raw` keeps the JSON as received.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any


def parse_md5(checksum: Any) -> str | None:
    """The lower-case hex md5 of a Zenodo checksum (``md5:<hex>``, or bare hex); None when there is none."""
    if not isinstance(checksum, str) or not checksum:
        return None
    return checksum.split(":")[-1].strip().lower() or None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _keywords(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    kws = metadata.get("keywords") or []
    return tuple(str(k) for k in kws) if isinstance(kws, list) else ()


@dataclass(frozen=True)
class RelatedIdentifier:
    """One ``related_identifiers`` entry: the identifier (a URL, a DOI) and its relation."""

    identifier: str
    relation: str

    @classmethod
    def all_from(cls, metadata: Mapping[str, Any]) -> tuple[RelatedIdentifier, ...]:
        """The entries of ``metadata.related_identifiers`` that are objects."""
        out = []
        for rel in metadata.get("related_identifiers") or []:
            if isinstance(rel, Mapping):
                out.append(cls(str(rel.get("identifier") or ""), str(rel.get("relation") or "")))
        return tuple(out)

    @classmethod
    def all_from_rdm(cls, metadata: Mapping[str, Any]) -> tuple[RelatedIdentifier, ...]:
        """The native entries (``relation_type.id``, lower case as InvenioRDM writes it: ``isderivedfrom``)."""
        out = []
        for rel in metadata.get("related_identifiers") or []:
            if isinstance(rel, Mapping):
                relation = _map(rel.get("relation_type")).get("id") or rel.get("relation") or ""
                out.append(cls(str(rel.get("identifier") or ""), str(relation)))
        return tuple(out)


@dataclass(frozen=True)
class RemoteFile:
    """A file of a deposition or a record.

    ``key`` is the file name as the server sent it (a hostile record may send something that is no safe file
    name, or no string at all: fetch checks every key before use); ``id`` is the deposit API's file id (what
    ``delete_file`` takes); ``url`` the link to its bytes.
    """

    key: str
    size: int | None
    md5: str | None
    id: str | None = None
    url: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> RemoteFile:
        """Parse a records API entry (``key``, ``size``, ``links.self``) or a deposit API one (``filename``,
        ``filesize``, ``links.download``)."""
        key = entry.get("key", entry.get("filename"))
        if key is None:
            key = entry.get("filename")
        size = entry.get("size", entry.get("filesize"))
        links = _map(entry.get("links"))
        url = links.get("content") or links.get("self") or links.get("download")
        if isinstance(url, str) and not url.endswith("/content") and "/files/" in url and "/api/" in url:
            url = url.rstrip("/") + "/content"
        return cls(
            key=key if key is not None else "",
            size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
            md5=parse_md5(entry.get("checksum")),
            id=_text(entry.get("id")),
            url=url if isinstance(url, str) else None,
        )

    @classmethod
    def all_from(cls, files: Any) -> tuple[RemoteFile, ...]:
        """The files of a ``files`` value: a list, or the RDM ``{"entries": {key: {...}}}`` form."""
        if isinstance(files, Mapping):
            files = list(_map(files.get("entries")).values())
        if not isinstance(files, list):
            return ()
        return tuple(cls.from_json(f) for f in files if isinstance(f, Mapping))


@dataclass(frozen=True)
class Review:
    """A community review request of a native draft (``community-submission``): its id, ``status``
    (created, submitted, accepted, declined, cancelled, expired), the request's URL and the community's
    slug or id."""

    id: str
    status: str
    url: str | None = None
    community: str | None = None

    @property
    def is_open(self) -> bool:
        """Created or submitted: the draft waits for the community (and cannot be published directly)."""
        return self.status in ("created", "submitted")


@dataclass(frozen=True)
class Deposition:
    """A deposition of the deposit API (a draft, or the deposit view of a published version), or a native
    draft / record in the same shape.

    ``id`` is the server's: an int on the deposit API, a string on the native API (digits on Zenodo,
    ``4d0ns-ntd89`` on other InvenioRDM instances). ``record_id`` is the id of its published record (None for
    a new draft): :attr:`record_ref` is what the records API knows it by. ``review`` is the community review
    request of a native draft (None on the deposit API, where communities are requested at publish).
    """

    id: int | str
    record_id: int | str | None = None
    conceptrecid: str | None = None
    doi: str | None = None
    conceptdoi: str | None = None
    state: str | None = None
    submitted: bool = False
    title: str = ""
    created: str | None = None
    keywords: tuple[str, ...] = ()
    related: tuple[RelatedIdentifier, ...] = ()
    files: tuple[RemoteFile, ...] = ()
    prereserved_doi: str | None = None
    bucket_url: str | None = None
    html_url: str | None = None
    latest_draft_url: str | None = None
    review: Review | None = None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Deposition:
        """Parse a deposition (the client has checked that it is an object with an ``id``)."""
        metadata = _map(doc.get("metadata"))
        links = _map(doc.get("links"))
        return cls(
            id=int(doc["id"]),
            record_id=_int(doc.get("record_id")),
            conceptrecid=_text(doc.get("conceptrecid")),
            doi=_text(doc.get("doi")),
            conceptdoi=_text(doc.get("conceptdoi")),
            state=_text(doc.get("state")),
            submitted=doc.get("submitted") is True,
            title=str(doc.get("title") or ""),
            created=_text(doc.get("created")),
            keywords=_keywords(metadata),
            related=RelatedIdentifier.all_from(metadata),
            files=RemoteFile.all_from(doc.get("files")),
            prereserved_doi=_text(_map(metadata.get("prereserve_doi")).get("doi")),
            bucket_url=_text(links.get("bucket")),
            html_url=_text(links.get("html")),
            latest_draft_url=_text(links.get("latest_draft")),
        )

    @property
    def is_published(self) -> bool:
        """Submitted, or in the state done (published) or inprogress (a published record being edited)."""
        return self.submitted or self.state in ("done", "inprogress")

    @property
    def record_ref(self) -> int | str:
        """The id of the published record (the deposition's own id where Zenodo gives none)."""
        return self.record_id if self.record_id is not None else self.id

    def marker(self, prefix: str) -> str | None:
        """The first keyword that starts with ``prefix``."""
        return next((k for k in self.keywords if k.startswith(prefix)), None)

    def created_after(self, started: float, slack: float = 600.0) -> bool:
        """Created at ``started`` (a Unix time) or later, give or take ``slack`` seconds of clock skew."""
        if not self.created:
            return False
        try:
            when = datetime.fromisoformat(self.created.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return False
        return when >= started - slack


@dataclass(frozen=True)
class Record:
    """A published version as the records API shows it, from either API's JSON (``from_json`` for Zenodo's
    legacy records JSON, ``from_rdm_json`` for InvenioRDM's native JSON). ``raw`` is the JSON as received.

    ``access_right`` is "open", "embargoed", "restricted", "closed" or "metadata-only" (legacy
    ``metadata.access_right``, native ``access.status``); ``record_access`` and ``files_access`` are "public"
    or "restricted" (native ``access``; legacy records tell only ``access_right``); ``communities`` the
    community slugs or ids the record names; ``published`` False for a draft shown by mistake.
    """

    id: str
    doi: str | None = None
    conceptdoi: str | None = None
    conceptrecid: str | None = None
    title: str | None = None
    version: str | None = None
    publication_date: str | None = None
    keywords: tuple[str, ...] = ()
    related: tuple[RelatedIdentifier, ...] = ()
    files: tuple[RemoteFile, ...] = ()
    html_url: str | None = None
    self_html_url: str | None = None
    access_right: str | None = None
    record_access: str | None = None
    files_access: str | None = None
    communities: tuple[str, ...] = ()
    published: bool = True
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Record:
        """Parse a legacy (ZenodoJSON) record (the client has checked that it is an object with an ``id``)."""
        metadata = _map(doc.get("metadata"))
        links = _map(doc.get("links"))
        access = _map(doc.get("access"))  # a native record given to this parser still tells its access
        return cls(
            id=str(doc.get("id") or doc.get("recid") or ""),
            doi=_text(doc.get("doi") or metadata.get("doi")),
            conceptdoi=_text(doc.get("conceptdoi")),
            conceptrecid=_text(doc.get("conceptrecid")),
            title=_text(doc.get("title") or metadata.get("title")),
            version=_text(metadata.get("version")),
            publication_date=_text(metadata.get("publication_date")),
            keywords=_keywords(metadata),
            related=RelatedIdentifier.all_from(metadata),
            files=RemoteFile.all_from(doc.get("files")),
            html_url=_text(links.get("html")),
            self_html_url=_text(links.get("self_html")),
            access_right=_text(metadata.get("access_right") or access.get("status")),
            record_access=_text(access.get("record")),
            files_access=_text(access.get("files")),
            communities=_legacy_communities(metadata),
            published=doc.get("submitted") is not False
            and str(doc.get("state", "done")) in ("done", "published"),
            raw=MappingProxyType(dict(doc)),
        )

    @classmethod
    def from_rdm_json(cls, doc: Mapping[str, Any]) -> Record:
        """Parse InvenioRDM's native record JSON (``application/vnd.inveniordm.v1+json``): ``pids.doi``,
        ``parent`` (concept id, concept DOI, communities), ``metadata.subjects``, ``relation_type.id``,
        ``files.entries`` keyed by file key, ``access``; a ``ui`` object is ignored."""
        metadata = _map(doc.get("metadata"))
        parent = _map(doc.get("parent"))
        links = _map(doc.get("links"))
        access = _map(doc.get("access"))
        subjects = metadata.get("subjects") if isinstance(metadata.get("subjects"), list) else []
        html = _text(links.get("self_html") or links.get("html"))
        return cls(
            id=str(doc.get("id") or ""),
            doi=_pid_doi(doc),
            conceptdoi=_pid_doi(parent),
            conceptrecid=_text(parent.get("id")),
            title=_text(metadata.get("title")),
            version=_text(metadata.get("version")),
            publication_date=_text(metadata.get("publication_date")),
            keywords=tuple(
                str(s["subject"]) for s in subjects if isinstance(s, Mapping) and s.get("subject")
            ),
            related=RelatedIdentifier.all_from_rdm(metadata),
            files=RemoteFile.all_from(doc.get("files")),
            html_url=html,
            self_html_url=html,
            access_right=_text(access.get("status")),
            record_access=_text(access.get("record")),
            files_access=_text(access.get("files")),
            communities=_rdm_communities(parent),
            published=doc.get("is_published") is not False and doc.get("is_draft") is not True,
            raw=MappingProxyType(dict(doc)),
        )

    @property
    def closed_reason(self) -> str | None:
        """Why the record or its files are not open to anyone (None when they are): a draft, an access right
        other than open, or restricted record or files access."""
        if not self.published:
            return "it is not published (a draft)"
        if self.access_right is not None and self.access_right != "open":
            return f"its access right is {self.access_right!r}, not open"
        for part, value in (("record", self.record_access), ("files", self.files_access)):
            if value is not None and value != "public":
                return f"its {part} access is {value!r}, not public"
        return None

    def file(self, key: str) -> RemoteFile | None:
        """The file named ``key``, or None."""
        return next((f for f in self.files if f.key == key), None)


def _pid_doi(doc: Mapping[str, Any]) -> str | None:
    """``pids.doi.identifier`` of a native record or parent."""
    return _text(_map(_map(doc.get("pids")).get("doi")).get("identifier"))


def _legacy_communities(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """``metadata.communities`` of legacy JSON: ``[{"id": slug}]`` (records) or ``[{"identifier": slug}]``."""
    out = []
    for c in metadata.get("communities") or []:
        ident = c.get("id") or c.get("identifier") if isinstance(c, Mapping) else c
        if isinstance(ident, str) and ident:
            out.append(ident)
    return tuple(out)


def _rdm_communities(parent: Mapping[str, Any]) -> tuple[str, ...]:
    """``parent.communities`` of native JSON: the slugs of expanded ``entries`` and every id in ``ids``."""
    communities = _map(parent.get("communities"))
    out: list[str] = []
    for entry in communities.get("entries") or []:
        if isinstance(entry, Mapping):
            out += [str(entry[k]) for k in ("slug", "id") if isinstance(entry.get(k), str) and entry[k]]
    out += [str(i) for i in communities.get("ids") or [] if isinstance(i, str) and i]
    return tuple(dict.fromkeys(out))


__all__ = ["Deposition", "Record", "RelatedIdentifier", "RemoteFile", "Review", "parse_md5"]
