"""`reproduce`: rebuild an archived image from its recorded commit and say what differs.

Steps (issue 16):
  1. the archived image: fetched and verified as `fetch` does (DOI, URL or id), or a local archive with the
     image metadata file beside it (`ossr-image-metadata.json`, whose sha256 must match) or the build
     record `build -o` wrote (`FILE.build.json`) and the image's own source labels;
  2. the source cloned at the recorded commit (`git rev-parse HEAD` checked);
  3. a rebuild with the recorded recipe, context, target, platform, recorded build-argument values, epoch
     and base images pinned by digest (`images.rebuild.rebuild`);
  4. the comparison of the two root filesystems (`workflows.diff.run_diff`): identical / same-content /
     differs, each difference with its layer and the instruction that made it.
The work folder (fetched files, checkout, rebuilt archive) is removed at the end unless `keep`.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ossr_images.errors import IntegrityError, InvalidInputError
from ossr_images.images.image_diff import DiffResult
from ossr_images.images.rebuild import ENGINES, RebuildResult
from ossr_images.metadata.build_record import BuildRecord
from ossr_images.zenodo.doi import RecordRef

Notify = Callable[[str], None]
SOURCE_LABEL = "org.opencontainers.image.source"
REVISION_LABEL = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class RecipeOverride:
    """`--recipe/--context/--target/--platform`: describe the build of a record without a build section
    (paths relative to the repository root), or replace the recorded recipe and context."""

    recipe: str | None = None
    context: str | None = None
    target: str | None = None
    platform: str | None = None

    @property
    def given(self) -> bool:
        return any((self.recipe, self.context, self.target, self.platform))


@dataclass(frozen=True)
class ReproduceRequest:
    """What to reproduce and how: `ref` is a DOI, URL, record id or a local image file; `target` the
    Zenodo target (None for a local file)."""

    ref: str
    target: Any = None
    record: RecordRef | None = None  # `ref` parsed when it is no file (the CLI parsed it for the target)
    engine: str | None = None
    work: Path | None = None
    keep: bool = False
    override: RecipeOverride = field(default_factory=RecipeOverride)


@dataclass
class Archived:
    """The archived image as found in step 1."""

    path: Path
    repository: str
    commit: str
    build: BuildRecord | None
    record: dict[str, Any]  # what the JSON document says about the record or file
    checkout: Path | None = None  # already cloned (fetch --source)


@dataclass
class ReproduceResult:
    """The verdict, what was compared, and where the work folder is (None once removed)."""

    archived: Archived
    rebuilt: RebuildResult
    diff: DiffResult
    build: BuildRecord
    work: Path | None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.diff.verdict

    def to_dict(self) -> dict[str, Any]:
        """`{"verdict", "reason", "record", "source", "rebuilt", "counts", "differences", "ignored", ...}`."""
        doc = self.diff.to_dict(names=("archived", "rebuilt"))
        compared = {"archived": doc.pop("archived"), "rebuilt": doc.pop("rebuilt")}
        return {
            "verdict": self.diff.verdict,
            "reason": self.diff.reason,
            "record": {**self.archived.record, "build": self.build.to_json()},
            "source": {"repository": self.archived.repository, "commit": self.archived.commit},
            "rebuilt": {
                "image_id": self.rebuilt.image_id,
                "engine": self.rebuilt.engine,
                "engine_version": self.rebuilt.engine_version,
                "build": self.rebuilt.build.to_json(),
                "archive": str(self.rebuilt.archive) if self.work else None,
            },
            "compared": compared,
            "counts": doc["counts"],
            "differences": doc["differences"],
            "differences_listed": doc["differences_listed"],
            "ignored": doc["ignored"],
            "notes": list(self.notes),
            "work": str(self.work) if self.work else None,
        }


def reproduce(
    request: ReproduceRequest,
    *,
    notify: Notify | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReproduceResult:
    """Fetch (or read) the archived image, clone its source, rebuild it and compare (see the module
    docstring). Raises InvalidInputError (bad input, no way to know the recipe), IntegrityError (a record
    or file that does not verify), RemoteError (Zenodo, git or the engine failed)."""
    say = notify or (lambda _m: None)
    if request.engine is not None and request.engine not in ENGINES:
        raise InvalidInputError(
            f"--engine {request.engine!r} is not one of {', '.join(ENGINES)}",
            hint="Use --engine docker, buildah or apptainer (default: the recorded builder).",
        )
    work, created = _work_dir(request.work)
    keep = request.keep
    try:
        result = _run(request, work, say, log, progress)
        result.work = work if keep else None
        return result
    finally:
        if not keep:
            _remove(work, created)
        else:
            say(f"Work folder kept: {work}")


def _run(
    request: ReproduceRequest,
    work: Path,
    say: Notify,
    log: Callable[[str], None] | None,
    progress: Callable[[int], None] | None,
) -> ReproduceResult:
    from ossr_images.images.rebuild import forget, rebuild
    from ossr_images.workflows.diff import run_diff
    from ossr_images.workflows.fetch_load import clone_source

    local = Path(request.ref)
    if local.is_file():
        archived = _read_local(local)
        _refuse_apptainer(archived, request.engine)  # before the clone
    else:
        archived = _fetch_record(request, work, say)
    checkout = archived.checkout or clone_source(archived.repository, archived.commit, work / "source", say)
    build = _build_record(archived, request.override, checkout)
    engine = request.engine or build.builder
    _refuse_apptainer(archived, engine)
    say(f"Rebuilding {build.recipe} at {archived.commit[:12]} with {engine}...")
    rebuilt = rebuild(build, checkout, work / "rebuild", engine, log=log, progress=progress)
    try:
        say("Comparing the archived and the rebuilt image...")
        diff = run_diff(archived.path, rebuilt.archive)
    finally:
        try:
            forget(rebuilt)
        except Exception as exc:  # noqa: BLE001 - a tag left behind does not change the verdict
            rebuilt.notes.append(f"could not remove the rebuilt image's tag {rebuilt.tag}: {exc}")
    notes = list(rebuilt.notes)
    if build.builder == rebuilt.engine and build.builder_version not in (None, rebuilt.engine_version):
        notes.append(
            f"built with {build.builder} {build.builder_version}, rebuilt with {rebuilt.engine} "
            f"{rebuilt.engine_version}: another version may write other layers"
        )
    if archived.build is None:
        notes.append("the record has no build section: rebuilt as --recipe describes it")
    return ReproduceResult(archived, rebuilt, diff, build, work, notes)


def _refuse_apptainer(archived: Archived, engine: str | None) -> None:
    """The comparison reads Docker and OCI archives: a .sif, or a rebuild with Apptainer, is refused."""
    if engine == "apptainer" or _is_sif(archived.path):
        raise InvalidInputError(
            f"{archived.path.name}: reproducing with Apptainer is not supported yet (the comparison reads "
            "Docker and OCI archives only, not .sif files)",
            hint="Reproduce a Docker/OCI archive with --engine buildah or docker; for a .sif, rebuild it with "
            "`ossr-images build singularity` (docs/reproducibility.md says what Apptainer can repeat).",
        )


def _fetch_record(request: ReproduceRequest, work: Path, say: Notify) -> Archived:
    """Step 1 and 2 for a DOI/URL/id: `fetch` with `--source` (the one call of fetch: verified files in
    `work/record`, the checkout in `work/source`)."""
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, ImageRecord
    from ossr_images.workflows.fetch import FetchOptions, fetch

    if request.target is None:
        raise InvalidInputError(
            f"{request.ref} is neither a file nor a record to fetch",
            hint="Give a DOI, URL, id or image file.",
        )
    options = FetchOptions(dest=work / "record", source_dir=work / "source")
    fetched = fetch(request.record or request.ref, request.target, options, requested=request.ref, notify=say)
    image = fetched.image_file()
    if image is None or image.path is None:
        raise InvalidInputError(
            f"record {fetched.record_id} holds no container image that ossr-images can read",
            hint="Reproduce a record published by ossr-images (it has an image and its metadata file).",
        )
    meta = fetched.directory / IMAGE_RECORD_KEY
    rec = ImageRecord.from_bytes(meta.read_bytes()) if meta.is_file() else None
    assert fetched.repository and fetched.commit  # fetch --source refused a record without them
    return Archived(
        path=image.path,
        repository=fetched.repository,
        commit=fetched.commit,
        build=rec.build_record if rec is not None else None,
        record={
            "id": fetched.record_id,
            "doi": fetched.doi,
            "file": image.key,
            "image_id": fetched.image_id,
            "sha256": image.sha256,
        },
        checkout=fetched.checkout,
    )


def _read_local(path: Path) -> Archived:
    """Step 1 for a local archive: the image metadata file beside it (its sha256 checked), else the build
    record beside it and the image's source labels."""
    from ossr_images.images.inspect import inspect_image
    from ossr_images.metadata.build_record import check_image, read_sidecar
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, ImageRecord

    meta = path.with_name(IMAGE_RECORD_KEY)
    rec = ImageRecord.from_bytes(meta.read_bytes()) if meta.is_file() else None
    if rec is not None and rec.file_name != path.name:
        rec = None  # the metadata file of another image
    sha = None
    if rec is not None:
        sha = _sha256(path)
        if sha != rec.sha256.lower().removeprefix("sha256:"):
            raise IntegrityError(
                f"{path} has sha256 {sha}, but {meta} says {rec.sha256}",
                hint="The file is not the archived image: fetch it again (ossr-images fetch).",
            )
    if _is_sif(path):
        info_labels: dict[str, str] = {}
        image_id = None
    else:
        info = inspect_image(path, sha256=False)
        info_labels, image_id = dict(info.labels), info.image_id
    build = rec.build_record if rec is not None and rec.build is not None else read_sidecar(path)
    if build is not None and rec is None:
        check_image(build, image_id, str(path))
    repository = rec.repository if rec is not None else info_labels.get(SOURCE_LABEL)
    commit = rec.commit if rec is not None else info_labels.get(REVISION_LABEL)
    if not repository or not commit:
        raise InvalidInputError(
            f"{path} does not say which source it was built from: no {IMAGE_RECORD_KEY} beside it and no "
            f"{SOURCE_LABEL} / {REVISION_LABEL} labels",
            hint="Reproduce the published record by its DOI, or put its image metadata file beside the image.",
        )
    record = {"file": str(path), "image_id": rec.image_id if rec else image_id, "sha256": sha}
    record["metadata"] = str(meta) if rec is not None else None
    return Archived(path, repository, commit, build, record)


