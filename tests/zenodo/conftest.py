"""Fixtures for the client tests: a client bound to the stand-in, and helpers to make records."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest

from ossr_images.zenodo.client import RetryPolicy, ZenodoClient
from ossr_images.zenodo.models import Deposition
from ossr_images.zenodo.target import Target

TOKEN = "test-token-0123456789abcdef"  # same as tests/conftest.py TEST_TOKEN

METADATA = {
    "title": "Example image",
    "upload_type": "software",
    "description": "A container image of the example project.",
    "creators": [{"name": "Doe, Jane", "affiliation": "Somewhere"}],
    "license": "MIT",
    "keywords": ["ossr-images:container-image", "example"],
    "communities": [{"identifier": "escape2020"}],
    "version": "1.0.0",
}


def fast_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=4, backoff_base=0.0, jitter=0.0, sleep=lambda s: None)


@pytest.fixture
def client(standin) -> ZenodoClient:
    target = Target("custom", standin.api_url, TOKEN, "10.5072")
    with ZenodoClient(target, retry=fast_retry()) as c:
        yield c


@pytest.fixture
def anon_client(standin) -> ZenodoClient:
    with ZenodoClient(Target("custom", standin.api_url, None, "10.5072"), retry=fast_retry()) as c:
        yield c


def make_published(client: ZenodoClient, title: str = "Example image", files: dict[str, bytes] | None = None,
                   **extra: Any) -> Deposition:  # fmt: skip
    """Create, upload and publish a record; returns the published deposition."""
    dep = client.create_deposition({**METADATA, "title": title, **extra})
    for key, data in (files or {"image.tar": os.urandom(1000)}).items():
        client.upload_file(dep.bucket_url, key, io.BytesIO(data), len(data))
    return client.publish(dep.id)
