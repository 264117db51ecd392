"""A client for the test stand-in (or any server that accepts the tests' token)."""

from __future__ import annotations

from typing import Any

from conftest import TEST_TOKEN
from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.target import Target


def client_for(standin: Any) -> ZenodoClient:
    """A client with the default retry policy for ``standin`` (anything with an ``api_url``)."""
    return ZenodoClient(Target("custom", standin.api_url, TEST_TOKEN, "10.5072"))
