"""CodeMeta `funding` (+ `funder`) -> Zenodo grant ids "<funder DOI>::<award number>".

Zenodo's deposit API takes `grants: [{"id": "10.13039/501100000780::824064"}]` (a bare number means the
European Commission). Zenodo-RDM turns the funder DOI into a ROR id through a fixed table and looks the award
up in its awards vocabulary; a funder outside that table or an unknown award makes the whole deposit update
fail with 400 "Invalid value ...". So a grant is sent only when both the funder and the award number are
explicit or unambiguous; everything else becomes a warning with the JSON pointer of the value, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

EC_DOI = "10.13039/501100000780"
ESCAPE_GRANT_ID = f"{EC_DOI}::824064"

# The funder DOIs Zenodo-RDM's legacy deposit API maps (zenodo_legacy.funders.FUNDER_DOI_TO_ROR): DOI -> ROR.
ZENODO_FUNDERS: dict[str, str] = {
    "10.13039/501100001665": "00rbzpz17",
    "10.13039/501100002341": "05k73zm37",
    "10.13039/501100000923": "05mmh0f86",
    "10.13039/100018231": "03zj4c476",
    "10.13039/501100000024": "01gavpb45",
    "10.13039/501100000780": "00k4n6c32",
    "10.13039/501100000806": "02k4b9v70",
    "10.13039/501100001871": "00snfqn58",
    "10.13039/501100002428": "013tf3c58",
    "10.13039/501100004488": "03n51vw80",
    "10.13039/501100004564": "01znas443",
    "10.13039/501100000925": "011kf5r70",
    "10.13039/100000002": "01cwqze88",
    "10.13039/501100000038": "01h531d29",
    "10.13039/100000001": "021nxhr62",
    "10.13039/501100003246": "04jsz6e67",
    "10.13039/501100000690": "001aqnf71",
    "10.13039/100014013": "001aqnf71",
    "10.13039/501100001602": "0271asj38",
    "10.13039/501100001711": "00yjd3n13",
    "10.13039/100001345": "006cvnv84",
    "10.13039/501100004410": "04w9kkr77",
    "10.13039/100004440": "029chgv08",
    "10.13039/501100006364": "03m8vkq32",
    "10.13039/501100011730": "00x0z1472",
}  # fmt: skip
_ROR_TO_DOI = {ror: doi for doi, ror in reversed(ZENODO_FUNDERS.items())}
_ROR_TO_DOI["00k4n6c32"] = EC_DOI

_FUNDER_DOI = re.compile(r"(?:^|doi\.org/|doi:)(10\.13039/\d+)/?$", re.I)
_ROR = re.compile(r"(?:^|ror\.org/)(0[a-z0-9]{6}\d{2})/?$", re.I)
_CORDIS = re.compile(r"(?:^|doi\.org/|doi:)10\.3030/(\d+)/?$|cordis\.europa\.eu/project/id/(\d+)", re.I)
_PAIR = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/[^\s:]+|0[a-z0-9]{6}\d{2})::(\S+)$", re.I)
_CODE = re.compile(r"^[A-Za-z0-9][\w.\-/]*$")
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.\-/])(\d{5,})(?![\w\-/]|\.\d)")
# Names that say "the European Commission" (Zenodo files H2020, Horizon Europe and ERC awards under it).
_EC_NAME = re.compile(
    r"european (commission|union|research council)|horizon[ -]?(2020|europe)|\bh2020\b|\bfp7\b", re.I
)

_HINT_OBJECT = (
    'write {"@type": "Grant", "identifier": "<award number>", '
    '"funder": {"@type": "Organization", "@id": "https://doi.org/10.13039/<funder id>"}}'
)


class Grant(BaseModel):
    """One award for Zenodo: the funder's Crossref funder DOI and the award number."""

    funder_doi: str
    number: str
    name: str | None = None

    @property
    def zenodo_id(self) -> str:
        """The id of Zenodo's `grants` list: "<funder DOI>::<number>"."""
        return f"{self.funder_doi}::{self.number}"


Add = Callable[[str, str, str, str], None]


def _texts(value: Any) -> list[str]:
    """Strings of a value: a string, a number, a PropertyValue's value, or a list of them."""
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [str(value)]
    if isinstance(value, dict):
        return _texts(value.get("value") or value.get("@id") or value.get("id"))
    return [value.strip()] if isinstance(value, str) and value.strip() else []


def funder_doi(item: Any) -> str | None:
    """The Crossref funder DOI of a funder (an Organization object, its ROR or DOI, or a string), if stated.

    A funder whose own `funder` is stated (an ESCAPE-style project organisation funded by the EC) gives that
    funder's DOI when it has none itself."""
    if isinstance(item, list):
        found = {d for d in (funder_doi(i) for i in item) if d}
        return found.pop() if len(found) == 1 else None
    candidates = _texts(item) if not isinstance(item, dict) else []
    if isinstance(item, dict):
        for key in ("@id", "id", "identifier", "sameAs", "url"):
            candidates += _texts(item.get(key))
    for text in candidates:
        m = _FUNDER_DOI.search(text)
        if m:
            return m.group(1)
        m = _ROR.search(text)
        if m and m.group(1).lower() in _ROR_TO_DOI:
            return _ROR_TO_DOI[m.group(1).lower()]
    if isinstance(item, dict) and item.get("funder") is not None and item.get("funder") is not item:
        return funder_doi(item["funder"])
    return None


def _names(item: Any) -> list[str]:
    if isinstance(item, list):
        return [n for i in item for n in _names(i)]
    if isinstance(item, str):
        return [item]
    if isinstance(item, dict):
        own = [v for v in (item.get("name"), item.get("legalName")) if isinstance(v, str)]
        return own + _names(item.get("funder"))
    return []


