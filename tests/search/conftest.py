"""The search tests run on both backends (`api_backend`): each against its own surface of the stand-in."""

from __future__ import annotations

import pytest

from conftest import both_standin


@pytest.fixture
def standin(api_backend: str, tmp_path_factory: pytest.TempPathFactory):
    """The stand-in on each backend: as Zenodo (legacy) and as a plain InvenioRDM instance (rdm)."""
    yield from both_standin(api_backend, tmp_path_factory)
