"""Build a Dockerfile with Docker or Buildah and record how: the steps both engines share.

1. read the Dockerfile; pin the base images a rebuild names (`BuildSpec.pins`); append one LABEL
   instruction with the provenance labels (a copy in a temporary folder: the checkout is not touched);
2. pass SOURCE_DATE_EPOCH as a build argument when the Dockerfile declares `ARG SOURCE_DATE_EPOCH`;
3. build; read the labels back and check them; resolve every base image to its digest and image ID;
4. export (`out`), and write the build record beside it (`FILE.build.json`).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ossr_images.errors import IntegrityError, InvalidInputError
from ossr_images.images.base_images import from_lines, pin_dockerfile
from ossr_images.images.build_common import dockerfile_with_labels
from ossr_images.images.build_spec import BuildSpec, DockerfileBuilder, epoch_date
from ossr_images.images.dockerfile import dockerfile_labels
from ossr_images.metadata.build_record import (
    BaseImage,
    BuildRecord,
    commit_epoch,
    repo_relative,
    repo_root_of,
    write_sidecar,
)

_DECLARES_EPOCH = re.compile(r"^\s*ARG\s+SOURCE_DATE_EPOCH\b", re.IGNORECASE | re.MULTILINE)


def resolve_spec(spec: BuildSpec | None, context: Path, commit: str | None = None) -> BuildSpec:
    """`spec` with the repository root (the checkout holding `context`) and the epoch (the date of
    `commit`, default HEAD) filled in when not given."""
    spec = spec or BuildSpec()
    if spec.repo_root is None:
        spec.repo_root = repo_root_of(context)
    if spec.source_date_epoch is None and spec.repo_root is not None:
        spec.source_date_epoch = commit_epoch(spec.repo_root, commit)
        if spec.source_date_epoch is None and commit:
            spec.source_date_epoch = commit_epoch(spec.repo_root)
    return spec


def build_dockerfile(
    builder: DockerfileBuilder,
    context: Path,
    dockerfile: Path,
    *,
    tag: str,
    labels_for: Callable[[str, dict[str, str]], dict[str, str]],
    spec: BuildSpec,
    log: Callable[[str], None] | None = None,
) -> tuple[str, dict[str, str], BuildRecord]:
    """Build and record; returns (image ID, labels of the built image, build record).

    `labels_for(created, dockerfile_labels)` gives the labels to add (see `build.merge_labels`)."""
    text = dockerfile.read_text(encoding="utf-8")
    bases = [f for f in from_lines(text, spec.build_args) if f.is_image]
    pinned = pin_dockerfile(text, spec.pins, spec.build_args) if spec.pins else text
    created = epoch_date(spec.source_date_epoch) or _now()
    labels = labels_for(created, dockerfile_labels(text, name=str(dockerfile)))
    build_args = dict(spec.build_args)
    if spec.source_date_epoch is not None and _DECLARES_EPOCH.search(text):
        build_args.setdefault("SOURCE_DATE_EPOCH", str(spec.source_date_epoch))
    with tempfile.TemporaryDirectory(prefix="ossr-build-") as tmp:
        patched = Path(tmp) / "Dockerfile"
        patched.write_text(dockerfile_with_labels(pinned, labels), encoding="utf-8")
        image_id = builder.build(context, patched, tag, spec, build_args, log)
    final = builder.labels(image_id)
    base_images = tuple(_resolve_base(builder, f.ref, spec.pins.get(f.ref)) for f in bases)
    record = BuildRecord(
        builder=builder.name,
        builder_version=builder.version,
        recipe=repo_relative(dockerfile, spec.repo_root),
        context=repo_relative(context, spec.repo_root),
        target=spec.target,
        platform=spec.platform or builder.platform(image_id),
        build_args=spec.recorded_args,
        base_images=_unique(base_images),
        source_date_epoch=spec.source_date_epoch,
        builder_options=tuple(builder.options(spec)),
        added_labels=dict(labels),
        image_id=image_id,
    )
    return image_id, final, record


def export_with_record(
    builder: DockerfileBuilder,
    tag: str,
    image_id: str,
    record: BuildRecord,
    out: Path,
    *,
    compress: str,
    progress: Any = None,
) -> Any:
    """Export image `tag` to `out` and write its build record beside it; the archive must hold
    `image_id` (another build may have moved the tag meanwhile)."""
    result = builder.export(tag, out, compress, progress)
    if result.image_id != image_id:
        raise IntegrityError(
            f"the exported archive holds image {result.image_id}, not the built {image_id}",
            hint="Another build may have moved the tag meanwhile: build again.",
        )
    write_sidecar(out, record, image_id=image_id, size=result.size)
    return result


def _resolve_base(builder: DockerfileBuilder, ref: str, pinned: str | None) -> BaseImage:
    """The base image `ref` (as written, expanded) with its digest and image ID at build time."""
    used = pinned or ref
    digest, image_id = builder.resolve(used)
    if "@" in used:
        digest = used.rsplit("@", 1)[1]
    elif pinned and pinned.startswith("ossr-images-pin/"):
        digest = None  # a local image pinned by its image ID (no registry digest was recorded)
    return BaseImage(ref=ref, digest=digest, image_id=image_id)


def _unique(items: tuple[BaseImage, ...]) -> tuple[BaseImage, ...]:
    seen: dict[str, BaseImage] = {}
    for item in items:
        seen.setdefault(item.ref, item)
    return tuple(seen.values())


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_inputs(context: Path, dockerfile: Path | None) -> Path:
    """The Dockerfile to build (CONTEXT/Dockerfile by default); InvalidInputError naming what is missing."""
    if not context.is_dir():
        raise InvalidInputError(
            f"build context {context} is not a directory",
            hint="Give the directory that holds the Dockerfile.",
        )
    df = Path(dockerfile) if dockerfile else context / "Dockerfile"
    if not df.is_file():
        raise InvalidInputError(f"no Dockerfile at {df}", hint="Give its path with -f FILE.")
    return df


__all__ = ["build_dockerfile", "check_inputs", "export_with_record", "resolve_spec"]
