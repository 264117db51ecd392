"""Read codemeta.json files the way real projects write them, and report every problem at once.

`load_codemeta(path)` never raises for bad content: it returns a `CodeMetaReport` whose `problems` each carry
a JSON pointer into the file, a severity, a message and a hint. Structure is checked with the JSON Schema
`schemas/codemeta-input.schema.json`; meaning (licences, ORCIDs, versions, dates, contexts) is checked here,
and what passes is normalised into the pydantic `CodeMeta` model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from pydantic import BaseModel, Field

from ossr_images.errors import HasProblems, InvalidInputError, Problem
from ossr_images.metadata import spdx
from ossr_images.metadata.funding import Grant, read_funding

SCHEMA_RESOURCE = "schemas/codemeta-input.schema.json"
SOFTWARE_TYPES = ("SoftwareSourceCode", "SoftwareApplication")


# --------------------------------------------------------------------------------------------- models
class Agent(BaseModel):
    """A person or organization (author, maintainer, contributor), normalised."""

    kind: Literal["Person", "Organization"] = "Person"
    given_name: str | None = None
    family_name: str | None = None
    name: str | None = None
    affiliations: list[str] = Field(default_factory=list)
    orcid: str | None = None  # bare: 0000-0002-1825-0097
    email: str | None = None

    @property
    def display_name(self) -> str:
        """'Given Family' for a person, the name otherwise."""
        if self.given_name or self.family_name:
            return " ".join(p for p in (self.given_name, self.family_name) if p)
        return self.name or ""

    @property
    def zenodo_name(self) -> str:
        """The name as Zenodo wants it: 'Family, Given' for a person, the plain name for an organization."""
        if self.kind == "Person" and self.family_name:
            return f"{self.family_name}, {self.given_name}" if self.given_name else self.family_name
        return self.name or self.display_name


class CodeMeta(BaseModel):
    """What ossr-images uses from a codemeta.json, normalised (one shape whatever the file's variant)."""

    name: str | None = None
    description: str | None = None
    version: str | None = None  # as written: a leading 'v' is kept
    licenses: list[str] = Field(default_factory=list)  # SPDX ids
    authors: list[Agent] = Field(default_factory=list)
    maintainers: list[Agent] = Field(default_factory=list)
    contributors: list[Agent] = Field(default_factory=list)
    copyright_holders: list[Agent] = Field(default_factory=list)
    funders: list[Agent] = Field(default_factory=list)  # `funder`, then funders named inside `funding`
    grants: list[Grant] = Field(default_factory=list)  # only awards Zenodo can link (see metadata.funding)
    keywords: list[str] = Field(default_factory=list)
    code_repository: str | None = None
    identifier: str | None = None
    url: str | None = None
    readme: str | None = None
    date_published: date | None = None
    context_version: str = "unknown"  # "2.0", "3.0", "3.1", "1.0", "2.0-draft" or "unknown"


@dataclass
class CodeMetaReport(HasProblems):
    """The outcome of reading one codemeta.json: the raw JSON (None if unparsable), the normalised model
    (None if unparsable) and every problem found."""

    raw: dict[str, Any] | None
    codemeta: CodeMeta | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return self.codemeta is not None and not self.errors


# --------------------------------------------------------------------------------------------- entry points
def load_codemeta(path: Path | str) -> CodeMetaReport:
    """Read and check a codemeta.json file. Raises InvalidInputError only when the file cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(
            f"CodeMeta file not found: {path}",
            "Give the path of the project's codemeta.json (default: ./codemeta.json); "
            "https://codemeta.github.io/create/ generates one.",
        ) from None
    except IsADirectoryError:
        raise InvalidInputError(
            f"{path} is a directory, not a CodeMeta file", f"Give the file itself, e.g. {path}/codemeta.json."
        ) from None
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read CodeMeta file {path}: {exc.strerror}", "Check the path and its permissions."
        ) from None
    return parse_codemeta(data, source=str(path))


def parse_codemeta(data: bytes | str, *, source: str = "codemeta.json") -> CodeMetaReport:
    """Check CodeMeta JSON given as bytes or text (see load_codemeta); never raises for bad content."""
    problems: list[Problem] = []

    def add(path: str, severity: str, message: str, hint: str = "") -> None:
        problems.append(Problem(path, severity, message, hint, source=source))

    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            add("", "error", f"{source} is not UTF-8 text (byte {exc.start})", "Save the file as UTF-8.")
            return CodeMetaReport(None, None, problems)
    else:
        text = data
    try:
        raw = json.loads(text, object_pairs_hook=_DupDict.from_pairs)
    except json.JSONDecodeError as exc:
        add("", "error", _json_error_message(source, text, exc), _json_error_hint(text, exc))
        return CodeMetaReport(None, None, problems)
    except RecursionError:
        raw = _TOO_DEEP
    if raw is _TOO_DEEP or _too_deep(raw):
        add(
            "",
            "error",
            f"{source} nests arrays or objects more than {MAX_DEPTH} levels deep",
            "A CodeMeta file is a few levels deep: check that the file is the right one.",
        )
        return CodeMetaReport(None, None, problems)
    if not isinstance(raw, dict):
        add(
            "",
            "error",
            f"{source} holds a JSON {type(raw).__name__}, not an object",
            'A CodeMeta file is one JSON object: {"@context": ..., "@type": "SoftwareSourceCode", ...}.',
        )
        return CodeMetaReport(None, None, problems)

    for pointer, key in _duplicates(raw, ""):
        add(
            f"{pointer}/{_escape(key)}",
            "warning",
            f"key {key!r} appears more than once; the last value is used",
            "Remove the duplicate key (many JSON readers reject such files).",
        )
    problems.extend(_schema_problems(raw, source))
    codemeta = _normalise(raw, add, {p.path for p in problems})
    return CodeMetaReport(raw, codemeta, problems)


# --------------------------------------------------------------------------------------------- JSON
class _DupDict(dict):  # type: ignore[type-arg]
    """A dict that remembers the keys that appeared more than once in the JSON text."""

    dups: list[str]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _DupDict:
        obj = cls()
        obj.dups = []
        for key, value in pairs:
            if key in obj and key not in obj.dups:
                obj.dups.append(key)
            obj[key] = value
        return obj


def _duplicates(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, _DupDict):
        for key in node.dups:
            yield pointer, key
        for key, value in node.items():
            yield from _duplicates(value, f"{pointer}/{_escape(key)}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _duplicates(value, f"{pointer}/{i}")


MAX_DEPTH = 64
_TOO_DEEP = object()


def _too_deep(node: Any) -> bool:
    """True when the JSON nests deeper than MAX_DEPTH (checked without recursion)."""
    stack = [(node, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False


def _json_error_message(source: str, text: str, exc: json.JSONDecodeError) -> str:
    return f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"


def _json_error_hint(text: str, exc: json.JSONDecodeError) -> str:
    before = text[: exc.pos].rstrip()
    if before.endswith(",") and text[exc.pos : exc.pos + 1] in ("}", "]"):
        return f"Remove the trailing comma before line {exc.lineno}, column {exc.colno}."
    if not text.strip():
        return "The file is empty: write a CodeMeta JSON object (see examples/hello/codemeta.json)."
    return "Fix the syntax at that position (a trailing comma or a missing quote is common), then run again."


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _pointer(parts: Iterable[Any]) -> str:
    return "".join(f"/{_escape(str(p))}" for p in parts)


# --------------------------------------------------------------------------------------------- schema
@lru_cache(maxsize=1)
def codemeta_schema() -> dict[str, Any]:
    """The bundled JSON Schema for what ossr-images needs from CodeMeta."""
    text = resources.files("ossr_images").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(codemeta_schema())


def _schema_problems(raw: dict[str, Any], source: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for error in _validator().iter_errors(raw):
        for problem in _translate(error, raw, source):
            if (problem.path, problem.message) not in seen:
                seen.add((problem.path, problem.message))
                problems.append(problem)
    return problems


def _translate(
    error: ValidationError, raw: dict[str, Any], source: str, outer: dict[str, Any] | None = None
) -> list[Problem]:
    """One jsonschema error -> problems with the most precise pointer and our own words.

    Words come from the failing schema's x-message/x-hint; a shared definition ($defs) or a bare check
    inside one has none, so the enclosing anyOf's (outer), then the top-level key's, stand in: every
    problem says what to write. "{key}" in an x-message is the top-level key ($defs serve several keys)."""
    location = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("anyOf", "oneOf") and error.context:
        deeper = _matching_branch(error)
        if deeper:
            inner = schema if "x-message" in schema or "x-hint" in schema else outer
            out: list[Problem] = []
            for sub in deeper:
                out.extend(_translate(sub, raw, source, inner))
            return out
    key = str(location[0]) if location else ""
    top = codemeta_schema()["properties"].get(key, {}) if key else {}
    outer = outer or top
    fallback_hint = schema.get("x-hint") or outer.get("x-hint") or top.get("x-hint", "")
    if error.validator == "required":
        missing = [
            k for k in error.validator_value if not (isinstance(error.instance, dict) and k in error.instance)
        ]
        props = schema.get("properties", {})
        out = []
        for name in missing:
            hint = props.get(name, {}).get("x-hint", "")
            if not hint and not location:  # e.g. "version" required by an if/then branch
                hint = codemeta_schema()["properties"].get(name, {}).get("x-hint", "")
            message = f"required key {name!r} is missing" + (f" in {key}" if key else "")
            if not location:
                message, hint = _missing_top_level(name, raw, message, hint)
            out.append(
                Problem(_pointer([*location, name]), "error", message, hint or fallback_hint, source=source)
            )
        return out
    if "x-missing" in schema:
        return [
            Problem(
                _pointer([*location, schema["x-missing"]]),
                "error",
                _key_in(schema.get("x-message") or error.message, key),
                fallback_hint,
                source=source,
            )
        ]
    own = schema.get("x-message") or (top.get("x-message") if len(location) == 1 else None)
    message = _key_in(own or _plain_message(error) or outer.get("x-message") or top.get("x-message", ""), key)
    if error.validator == "pattern" and isinstance(error.instance, str):
        message = f"{message}; got {error.instance!r}"
    return [Problem(_pointer(location), "error", message or error.message, fallback_hint, source=source)]


def _key_in(message: str, key: str) -> str:
    """An x-message with "{key}" filled in (x-messages are plain text, not format strings: JSON has braces)."""
    return message.replace("{key}", key or "the entry")


def _matching_branch(error: ValidationError) -> list[ValidationError]:
    """For a failed anyOf/oneOf: the errors of the one branch whose shape matched (its errors are deeper, or
    are a nested anyOf with such a branch, e.g. one funder object: agentOrName inside funder's anyOf)."""
    depth = len(error.absolute_path)
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def deeper(e: ValidationError) -> bool:
        if len(e.absolute_path) > depth:
            return True
        return e.validator in ("anyOf", "oneOf") and bool(e.context) and bool(_matching_branch(e))

    candidates = [errs for errs in branches.values() if all(deeper(e) for e in errs)]
    return candidates[0] if len(candidates) == 1 else []


_JSON_TYPES = {bool: "boolean", int: "number", float: "number", str: "string", dict: "object", list: "array"}


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type ("null", "object", ...: never a Python class name)."""
    if value is None:
        return "null"
    return next((name for cls, name in _JSON_TYPES.items() if isinstance(value, cls)), type(value).__name__)


def _plain_message(error: ValidationError) -> str:
    """Words for a check without x-message: a type or an empty list, named by the pointer; else ""."""
    where = _pointer(error.absolute_path) or "the document"
    if error.validator == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return f"{where} must be of type {wanted}, not {_json_type(error.instance)}"
    if error.validator == "minItems":
        return f"{where} must not be empty"
    return ""


def _missing_top_level(key: str, raw: dict[str, Any], message: str, hint: str) -> tuple[str, str]:
    """Friendlier words when a legacy or neighbouring key tells what the author meant."""
    if key == "license" and "licenseId" in raw:
        value = str(raw["licenseId"])
        reading = spdx.read_license(value)
        suggestion = reading.suggestions[0] if reading.suggestions else (reading.spdx_id or "MIT")
        return (
            f"required key 'license' is missing (found the legacy key licenseId: {value!r})",
            f'replace licenseId with "license": "https://spdx.org/licenses/{suggestion}"',
        )
    if key == "author" and "creator" in raw:
        return (
            "required key 'author' is missing (found 'creator', which CodeMeta does not define)",
            "rename creator to author",
        )
    if key == "version" and "softwareVersion" not in raw:
        return "no version: give version (or softwareVersion)", hint
    if key == "codeRepository":
        for other in ("url", "downloadUrl", "issueTracker"):
            value = raw.get(other)
            if isinstance(value, str) and re.match(r"https?://(github\.com|gitlab\.)", value):
                base = "/".join(value.split("/")[:5]).removesuffix(".git")
                return message, f'add "codeRepository": "{base}" (from {other})'
    return message, hint


# --------------------------------------------------------------------------------------------- contexts
_CONTEXTS: list[tuple[re.Pattern[str], str, str | None]] = [
    (re.compile(r"^doi\.org/10\.5063/schema/codemeta-2\.0$"), "2.0", None),
    (re.compile(r"^purl\.org/codemeta/2\.0$"), "2.0", None),
    (re.compile(r"^w3id\.org/codemeta/(?:v)?3\.0$"), "3.0", None),
    (re.compile(r"^w3id\.org/codemeta/(?:v)?3\.1$"), "3.1", None),
    (
        re.compile(r"^(?:dx\.)?doi\.org/doi:10\.5063/schema/codemeta-2\.0$"),
        "2.0",
        "malformed CodeMeta 2.0 context URL {url!r} (a 'doi:' inside a doi.org URL)",
    ),
    (
        re.compile(
            r"^raw\.githubusercontent\.com/codemeta/codemeta/(?:v)?(2\.0|3\.0|3\.1)/codemeta\.jsonld$"
        ),
        "\\1",
        "context {url!r} is a raw GitHub URL, not the canonical CodeMeta context",
    ),
    (
        re.compile(r"^raw\.githubusercontent\.com/codemeta/codemeta/[^/]+/codemeta-v2\.jsonld$"),
        "2.0-draft",
        "context {url!r} is a 2017 draft of CodeMeta 2.0 (raw GitHub URL); it is read as 2.0",
    ),
    (
        re.compile(r"^raw\.githubusercontent\.com/codemeta/codemeta/[^/]+/codemeta\.jsonld$"),
        "1.0",
        "context {url!r} is the pre-2.0 (1.0) CodeMeta context from GitHub; it is read as 2.0",
    ),
    (
        re.compile(r"^(?:w3id\.org|purl\.org)/codemeta/(?:v)?1\.0$"),
        "1.0",
        "CodeMeta 1.0 context; read as 2.0",
    ),
]
_SCHEMA_ORG = re.compile(r"^schema\.org$")
_CONTEXT_HINT = (
    'use "@context": "https://w3id.org/codemeta/3.0" (or "https://doi.org/10.5063/schema/codemeta-2.0")'
)


def _context_key(url: str) -> str:
    key = re.sub(r"^https?://", "", url.strip(), flags=re.I)
    key = re.sub(r"^www\.", "", key, flags=re.I)
    return key.rstrip("/").lower()


def _read_context(raw: dict[str, Any], add: Any) -> str:
    ctx = raw.get("@context")
    if ctx is None:
        add(
            "/@context",
            "warning",
            "no @context: this is not JSON-LD CodeMeta; it is read as CodeMeta 2.0",
            _CONTEXT_HINT,
        )
        return "unknown"
    items = ctx if isinstance(ctx, list) else [ctx]
    found: list[tuple[int, str, str | None, str]] = []
    unknown: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            continue  # inline context objects add terms; they do not change the version
        key = _context_key(item)
        if _SCHEMA_ORG.match(key):
            continue
        for pattern, version, warning in _CONTEXTS:
            m = pattern.match(key)
            if m:
                found.append((i, m.expand(version), warning, item))
                break
        else:
            unknown.append((i, item))
    base = "/@context" + ("/{}" if isinstance(ctx, list) else "")
    for i, item in unknown:
        add(
            base.format(i),
            "warning",
            f"unknown @context {item!r}; the file is read as CodeMeta 2.0",
            _CONTEXT_HINT,
        )
    if not found:
        if not unknown:
            add(
                "/@context",
                "warning",
                "@context names no CodeMeta version; the file is read as CodeMeta 2.0",
                _CONTEXT_HINT,
            )
        return "unknown"
    i, version, warning, item = found[0]
    if warning:
        add(base.format(i), "warning", warning.format(url=item), _CONTEXT_HINT)
    return version


# --------------------------------------------------------------------------------------------- values
_ORCID = re.compile(r"(?:^|orcid\.org/)(\d{4}-\d{4}-\d{4}-\d{3}[\dXx])/?$")


def orcid_checksum_ok(orcid: str) -> bool:
    """ISO 7064 11,2 check digit of a bare ORCID (0000-0002-1825-0097)."""
    digits = orcid.replace("-", "")
    total = 0
    for ch in digits[:-1]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    return digits[-1].upper() == ("X" if check == 10 else str(check))


_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$")
_DMY_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")


def parse_date(value: Any) -> tuple[date | None, str | None]:
    """(date, None) for ISO 8601; (date, 'dmy') for DD-MM-YYYY; (None, 'invalid') otherwise."""
    if not isinstance(value, str):
        return None, "invalid"
    text = value.strip()
    try:
        m = _ISO_DATE.match(text)
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), None
        m = _DMY_DATE.match(text)
        if m:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1))), "dmy"
    except ValueError:
        pass
    return None, "invalid"


def _text(value: Any) -> str | None:
    """A string value, the first of a list, or None."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, (str, int, float)) and not isinstance(v, bool)), None)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return _text(value.get("@id") or value.get("id") or value.get("url") or value.get("name"))
    text = str(value).strip()
    return text or None


def _type_of(obj: dict[str, Any]) -> str | None:
    t = obj.get("@type", obj.get("type"))
    if isinstance(t, list):
        t = next((x for x in t if isinstance(x, str)), None)
    if not isinstance(t, str):
        return None
    return t.split(":")[-1] if t.startswith("schema:") else t.rsplit("/", 1)[-1]


def _items(value: Any, pointer: str) -> list[tuple[str, Any]]:
    if isinstance(value, list):
        return [(f"{pointer}/{i}", v) for i, v in enumerate(value)]
    return [(pointer, value)]


# --------------------------------------------------------------------------------------------- normalise
def _normalise(raw: dict[str, Any], add: Any, reported: set[str]) -> CodeMeta:
    """Build the CodeMeta model from a parsed file; adds semantic problems; never raises."""

    def add_once(path: str, severity: str, message: str, hint: str = "") -> None:
        if path not in reported:
            add(path, severity, message, hint)

    context_version = _read_context(raw, add)
    _check_type(raw, add)
    version = _version(raw, add, reported)
    licenses = _licenses(raw, add, reported)
    authors = _agents(raw.get("author"), "/author", "author", add, strict=True, reported=reported)
    maintainers = _agents(
        raw.get("maintainer"), "/maintainer", "maintainer", add, strict=False, reported=reported
    )
    contributors = _agents(
        raw.get("contributor"), "/contributor", "contributor", add, strict=False, reported=reported
    )
    copyright_holders = _agents(
        raw.get("copyrightHolder"),
        "/copyrightHolder",
        "copyrightHolder",
        add,
        strict=False,
        reported=reported,
    )
    funders = _agents(
        raw.get("funder"),
        "/funder",
        "funder",
        add,
        strict=False,
        reported=reported,
        string_kind="Organization",
    )
    grants, nested_funders = read_funding(raw, add)
    for ptr, item in nested_funders:
        if isinstance(item, str) or (isinstance(item, dict) and item.get("name")):
            funders += _agents(
                item, ptr, "funder", add, strict=False, reported=reported, string_kind="Organization"
            )
    keywords = _keywords(raw, add)
    repo = _code_repository(raw, add, reported)
    date_published = _dates(raw, add)

    # Keys the OSSR requires and ossr-images does not: warnings (errors with --strict).
    ossr_hints = {
        "maintainer": 'add "maintainer": {"@type": "Person", "givenName": "...", "familyName": "...", "email": "..."}',
        "readme": 'add "readme": "https://github.com/ORG/REPO/blob/main/README.md"',
        "datePublished": 'add "datePublished": "YYYY-MM-DD" (the release date)',
    }
    for key, hint in ossr_hints.items():
        if key not in raw:
            add_once(
                f"/{key}",
                "warning",
                f"{key!r} is missing: the ESCAPE OSSR requires it (ossr-images does not)",
                hint,
            )
    if context_version in ("3.0", "3.1") and "contIntegration" in raw:
        add(
            "/contIntegration",
            "warning",
            "contIntegration was renamed continuousIntegration in CodeMeta 3",
            "rename the key",
        )
    if "licenseId" in raw and "license" in raw:
        add(
            "/licenseId",
            "warning",
            "licenseId is a pre-2.0 key and is ignored; license is used",
            "remove licenseId",
        )

    return CodeMeta(
        name=_text(raw.get("name")) if isinstance(raw.get("name"), str) else None,
        description=raw["description"].strip() if isinstance(raw.get("description"), str) else None,
        version=version,
        licenses=licenses,
        authors=authors,
        maintainers=maintainers,
        contributors=contributors,
        copyright_holders=copyright_holders,
        funders=_unique_agents(funders),
        grants=grants,
        keywords=keywords,
        code_repository=repo,
        identifier=_text(raw.get("identifier")),
        url=_text(raw.get("url")),
        readme=_text(raw.get("readme")),
        date_published=date_published,
        context_version=context_version,
    )


def _check_type(raw: dict[str, Any], add: Any) -> None:
    at, plain = raw.get("@type"), raw.get("type")
    if at is not None and plain is not None and at != plain:
        add("/type", "warning", f"@type {at!r} and type {plain!r} disagree; @type is used", "keep only @type")
    kind = _type_of(raw)
    where = "/@type" if "@type" in raw or "type" not in raw else "/type"
    if kind is None:
        add(where, "warning", "no @type; SoftwareSourceCode is assumed", 'add "@type": "SoftwareSourceCode"')
    elif kind == "SoftwareApplication":
        add(
            where,
            "warning",
            "@type is SoftwareApplication; the OSSR expects SoftwareSourceCode",
            'write "@type": "SoftwareSourceCode"',
        )
    elif kind not in SOFTWARE_TYPES:
        add(
            where,
            "error",
            f"@type is {kind!r}: a CodeMeta file describes SoftwareSourceCode",
            'write "@type": "SoftwareSourceCode"',
        )


def _version(raw: dict[str, Any], add: Any, reported: set[str]) -> str | None:
    values: dict[str, str] = {}
    for key in ("version", "softwareVersion"):
        value = raw.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            add(
                f"/{key}",
                "warning",
                f"{key} is the number {value}; a number loses digits (1.10 reads as 1.1)",
                f'write "{key}": "{value}"',
            )
            value = str(value)
        if isinstance(value, str) and value.strip():
            values[key] = value.strip()
    if len(values) == 2:
        a, b = values["version"], values["softwareVersion"]
        if _strip_v(a) != _strip_v(b):
            add(
                "/softwareVersion",
                "error",
                f"version {a!r} and softwareVersion {b!r} disagree",
                "make both the same release (a leading 'v' is allowed), or keep only version",
            )
    return values.get("version") or values.get("softwareVersion")


def _strip_v(version: str) -> str:
    return version[1:] if version[:1] in ("v", "V") and version[1:2].isdigit() else version


def _licenses(raw: dict[str, Any], add: Any, reported: set[str]) -> list[str]:
    value = raw.get("license")
    if value is None:
        return []
    ids: list[str] = []
    for pointer, item in _items(value, "/license"):
        if isinstance(item, dict):
            text = _text(item.get("@id") or item.get("id") or item.get("url") or item.get("identifier"))
        else:
            text = item if isinstance(item, str) else None
        if not text:
            continue  # the schema reported the shape
        reading = spdx.read_license(text)
        if reading.severity and pointer not in reported:
            add(pointer, reading.severity, reading.message, reading.hint)
        if reading.spdx_id and reading.spdx_id not in ids:
            ids.append(reading.spdx_id)
    if len(ids) > 1:
        add(
            "/license",
            "warning",
            f"{len(ids)} licences ({', '.join(ids)}); a Zenodo record holds one: {ids[0]} is sent",
            "put the licence that covers the image first",
        )
    return ids


def _agents(
    value: Any,
    pointer: str,
    role: str,
    add: Any,
    *,
    strict: bool,
    reported: set[str],
    string_kind: Literal["Person", "Organization"] = "Person",
) -> list[Agent]:
    if value is None:
        return []
    agents: list[Agent] = []
    for ptr, item in _items(value, pointer):
        if isinstance(item, str) and item.strip():
            example = (
                '{"@type": "Organization", "name": "..."}'
                if string_kind == "Organization"
                else '{"@type": "Person", "givenName": "...", "familyName": "..."}'
            )
            add(ptr, "warning", f"{role} {item!r} is a plain string", f"write {example}")
            agents.append(Agent(kind=string_kind, name=item.strip()))
            continue
        if not isinstance(item, dict):
            continue  # the schema reported it
        kind = _type_of(item)
        if kind == "Role":
            continue  # CodeMeta 3 roles annotate an agent listed elsewhere
        agent = _agent(item, ptr, role, kind, add, strict=strict, reported=reported)
        if agent is not None:
            agents.append(agent)
    return agents


def _unique_agents(agents: list[Agent]) -> list[Agent]:
    """The agents without repeats (same ORCID, or same name)."""
    out: list[Agent] = []
    for agent in agents:
        if not any(same_agent(agent, other) for other in out):
            out.append(agent)
    return out


def same_agent(a: Agent, b: Agent) -> bool:
    """True when two agents are the same person or organization: same ORCID, else the same name."""
    if a.orcid and b.orcid:
        return a.orcid == b.orcid
    return " ".join(a.zenodo_name.lower().split()) == " ".join(b.zenodo_name.lower().split()) != ""


def _join(value: Any) -> str | None:
    if isinstance(value, list):
        value = " ".join(str(v).strip() for v in value if isinstance(v, str) and v.strip())
    return value.strip() or None if isinstance(value, str) else None


def _agent(
    item: dict[str, Any], ptr: str, role: str, kind: str | None, add: Any, *, strict: bool, reported: set[str]
) -> Agent | None:
    given, family, name = _join(item.get("givenName")), _join(item.get("familyName")), _join(item.get("name"))
    if kind not in ("Person", "Organization"):
        if kind is not None:
            add(
                f"{ptr}/@type",
                "warning",
                f"{role} has @type {kind!r}; Person or Organization expected",
                'write "@type": "Person"',
            )
        kind = "Person" if (given or family or not name) else "Organization"
    severity = "error" if strict else "warning"
    if not (given or family or name):
        if f"{ptr}/familyName" not in reported:
            add(
                f"{ptr}/familyName", severity, f"{role} has no name", "give givenName and familyName, or name"
            )
        if not strict:
            return None
    elif kind == "Person" and given and not family and not name:
        add(
            f"{ptr}/familyName",
            severity,
            f"{role} {given!r} has a givenName but no familyName",
            "add familyName (or give the full name in name)",
        )
    elif kind == "Person" and name and not (given or family) and "," not in name:
        # Zenodo lists people as "Family, Given"; where to split a name is not ours to guess
        add(
            f"{ptr}/name",
            "warning",
            f"{role} {name!r} is a Person with only a name; it is sent to Zenodo as written, "
            'not as "Family, Given"',
            'add "givenName" and "familyName" (Zenodo shows "familyName, givenName"), '
            'or write the name as "Family, Given"',
        )
    orcid = None
    orcid_ptr = ptr
    for key in ("@id", "id", "identifier", "sameAs"):
        for sub_ptr, candidate in _items(item.get(key), f"{ptr}/{key}"):
            text = _text(candidate)
            if not text:
                continue
            m = _ORCID.search(text)
            if m and orcid is None:
                orcid, orcid_ptr = m.group(1).upper(), sub_ptr
            elif not m and "orcid" in text.lower():
                add(
                    sub_ptr,
                    severity,
                    f"{role} ORCID {text!r} is not of the form https://orcid.org/0000-0000-0000-0000",
                    "copy the ORCID iD from orcid.org",
                )
    if orcid and not orcid_checksum_ok(orcid):
        add(
            orcid_ptr,
            severity,
            f"ORCID {orcid} of {role} {name or family or given!r} has a wrong check digit",
            "copy the ORCID iD from orcid.org (Zenodo refuses invalid ORCIDs)",
        )
        orcid = None
    affiliations: list[str] = []
    aff = item.get("affiliation")
    if aff is not None:
        for _aptr, a in _items(aff, f"{ptr}/affiliation"):
            text = (
                _join(a)
                if isinstance(a, str)
                else (_join(a.get("name") or a.get("legalName")) if isinstance(a, dict) else None)
            )
            if text and text not in affiliations:
                affiliations.append(text)
    email = item.get("email") if isinstance(item.get("email"), str) else None
    return Agent(
        kind=kind,  # type: ignore[arg-type]
        given_name=given,
        family_name=family,
        name=name,
        affiliations=affiliations,
        orcid=orcid,
        email=email.strip() if email else None,
    )


def _keywords(raw: dict[str, Any], add: Any) -> list[str]:
    value = raw.get("keywords")
    if isinstance(value, str):
        if "," in value:
            parts = value.split(",")
        else:
            parts = [value]
            if len(value.split()) > 2:
                add(
                    "/keywords",
                    "warning",
                    f"keywords is one string without commas ({value!r}); it is read as a single keyword",
                    'write a list: "keywords": ["a", "b"]',
                )
    elif isinstance(value, list):
        parts = [v for v in value if isinstance(v, str)]
    else:
        return []
    return list(dict.fromkeys(word for word in (part.strip() for part in parts) if word))


def _code_repository(raw: dict[str, Any], add: Any, reported: set[str]) -> str | None:
    value = raw.get("codeRepository")
    if not isinstance(value, str) or not value.strip():
        return None
    url = value.strip()
    if url.startswith("git+"):
        add(
            "/codeRepository",
            "warning",
            f"codeRepository {url!r} has a 'git+' prefix; it is read without it",
            f"write {url[4:]!r}",
        )
        url = url[4:]
    return url if re.match(r"^https?://", url) else None


def _dates(raw: dict[str, Any], add: Any) -> date | None:
    published: date | None = None
    for key in ("datePublished", "dateCreated", "dateModified"):
        if key not in raw:
            continue
        value = raw[key]
        parsed, quirk = parse_date(value)
        if quirk == "dmy" and parsed is not None:
            add(
                f"/{key}",
                "warning",
                f"{key} {value!r} is day-month-year, not ISO 8601; read as {parsed.isoformat()}",
                f'write "{key}": "{parsed.isoformat()}"',
            )
        elif quirk == "invalid":
            add(
                f"/{key}",
                "warning",
                f"{key} {value!r} is not a date; it is ignored",
                f'write "{key}": "YYYY-MM-DD"',
            )
        if key == "datePublished":
            published = parsed
    return published
