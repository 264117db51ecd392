"""Deposit metadata as Zenodo-RDM's legacy deserializer treats it: validated on create/update (400 with
Zenodo's body), unknown keys dropped, licences normalised, completeness checked only at publish.

Vocabulary values (contributor roles, grant funders) are checked after the field checks, as RDM's relation
fields do: an unknown one is a 400 ``{"status": 400, "message": "Invalid value <id>."}`` without `errors`.
Production Zenodo also refuses, the same way, an award number its OpenAIRE-fed awards vocabulary lacks; the
stand-in cannot know that list and accepts any award of a funder Zenodo maps. Malformed `grants` entries make
Zenodo answer 500; the stand-in answers 400 with a field error so that a client bug shows plainly."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from ossr_images.standin import vocabularies

UPLOAD_TYPES = {
    "publication", "poster", "presentation", "dataset", "image", "video", "software", "lesson",
    "physicalobject", "other", "workflow", "model",
}  # fmt: skip
ACCESS_RIGHTS = {"open", "embargoed", "restricted", "closed"}
KNOWN_KEYS = {
    "upload_type", "publication_type", "image_type", "publication_date", "title", "creators", "description",
    "access_right", "license", "embargo_date", "access_conditions", "doi", "prereserve_doi", "keywords",
    "notes", "related_identifiers", "contributors", "references", "communities", "grants", "journal_title",
    "journal_volume", "journal_issue", "journal_pages", "conference_title", "conference_acronym",
    "conference_dates", "conference_place", "conference_url", "conference_session",
    "conference_session_part", "imprint_publisher", "imprint_isbn", "imprint_place", "partof_title",
    "partof_pages", "thesis_supervisors", "thesis_university", "subjects", "version", "language",
    "locations", "dates", "method", "custom",
}  # fmt: skip
EC_DOI = "10.13039/501100000780"  # a bare grant id means the European Commission (zenodo-api.md section 2)
ORGANIZATIONAL = "_organizational"  # stored beside a creator written natively as an organisation


def accepted_licenses() -> dict[str, str]:
    """Every licence the stand-in accepts (lower case, aliases included) -> the id a deposit reads back, from
    the stand-in's own copy of zenodo.org's licence vocabulary (`standin.vocabularies`)."""
    return {lic: vocabularies.legacy_license(lic) or lic for lic in vocabularies.accepted_licenses()}


RELATIONS = {
    "isCitedBy", "cites", "isSupplementTo", "isSupplementedBy", "isContinuedBy", "continues", "isDescribedBy",
    "describes", "hasMetadata", "isMetadataFor", "isNewVersionOf", "isPreviousVersionOf", "isPartOf",
    "hasPart", "isReferencedBy", "references", "isDocumentedBy", "documents", "isCompiledBy", "compiles",
    "isVariantFormOf", "isOriginalFormOf", "isIdenticalTo", "isAlternateIdentifier", "isReviewedBy",
    "reviews", "isDerivedFrom", "isSourceOf", "requires", "isRequiredBy", "isObsoletedBy", "obsoletes",
    "hasVersion", "isVersionOf", "isPublishedIn",
}  # fmt: skip
# Zenodo-RDM's contributor roles: the legacy `type`, lower-cased, must be one of these ids (DataCite types).
CONTRIBUTOR_ROLES = {
    "contactperson", "datacollector", "datacurator", "datamanager", "distributor", "editor",
    "hostinginstitution", "producer", "projectleader", "projectmanager", "projectmember", "registrationagency",
    "registrationauthority", "relatedperson", "researcher", "researchgroup", "rightsholder", "sponsor",
    "supervisor", "translator", "workpackageleader", "other",
}  # fmt: skip
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MISSING = "Missing data for required field."
NO_FILES = "Missing uploaded files. To disable files for this record please mark it as metadata-only."

FieldErrors = list[dict[str, Any]]


class MetadataError(Exception):
    """A 400: "A validation error occurred." with per-field messages, or a vocabulary "Invalid value X."."""

    def __init__(self, errors: FieldErrors, message: str = "A validation error occurred.") -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


def _one_of(value: Any, choices: set[str]) -> bool:
    return isinstance(value, str) and value in choices


def _err(field: str, message: str) -> dict[str, Any]:
    return {"field": field, "messages": [message]}


def normalize_license(value: Any) -> str | None:
    """The id Zenodo reads back for a licence given as a string or ``{"id": ...}``; None if unknown."""
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str):
        return None
    return vocabularies.legacy_license(value)


def clean_metadata(metadata: Any) -> dict[str, Any]:
    """Validate and normalise deposit metadata (create/update); raise :class:`MetadataError`."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise MetadataError([_err("metadata", "Invalid input type.")])
    errors: FieldErrors = []
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if key not in KNOWN_KEYS or key == "prereserve_doi":
            continue  # RDM drops unknown keys silently
        out[key] = value
    if "upload_type" in out and not _one_of(out["upload_type"], UPLOAD_TYPES):
        errors.append(_err("metadata.upload_type", f"Invalid resource type: {out['upload_type']!r}."))
    if "title" in out and not isinstance(out["title"], str):
        errors.append(_err("metadata.title", "Not a valid string."))
    if "description" in out and not isinstance(out["description"], str):
        errors.append(_err("metadata.description", "Not a valid string."))
    if "access_right" in out:
        if not _one_of(out["access_right"], ACCESS_RIGHTS):
            errors.append(_err("metadata.access_right", "Unknown access type."))
        elif out["access_right"] == "embargoed" and not out.get("embargo_date"):
            errors.append(_err("metadata.access_right", "Unknown access type."))
    if "license" in out:
        lic = normalize_license(out["license"])
        if lic is None:
            shown = out["license"].get("id") if isinstance(out["license"], dict) else out["license"]
            errors.append(_err("metadata.license", f"Invalid license provided: {shown}"))
        else:
            out["license"] = {"id": lic}
    if "creators" in out:
        creators = out["creators"]
        if not isinstance(creators, list):
            errors.append(_err("metadata.creators", "Not a valid list."))
        else:
            for i, c in enumerate(creators):
                if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"].strip():
                    errors.append(_err(f"metadata.creators.{i}.name", "Name is required."))
    if "contributors" in out:
        errors += _contributor_errors(out["contributors"])
    if "grants" in out:
        grants, grant_errors = _grants(out["grants"])
        errors += grant_errors
        out["grants"] = grants
    if "communities" in out:
        comms = out["communities"]
        if not isinstance(comms, list) or not all(
            isinstance(c, dict) and isinstance(c.get("identifier"), str) and c["identifier"] for c in comms
        ):
            errors.append(_err("metadata.communities", "Invalid communities format."))
    if "keywords" in out and (
        not isinstance(out["keywords"], list) or not all(isinstance(k, str) for k in out["keywords"])
    ):
        errors.append(_err("metadata.keywords", "Not a valid list of strings."))
    if "related_identifiers" in out:
        rel = out["related_identifiers"]
        if not isinstance(rel, list):
            errors.append(_err("metadata.related_identifiers", "Not a valid list."))
        else:
            for i, r in enumerate(rel):
                if not isinstance(r, dict) or not isinstance(r.get("identifier"), str) or not r["identifier"]:
                    errors.append(_err(f"metadata.related_identifiers.{i}.identifier", MISSING))
                elif not _one_of(r.get("relation"), RELATIONS):
                    errors.append(
                        _err(
                            f"metadata.related_identifiers.{i}.relation",
                            f"Invalid relation: {r.get('relation')!r}.",
                        )
                    )
    if "publication_date" in out:
        pd = out["publication_date"]
        if not isinstance(pd, str) or not _DATE_RE.match(pd) or not _valid_date(pd):
            errors.append(_err("metadata.publication_date", "Not a valid date."))
    if "version" in out and (not isinstance(out["version"], str) or len(out["version"]) > 191):
        errors.append(_err("metadata.version", "Not a valid string of at most 191 characters."))
    if errors:
        raise MetadataError(errors)
    invalid = _invalid_vocabulary_value(out)
    if invalid:
        raise MetadataError([], f"Invalid value {invalid}.")
    return out


