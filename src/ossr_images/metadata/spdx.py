"""SPDX licence identifiers: recognising what CodeMeta files write, and the bundled SPDX -> Zenodo table.

No network is used: the table ships in `ossr_images/data/spdx-zenodo-licenses.json`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

_SPDX_URL = re.compile(
    r"^https?://(?:www\.)?spdx\.org/licenses/([A-Za-z0-9.+-]+?)(?:\.html|\.json)?/?$", re.I
)
_OSI_URL = re.compile(
    r"^https?://(?:www\.)?opensource\.org/licenses?/([A-Za-z0-9.+-]+?)(?:\.php|\.html)?/?$", re.I
)
_SPDX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")
_EXPRESSION = re.compile(r"\s(?:AND|OR|WITH)\s|[()]")

# Trove classifier fragments -> the SPDX ids they most likely mean (a suggestion, never applied silently).
_CLASSIFIER_HINTS: list[tuple[str, list[str]]] = [
    ("affero general public license v3", ["AGPL-3.0-only", "AGPL-3.0-or-later"]),
    ("lesser general public license v3", ["LGPL-3.0-only", "LGPL-3.0-or-later"]),
    ("lesser general public license v2", ["LGPL-2.1-only", "LGPL-2.1-or-later"]),
    ("general public license v3", ["GPL-3.0-only", "GPL-3.0-or-later"]),
    ("general public license v2", ["GPL-2.0-only", "GPL-2.0-or-later"]),
    ("apache software license", ["Apache-2.0"]),
    ("mit license", ["MIT"]),
    ("bsd license", ["BSD-3-Clause", "BSD-2-Clause"]),
    ("mozilla public license 2.0", ["MPL-2.0"]),
    ("isc license", ["ISC"]),
    ("cecill", ["CECILL-2.1", "CECILL-B", "CECILL-C"]),
    ("european union public licence 1.2", ["EUPL-1.2"]),
]


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files("ossr_images").joinpath("data/spdx-zenodo-licenses.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _by_lower() -> dict[str, str]:
    return {key.lower(): key for key in _table()["licenses"]}


def canonical_id(spdx_id: str) -> str | None:
    """The bundled table's spelling of an SPDX id (case-insensitive), or None when it is not in the table."""
    return _by_lower().get(spdx_id.strip().lower())


def is_known(spdx_id: str) -> bool:
    """True when the id is in the bundled SPDX -> Zenodo table."""
    return canonical_id(spdx_id) is not None


def deprecated_replacements(spdx_id: str) -> list[str]:
    """The current ids that replace a deprecated SPDX id, the equivalent one first (GPL-2.0 ->
    [GPL-2.0-only, GPL-2.0-or-later]), or [] when it is not deprecated. "X+" of a deprecated GNU id X
    (e.g. AGPL-3.0+, never on the list itself) is read as X-or-later."""
    wanted = spdx_id.strip().lower()
    for key, value in _table()["deprecated"].items():
        if key.lower() == wanted:
            return list(value)
    if wanted.endswith("+") and deprecated_replacements(wanted[:-1]):
        later = canonical_id(f"{wanted[:-1]}-or-later")
        return [later] if later else []
    return []


def deprecated_replacement(spdx_id: str) -> str | None:
    """The id SPDX replaced a deprecated id with (GPL-3.0+ -> GPL-3.0-or-later), or None when the id is not
    deprecated. Zenodo refuses the deprecated "+" ids, so this is what gets sent."""
    replacements = deprecated_replacements(spdx_id)
    return replacements[0] if replacements else None


def zenodo_license_id(spdx_id: str) -> str:
    """The licence id to send to Zenodo for an SPDX id: a deprecated id becomes its replacement first
    (unknown ids pass through, lowercased)."""
    known = canonical_id(spdx_id) or canonical_id(deprecated_replacement(spdx_id) or "")
    if known is not None:
        return str(_table()["licenses"][known]["zenodo"])
    return spdx_id.strip().lower()


