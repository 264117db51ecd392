"""InvenioRDM metadata (``metadata.creators[].person_or_org``, ``resource_type.id``, ``rights``, ...) mapped
onto the store's legacy deposit metadata and back, so that both APIs show one record.

`from_native` never fails: like RDM's draft service it keeps what is valid and lists the rest as field errors
(``[{"field": "metadata.x", "messages": [...]}]``); `to_native` renders stored metadata in the RDM schema.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ossr_images.standin import vocabularies
from ossr_images.standin.metadata import (
    ORGANIZATIONAL,
    RELATIONS,
    UPLOAD_TYPES,
    MetadataError,
    clean_metadata,
)

FieldErrors = list[dict[str, Any]]
MISSING = "Missing data for required field."
_RELATION_IDS = {r.lower(): r for r in RELATIONS}
# RR config.py RDM_RECORDS_IDENTIFIERS_SCHEMES (related identifiers); no "swh"
SCHEMES = {
    "ark", "arxiv", "bibcode", "doi", "ean13", "eissn", "handle", "igsn", "isbn", "issn", "istc", "lissn",
    "lsid", "pmid", "purl", "upc", "url", "urn", "w3id", "ads", "crossreffunderid", "gnd", "isni", "orcid",
    "ror", "sra",
}  # fmt: skip
_SUBTYPED = {"publication", "image"}


def _err(field: str, message: str) -> dict[str, Any]:
    return {"field": field, "messages": [message]}


def _valid_date(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        _dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


# ---------------------------------------------------------------- native -> legacy


def _resource_type(value: Any, out: dict[str, Any], errors: FieldErrors) -> None:
    rid = value.get("id") if isinstance(value, dict) else None
    if not isinstance(rid, str):
        errors.append(_err("metadata.resource_type.id", MISSING))
        return
    kind, _, sub = rid.partition("-")
    if kind not in UPLOAD_TYPES or (sub and kind not in _SUBTYPED):
        errors.append(_err("metadata.resource_type", f"Invalid value {rid}."))
        return
    out["upload_type"] = kind
    if sub:
        out[f"{kind}_type"] = sub


def _creator(i: int, c: Any, errors: FieldErrors, field: str = "creators") -> dict[str, Any] | None:
    where = f"metadata.{field}.{i}"
    po = c.get("person_or_org") if isinstance(c, dict) else None
    if not isinstance(po, dict):
        errors.append(_err(f"{where}.person_or_org", MISSING))
        return None
    kind = po.get("type")
    if kind not in ("personal", "organizational"):
        errors.append(
            _err(f"{where}.person_or_org.type", "Invalid value. Must be personal or organizational.")
        )
        return None
    if kind == "personal":
        family = po.get("family_name")
        if not isinstance(family, str) or not family.strip():
            errors.append(_err(f"{where}.person_or_org.family_name", "Family name must be filled."))
            return None
        given = po.get("given_name")
        name = f"{family}, {given}" if isinstance(given, str) and given.strip() else family
    else:
        name = po.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(_err(f"{where}.person_or_org.name", "Name cannot be blank."))
            return None
    out: dict[str, Any] = {"name": name}
    if kind == "organizational":
        out[ORGANIZATIONAL] = True  # read back natively as an organisation (the legacy view drops the mark)
    for ident in po.get("identifiers") or []:
        if (
            isinstance(ident, dict)
            and ident.get("scheme") == "orcid"
            and isinstance(ident.get("identifier"), str)
        ):
            out["orcid"] = ident["identifier"]
    affiliations = [a.get("name") for a in c.get("affiliations") or [] if isinstance(a, dict)]
    if affiliations and isinstance(affiliations[0], str):
        out["affiliation"] = affiliations[0]
    role = (c.get("role") or {}).get("id") if isinstance(c.get("role"), dict) else None
    if field == "contributors":
        out["type"] = role or "other"
    return out


def _people(value: Any, field: str, errors: FieldErrors) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        errors.append(_err(f"metadata.{field}", "Not a valid list."))
        return None
    people = [_creator(i, c, errors, field) for i, c in enumerate(value)]
    return [p for p in people if p is not None]


def _rights(value: Any, errors: FieldErrors) -> dict[str, str] | None:
    if not isinstance(value, list):
        errors.append(_err("metadata.rights", "Not a valid list."))
        return None
    for i, r in enumerate(value):
        rid = r.get("id") if isinstance(r, dict) else None
        legacy = vocabularies.legacy_license(rid) if isinstance(rid, str) else None
        if legacy is None:
            errors.append(_err(f"metadata.rights.{i}.id", f"Invalid value {rid}."))
            continue
        return {"id": legacy}  # the deposit API holds one licence
    return None


def _related(value: Any, errors: FieldErrors) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not isinstance(value, list):
        errors.append(_err("metadata.related_identifiers", "Not a valid list."))
        return out
    for i, r in enumerate(value):
        where = f"metadata.related_identifiers.{i}"
        if not isinstance(r, dict) or not isinstance(r.get("identifier"), str) or not r["identifier"]:
            errors.append(_err(f"{where}.identifier", MISSING))
            continue
        scheme = r.get("scheme")
        if scheme not in SCHEMES:
            errors.append(_err(f"{where}.scheme", f"Invalid scheme {scheme}." if scheme else MISSING))
            continue
        rel = r.get("relation_type")
        rel_id = rel.get("id") if isinstance(rel, dict) else None
        if not isinstance(rel_id, str) or rel_id not in _RELATION_IDS:
            errors.append(_err(f"{where}.relation_type", f"Invalid value {rel_id}." if rel_id else MISSING))
            continue
        entry: dict[str, Any] = {
            "identifier": r["identifier"],
            "relation": _RELATION_IDS[rel_id],
            "scheme": scheme,
        }
        rtype = r.get("resource_type")
        if isinstance(rtype, dict) and isinstance(rtype.get("id"), str):
            entry["resource_type"] = rtype["id"]
        out.append(entry)
    return out


def _funding(value: Any, errors: FieldErrors) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if not isinstance(value, list):
        errors.append(_err("metadata.funding", "Not a valid list."))
        return out
    for i, f in enumerate(value):
        funder = (f.get("funder") or {}).get("id") if isinstance(f, dict) else None
        if not isinstance(funder, str) or vocabularies.funder_ror(funder) is None:
            errors.append(
                _err(f"metadata.funding.{i}.funder", f"Invalid value {funder}." if funder else MISSING)
            )
            continue
        award = f.get("award") if isinstance(f.get("award"), dict) else {}
        number = award.get("number")
        if isinstance(award.get("id"), str) and "::" in award["id"]:
            number = award["id"].split("::", 1)[1]
        if isinstance(number, str) and number.strip():
            out.append({"id": f"{vocabularies.funder_ror(funder)}::{number.strip()}"})
    return out


def _strings(md: dict[str, Any], out: dict[str, Any], errors: FieldErrors) -> None:
    for key in ("title", "description", "version"):
        if key in md:
            if isinstance(md[key], str):
                out[key] = md[key]
            else:
                errors.append(_err(f"metadata.{key}", "Not a valid string."))
    if "publication_date" in md:
        if _valid_date(md["publication_date"]):
            out["publication_date"] = md["publication_date"]
        else:
            errors.append(_err("metadata.publication_date", "Please provide a valid date or interval."))
    if isinstance(md.get("subjects"), list):
        out["keywords"] = [
            s["subject"] for s in md["subjects"] if isinstance(s, dict) and isinstance(s.get("subject"), str)
        ]
    notes = [d.get("description") for d in md.get("additional_descriptions") or [] if isinstance(d, dict)]
    if notes and isinstance(notes[0], str):
        out["notes"] = notes[0]


def from_native(body: dict[str, Any]) -> tuple[dict[str, Any], FieldErrors]:
    """The legacy deposit metadata for a native draft body (``metadata`` and ``access``) and the field errors
    of what was dropped (RDM saves a draft with invalid fields left out)."""
    md = body.get("metadata")
    errors: FieldErrors = []
    out: dict[str, Any] = {}
    if md is not None and not isinstance(md, dict):
        return {}, [_err("metadata", "Invalid input type.")]
    md = md or {}
    _strings(md, out, errors)
    if "resource_type" in md:
        _resource_type(md["resource_type"], out, errors)
    for field in ("creators", "contributors"):
        if field in md:
            people = _people(md[field], field, errors)
            if people:
                out[field] = people
    if "rights" in md:
        lic = _rights(md["rights"], errors)
        if lic:
            out["license"] = lic
    if "related_identifiers" in md:
        out["related_identifiers"] = _related(md["related_identifiers"], errors)
    if "funding" in md:
        out["grants"] = _funding(md["funding"], errors)
    access = body.get("access")
    if isinstance(access, dict) and access.get("files") == "restricted":
        out["access_right"] = "restricted"
    return _legacy_clean(out, errors)


def _legacy_clean(out: dict[str, Any], errors: FieldErrors) -> tuple[dict[str, Any], FieldErrors]:
    """Run the legacy checks too, dropping any field they refuse (never an exception)."""
    for _ in range(len(out) + 1):
        try:
            return clean_metadata(out), errors
        except MetadataError as exc:
            bad = {e["field"].split(".")[1] for e in exc.errors if e["field"].startswith("metadata.")}
            if not bad:  # a vocabulary value ("Invalid value X."): grants or contributors
                bad = {"grants", "contributors"} & set(out)
                errors.append(_err("metadata.funding", exc.message))
            else:
                errors.extend(exc.errors)
            for key in bad or set(out):
                out.pop(key, None)
    return {}, errors


# ---------------------------------------------------------------- legacy -> native


def _person(c: dict[str, Any]) -> dict[str, Any]:
    name = str(c.get("name") or "")
    po: dict[str, Any] = {"type": "personal", "name": name}
    if c.get(ORGANIZATIONAL):
        po["type"] = "organizational"
    elif name.count(",") == 1:
        family, given = (p.strip() for p in name.split(","))
        po.update(family_name=family, given_name=given)
    else:
        po["family_name"] = name
    if c.get("orcid"):
        po["identifiers"] = [{"scheme": "orcid", "identifier": c["orcid"]}]
    out: dict[str, Any] = {"person_or_org": po}
    if c.get("affiliation"):
        out["affiliations"] = [{"name": c["affiliation"]}]
    if c.get("type"):
        out["role"] = {"id": str(c["type"]).lower()}
    return out


def to_native(md: dict[str, Any]) -> dict[str, Any]:
    """Stored (legacy) metadata in the RDM schema."""
    out: dict[str, Any] = {}
    kind = md.get("upload_type")
    if kind:
        sub = md.get(f"{kind}_type") if kind in _SUBTYPED else None
        out["resource_type"] = {"id": f"{kind}-{sub}" if sub else kind}
    for key in ("title", "description", "publication_date", "version"):
        if md.get(key):
            out[key] = md[key]
    out["creators"] = [_person(c) for c in md.get("creators") or []]
    if md.get("contributors"):
        out["contributors"] = [_person(c) for c in md["contributors"]]
    lic = (md.get("license") or {}).get("id") if isinstance(md.get("license"), dict) else None
    if lic:
        out["rights"] = [{"id": vocabularies.rdm_license(lic) or lic}]
    if md.get("keywords"):
        out["subjects"] = [{"subject": k} for k in md["keywords"]]
    if md.get("related_identifiers"):
        out["related_identifiers"] = [
            {
                "identifier": r["identifier"],
                "scheme": r.get("scheme") or ("doi" if r["identifier"].startswith("10.") else "url"),
                "relation_type": {"id": str(r.get("relation") or "").lower()},
                **({"resource_type": {"id": r["resource_type"]}} if r.get("resource_type") else {}),
            }
            for r in md["related_identifiers"]
        ]
    if md.get("grants"):
        out["funding"] = []
        for g in md["grants"]:
            funder, number = g["id"].split("::", 1)
            ror = vocabularies.funder_ror(funder) or funder
            out["funding"].append(
                {"funder": {"id": ror}, "award": {"id": f"{ror}::{number}", "number": number}}
            )
    if md.get("notes"):
        out["additional_descriptions"] = [{"description": md["notes"], "type": {"id": "notes"}}]
    return out


def access_of(md: dict[str, Any]) -> dict[str, Any]:
    """The native ``access`` of stored metadata."""
    files = "public" if md.get("access_right", "open") in ("open",) else "restricted"
    return {"record": "public", "files": files, "status": "open" if files == "public" else "restricted"}


def publish_errors(md: dict[str, Any]) -> FieldErrors:
    """Native publish checks the legacy path does not make (it defaults the date)."""
    if not md.get("publication_date"):
        return [_err("metadata.publication_date", MISSING)]
    return []
