"""Who may do what in a community of the stand-in (invenio-communities permissions.py and generators.py).

The stand-in has two users: user 1 (every token of ``LocalZenodo(tokens=...)``) owns the communities it seeds,
user 2 (``guest_tokens``) is a member of none. ``SYSTEM`` is the stand-in acting itself (`LocalZenodo.curate`,
zenodo.org's system identity). Facts kept:
- the community's requests are searched by its managers and curators only (``can_search_requests``); owners
  hold every lower role (CommunityRoles);
- a request is accepted or declined by its receiver, i.e. the community's curators (invenio-requests
  services/permissions.py ``can_action_accept``); cancelled by its creator (``can_action_cancel``);
- a record is included without review when ``can_include_directly`` holds: review policy "open" -> curators,
  "members" -> members, "closed" -> nobody (invenio-communities permissions.py). zenodo-rdm's legacy publish
  relies on it: a community owner's upload is accepted at once (site/tests/legacy/test_communities.py
  test_autoaccept_owned_communities).
"""

from __future__ import annotations

from typing import Any

SYSTEM = 0
OWNER = 1
GUEST = 2
CURATING = ("owner", "manager", "curator")


def role_of(community: dict[str, Any], user: int | None) -> str | None:
    """The user's role in the community (None: not a member)."""
    if user is None:
        return None
    return (community.get("members") or {}).get(str(user))


def is_curator(community: dict[str, Any], user: int | None) -> bool:
    """May the user search the community's requests and accept or decline them?"""
    return user == SYSTEM or role_of(community, user) in CURATING


def can_include_directly(community: dict[str, Any], user: int | None) -> bool:
    """May the user's record join the community without a curator's review?"""
    if user == SYSTEM:
        return True
    policy = (community.get("access") or {}).get("review_policy")
    if policy == "open":
        return role_of(community, user) in CURATING
    if policy == "members":
        return role_of(community, user) is not None
    return False
