"""Parse what a user may type to name a Zenodo record: DOIs, record URLs, API URLs and bare ids.

No network: Zenodo DOIs are ``<prefix>/zenodo.<record id>``, so the record id is read from the DOI itself
(sandbox DOIs, prefix 10.5072, do not resolve through doi.org anyway). The server named by the text
(zenodo.org, sandbox.zenodo.org, or another host) is reported so that the caller can pick a default target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ossr_images.errors import InvalidInputError
from ossr_images.zenodo.target import PRODUCTION_DOI_PREFIX, SANDBOX_DOI_PREFIX, check_brackets

_DOI_RE = re.compile(r"^(10\.\d{4,9})/zenodo\.(\d{1,15})$", re.IGNORECASE)
_ANY_DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
_ID_RE = re.compile(r"^\d{1,15}$")
# InvenioRDM's record ids elsewhere than Zenodo: base32 in two groups of five, e.g. "4d0ns-ntd89"
_RDM_ID = r"[0-9a-z]{5}-[0-9a-z]{5}"
_RDM_ID_RE = re.compile(rf"^{_RDM_ID}$")
_DOI_HOSTS = {"doi.org", "dx.doi.org", "www.doi.org", "hdl.handle.net"}
_DATACITE_TEST_HOSTS = {"handle.test.datacite.org", "handle.stage.datacite.org"}
_ZENODO_HOSTS = {"zenodo.org": "zenodo", "www.zenodo.org": "zenodo", "sandbox.zenodo.org": "sandbox"}
# path forms of a record on a Zenodo web or API server (the id is the first group)
_PATH_FORMS = [
    (re.compile(rf"^/api/records/(\d+|{_RDM_ID})(?:/.*)?$", re.I), "api-url"),
    (re.compile(r"^/api/deposit/depositions/(\d+)(?:/.*)?$"), "api-url"),
    (re.compile(rf"^/records/(\d+|{_RDM_ID})(?:/.*)?$", re.I), "record-url"),
    (re.compile(r"^/record/(\d+)(?:/.*)?$"), "record-url"),
    (re.compile(r"^/uploads/(\d+)/?$"), "record-url"),
    (re.compile(r"^/deposit/(\d+)/?$"), "record-url"),
]


@dataclass(frozen=True)
class RecordRef:
    """A parsed record reference.

    ``record_id`` is the Zenodo record id (it may be a concept id: the server redirects those to the latest
    version); ``doi`` is set when the text named a DOI; ``server`` is "zenodo", "sandbox" or None (unknown or
    another host); ``source_form`` is one of "doi", "doi-url", "record-url", "api-url", "id"; ``api_url`` is
    the API base of a URL on a host that is neither zenodo.org nor sandbox.zenodo.org (e.g. a local stand-in).
    """

    record_id: str
    doi: str | None
    server: str | None
    source_form: str
    api_url: str | None = None


def server_for_prefix(prefix: str) -> str | None:
    """10.5281 -> "zenodo", 10.5072 -> "sandbox", anything else -> None."""
    return {PRODUCTION_DOI_PREFIX: "zenodo", SANDBOX_DOI_PREFIX: "sandbox"}.get(prefix)


def make_doi(prefix: str, record_id: str | int) -> str:
    """The DOI Zenodo mints for a record: ``<prefix>/zenodo.<record id>``."""
    return f"{prefix}/zenodo.{record_id}"


def _bad(text: str, why: str) -> InvalidInputError:
    return InvalidInputError(
        f"Cannot read a Zenodo record from {text!r}: {why}",
        "Give a Zenodo DOI (10.5281/zenodo.N, or 10.5072/zenodo.N on the sandbox), a record URL such as "
        "https://zenodo.org/records/N, or a record id.",
    )


def _from_doi(doi: str, original: str, form: str, any_doi: bool = False) -> RecordRef:
    match = _DOI_RE.match(doi)
    if not match:
        if any_doi and _ANY_DOI_RE.match(doi):
            return RecordRef("", doi.lower(), None, form)
        if _ANY_DOI_RE.match(doi):
            raise _bad(original, "this DOI is not a Zenodo DOI (<prefix>/zenodo.<id>)")
        raise _bad(original, "this is not a DOI")
    prefix, record_id = match.group(1), match.group(2)
    return RecordRef(
        str(int(record_id)), f"{prefix}/zenodo.{int(record_id)}", server_for_prefix(prefix), form
    )


def _id(text: str) -> str:
    """A record id as Zenodo (digits, leading zeros dropped) or another InvenioRDM ("4d0ns-ntd89") writes it."""
    return str(int(text)) if text.isdigit() else text.lower()


def parse_record_ref(text: str, *, any_doi: bool = False) -> RecordRef:
    """Parse a DOI, a DOI URL, a Zenodo record or API URL, or a bare record id.

    Accepted: ``10.5281/zenodo.N``, ``10.5072/zenodo.N``, ``doi:...``, ``https://doi.org/...`` (and dx.doi.org,
    the DataCite test handles), ``https://zenodo.org/records/N``, ``/record/N``, ``/api/records/N``,
    ``/doi/<doi>``, the same on sandbox.zenodo.org or any other host, and ``N``; record ids may also be
    InvenioRDM's ``xxxxx-xxxxx`` form. With ``any_doi``, a DOI that is not a Zenodo DOI is accepted too:
    its ``record_id`` is "" (the caller looks the DOI up, see :mod:`ossr_images.zenodo.lookup`). Raises
    :class:`InvalidInputError` naming the text for anything else.
    """
    if not isinstance(text, str):
        raise _bad(repr(text), "expected text")
    raw = text.strip()
    if not raw:
        raise _bad(text, "it is empty")
    if len(raw) > 2048:
        raise _bad(raw[:60] + "...", "it is too long")
    if _ID_RE.match(raw) or _RDM_ID_RE.match(raw.lower()):
        return RecordRef(_id(raw), None, None, "id")
    lowered = raw.lower()
    if lowered.startswith("doi:"):
        return _from_doi(unquote(raw[4:].strip()), text, "doi", any_doi)
    if lowered.startswith("10."):
        return _from_doi(unquote(raw), text, "doi", any_doi)
    if "://" not in raw:
        raise _bad(text, "not a DOI, a URL or a record id")
    try:
        parts = urlsplit(raw)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
        check_brackets(parts.netloc)
    except ValueError:  # e.g. "Invalid IPv6 URL" for unbalanced brackets
        raise _bad(text, "this URL is malformed") from None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        raise _bad(text, "only http(s) URLs are understood")
    host = hostname.lower()
    path = unquote(parts.path)
    if host in _DOI_HOSTS or host in _DATACITE_TEST_HOSTS:
        return _from_doi(path.lstrip("/"), text, "doi-url", any_doi)
    server = _ZENODO_HOSTS.get(host)
    api_url = None
    if server is None:
        api_url = f"{parts.scheme.lower()}://{parts.netloc}/api"
    if path.startswith("/doi/"):
        ref = _from_doi(path[len("/doi/") :].strip("/"), text, "doi-url", any_doi)
        return RecordRef(ref.record_id, ref.doi, server or ref.server, "doi-url", api_url)
    path = path.rstrip("/") or "/"
    for pattern, form in _PATH_FORMS:
        match = pattern.match(path)
        if match:
            return RecordRef(_id(match.group(1)), None, server, form, api_url)
    raise _bad(text, "this URL does not name a record (expected .../records/<id> or /api/records/<id>)")
