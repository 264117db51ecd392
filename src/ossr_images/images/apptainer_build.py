"""Build a .sif with Apptainer from a definition file or a Dockerfile (converted with spython), with the
provenance labels, SOURCE_DATE_EPOCH, and the build record beside the image."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ossr_images.atomic import atomic_path
from ossr_images.errors import IntegrityError, InvalidInputError
from ossr_images.images.apptainer import (
    apptainer_version,
    build_sif,
    definition_labels,
    definition_with_labels,
    inspect_labels,
    require_apptainer,
)
from ossr_images.images.base_images import from_lines, pin_dockerfile
from ossr_images.images.build_common import BuildResult, merge_labels, refuse
from ossr_images.images.build_spec import BuildSpec, epoch_date
from ossr_images.images.dockerfile import dockerfile_labels
from ossr_images.images.dockerfile_build import resolve_spec
from ossr_images.images.export import ExportResult
from ossr_images.images.inspect import inspect_image
from ossr_images.images.spython_convert import (
    converted_path,
    dockerfile_to_definition,
    is_dockerfile,
    write_converted,
)
from ossr_images.metadata import labels as L
from ossr_images.metadata.build_record import BaseImage, BuildRecord, repo_relative, write_sidecar


def build_sif_recorded(
    recipe: Path,
    out: Path,
    *,
    provenance: tuple[Any, Any, str | None],
    log: Callable[[str], None] | None,
    context: Path | None,
    spec: BuildSpec | None,
    fixed_labels: dict[str, str] | None = None,
) -> BuildResult:
    """`build.build_singularity`: `provenance` is (codemeta, source link, created label or None);
    `fixed_labels` (a rebuild: the labels recorded at build time) replaces the labels made from it."""
    codemeta, source, created = provenance
    text = _read(recipe)
    dockerfile = is_dockerfile(recipe, text)
    workdir = (context or (recipe.parent if dockerfile else Path.cwd())).resolve()
    spec = resolve_spec(spec, recipe.parent, getattr(source, "commit", None))
    binary = require_apptainer()
    out = out.resolve()
    converted: Path | None = None
    bases: tuple[BaseImage, ...] = ()
    if dockerfile:
        text, converted, bases = _convert(recipe, text, out, spec)
    created = created or epoch_date(spec.source_date_epoch)
    ours = L.oci_labels(codemeta, source, created or _now()) if fixed_labels is None else fixed_labels
    labels = merge_labels(ours, definition_labels(text), source, str(recipe))
    tmp_sif = _temporary(out)
    env = {"SOURCE_DATE_EPOCH": str(spec.source_date_epoch)} if spec.source_date_epoch is not None else None
    with atomic_path(out, part=tmp_sif):  # the .sif gets its name only checked and fsynced
        with tempfile.TemporaryDirectory(prefix="ossr-def-") as tmp:
            tmp_def = Path(tmp) / (converted.name if converted else recipe.name)
            tmp_def.write_text(definition_with_labels(text, labels), encoding="utf-8")
            build_sif(str(tmp_def), tmp_sif, binary=binary, log=log, cwd=workdir, env=env)
        final = _check_sif(tmp_sif, ours, codemeta, source, binary, out)
    record = BuildRecord(
        builder="apptainer",
        builder_version=apptainer_version(binary).split()[-1],
        recipe=repo_relative(recipe, spec.repo_root),
        context=_context(workdir, recipe, spec),
        target=spec.target,
        platform=spec.platform,
        build_args=spec.recorded_args,
        base_images=bases,
        source_date_epoch=spec.source_date_epoch,
        converted_recipe=converted.name if converted else None,
        builder_options=(f"SOURCE_DATE_EPOCH={spec.source_date_epoch}",) if env else (),
        added_labels=dict(labels),
    )
    export = _export_result(out, recipe, converted)
    write_sidecar(out, record, image_id=None, size=export.size)
    result = BuildResult(
        "apptainer", apptainer_version(binary), None, None, export.info.labels, created or "", export
    )
    result.problems = final
    result.build = record
    return result


def _read(recipe: Path) -> str:
    try:
        return recipe.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read the definition file {recipe}: {exc.strerror or exc}",
            hint="Give the path of an Apptainer/Singularity definition (.def) file or a Dockerfile.",
        ) from exc


def _convert(recipe: Path, text: str, out: Path, spec: BuildSpec) -> tuple[str, Path, tuple[BaseImage, ...]]:
    """The Dockerfile (its bases pinned as `spec.pins` says) converted and written beside `out`."""
    pinned = pin_dockerfile(text, spec.pins, spec.build_args) if spec.pins else text
    name = repo_relative(recipe, spec.repo_root) if spec.repo_root else recipe.name
    definition = dockerfile_to_definition(pinned, recipe=name, labels=dockerfile_labels(text, name=name))
    path = converted_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_converted(path, definition)
    bases = []
    for f in from_lines(text, spec.build_args):
        if f.is_image:
            used = spec.pins.get(f.ref, f.ref)
            digest = used.rsplit("@", 1)[1] if "@" in used else None
            bases.append(BaseImage(ref=f.ref, digest=digest))
    return definition, path, tuple(bases)


def _temporary(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write in {out.parent}: {exc.strerror or exc}",
            hint="Choose an output folder you can write to.",
        ) from exc
    return Path(name)


def _check_sif(sif: Path, ours: dict[str, str], codemeta: Any, source: Any, binary: str, out: Path) -> list:
    """Our SIF reader and `apptainer inspect` must agree on the provenance labels, which must be right."""
    info = inspect_image(sif, sha256=False)
    reported = inspect_labels(sif, binary=binary)
    for key in (L.SOURCE, L.REVISION):
        if key in ours and info.labels.get(key) != reported.get(key):
            raise IntegrityError(
                f"the .sif's label {key} reads {info.labels.get(key)!r} but apptainer inspect says "
                f"{reported.get(key)!r}",
                hint="Report this: the SIF reader and Apptainer disagree.",
            )
    problems = L.check_labels(info.labels, codemeta, source)
    refuse(problems, f"the built {out.name}")
    return problems


def _context(workdir: Path, recipe: Path, spec: BuildSpec) -> str:
    """The build folder relative to the repository; the recipe's folder when it lies outside."""
    try:
        return repo_relative(workdir, spec.repo_root)
    except InvalidInputError:
        return repo_relative(recipe.resolve().parent, spec.repo_root)


def _export_result(out: Path, recipe: Path, converted: Path | None) -> ExportResult:
    final = inspect_image(out)
    made_from = converted.name if converted else recipe.name
    steps = [f"apptainer build {out.name} {made_from} (with %labels)"]
    if converted:
        steps.insert(0, f"spython: {recipe.name} -> {converted.name}")
    return ExportResult(
        path=out,
        format="sif",
        compression="none",
        size=final.size,
        sha256=final.sha256 or "",
        image_id=None,
        manifest_digest=None,
        ref=str(recipe),
        tool="apptainer",
        load_instructions=f"apptainer run {out.name}   # or: singularity run {out.name}",
        info=final,
        steps=steps,
    )


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
