"""Zenodo's legacy deposit metadata (what :mod:`ossr_images.metadata.crosswalk` makes) in InvenioRDM's schema, and
native drafts / records read back as :class:`~ossr_images.zenodo.models.Deposition`.

Legacy -> native (``draft_body``): ``upload_type`` -> ``resource_type.id``; creators "Family, Given" ->
``person_or_org`` personal with ``family_name``/``given_name`` (a name without exactly one comma is an
organisation: ``organizational`` with ``name``; the crosswalk writes every person it can split as "Family,
Given"); ``orcid`` -> ``identifiers[{scheme: orcid}]``; ``affiliation`` ("A; B") -> ``affiliations[{name}]``;
contributor ``type`` -> ``role.id`` lower case; ``license`` -> ``rights[{id}]`` (lower-case SPDX ids, as
Zenodo's vocabulary); ``keywords`` -> ``subjects[{subject}]`` (the publish marker keywords round-trip there);
``related_identifiers`` -> ``scheme`` (doi for a DOI, else url), ``relation_type.id`` lower case,
``resource_type.id``; ``grants`` "<funder DOI or ROR>::<number>" -> ``funding[{funder: {id: ROR}, award: {id:
"ROR::number", number}}]`` through :data:`~ossr_images.metadata.funding.ZENODO_FUNDERS` (a funder outside it is
left out with a warning, as Zenodo would refuse it); ``notes`` -> ``additional_descriptions``. Communities are
not metadata on the native API: :func:`communities_of` gives them to the review request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ossr_images.metadata.funding import ZENODO_FUNDERS
from ossr_images.zenodo.models import Deposition, Record, RelatedIdentifier, RemoteFile, Review

log = logging.getLogger("ossr_images.zenodo")

NATIVE_JSON = "application/vnd.inveniordm.v1+json"
_SUBTYPED = ("publication", "image")
_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)?(10\.\d{4,9}/\S+)$", re.I)
_ROR = re.compile(r"^0[a-z0-9]{6}\d{2}$")


# ---------------------------------------------------------------------------------- legacy -> native


def draft_body(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The body of ``POST /records`` or ``PUT …/draft`` for legacy deposit ``metadata`` (``access`` and
    ``files`` included: a PUT replaces the draft whole)."""
    md = metadata or {}
    files = "public" if md.get("access_right", "open") == "open" else "restricted"
    return {
        "access": {"record": "public", "files": files},
        "files": {"enabled": True},
        "metadata": native_metadata(md),
    }


def native_metadata(md: Mapping[str, Any]) -> dict[str, Any]:
    """Legacy deposit metadata in the RDM schema (see the module docstring)."""
    out: dict[str, Any] = {"resource_type": {"id": _resource_type(md)}}
    for key in ("title", "description", "version", "publication_date"):
        if md.get(key):
            out[key] = str(md[key])
    out["creators"] = [_person(c) for c in md.get("creators") or [] if isinstance(c, Mapping)]
    contributors = [_person(c, role=True) for c in md.get("contributors") or [] if isinstance(c, Mapping)]
    if contributors:
        out["contributors"] = contributors
    lic = md.get("license")
    lic = lic.get("id") if isinstance(lic, Mapping) else lic
    if isinstance(lic, str) and lic:
        out["rights"] = [{"id": lic.lower()}]
    keywords = [str(k) for k in md.get("keywords") or []]
    if keywords:
        out["subjects"] = [{"subject": k} for k in keywords]
    related = [_related(r) for r in md.get("related_identifiers") or [] if isinstance(r, Mapping)]
    if related:
        out["related_identifiers"] = related
    funding = [f for f in (_award(g) for g in md.get("grants") or []) if f is not None]
    if funding:
        out["funding"] = funding
    if md.get("notes"):
        out["additional_descriptions"] = [{"description": str(md["notes"]), "type": {"id": "notes"}}]
    return out


