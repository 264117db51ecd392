"""Build an image with provenance labels: Docker (SDK) from a context, Apptainer from a definition file.

The labels are `metadata.labels.oci_labels(codemeta, source, created)` for the CodeMeta and source link the
caller gives. Labels the Dockerfile / definition sets itself are kept, unless they contradict the source
link: that is an error naming both values. After the build the image's labels are read back and checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ossr_images.images.apptainer_build import build_sif_recorded
from ossr_images.images.build_common import BuildResult, merge_labels, refuse
from ossr_images.images.build_spec import BuildahBuilder, BuildSpec, DockerBuilder
from ossr_images.images.dockerfile_build import (
    build_dockerfile,
    check_inputs,
    export_with_record,
    resolve_spec,
)
from ossr_images.metadata import labels as L


def default_tag(codemeta: Any) -> str:
    """ "name:version" from CodeMeta, in the characters Docker accepts; "ossr-images-build:latest" else."""
    name = getattr(codemeta, "name", None) if codemeta is not None else None
    version = getattr(codemeta, "version", None) if codemeta is not None else None
    repo = re.sub(r"[^a-z0-9._-]+", "-", (name or "").lower()).strip("-._") or "ossr-images-build"
    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", version or "").strip("-.") or "latest"
    return f"{repo}:{tag[:128]}"


@dataclass
class DockerfileRequest:
    """One Dockerfile build: what `build_docker` and `build_buildah` take."""

    context: Path
    dockerfile: Path | None = None
    tag: str | None = None
    codemeta: Any = None
    source: Any = None
    created: str | None = None  # the created label [default: SOURCE_DATE_EPOCH's date, else now]
    out: Path | None = None
    compress: str = "zstd"
    log: Callable[[str], None] | None = None
    progress: Callable[[int], None] | None = None
    spec: BuildSpec | None = None


def build_docker(context: Path | str, *, engine: Any = None, **options: Any) -> BuildResult:
    """Build the Docker image of `context` with OCI labels from CodeMeta and the source link; check the
    labels on the built image; export it to `out` (docker-archive, `compress`) when given, with its build
    record beside it (`FILE.build.json`). `options` are the fields of `DockerfileRequest` (dockerfile,
    tag, codemeta, source, created, out, compress, log, progress, spec: target, platform, build arguments,
    SOURCE_DATE_EPOCH [default: the commit's date], base image pins); `engine`: a connected DockerEngine."""
    return build_with(DockerBuilder(engine), DockerfileRequest(Path(context), **options))


def build_buildah(context: Path | str, *, engine: Any = None, **options: Any) -> BuildResult:
    """Like `build_docker`, with Buildah and its reproducibility options (`--timestamp` SOURCE_DATE_EPOCH,
    no identity label, no cache): two builds of one commit give the same image ID and layers."""
    return build_with(BuildahBuilder(engine), DockerfileRequest(Path(context), **options))


def build_with(builder: Any, req: DockerfileRequest) -> BuildResult:
    """Build `req` with `builder` (a `build_spec.DockerfileBuilder`), check the labels, export."""
    df = check_inputs(req.context, req.dockerfile)
    spec = resolve_spec(req.spec, req.context, getattr(req.source, "commit", None))
    tag = req.tag or default_tag(req.codemeta)

    def labels_for(created: str, theirs: dict[str, str]) -> dict[str, str]:
        ours = L.oci_labels(req.codemeta, req.source, req.created or created)
        return merge_labels(ours, theirs, req.source, str(df))

    image_id, final, record = build_dockerfile(
        builder, req.context, df, tag=tag, labels_for=labels_for, spec=spec, log=req.log
    )
    problems = L.check_labels(final, req.codemeta, req.source)
    refuse(problems, f"the built image {tag}")
    created = final.get(L.CREATED) or req.created or ""
    result = BuildResult(builder.name, builder.version, image_id, tag, final, created, problems=problems)
    result.build = record
    if req.out:
        result.export = export_with_record(
            builder, tag, image_id, record, Path(req.out), compress=req.compress, progress=req.progress
        )
    return result


def build_singularity(
    definition: Path | str,
    out: Path | str,
    *,
    codemeta: Any = None,
    source: Any = None,
    created: str | None = None,
    log: Callable[[str], None] | None = None,
    context: Path | str | None = None,
    spec: BuildSpec | None = None,
) -> BuildResult:
    """Build `out` (.sif) from an Apptainer/Singularity definition file, or from a Dockerfile converted
    with spython (kept beside `out` as NAME.converted.def), with the OCI labels written into %labels; read
    the labels back and check them; write the build record beside `out`. `context`: the folder the build
    runs in (relative %files paths; default: the working directory for a definition, the Dockerfile's
    folder for a Dockerfile). SOURCE_DATE_EPOCH (default: the commit's date) is set for the build."""
    return build_sif_recorded(
        Path(definition),
        Path(out),
        provenance=(codemeta, source, created),
        log=log,
        context=Path(context) if context else None,
        spec=spec,
    )
