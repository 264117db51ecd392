"""Fixtures for fetch tests: a client on the stand-in and a published image record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_TOKEN, both_standin
from fetch.records import image_files, make_client, publish_record


@pytest.fixture
def client(standin):
    with make_client(standin.api_url, TEST_TOKEN) as c:
        yield c


@pytest.fixture
def image_record(client, tmp_path: Path) -> dict[str, Any]:
    """A published record with an image (docker archive), its image metadata file and codemeta.json."""
    return publish_record(client, image_files(tmp_path / "src"))


@pytest.fixture
def standin(api_backend: str, tmp_path_factory: pytest.TempPathFactory):
    """The stand-in on each backend: as Zenodo (legacy) and as a plain InvenioRDM instance (rdm)."""
    yield from both_standin(api_backend, tmp_path_factory)