def zenodo_license_table() -> dict[str, str]:
    """Lower-case id -> the Zenodo licence id, for every SPDX id of the bundled table (and each Zenodo id
    itself), plus the deprecated SPDX ids the table lists (lower-cased, as Zenodo's legacy vocabulary spells
    them). The local stand-in accepts exactly these (plus Zenodo's own aliases), so that what `validate`
    accepts is what the stand-in accepts. Pure data: importing it pulls in nothing but the standard library."""
    out: dict[str, str] = {}
    for key, value in _table()["licenses"].items():
        zid = str(value["zenodo"])
        out[key.lower()] = zid
        out.setdefault(zid.lower(), zid)
    for key in _table()["deprecated"]:
        if not key.endswith("+"):
            out.setdefault(key.lower(), key.lower())
    return out


def known_licenses() -> dict[str, str]:
    """SPDX id -> full licence name, for every id in the bundled table."""
    return {key: value["name"] for key, value in _table()["licenses"].items()}


@dataclass
class LicenseReading:
    """What a CodeMeta `license` string turned out to be.

    kind: "id" (an SPDX id), "url" (an SPDX/OSI URL), "classifier" (a PyPI Trove classifier),
    "expression" (an SPDX expression such as "MIT OR Apache-2.0"), "other" (free text, e.g. "MIT + file LICENSE").
    spdx_id is set for "id" and "url" (a deprecated id is replaced by its successor); severity/message/hint describe a problem, when there is one.
    """

    value: str
    kind: str
    spdx_id: str | None = None
    severity: str | None = None
    message: str = ""
    hint: str = ""
    suggestions: list[str] = field(default_factory=list)


def _suggest_url(ids: list[str]) -> str:
    return " or ".join(f'"https://spdx.org/licenses/{i}"' for i in ids)


def read_license(value: str) -> LicenseReading:
    """Recognise an SPDX id, an SPDX URL (with or without .html), a classifier or free text; never raises."""
    text = value.strip()
    match = _SPDX_URL.match(text) or _OSI_URL.match(text)
    if match:
        reading = LicenseReading(value, "url", match.group(1))
    elif "::" in text or text.lower().startswith("license ::"):
        ids = _classifier_suggestions(text)
        return LicenseReading(
            value,
            "classifier",
            None,
            "error",
            f"licence {text!r} is a PyPI classifier, not an SPDX licence identifier",
            f"write the SPDX URL, e.g. {_suggest_url(ids)}"
            if ids
            else 'write an SPDX URL such as "https://spdx.org/licenses/MIT"',
            ids,
        )
    elif _EXPRESSION.search(f" {text} "):
        return LicenseReading(
            value,
            "expression",
            None,
            "error",
            f"licence {text!r} is an SPDX expression; Zenodo records a single licence id",
            "give the licence ids as a list (the first one goes to Zenodo), e.g. "
            '["https://spdx.org/licenses/MIT", "https://spdx.org/licenses/Apache-2.0"]',
        )
    elif _SPDX_ID.match(text):
        reading = LicenseReading(value, "id", text)
    else:
        ids = _classifier_suggestions(text) or (
            [text.split()[0]] if text and is_known(text.split()[0]) else []
        )
        return LicenseReading(
            value,
            "other",
            None,
            "error",
            f"licence {text!r} is not an SPDX licence identifier or URL",
            f"write the SPDX URL, e.g. {_suggest_url(ids)}"
            if ids
            else 'write an SPDX URL such as "https://spdx.org/licenses/MIT" (list: https://spdx.org/licenses/)',
            ids,
        )
    assert reading.spdx_id is not None
    known = canonical_id(reading.spdx_id)
    replacements = deprecated_replacements(reading.spdx_id)
    if known is not None:
        reading.spdx_id = known
    elif replacements:
        deprecated, sent = reading.spdx_id, replacements[0]
        reading.spdx_id = sent
        reading.severity = "warning"
        reading.message = f"licence {deprecated!r} is a deprecated SPDX id; it is sent as {sent}"
        reading.hint = f"write {_suggest_url([sent])}" + (
            f" (or {_suggest_url(replacements[1:])} if that is what you meant)" if replacements[1:] else ""
        )
        reading.suggestions = replacements
    else:
        reading.severity = "warning"
        reading.message = (
            f"licence {reading.spdx_id!r} is not in the bundled SPDX -> Zenodo table; Zenodo may refuse it"
        )
        reading.hint = "check the id at https://spdx.org/licenses/ (ids are case-sensitive there)"
    return reading


def _classifier_suggestions(text: str) -> list[str]:
    low = text.lower()
    for fragment, ids in _CLASSIFIER_HINTS:
        if fragment in low:
            return ids
    return []