def _contributor_errors(contributors: Any) -> FieldErrors:
    if not isinstance(contributors, list):
        return [_err("metadata.contributors", "Not a valid list.")]
    errors: FieldErrors = []
    for i, c in enumerate(contributors):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"].strip():
            errors.append(_err(f"metadata.contributors.{i}.name", "Name is required."))
        elif "type" in c and not isinstance(c["type"], str):
            errors.append(_err(f"metadata.contributors.{i}.type", "Not a valid string."))
    return errors


def _grants(grants: Any) -> tuple[list[dict[str, str]], FieldErrors]:
    """Grants with bare ids read as European Commission awards (as Zenodo does), and the shape errors."""
    if not isinstance(grants, list):
        return [], [_err("metadata.grants", "Not a list.")]
    out: list[dict[str, str]] = []
    for i, g in enumerate(grants):
        if not isinstance(g, dict):
            return [], [_err(f"metadata.grants.{i}", "Element not an object.")]
        gid = g.get("id")
        if not isinstance(gid, str) or not gid.strip():
            return [], [_err(f"metadata.grants.{i}.id", MISSING)]
        gid = gid.strip() if "::" in gid else f"{EC_DOI}::{gid.strip()}"
        if {"id": gid} not in out:
            out.append({"id": gid})
    return out, []


