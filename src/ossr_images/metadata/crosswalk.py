"""CodeMeta + source link -> Zenodo deposit metadata (the legacy deposit API's `metadata` object).

Mapping (eossr's crosswalk where it fits, the issue's choices where they differ):
name -> title; description -> description (HTML-escaped: Zenodo renders it as HTML); version -> version;
datePublished (or today) -> publication_date; author -> creators ("Family, Given", affiliation, bare ORCID);
first licence -> license (Zenodo id from the bundled table); keywords (+ extra) -> keywords;
maintainer -> contributors (ContactPerson); communities default escape2020;
source tree at the commit -> related_identifiers isDerivedFrom (software); repository -> isSupplementTo.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ossr_images.metadata import spdx
from ossr_images.metadata.codemeta import Agent, CodeMeta
from ossr_images.metadata.source import SourceLink, normalize_repo_url, source_tree_url

DEFAULT_COMMUNITIES: tuple[str, ...] = ("escape2020",)


class Creator(BaseModel):
    """One entry of `creators`."""

    model_config = ConfigDict(extra="forbid")
    name: str
    affiliation: str | None = None
    orcid: str | None = None


class Contributor(Creator):
    """One entry of `contributors` (type: ContactPerson, Other, RightsHolder, Sponsor, ...)."""

    type: str


class Community(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identifier: str


class RelatedIdentifier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identifier: str
    relation: str
    resource_type: str | None = None


class ZenodoMetadata(BaseModel):
    """Zenodo deposit metadata as ossr-images sends it (fields Zenodo knows; `to_deposit()` for the API)."""

    model_config = ConfigDict(extra="forbid")
    upload_type: Literal["software"] = "software"
    title: str | None = None
    description: str | None = None
    creators: list[Creator] = Field(default_factory=list)
    access_right: Literal["open"] = "open"
    license: str | None = None
    version: str | None = None
    publication_date: date
    keywords: list[str] = Field(default_factory=list)
    communities: list[Community] = Field(default_factory=list)
    contributors: list[Contributor] = Field(default_factory=list)
    related_identifiers: list[RelatedIdentifier] = Field(default_factory=list)

    def to_deposit(self) -> dict[str, Any]:
        """The `metadata` dict for POST/PUT /api/deposit/depositions (None and empty lists left out)."""
        data = self.model_dump(mode="json", exclude_none=True)
        return {key: value for key, value in data.items() if value != []}


def _creator(agent: Agent) -> dict[str, Any]:
    return {
        "name": agent.zenodo_name,
        "affiliation": "; ".join(agent.affiliations) or None,
        "orcid": agent.orcid,
    }


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def to_zenodo_metadata(
    codemeta: CodeMeta,
    source: SourceLink | None,
    *,
    communities: Iterable[str] = DEFAULT_COMMUNITIES,
    extra_keywords: Iterable[str] = (),
    publication_date: date | str | None = None,
) -> ZenodoMetadata:
    """Convert normalised CodeMeta and the source link into Zenodo deposit metadata.

    `communities=()` disables the community request. `publication_date` defaults to CodeMeta's datePublished,
    else today (UTC). Without a source link, only the repository (isSupplementTo) is related.
    """
    if isinstance(publication_date, str):
        publication_date = date.fromisoformat(publication_date)
    when = publication_date or codemeta.date_published or datetime.now(timezone.utc).date()

    related: list[RelatedIdentifier] = []
    repository = source.repository if source else codemeta.code_repository
    if source is not None:
        related.append(
            RelatedIdentifier(
                identifier=source_tree_url(source.repository, source.commit),
                relation="isDerivedFrom",
                resource_type="software",
            )
        )
    if repository:
        related.append(
            RelatedIdentifier(
                identifier=normalize_repo_url(repository), relation="isSupplementTo", resource_type="software"
            )
        )

    return ZenodoMetadata(
        title=codemeta.name,
        description=html.escape(codemeta.description, quote=False) if codemeta.description else None,
        creators=[Creator(**_creator(a)) for a in codemeta.authors if a.zenodo_name],
        license=spdx.zenodo_license_id(codemeta.licenses[0]) if codemeta.licenses else None,
        version=codemeta.version,
        publication_date=when,
        keywords=_unique([*codemeta.keywords, *extra_keywords]),
        communities=[Community(identifier=c) for c in _unique(communities)],
        contributors=[
            Contributor(**_creator(a), type="ContactPerson") for a in codemeta.maintainers if a.zenodo_name
        ],
        related_identifiers=related,
    )
