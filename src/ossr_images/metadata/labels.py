"""OCI image labels from CodeMeta and the source link, and the check of an image's labels against them.

Label keys follow the OCI image-spec annotations (`org.opencontainers.image.*`); the legacy label-schema
keys `org.label-schema.vcs-url` / `vcs-ref` / `version` are read too.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from ossr_images.errors import Problem

if TYPE_CHECKING:  # pragma: no cover
    from ossr_images.metadata.codemeta import CodeMeta
    from ossr_images.metadata.source import SourceLink

OCI = "org.opencontainers.image."
SOURCE = OCI + "source"
REVISION = OCI + "revision"
VERSION = OCI + "version"
CREATED = OCI + "created"
LICENSES = OCI + "licenses"
TITLE = OCI + "title"
DESCRIPTION = OCI + "description"
AUTHORS = OCI + "authors"
URL = OCI + "url"
DOCUMENTATION = OCI + "documentation"

LEGACY_SOURCE = "org.label-schema.vcs-url"
LEGACY_REVISION = "org.label-schema.vcs-ref"
LEGACY_VERSION = "org.label-schema.version"

MAX_DESCRIPTION = 512  # labels are metadata, not documents


def _rfc3339(created: datetime | date | str | None) -> str:
    if created is None:
        created = datetime.now(timezone.utc)
    if isinstance(created, str):
        return created
    if isinstance(created, datetime):
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        return created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return created.isoformat()


def _author(agent: Any) -> str | None:
    name = getattr(agent, "display_name", None) or getattr(agent, "name", None)
    if not name:
        return None
    email = getattr(agent, "email", None)
    return f"{name} <{email}>" if email else str(name)


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def oci_labels(
    codemeta: CodeMeta | None, source: SourceLink | None, created: datetime | date | str | None = None
) -> dict[str, str]:
    """The OCI labels an image built from this source should carry.

    source/revision from the source link; version, licenses (an SPDX expression joined with AND), title,
    description, authors, url and documentation from CodeMeta where known; created as RFC 3339 (now, in
    UTC, when not given). Keys with no value are left out.
    """
    labels: dict[str, str] = {}
    if source is not None:
        labels[SOURCE] = _normalize_repo(source.repository)
        labels[REVISION] = source.commit
    if codemeta is not None:
        if codemeta.version:
            labels[VERSION] = str(codemeta.version)
        if codemeta.licenses:
            labels[LICENSES] = " AND ".join(codemeta.licenses)
        if codemeta.name:
            labels[TITLE] = str(codemeta.name)
        if codemeta.description:
            labels[DESCRIPTION] = _one_line(str(codemeta.description), MAX_DESCRIPTION)
        authors = [a for a in (_author(x) for x in codemeta.authors or []) if a]
        if authors:
            labels[AUTHORS] = ", ".join(authors)
        url = getattr(codemeta, "url", None) or codemeta.code_repository
        if url:
            labels[URL] = str(url)
        readme = getattr(codemeta, "readme", None)
        if readme:
            labels[DOCUMENTATION] = str(readme)
    labels[CREATED] = _rfc3339(created)
    return labels


def _normalize_repo(url: str) -> str:
    try:
        from ossr_images.metadata.source import normalize_repo_url
    except ImportError:  # pragma: no cover - the foundation module is always there in a release
        return _fallback_normalize(url)
    return normalize_repo_url(url)


def _fallback_normalize(url: str) -> str:
    url = url.strip()
    m = re.match(r"^(?:ssh://)?git@([^:/]+)[:/](.+)$", url)
    if m:
        url = f"https://{m.group(1)}/{m.group(2)}"
    url = re.sub(r"^git\+", "", url)
    url = url.rstrip("/")
    if url.endswith(".git"):
        url = url[:-4]
    return re.sub(r"^http://", "https://", url)


def _same_repository(a: str, b: str) -> bool:
    try:
        from ossr_images.metadata.source import same_repository
    except ImportError:  # pragma: no cover
        return _fallback_normalize(a).lower() == _fallback_normalize(b).lower()
    return same_repository(a, b)


def _pointer(key: str) -> str:
    return "/labels/" + key.replace("~", "~0").replace("/", "~1")


def _first(labels: dict[str, str], *keys: str) -> tuple[str | None, str | None]:
    for key in keys:
        value = labels.get(key)
        if isinstance(value, str) and value.strip():
            return key, value.strip()
    return None, None


def _strip_v(version: str) -> str:
    return version[1:] if version[:1] in ("v", "V") and version[1:2].isdigit() else version


def check_labels(
    labels: dict[str, str] | None, codemeta: CodeMeta | None, source: SourceLink | None
) -> list[Problem]:
    """Compare an image's labels with CodeMeta and the source link.

    The source URL and revision must match (an error names both values); the version should match CodeMeta
    (a warning). A missing source or revision label is a warning: the link then rests on the image
    metadata file alone.
    """
    labels = labels or {}
    problems: list[Problem] = []
    build_hint = "Build the image with `ossr-images build`, which writes these labels."

    if source is not None:
        key, value = _first(labels, SOURCE, LEGACY_SOURCE)
        if value is None:
            problems.append(
                Problem(
                    _pointer(SOURCE),
                    "warning",
                    f"the image has no {SOURCE} label; the source link is {source.repository}",
                    build_hint,
                    source="image",
                )
            )
        elif not _same_repository(value, source.repository):
            problems.append(
                Problem(
                    _pointer(key or SOURCE),
                    "error",
                    f"the image label {key} is {value} but the source repository is {source.repository}",
                    "Publish the image built from this repository, or point --repo/--commit at the "
                    "repository the image was built from.",
                    source="image",
                )
            )
        key, value = _first(labels, REVISION, LEGACY_REVISION)
        commit = (source.commit or "").lower()
        if value is None:
            problems.append(
                Problem(
                    _pointer(REVISION),
                    "warning",
                    f"the image has no {REVISION} label; the source commit is {source.commit}",
                    build_hint,
                    source="image",
                )
            )
        elif value.lower() == commit:
            pass
        elif re.fullmatch(r"[0-9a-fA-F]{7,63}", value) and commit.startswith(value.lower()):
            problems.append(
                Problem(
                    _pointer(key or REVISION),
                    "warning",
                    f"the image label {key} is the abbreviated commit {value} of {source.commit}",
                    "Label images with the full commit id (ossr-images build does).",
                    source="image",
                )
            )
        elif source.ref and value in (source.ref, f"refs/tags/{source.ref}", f"refs/heads/{source.ref}"):
            problems.append(
                Problem(
                    _pointer(key or REVISION),
                    "warning",
                    f"the image label {key} is the ref name {value}, not the commit {source.commit}",
                    "Label images with the full commit id (ossr-images build does).",
                    source="image",
                )
            )
        else:
            problems.append(
                Problem(
                    _pointer(key or REVISION),
                    "error",
                    f"the image label {key} is {value} but the source commit is {source.commit}",
                    "Publish the image built from this commit, or give --commit the commit the image "
                    "was built from.",
                    source="image",
                )
            )

    if codemeta is not None and codemeta.version:
        key, value = _first(labels, VERSION, LEGACY_VERSION)
        wanted = str(codemeta.version)
        if value is None:
            problems.append(
                Problem(
                    _pointer(VERSION),
                    "warning",
                    f"the image has no {VERSION} label; CodeMeta says version {wanted}",
                    build_hint,
                    source="image",
                )
            )
        elif _strip_v(value) != _strip_v(wanted):
            problems.append(
                Problem(
                    _pointer(key or VERSION),
                    "warning",
                    f"the image label {key} is {value} but CodeMeta says version {wanted}",
                    "Rebuild the image for this release, or correct the version in codemeta.json.",
                    source="image",
                )
            )
    return problems
