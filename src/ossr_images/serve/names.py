"""The grammar of repository names and references (OCI Distribution v1.1) and serve's naming contract:
`records/<record id>` (Zenodo's digits or another InvenioRDM's ``4d0ns-ntd89``) and `doi/<doi>`
(lowercase)."""

from __future__ import annotations

import re

from ossr_images.workflows.serve_registry import DIGEST_RE, RECORD_ID_RE, TAG_RE, RegistryError, RepoName

# distribution/reference: path components of lowercase alphanumerics joined by one separator
NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
MAX_NAME = 255
_DOI_RE = re.compile(r"^doi/(10\.[0-9]{4,9}/[a-z0-9._-]+(?:/[a-z0-9._-]+)*)$")
ALGORITHM_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def parse_name(text: str) -> RepoName:
    """A repository name of serve. Raises NAME_INVALID (not a name at all) or NAME_UNKNOWN (a valid name
    outside the contract)."""
    if len(text) > MAX_NAME or not NAME_RE.match(text):
        raise RegistryError(
            "NAME_INVALID",
            f"invalid repository name {text!r}",
            "names are lowercase path components [a-z0-9] joined by '.', '_', '__' or '-', e.g. "
            "records/123456 or doi/10.5281/zenodo.123456",
        )
    kind, _, rest = text.partition("/")
    # Zenodo's digits (leading zeros dropped) or another InvenioRDM's "4d0ns-ntd89"
    if kind == "records" and RECORD_ID_RE.match(rest):
        return RepoName("records", (rest.lstrip("0") or "0") if rest.isdigit() else rest)
    m = _DOI_RE.match(text)
    if m:
        return RepoName("doi", m.group(1))
    raise RegistryError(
        "NAME_UNKNOWN",
        f"repository name {text!r} is not served here",
        "names are records/<record id> and doi/<doi>",
    )


def check_digest(text: str) -> str:
    """A digest reference; raises DIGEST_INVALID for a malformed one or an algorithm other than sha256."""
    if not ALGORITHM_RE.match(text) or not DIGEST_RE.match(text):
        raise RegistryError(
            "DIGEST_INVALID", f"invalid digest {text!r}", "digests are sha256:<64 hex digits>"
        )
    return text


def check_reference(text: str) -> str:
    """A tag or a digest."""
    if ":" in text:
        return check_digest(text)
    if not TAG_RE.match(text):
        raise RegistryError(
            "MANIFEST_INVALID", f"invalid tag {text!r}", "tags match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
        )
    return text
