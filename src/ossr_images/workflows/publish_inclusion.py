"""A published record and the communities publish was asked for: a record that is not in one of them (a re-run
with another --community, a new version of a record outside the community: versions keep their parent's
communities) is proposed to it with an inclusion request, on both APIs (``POST /records/{id}/communities``; on
the deposit API Zenodo makes that request itself when a version is published with ``metadata.communities``).
A re-run finds the request (``GET /records/{id}/requests``) and reports its state instead of asking again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ossr_images.zenodo.errors import ZenodoError
from ossr_images.zenodo.models import Record, Review
from ossr_images.zenodo.protocol import RepositoryClient


def wanted_communities(metadata: dict[str, Any]) -> list[str]:
    """The community slugs of the deposit metadata (``communities[].identifier``)."""
    return [str(c["identifier"]) for c in metadata.get("communities") or [] if c.get("identifier")]


def include(
    client: RepositoryClient, record: Record, wanted: list[str], say: Callable[[str], None]
) -> Review | None:
    """Ask each wanted community that does not hold ``record`` yet to include it; the first request made or
    found (its state and URL go into publish's result as ``review``), None when the record is in all of them.
    An unknown community is an error; any other failure of the request is a warning (the record is published
    already, and a re-run asks again)."""
    first: Review | None = None
    for slug in wanted:
        try:
            request = client.include_in_community(record.id, slug, record.communities)
        except ZenodoError as exc:
            if exc.status == 404 and "does not exist" in exc.message:
                raise  # an unknown community is the user's to fix (the error names it)
            # the record is published: a failed request is not worth failing the run for (the inclusion routes
            # of zenodo.org's deposit side are known from its source code only): say so, a re-run asks again
            say(
                f"Warning: could not ask the community {slug} to include record {record.id}: {exc.message}. "
                "The record is published; run the same publish again to ask again."
            )
            continue
        if request is None:
            continue
        where = f"({request.url})" if request.url else ""
        if request.status == "submitted":
            say(
                f"Asked the community {slug} to include record {record.id}: it is added when the community's "
                f"curators accept it {where}."
            )
        elif request.status == "accepted":
            say(f"Record {record.id} is included in the community {slug} {where}.")
        else:
            say(
                f"The community {slug}'s curators left the inclusion request of record {record.id} "
                f"{request.status} {where}; the record is published without the community."
            )
        first = first or request
    return first


__all__ = ["include", "wanted_communities"]