def _build_record(archived: Archived, override: RecipeOverride, checkout: Path) -> BuildRecord:
    """The recorded build section; `--recipe ...` describes one for a record without it (or replaces
    the recorded recipe, context, target or platform)."""
    from ossr_images.images.base_images import recipe_base_images
    from ossr_images.metadata.build_record import describe_external_build

    build = archived.build
    if build is not None:
        if not override.given:
            return build
        return replace(
            build,
            recipe=override.recipe or build.recipe,
            context=override.context or (build.context if not override.recipe else _parent(override.recipe)),
            target=override.target or build.target,
            platform=override.platform or build.platform,
        )
    if not override.recipe:
        raise InvalidInputError(
            f"{archived.path.name} has no build section (it was built outside ossr-images) and no --recipe "
            "was given",
            hint="Say how it was built: --recipe Dockerfile [--context DIR --target STAGE --platform "
            "OS/ARCH], paths relative to the repository root.",
        )
    recipe = checkout / override.recipe
    return describe_external_build(
        recipe=recipe,
        context=checkout / override.context if override.context else None,
        repo_root=checkout,
        target=override.target,
        platform=override.platform,
        base_images=recipe_base_images(recipe),
    )


def _parent(recipe: str) -> str:
    parent = Path(recipe).parent.as_posix()
    return parent or "."


def _is_sif(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    return b"SIF_MAGIC" in head or path.suffix == ".sif"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _work_dir(given: Path | None) -> tuple[Path, bool]:
    """The work folder: `given` (created when missing; refused when it holds anything), else a new
    temporary folder. Returns (folder, created by this run)."""
    if given is None:
        return Path(tempfile.mkdtemp(prefix="ossr-reproduce-")), True
    given = Path(given)
    if given.exists():
        if not given.is_dir() or any(given.iterdir()):
            raise InvalidInputError(
                f"--work {given} exists and is not an empty folder",
                hint="Give a new or empty folder: reproduce fills it and removes it again (unless --keep).",
            )
        return given.absolute(), False
    given.mkdir(parents=True)
    return given.absolute(), True


def _remove(work: Path, created: bool) -> None:
    """Remove the work folder (only its contents when the user made it)."""
    if created:
        shutil.rmtree(work, ignore_errors=True)
        return
    for child in work.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def record_summary(result: ReproduceResult) -> str:
    """One line naming the archived image (for the human summary)."""
    rec = result.archived.record
    name = rec.get("doi") or (f"record {rec['id']}" if rec.get("id") else rec.get("file"))
    return f"{name} (image ID {rec.get('image_id') or 'unknown'})"