class _Context:
    """The file's top-level `funder`: the funder of awards that do not name their own."""

    def __init__(self, funder: Any) -> None:
        items = funder if isinstance(funder, list) else [funder] if funder is not None else []
        self.dois = sorted({d for d in (funder_doi(i) for i in items) if d})
        self.ec_by_name = any(_EC_NAME.search(n) for n in _names(items))

    def funder(self) -> tuple[str | None, str]:
        """(DOI, why not) for an award that names no funder."""
        if len(self.dois) == 1:
            return self.dois[0], ""
        if len(self.dois) > 1:
            return None, f"the file names {len(self.dois)} funders ({', '.join(self.dois)}) and it names none"
        if self.ec_by_name:
            return EC_DOI, ""
        return None, "no funder DOI is given for it"


def read_funding(raw: dict[str, Any], add: Add) -> tuple[list[Grant], list[tuple[str, Any]]]:
    """The grants of `funding` (any CodeMeta form) and the funders named inside it as (pointer, value).

    `add(pointer, severity, message, hint)` receives a warning for each value that is not sent to Zenodo or
    is read from free text."""
    value = raw.get("funding")
    context = _Context(raw.get("funder"))
    grants: dict[str, Grant] = {}
    nested: list[tuple[str, Any]] = []
    items = (
        [(f"/funding/{i}", v) for i, v in enumerate(value)]
        if isinstance(value, list)
        else [("/funding", value)]
    )
    for ptr, item in items:
        if item is None:
            continue
        if isinstance(item, dict):
            grant = _from_object(item, ptr, context, add, nested)
        elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
            grant = _from_text(str(item).strip(), ptr, None, context, add)
        else:
            add(ptr, "warning", "funding must be a string or a Grant object; it is ignored", _HINT_OBJECT)
            grant = None
        if grant is not None and grant.zenodo_id not in grants:
            grants[grant.zenodo_id] = grant
    return list(grants.values()), nested


def _from_object(item: dict[str, Any], ptr: str, context: _Context, add: Add, nested: list) -> Grant | None:
    own = item.get("funder")
    if own is not None:
        nested.extend(
            [(f"{ptr}/funder/{i}", f) for i, f in enumerate(own)]
            if isinstance(own, list)
            else [(f"{ptr}/funder", own)]
        )
    name = item.get("name") if isinstance(item.get("name"), str) else None
    own_doi = funder_doi(own) if own is not None else None
    for key in ("identifier", "@id", "id", "url", "sameAs"):
        for text in _texts(item.get(key)):
            if key != "identifier" and not (_CORDIS.search(text) or _PAIR.match(text)):
                continue
            return _from_text(text, f"{ptr}/{key}", own_doi, context, add, name=name, strict=True)
    add(
        ptr,
        "warning",
        "funding object has no award number (identifier); it is not sent to Zenodo",
        'add "identifier": "<award number>" (Zenodo links awards by funder and number)',
    )
    return None


def _from_text(
    text: str,
    ptr: str,
    own_doi: str | None,
    context: _Context,
    add: Add,
    *,
    name: str | None = None,
    strict: bool = False,
) -> Grant | None:
    """One award from a string; `strict` for an object's identifier (a code, never free text)."""
    if not text:
        return None
    m = _PAIR.match(text)
    if m:
        prefix, number = m.group(1), m.group(2)
        if _ROR.match(prefix) and prefix.lower() in _ROR_TO_DOI:
            return _known(_ROR_TO_DOI[prefix.lower()], number, name, ptr, text, add)
        if prefix.lower().startswith("10.3030/"):
            add(
                ptr,
                "warning",
                f"funding {text!r}: {prefix} is a CORDIS project DOI, not a funder DOI; "
                f"read as European Commission grant {number}",
                f'write "{EC_DOI}::{number}"',
            )
            return _known(EC_DOI, number, name, ptr, text, add)
        return _known(prefix, number, name, ptr, text, add)
    m = _CORDIS.search(text)
    if m:
        return _known(EC_DOI, m.group(1) or m.group(2), name, ptr, text, add)
    if _CODE.match(text) and any(ch.isdigit() for ch in text):
        number, free = text, False
    elif strict:
        add(
            ptr,
            "warning",
            f"award identifier {text!r} is not an award number; not sent to Zenodo",
            _HINT_OBJECT,
        )
        return None
    else:
        found = _NUMBER_IN_TEXT.findall(text)
        if len(found) != 1:
            add(
                ptr,
                "warning",
                f"funding {text!r} is free text without one clear award number; it is not sent to Zenodo",
                _HINT_OBJECT,
            )
            return None
        number, free = found[0], True
    doi, why = (own_doi, "") if own_doi else context.funder()
    if doi is None:
        add(ptr, "warning", f"funding {text!r}: {why}; it is not sent to Zenodo", _HINT_OBJECT)
        return None
    if free:
        add(
            ptr,
            "warning",
            f"funding {text!r} is free text; read as award {number} of funder {doi}",
            f'write "{doi}::{number}" or a Grant object to say it exactly',
        )
    return _known(doi, number, name, ptr, text, add)


def _known(doi: str, number: str, name: str | None, ptr: str, text: str, add: Add) -> Grant | None:
    if doi not in ZENODO_FUNDERS:
        add(
            ptr,
            "warning",
            f"funding {text!r}: funder {doi} is not one Zenodo's deposit API can link; it is not sent to Zenodo",
            "add the award on the Zenodo record page (Funding) after publishing",
        )
        return None
    return Grant(funder_doi=doi, number=number, name=name)
