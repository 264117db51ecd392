"""Build an archived image again from its recorded build section and a checkout of its source commit.

`rebuild(record, source_dir, work_dir)` uses the recorded recipe, context, target, platform, recorded
build-argument values, SOURCE_DATE_EPOCH, the labels ossr-images added, and the base images pinned by the
digest they resolved to at build time (never by a tag that may have moved). It writes the rebuilt image to
`work_dir` (an uncompressed docker-archive, or a .sif for Apptainer) for `ossr-images diff` to compare.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ossr_images.errors import InvalidInputError, OssrError, RemoteError
from ossr_images.images.apptainer_build import build_sif_recorded
from ossr_images.images.build_spec import BuildahBuilder, BuildSpec, DockerBuilder
from ossr_images.images.dockerfile_build import build_dockerfile, export_with_record, resolve_spec
from ossr_images.metadata.build_record import BaseImage, BuildRecord

ENGINES = ("docker", "buildah", "apptainer")
PIN_REPOSITORY = "ossr-images-pin"


@dataclass
class RebuildResult:
    """What a rebuild made: the archive, its image ID (None for a .sif), the engine and its version, the
    record of the rebuild itself, the engine's tag (remove it with `forget`), and notes on what could not be
    repeated exactly (build arguments whose values were not recorded, base images without a digest)."""

    archive: Path
    image_id: str | None
    engine: str
    engine_version: str
    build: BuildRecord
    tag: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """`{"archive", "image_id", "engine", "engine_version", "tag", "build", "notes"}`."""
        return {
            "archive": str(self.archive),
            "image_id": self.image_id,
            "engine": self.engine,
            "engine_version": self.engine_version,
            "tag": self.tag,
            "build": self.build.to_json(),
            "notes": list(self.notes),
        }


def rebuild(
    record: BuildRecord,
    source_dir: Path | str,
    work_dir: Path | str,
    engine: str | None = None,
    *,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
    engine_client: Any = None,
) -> RebuildResult:
    """Rebuild `record` from the checkout `source_dir` with `engine` (default: the recorded builder) into
    `work_dir`. Raises InvalidInputError for a recipe or context missing from the checkout or an engine
    that cannot build the recipe, RemoteError naming a base image that cannot be had, and the engine's
    errors. `engine_client`: a connected DockerEngine / BuildahEngine to reuse."""
    engine = engine or record.builder
    if engine not in ENGINES:
        raise InvalidInputError(f"unknown engine {engine!r}", hint=f"Use one of: {', '.join(ENGINES)}.")
    source_dir = Path(source_dir).resolve()
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    recipe = _inside(source_dir, record.recipe, "recipe")
    context = _inside(source_dir, record.context, "context")
    if not recipe.is_file():
        raise InvalidInputError(
            f"the recorded recipe {record.recipe} is not in the source tree {source_dir}",
            hint="Check that the checkout is at the recorded commit, or give the recipe with --recipe.",
        )
    if not context.is_dir():
        raise InvalidInputError(
            f"the recorded build context {record.context} is not a folder of {source_dir}",
            hint="Check that the checkout is at the recorded commit, or give the context with --context.",
        )
    notes = [
        f"build argument {name} was given at build time but its value was not recorded: the recipe's "
        "default is used"
        for name in record.unrecorded_args
    ]
    spec = BuildSpec(
        target=record.target,
        platform=record.platform,
        build_args=record.recorded_args,
        recorded_args=record.build_args,
        source_date_epoch=record.source_date_epoch,
        repo_root=source_dir,
        no_cache=True,  # a step taken from the engine's cache proves nothing
    )
    if engine == "apptainer":
        return _rebuild_sif(_Job(record, recipe, context, work, spec, notes), log)
    if recipe.suffix == ".def" and record.builder == "apptainer" and not record.converted_recipe:
        raise InvalidInputError(
            f"{record.recipe} is an Apptainer definition: {engine} cannot build it",
            hint="Rebuild it with --engine apptainer.",
        )
    builder = _builder(engine, engine_client)
    spec.pins = _pins(builder, record.base_images, notes)
    job = _Job(record, recipe, context, work, spec, notes)
    return _rebuild_image(builder, job, log, progress)


def forget(result: RebuildResult, engine_client: Any = None) -> None:
    """Remove the rebuilt image's tag from its engine (the archive stays)."""
    if result.tag and result.engine in ("docker", "buildah"):
        _builder(result.engine, engine_client).remove(result.tag)