def _invalid_vocabulary_value(metadata: dict[str, Any]) -> str | None:
    """The first grant funder or contributor role Zenodo's vocabularies do not hold (as RDM reports it)."""
    for g in metadata.get("grants", []):
        funder, number = g["id"].split("::", 1)
        ror = vocabularies.funder_ror(funder)
        if ror is None:
            return funder
        if not number.strip():
            return f"{ror}::{number}"
    for c in metadata.get("contributors", []):
        role = c.get("type")
        if isinstance(role, str) and role.lower() not in CONTRIBUTOR_ROLES:
            return role.lower()
    return None


def _valid_date(text: str) -> bool:
    try:
        _dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def publish_errors(metadata: dict[str, Any], n_files: int) -> FieldErrors:
    """What RDM refuses at publish: no resource type, no creators, a short title, a short description, no file."""
    errors: FieldErrors = []
    if not metadata.get("upload_type"):
        errors.append(_err("metadata.resource_type", MISSING))
    if not metadata.get("creators"):
        errors.append(_err("metadata.creators", MISSING))
    title = metadata.get("title")
    if not title:
        errors.append(_err("metadata.title", MISSING))
    elif len(title.strip()) < 3:
        errors.append(_err("metadata.title", "Shorter than minimum length 3."))
    desc = metadata.get("description")
    if desc is not None and len(desc.strip()) < 3:
        errors.append(_err("metadata.description", "Shorter than minimum length 3."))
    for i, c in enumerate(metadata.get("contributors") or []):
        if not c.get("type"):
            errors.append(_err(f"metadata.contributors.{i}.role", MISSING))
    if n_files == 0:
        errors.append(_err("files.enabled", NO_FILES))
    return errors


def resource_type(metadata: dict[str, Any]) -> dict[str, str]:
    """``resource_type`` of the ZenodoJSON record for the legacy ``upload_type`` (+ subtype)."""
    kind = metadata.get("upload_type") or "other"
    out = {"type": kind, "title": kind.capitalize()}
    sub = metadata.get(f"{kind}_type") if kind in ("publication", "image") else None
    if sub:
        out["subtype"] = sub
    return out
