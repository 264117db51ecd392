"""The image file of a publish run: the argument itself, or an export of an engine reference."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ossr_images.workflows.publish_plan import close_sink

ENGINE_PREFIXES = ("docker-daemon:", "docker://")
ProgressFactory = Callable[[int | None, str], Callable[[int], None]]
Notify = Callable[[str], None]


@dataclass
class Materialized:
    """The image file a run publishes, and what made it when it was exported from an engine."""

    path: Path
    engine: str | None = None
    engine_version: str | None = None
    info: Any = None  # the ImageInfo of an export, described while it was written


@contextlib.contextmanager
def materialize(image: str | Path, progress: ProgressFactory | None, say: Notify) -> Iterator[Materialized]:
    """The image file: the argument itself, or a zstd docker archive exported from an engine reference
    (`docker-daemon:NAME:TAG` through the Docker engine, `docker://...` daemonless) into a temporary folder
    that is removed afterwards."""
    text = str(image)
    if not text.startswith(ENGINE_PREFIXES):
        yield Materialized(Path(text))
        return
    from ossr_images.images.export import export_image

    engine = engine_name = engine_version = None
    if text.startswith("docker-daemon:"):
        from ossr_images.images.docker_engine import DockerEngine

        engine = DockerEngine.connect()
        engine_name, engine_version = "docker", engine.version
        ref = text.split(":", 1)[1]
    else:
        ref = text.split("//", 1)[1]
    last = ref.rsplit("/", 1)[-1]
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in last).strip("-.")
    with tempfile.TemporaryDirectory(prefix="ossr-images-export-") as tmp:
        out = Path(tmp) / f"{safe or 'image'}.tar.zst"
        say(f"Exporting {text} to a zstd-compressed docker archive.")
        sink = progress(None, f"Exporting {last}") if progress else None
        try:
            exported = export_image(
                text, out, fmt="docker-archive", compress="zstd", progress=sink, engine=engine
            )
        finally:
            close_sink(sink)
        yield Materialized(out, engine_name, engine_version, exported.info)
