"""The `build` section of the image metadata file: how an image was built, so that `reproduce` can build
it again from its recorded commit.

`BuildRecord` names the builder and its version, the recipe and context (paths relative to the repository
root), target stage, platform, build arguments (a value only for the arguments the user chose to record,
never for the others), each base image as written in the recipe with the digest it resolved to, and the
SOURCE_DATE_EPOCH used. `build -o FILE` writes it beside the image (`FILE.build.json`, a *sidecar*) so that
`publish FILE` can put it into the image metadata file; `publish --recipe ...` describes a build made
elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ossr_images.atomic import atomic_write
from ossr_images.errors import IntegrityError, InvalidInputError

BUILDERS = ("docker", "buildah", "apptainer")
SIDECAR_SUFFIX = ".build.json"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class BaseImage:
    """A base image of the recipe: `ref` as written (after build-argument expansion when it used one),
    `digest` the registry (manifest) digest it resolved to, `image_id` the local config digest."""

    ref: str
    digest: str | None = None
    image_id: str | None = None

    @property
    def repository(self) -> str:
        """`ref` without its tag and digest (`registry:5000/a/b:1` -> `registry:5000/a/b`)."""
        name = self.ref.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name = name[: len(name) - len(last)] + last.split(":", 1)[0]
        return name

    @property
    def pinned(self) -> str | None:
        """`repository@digest`, the reference a rebuild uses (None without a registry digest)."""
        return f"{self.repository}@{self.digest}" if self.digest else None

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "digest": self.digest, "imageId": self.image_id}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> BaseImage:
        return cls(str(doc["ref"]), doc.get("digest"), doc.get("imageId"))


@dataclass(frozen=True)
class BuildArg:
    """A build argument: its name, and its value only when the user asked to record it."""

    name: str
    value: str | None = None

    @property
    def recorded(self) -> bool:
        return self.value is not None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **({"value": self.value} if self.value is not None else {})}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> BuildArg:
        value = doc.get("value")
        return cls(str(doc["name"]), None if value is None else str(value))


@dataclass(frozen=True)
class BuildRecord:
    """How an image was built (the `build` section of the image metadata file)."""

    builder: str  # "docker" | "buildah" | "apptainer"
    builder_version: str | None
    recipe: str  # POSIX path relative to the repository root (Dockerfile or Apptainer definition)
    context: str = "."  # POSIX path relative to the repository root
    target: str | None = None
    platform: str | None = None  # os/arch[/variant]
    build_args: tuple[BuildArg, ...] = ()
    base_images: tuple[BaseImage, ...] = ()
    source_date_epoch: int | None = None
    converted_recipe: str | None = None  # Apptainer definition converted from a Dockerfile: file name
    builder_options: tuple[str, ...] = ()  # the reproducibility options used, e.g. --timestamp=N
    added_labels: dict[str, str] = field(default_factory=dict)  # the LABELs ossr-images appended
    # not part of the document: the image this record was written for (a sidecar's check)
    image_id: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The `build` object of the image metadata file (camelCase keys, nulls kept)."""
        return {
            "builder": self.builder,
            "builderVersion": self.builder_version,
            "recipe": self.recipe,
            "context": self.context,
            "target": self.target,
            "platform": self.platform,
            "buildArgs": [a.to_json() for a in self.build_args],
            "baseImages": [b.to_json() for b in self.base_images],
            "sourceDateEpoch": self.source_date_epoch,
            "convertedRecipe": self.converted_recipe,
            "builderOptions": list(self.builder_options),
            "addedLabels": dict(self.added_labels),
        }

    @classmethod
    def from_json(cls, doc: Any, *, where: str = "build") -> BuildRecord:
        """The record from its `build` object; InvalidInputError naming `where` and the field when bad."""
        if not isinstance(doc, Mapping):
            raise InvalidInputError(
                f"{where} is not a JSON object", hint="Write the build section with ossr-images."
            )
        try:
            epoch = doc.get("sourceDateEpoch")
            return cls(
                builder=str(doc["builder"]),
                builder_version=doc.get("builderVersion"),
                recipe=str(doc["recipe"]),
                context=str(doc.get("context") or "."),
                target=doc.get("target"),
                platform=doc.get("platform"),
                build_args=tuple(BuildArg.from_json(a) for a in doc.get("buildArgs") or []),
                base_images=tuple(BaseImage.from_json(b) for b in doc.get("baseImages") or []),
                source_date_epoch=None if epoch is None else int(epoch),
                converted_recipe=doc.get("convertedRecipe"),
                builder_options=tuple(str(o) for o in doc.get("builderOptions") or []),
                added_labels={str(k): str(v) for k, v in (doc.get("addedLabels") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(
                f"{where}: missing or malformed field ({exc!s})",
                hint="The build section needs at least builder and recipe; see "
                "schemas/image-metadata.schema.json (#/properties/build).",
            ) from exc

    @property
    def recorded_args(self) -> dict[str, str]:
        """The build arguments whose values were recorded (what a rebuild can pass)."""
        return {a.name: a.value for a in self.build_args if a.value is not None}

    @property
    def unrecorded_args(self) -> list[str]:
        """Names of the build arguments given at build time whose values were not recorded."""
        return [a.name for a in self.build_args if a.value is None]


# ----------------------------------------------------------------------------------------- build options


def parse_build_args(
    given: Iterable[str], record: Iterable[str], env: Mapping[str, str] | None = None
) -> tuple[dict[str, str], tuple[BuildArg, ...]]:
    """`--build-arg NAME=VALUE` (or `NAME`: the value of the environment variable, as docker does) and
    `--record-build-arg NAME`: (the values to pass to the builder, the arguments as recorded). A recorded
    name that is not given is an error."""
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not _ARG_NAME.match(name):
            raise InvalidInputError(
                f"--build-arg {item!r}: {name!r} is not a build argument name",
                hint="Write --build-arg NAME=VALUE (or NAME to take the value from the environment).",
            )
        if not sep:
            if name not in env:
                raise InvalidInputError(
                    f"--build-arg {name}: no value given and no environment variable {name}",
                    hint=f"Write --build-arg {name}=VALUE, or export {name}.",
                )
            value = env[name]
        values[name] = value
    wanted = list(dict.fromkeys(record))
    missing = [n for n in wanted if n not in values]
    if missing:
        raise InvalidInputError(
            f"--record-build-arg {', '.join(missing)}: not given with --build-arg",
            hint="Record only arguments you pass: add --build-arg NAME=VALUE, or drop --record-build-arg.",
        )
    args = tuple(BuildArg(n, values[n] if n in wanted else None) for n in values)
    return values, args


def recorded_pairs(pairs: Iterable[str]) -> tuple[BuildArg, ...]:
    """`--record-build-arg NAME=VALUE` of publish (a build made elsewhere): recorded with their values;
    a bare NAME is recorded by name only."""
    out: dict[str, BuildArg] = {}
    for item in pairs:
        name, sep, value = item.partition("=")
        if not _ARG_NAME.match(name):
            raise InvalidInputError(
                f"--record-build-arg {item!r}: {name!r} is not a build argument name",
                hint="Write --record-build-arg NAME=VALUE (the value used for the build).",
            )
        out[name] = BuildArg(name, value if sep else None)
    return tuple(out.values())


def repo_relative(path: Path | str, repo_root: Path | str | None) -> str:
    """`path` relative to the repository root, in POSIX form; InvalidInputError when it lies outside."""
    p = Path(path)
    if repo_root is None:
        return PurePosixPath(*p.parts).as_posix() if not p.is_absolute() else p.name
    root = Path(repo_root).resolve()
    resolved = p.resolve() if p.is_absolute() or p.exists() else (Path.cwd() / p).resolve()
    try:
        rel = resolved.relative_to(root)
    except ValueError:
        raise InvalidInputError(
            f"{path} is outside the repository {root}",
            hint="The recipe and context must be files of the repository the image is built from, so "
            "that the build can be repeated from its commit.",
        ) from None
    return rel.as_posix() or "."


def commit_epoch(repo_dir: Path | str, commit: str | None = None) -> int | None:
    """The committer date of `commit` (default HEAD) in `repo_dir` as a Unix time (`git log -1
    --format=%ct`), or None when it is not a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo_dir), "log", "-1", "--format=%ct", commit or "HEAD", "--"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    text = out.stdout.strip()
    return int(text) if out.returncode == 0 and text.isdigit() else None


def repo_root_of(path: Path | str) -> Path | None:
    """The top folder of the git checkout holding `path`, or None."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


# ----------------------------------------------------------------------------------------- sidecar


def sidecar_path(image_path: Path | str) -> Path:
    """Where `build -o FILE` writes the build record of FILE: `FILE.build.json`."""
    p = Path(image_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def write_sidecar(image_path: Path | str, record: BuildRecord, *, image_id: str | None, size: int) -> Path:
    """Write `record` beside the image (atomically: a temporary name, then a rename). The image id and
    size it names let `read_sidecar` refuse a sidecar left over from another build."""
    path = sidecar_path(image_path)
    doc = {
        "ossrImagesBuild": 1,
        "fileName": Path(image_path).name,
        "imageId": image_id,
        "contentSize": size,
        "build": record.to_json(),
    }
    with atomic_write(path, text=True) as fh:
        fh.write(json.dumps(doc, indent=2) + "\n")
    return path


def read_sidecar(image_path: Path | str) -> BuildRecord | None:
    """The build record `build -o` wrote beside `image_path`, or None when there is none. A sidecar whose
    size disagrees with the image is an IntegrityError (the image was replaced after the build); the image
    id it names is kept in `BuildRecord.image_id` and checked when the metadata file is written."""
    path = sidecar_path(image_path)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot read the build record {path}: {exc}",
            hint="Delete it (and describe the build with --recipe ...) or build the image again.",
        ) from exc
    if not isinstance(doc, dict) or "build" not in doc:
        raise InvalidInputError(
            f"{path} is not a build record written by ossr-images build",
            hint="Delete or rename it; it is read because of its name.",
        )
    size = Path(image_path).stat().st_size
    if doc.get("contentSize") not in (None, size):
        raise IntegrityError(
            f"{path} describes a {doc.get('contentSize')}-byte image, but {image_path} has {size} bytes",
            hint="The image was replaced after the build: build it again with -o, or delete the "
            "stale build record.",
        )
    record = BuildRecord.from_json(doc["build"], where=str(path))
    image_id = doc.get("imageId")
    if image_id is not None and not _DIGEST.match(str(image_id)):
        raise InvalidInputError(f"{path}: imageId {image_id!r} is not a sha256 digest", hint="Build again.")
    return _with_image_id(record, image_id)


def _with_image_id(record: BuildRecord, image_id: str | None) -> BuildRecord:
    from dataclasses import replace

    return replace(record, image_id=image_id)


def check_image(record: BuildRecord, image_id: str | None, where: str) -> None:
    """Raise IntegrityError when `record` was written for another image than `image_id`."""
    if record.image_id and image_id and record.image_id != image_id:
        raise IntegrityError(
            f"the build record of {where} names image {record.image_id}, but the image is {image_id}",
            hint="The image was rebuilt or replaced after `build -o`: build it again, or delete the "
            "stale .build.json file beside it.",
        )


def describe_external_build(
    *,
    recipe: Path | str,
    context: Path | str | None,
    repo_root: Path | str | None,
    builder: str | None = None,
    builder_version: str | None = None,
    target: str | None = None,
    platform: str | None = None,
    build_args: Iterable[str] = (),
    source_date_epoch: int | None = None,
    base_images: tuple[BaseImage, ...] = (),
) -> BuildRecord:
    """The record of a build made outside ossr-images (`publish --recipe ...`): paths relative to the
    repository root; `build_args` as `--record-build-arg NAME=VALUE`; `base_images` as the recipe names
    them (no digest is known unless the recipe pins one)."""
    recipe_path = Path(recipe)
    if repo_root is not None and not recipe_path.is_absolute():
        if not recipe_path.exists() and (Path(repo_root) / recipe_path).exists():
            recipe_path = Path(repo_root) / recipe_path
    if repo_root is not None and not recipe_path.is_file():
        raise InvalidInputError(
            f"--recipe {recipe}: no such file",
            hint="Give the Dockerfile or definition file, relative to the repository root or the "
            "current folder.",
        )
    ctx = Path(context) if context is not None else recipe_path.parent
    if repo_root is not None and context is not None and not ctx.is_absolute() and not ctx.exists():
        ctx = Path(repo_root) / ctx
    kind = builder or ("apptainer" if recipe_path.suffix == ".def" else "docker")
    return BuildRecord(
        builder=kind,
        builder_version=builder_version,
        recipe=repo_relative(recipe_path, repo_root),
        context=repo_relative(ctx, repo_root),
        target=target,
        platform=platform,
        build_args=recorded_pairs(build_args),
        base_images=base_images,
        source_date_epoch=source_date_epoch,
    )
