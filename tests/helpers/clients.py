"""A client for the test stand-in (or any server that accepts the tests' token), on the stand-in's backend."""

from __future__ import annotations

from typing import Any

from conftest import TEST_TOKEN
from ossr_images.zenodo.backends import open_client
from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.protocol import RepositoryClient
from ossr_images.zenodo.rdm_client import RdmClient
from ossr_images.zenodo.target import Target


def target_for(standin: Any) -> Target:
    """The stand-in as a target with the tests' token (``standin.client_token`` when a test set one, e.g. the
    guest's), on its backend (``standin.backend``, else legacy)."""
    token = getattr(standin, "client_token", TEST_TOKEN)
    return Target("custom", standin.api_url, token, "10.5072", api=backend_of(standin))


def backend_of(standin: Any) -> str:
    """ "legacy" or "rdm": the backend a test's stand-in runs on (tests/conftest.py `both_standin`)."""
    return getattr(standin, "backend", "legacy")


def client_class(standin: Any) -> type[ZenodoClient] | type[RdmClient]:
    """The client class of the stand-in's backend (what a test wraps to inject a crash)."""
    return RdmClient if backend_of(standin) == "rdm" else ZenodoClient


def client_for(standin: Any) -> RepositoryClient:
    """A client with the default retry policy for ``standin`` (anything with an ``api_url``)."""
    return open_client(target_for(standin))
