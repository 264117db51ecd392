"""CodeMeta + source link -> Zenodo deposit metadata (the legacy deposit API's `metadata` object).

Mapping (eossr's crosswalk where it fits, the issue's choices where they differ):
name -> title; description -> description (HTML-escaped: Zenodo renders it as HTML); version -> version;
datePublished (or today) -> publication_date; author -> creators ("Family, Given", affiliation, bare ORCID);
first licence -> license (Zenodo id from the bundled table); keywords (+ extra) -> keywords;
maintainer -> contributors (ContactPerson), copyrightHolder -> RightsHolder, funder -> Sponsor,
contributor -> Other (each person once, the first role in that order; a contributor who is already a creator
is left out); funding -> grants ("<funder DOI>::<number>", only those `metadata.funding` can pin down);
communities default escape2020; source tree at the commit -> related_identifiers isDerivedFrom (software);
repository -> isSupplementTo.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ossr_images.metadata import spdx
from ossr_images.metadata.codemeta import Agent, CodeMeta, same_agent
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


class GrantRef(BaseModel):
    """One entry of `grants`: {"id": "<funder DOI>::<award number>"}."""

    model_config = ConfigDict(extra="forbid")
    id: str


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
    grants: list[GrantRef] = Field(default_factory=list)
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


def _contributors(codemeta: CodeMeta) -> list[Contributor]:
    roles = (
        (codemeta.maintainers, "ContactPerson"),
        (codemeta.copyright_holders, "RightsHolder"),
        (codemeta.funders, "Sponsor"),
        (codemeta.contributors, "Other"),
    )
    listed: list[Agent] = []
    out: list[Contributor] = []
    for agents, role in roles:
        for agent in agents:
            if not agent.zenodo_name or any(same_agent(agent, seen) for seen in listed):
                continue
            if role == "Other" and any(same_agent(agent, author) for author in codemeta.authors):
                continue  # already a creator; "Other" would add nothing
            listed.append(agent)
            out.append(Contributor(**_creator(agent), type=role))
    return out


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
        contributors=_contributors(codemeta),
        grants=[GrantRef(id=g.zenodo_id) for g in codemeta.grants],
        related_identifiers=related,
    )
