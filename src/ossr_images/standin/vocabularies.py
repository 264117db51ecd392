"""The stand-in's licence and funder vocabularies, read from its own data files (``standin/data``, taken
from zenodo-rdm; see the README there), never from the client's crosswalk tables."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=2)
def _load(name: str) -> dict[str, Any]:
    text = resources.files("ossr_images.standin").joinpath(f"data/{name}").read_text("utf-8")
    return json.loads(text)


def rdm_license(value: str) -> str | None:
    """The RDM licence id zenodo.org stores for a deposit's licence (``legacy_to_rdm``), None if refused."""
    data = _load("zenodo-licenses.json")
    normalized = value.strip().lower()
    return data["legacy_to_rdm"].get(data["aliases"].get(normalized, normalized).lower())


@lru_cache(maxsize=1)
def _rdm_to_legacy() -> dict[str, str]:
    return {rdm: legacy for legacy, rdm in _load("zenodo-licenses.json")["legacy_to_rdm"].items()}


def legacy_license(value: str) -> str | None:
    """The licence id a deposit reads back for what it was given (``rdm_to_legacy(legacy_to_rdm(x))``)."""
    rdm = rdm_license(value)
    return _rdm_to_legacy().get(rdm) if rdm else None


def accepted_licenses() -> set[str]:
    """Every licence id (lower case, aliases included) zenodo.org's deposit API accepts."""
    data = _load("zenodo-licenses.json")
    aliases = {a for a, target in data["aliases"].items() if target.lower() in data["legacy_to_rdm"]}
    return set(data["legacy_to_rdm"]) | aliases


def rdm_licenses() -> set[str]:
    """The RDM licence ids a deposit's licence can become."""
    return set(_load("zenodo-licenses.json")["legacy_to_rdm"].values())


def funder_ror(funder: str) -> str | None:
    """The ROR id zenodo.org maps the funder of a legacy grant id to (a mapped funder DOI, or one of those
    funders' ROR ids, which zenodo-rdm passes through), None for a funder the stand-in does not know."""
    mapping = _load("zenodo-funders.json")["doi_to_ror"]
    return mapping.get(funder) or (funder if funder in mapping.values() else None)


def funder_dois() -> set[str]:
    """The funder DOIs a legacy grant id may name."""
    return set(_load("zenodo-funders.json")["doi_to_ror"])


def grant_read_shape(grant_id: str) -> dict[str, Any]:
    """A deposit's grant ``<funder DOI>::<number>`` as a record shows it (zenodo-rdm's ``_grant``): code,
    internal_id, funder (name, doi, acronym; the name is the acronym when the bundled funders list lacks it),
    and the award's title, acronym, program and url when the bundled awards list has them."""
    data = _load("zenodo-funders.json")
    funder_doi, number = grant_id.split("::", 1)
    ror = data["doi_to_ror"].get(funder_doi, funder_doi)
    known = data.get("funders", {}).get(ror, {})
    acronym = data["acronyms"].get(funder_doi) or known.get("acronym")
    funder: dict[str, Any] = {"name": known.get("name") or acronym or funder_doi, "doi": funder_doi}
    if known.get("country"):
        funder["country"] = known["country"]
    if acronym:
        funder["acronym"] = acronym
    grant: dict[str, Any] = {"code": number, "internal_id": grant_id, "funder": funder}
    award = data.get("awards", {}).get(f"{ror}::{number}", {})
    for key in ("title", "acronym", "program", "url"):
        if award.get(key):
            grant[key] = award[key]
    return grant


def license_entry(rdm_id: str) -> dict[str, Any] | None:
    """``GET /api/vocabularies/licenses/<id>``: an RDM licence (id and English title), None if unknown."""
    title = _load("zenodo-licenses.json")["rdm_titles"].get(rdm_id.strip().lower())
    if title is None:
        return None
    return {"id": rdm_id.strip().lower(), "title": {"en": title}, "type": "licenses"}


def funder_entry(ror: str) -> dict[str, Any] | None:
    """``GET /api/funders/<ror>``: a funder of the bundled funders list, None if unknown."""
    data = _load("zenodo-funders.json")
    known = data.get("funders", {}).get(ror.strip())
    if known is None:
        return None
    dois = [doi for doi, r in data["doi_to_ror"].items() if r == ror.strip()]
    identifiers = [{"scheme": "ror", "identifier": ror.strip()}] + [
        {"scheme": "doi", "identifier": d} for d in dois
    ]
    return {"id": ror.strip(), "name": known["name"], "title": {"en": known["name"]},
            "country": known.get("country"), "identifiers": identifiers}  # fmt: skip


def _page(entries: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
    window = entries[(page - 1) * size : page * size]
    return {
        "hits": {"hits": window, "total": len(entries)},
        "aggregations": {},
        "links": {},
        "sortBy": "bestmatch",
    }


def _wanted(q: str, *texts: str) -> bool:
    words = [w for w in q.lower().replace('"', " ").split() if w not in ("and", "or")]
    haystack = " ".join(texts).lower()
    return all(w.strip("*") in haystack for w in words)


def search_licenses(q: str, page: int, size: int) -> dict[str, Any]:
    """``GET /api/vocabularies/licenses?q=``: the licences whose id or title holds every word of ``q``."""
    titles = _load("zenodo-licenses.json")["rdm_titles"]
    entries = [license_entry(i) or {} for i in sorted(titles) if _wanted(q, i, titles[i])]
    return _page(entries, page, size)


def search_funders(q: str, page: int, size: int) -> dict[str, Any]:
    """``GET /api/funders?q=``: the bundled funders whose id, name or acronym holds every word of ``q``."""
    funders = _load("zenodo-funders.json").get("funders", {})
    entries = [
        funder_entry(ror) or {}
        for ror, f in sorted(funders.items())
        if _wanted(q, ror, f["name"], f.get("acronym", ""))
    ]
    return _page(entries, page, size)