@dataclass
class _Job:
    """What `rebuild` prepared for one engine."""

    record: BuildRecord
    recipe: Path
    context: Path
    work: Path
    spec: BuildSpec
    notes: list[str]


def _rebuild_image(
    builder: Any,
    job: _Job,
    log: Callable[[str], None] | None,
    progress: Callable[[int], None] | None,
) -> RebuildResult:
    spec = resolve_spec(job.spec, job.context)
    recorded = dict(job.record.added_labels)
    tag = f"ossr-images-rebuild/{_slug(job.record.recipe)}:{secrets.token_hex(6)}"

    def labels_for(created: str, theirs: dict[str, str]) -> dict[str, str]:
        return recorded

    image_id, _labels, rebuilt = build_dockerfile(
        builder, job.context, job.recipe, tag=tag, labels_for=labels_for, spec=spec, log=log
    )
    archive = job.work / "rebuilt.tar"
    export_with_record(builder, tag, image_id, rebuilt, archive, compress="none", progress=progress)
    return RebuildResult(archive, image_id, builder.name, builder.version, rebuilt, tag, job.notes)


def _rebuild_sif(job: _Job, log: Callable[[str], None] | None) -> RebuildResult:
    bases = job.record.base_images
    job.spec.pins = {b.ref: b.pinned for b in bases if b.pinned}
    for base in bases:
        if not base.digest:
            job.notes.append(f"base image {base.ref} has no recorded digest: the tag is used as it is now")
    result = build_sif_recorded(
        job.recipe,
        job.work / "rebuilt.sif",
        provenance=(None, None, None),
        log=log,
        context=job.context,
        spec=job.spec,
        fixed_labels=dict(job.record.added_labels),
    )
    assert result.build is not None and result.export is not None
    version = result.build.builder_version or result.engine_version
    return RebuildResult(result.export.path, None, "apptainer", version, result.build, None, job.notes)


def _pins(builder: Any, bases: tuple[BaseImage, ...], notes: list[str]) -> dict[str, str]:
    """Base reference -> the reference to build from: `repo@digest` (pulled when missing), else a local
    tag of the recorded image ID; a base that cannot be had is a RemoteError naming it."""
    pins: dict[str, str] = {}
    for base in bases:
        if base.digest:
            ref = base.pinned or base.ref
            if not builder.has(ref):
                try:
                    builder.pull(ref)
                except OssrError as exc:
                    raise RemoteError(
                        f"the base image {base.ref} (pinned as {ref}) cannot be had: {exc.message}",
                        hint="The registry must still serve that digest; log in to it, or load the "
                        "image into the engine (docker load / buildah pull) and run again.",
                    ) from exc
            pins[base.ref] = ref
        elif base.image_id:
            if not builder.has(base.image_id):
                raise RemoteError(
                    f"the base image {base.ref} was a local image ({base.image_id}, no registry digest) "
                    f"and the {builder.name} engine does not have it",
                    hint="Load that exact image into the engine (docker load of its archive) and run again.",
                )
            local = f"{PIN_REPOSITORY}/{base.image_id.split(':', 1)[-1][:16]}:base"
            builder.tag(base.image_id, local)
            pins[base.ref] = local
        else:
            notes.append(f"base image {base.ref} has no recorded digest: the tag is used as it is now")
    return pins


def _builder(engine: str, client: Any) -> Any:
    return DockerBuilder(client) if engine == "docker" else BuildahBuilder(client)


def _inside(root: Path, relative: str, what: str) -> Path:
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise InvalidInputError(
            f"the recorded {what} {relative!r} points outside the source tree",
            hint="The build section is damaged or hostile; give the recipe and context explicitly.",
        )
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "image"
