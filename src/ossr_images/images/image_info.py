"""What the image readers (`inspect`, `sif`) learn about one image file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

Progress = Callable[[int], None]  # called with the number of raw bytes read


@dataclass
class ImageInfo:
    """What the readers learn about one image file."""

    path: str
    format: str  # "docker-archive" | "oci-archive" | "sif"
    compression: str  # "none" | "gzip" | "zstd"
    size: int
    sha256: str | None
    image_id: str | None  # "sha256:<hex>": the digest of the config blob
    manifest_digest: str | None
    repo_tags: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    architecture: str | None = None
    os: str | None = None
    created: str | None = None
    docker_version: str | None = None  # the engine that built it: legacy config field, absent with BuildKit
    layers: list[dict[str, Any]] = field(default_factory=list)  # [{digest, size}]
    layout: str | None = None  # "docker-legacy", "docker+oci", "oci", "sif"
    layers_verified: bool = False  # every layer's content was hashed and matched its digest
    image_count: int = 1
    sif: dict[str, Any] | None = None  # SIF header and descriptors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return asdict(self)