def communities_of(metadata: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The community slugs of legacy ``metadata.communities`` (``[{"identifier": slug}]``)."""
    out = []
    for c in (metadata or {}).get("communities") or []:
        ident = c.get("identifier") if isinstance(c, Mapping) else c
        if isinstance(ident, str) and ident:
            out.append(ident)
    return tuple(out)


def _resource_type(md: Mapping[str, Any]) -> str:
    kind = str(md.get("upload_type") or "software")
    sub = md.get(f"{kind}_type") if kind in _SUBTYPED else None
    return f"{kind}-{sub}" if sub else kind


def _person(c: Mapping[str, Any], *, role: bool = False) -> dict[str, Any]:
    name = str(c.get("name") or "").strip()
    if name.count(",") == 1:
        family, given = (p.strip() for p in name.split(","))
        po: dict[str, Any] = {"type": "personal", "family_name": family}
        if given:
            po["given_name"] = given
    else:
        po = {"type": "organizational", "name": name}
    if c.get("orcid"):
        po["identifiers"] = [{"scheme": "orcid", "identifier": str(c["orcid"])}]
    out: dict[str, Any] = {"person_or_org": po}
    affiliations = [a.strip() for a in str(c.get("affiliation") or "").split(";") if a.strip()]
    if affiliations:
        out["affiliations"] = [{"name": a} for a in affiliations]
    if role:
        out["role"] = {"id": str(c.get("type") or "other").lower()}
    return out


def _related(r: Mapping[str, Any]) -> dict[str, Any]:
    ident = str(r.get("identifier") or "")
    doi = _DOI.match(ident)
    out: dict[str, Any] = {
        "identifier": doi.group(1) if doi else ident,
        "scheme": str(r.get("scheme") or ("doi" if doi else "url")),
        "relation_type": {"id": str(r.get("relation") or "").lower()},
    }
    if r.get("resource_type"):
        out["resource_type"] = {"id": str(r["resource_type"])}
    return out


def _award(grant: Any) -> dict[str, Any] | None:
    gid = grant.get("id") if isinstance(grant, Mapping) else grant
    if not isinstance(gid, str) or "::" not in gid:
        return None
    funder, number = gid.split("::", 1)
    ror = ZENODO_FUNDERS.get(funder) or (funder if _ROR.match(funder) else None)
    if ror is None:
        log.warning("grant %s left out: its funder %s has no ROR id Zenodo knows", gid, funder)
        return None
    return {"funder": {"id": ror}, "award": {"id": f"{ror}::{number}", "number": number}}


# ---------------------------------------------------------------------------------- native -> models


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def doi_of(doc: Mapping[str, Any]) -> str | None:
    """``pids.doi.identifier`` of a native record or draft (None before a DOI is reserved)."""
    return _text(_map(_map(doc.get("pids")).get("doi")).get("identifier"))


def keywords_of(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """The subjects' text (free keywords and vocabulary subjects alike)."""
    subjects = metadata.get("subjects") or []
    if not isinstance(subjects, list):
        return ()
    return tuple(str(s["subject"]) for s in subjects if isinstance(s, Mapping) and s.get("subject"))


def related_of(metadata: Mapping[str, Any]) -> tuple[RelatedIdentifier, ...]:
    """``related_identifiers`` with their ``relation_type.id``."""
    out = []
    for rel in metadata.get("related_identifiers") or []:
        if isinstance(rel, Mapping) and rel.get("identifier"):
            out.append(
                RelatedIdentifier(str(rel["identifier"]), str(_map(rel.get("relation_type")).get("id") or ""))
            )
    return tuple(out)


def file_of(entry: Mapping[str, Any]) -> RemoteFile:
    """A native file entry; its ``id`` is its key (what the native API deletes a file by); a file not
    ``completed`` (registered, content not committed) has no md5."""
    parsed = RemoteFile.from_json(entry)
    completed = entry.get("status") in (None, "completed")
    return RemoteFile(parsed.key, parsed.size, parsed.md5 if completed else None, parsed.key, parsed.url)


def files_of(value: Any) -> tuple[RemoteFile, ...]:
    """The files of a native ``files`` value: ``{"entries": {key: {...}}}`` in records, a list in listings."""
    entries = _map(value).get("entries") if isinstance(value, Mapping) else value
    if isinstance(entries, Mapping):
        entries = list(entries.values())
    if not isinstance(entries, list):
        return ()
    return tuple(file_of(e) for e in entries if isinstance(e, Mapping))


def review_of(doc: Mapping[str, Any]) -> Review:
    """A request's JSON as a :class:`Review`."""
    links = _map(doc.get("links"))
    return Review(
        id=str(doc.get("id") or ""),
        status=str(doc.get("status") or ""),
        url=_text(links.get("self_html")) or _text(links.get("self")),
        community=_text(_map(doc.get("receiver")).get("community")),
    )


def deposition_of(doc: Mapping[str, Any], api_url: str, review: Review | None = None) -> Deposition:
    """A native draft or record as a :class:`Deposition`: state ``unsubmitted`` (a draft of an unpublished
    record), ``inprogress`` (an edit draft of a published one) or ``done``; ``bucket_url`` is the draft's files
    URL; ids kept as the server gives them (strings)."""
    metadata = _map(doc.get("metadata"))
    links = _map(doc.get("links"))
    parent = _map(doc.get("parent"))
    rid = str(doc["id"])
    published = doc.get("is_published") is True
    draft = doc.get("is_draft") is True
    state = ("inprogress" if published else "unsubmitted") if draft else "done"
    doi = doi_of(doc)
    return Deposition(
        id=rid,
        record_id=rid if published else None,
        conceptrecid=_text(parent.get("id")),
        doi=doi,
        conceptdoi=_text(_map(_map(parent.get("pids")).get("doi")).get("identifier")),
        state=state,
        submitted=published,
        title=str(metadata.get("title") or ""),
        created=_text(doc.get("created")),
        keywords=keywords_of(metadata),
        related=related_of(metadata),
        files=files_of(doc.get("files")),
        prereserved_doi=doi if not published else None,
        bucket_url=f"{api_url.rstrip('/')}/records/{rid}/draft/files" if draft else None,
        html_url=_text(links.get("self_html")),
        review=review,
    )


def field_errors(doc: Any) -> list[str]:
    """The ``errors`` a draft save lists (fields the server dropped), as "field: message" lines."""
    out = []
    for err in _map(doc).get("errors") or [] if isinstance(doc, Mapping) else []:
        if isinstance(err, Mapping):
            messages = err.get("messages") or [err.get("message")]
            out.append(f"{err.get('field')}: {' '.join(str(m) for m in messages if m)}")
    return out


def record_of(doc: Mapping[str, Any]) -> Record:
    """A published native record as a :class:`Record` (the read side has its own, fuller parser; publish's
    read-back needs only these fields)."""
    metadata = _map(doc.get("metadata"))
    parent = _map(doc.get("parent"))
    links = _map(doc.get("links"))
    return Record(
        id=str(doc.get("id") or ""),
        doi=doi_of(doc),
        conceptdoi=_text(_map(_map(parent.get("pids")).get("doi")).get("identifier")),
        conceptrecid=_text(parent.get("id")),
        title=_text(metadata.get("title")),
        version=_text(metadata.get("version")),
        publication_date=_text(metadata.get("publication_date")),
        keywords=keywords_of(metadata),
        related=related_of(metadata),
        files=files_of(doc.get("files")),
        html_url=_text(links.get("self_html")),
        self_html_url=_text(links.get("self_html")),
        raw=MappingProxyType(dict(doc)),
    )
