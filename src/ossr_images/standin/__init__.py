"""The local Zenodo-compatible server (``ossr-images local-zenodo``), importable for tests."""

from ossr_images.standin.faults import DropResponse, Faults, RequestInfo
from ossr_images.standin.server import LocalZenodo

__all__ = ["DropResponse", "Faults", "LocalZenodo", "RequestInfo"]
