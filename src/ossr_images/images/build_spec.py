"""What a build takes beyond its recipe and context (target, platform, build arguments, epoch, base image
pins), and the adapters that give Docker and Buildah one interface for a Dockerfile build."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ossr_images.errors import InvalidInputError
from ossr_images.images.buildah import BuildahEngine
from ossr_images.images.docker_engine import DockerEngine
from ossr_images.images.export import export_image
from ossr_images.metadata.build_record import BuildArg

Log = Callable[[str], None]


@dataclass
class BuildSpec:
    """How to build, beyond recipe and context; all of it goes into the build section.

    `build_args` are the values passed to the builder, `recorded_args` the arguments as recorded (values
    only for those the user chose to record); `source_date_epoch` None means "the commit's date" when the
    context is in a git checkout; `pins` maps a base image reference (as expanded) to the reference a
    rebuild uses instead (`name@sha256:...` or a local tag of the recorded image)."""

    target: str | None = None
    platform: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    recorded_args: tuple[BuildArg, ...] = ()
    source_date_epoch: int | None = None
    repo_root: Path | None = None
    pins: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False  # Docker: build every step again (a rebuild); Buildah never uses a cache


def epoch_date(epoch: int | None) -> str | None:
    """RFC 3339 UTC of a Unix time (the `created` label of a reproducible build)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class DockerfileBuilder(Protocol):
    """One interface over the Docker engine and Buildah for `images.dockerfile_build`."""

    name: str
    version: str

    def build(
        self,
        context: Path,
        dockerfile: Path,
        tag: str,
        spec: BuildSpec,
        build_args: Mapping[str, str],
        log: Log | None,
    ) -> str: ...

    def labels(self, ref: str) -> dict[str, str]: ...

    def platform(self, ref: str) -> str | None: ...

    def resolve(self, ref: str) -> tuple[str | None, str | None]: ...

    def export(self, ref: str, out: Path, compress: str, progress: Any) -> Any: ...

    def options(self, spec: BuildSpec) -> list[str]: ...

    def has(self, ref: str) -> bool: ...

    def pull(self, ref: str) -> None: ...

    def tag(self, ref: str, new: str) -> None: ...

    def remove(self, ref: str) -> None: ...


class DockerBuilder:
    """The Docker engine (legacy builder on 20.10) behind `DockerfileBuilder`."""

    name = "docker"

    def __init__(self, engine: Any = None) -> None:
        self.engine = engine or DockerEngine.connect()
        self.version = self.engine.version

    def build(self, context, dockerfile, tag, spec, build_args, log):  # type: ignore[no-untyped-def]
        return self.engine.build(
            context,
            dockerfile=str(dockerfile),
            tag=tag,
            buildargs=dict(build_args) or None,
            log=log,
            target=spec.target,
            platform=spec.platform,
            nocache=spec.no_cache,
        )

    def labels(self, ref: str) -> dict[str, str]:
        return self.engine.labels(ref)

    def platform(self, ref: str) -> str | None:
        doc = self.engine.inspect(ref)
        parts = [doc.get("Os"), doc.get("Architecture"), doc.get("Variant")]
        return "/".join(p for p in parts if p) if parts[0] and parts[1] else None

    def resolve(self, ref: str) -> tuple[str | None, str | None]:
        """(the registry digest of `ref`'s repository among RepoDigests, the image ID)."""
        doc = self.engine.inspect(ref)
        want = _familiar(_repository(ref))
        digest = None
        for item in doc.get("RepoDigests") or []:
            repo, _, value = str(item).partition("@")
            if _familiar(repo) == want:
                digest = value
                break
        return digest, doc.get("Id")

    def has(self, ref: str) -> bool:
        try:
            self.engine.inspect(ref)
        except InvalidInputError:
            return False
        return True

    def pull(self, ref: str) -> None:
        """Pull `ref` (`name@sha256:...` or `name:tag`) into the engine."""
        repo, sep, digest = ref.partition("@")
        if sep:
            self.engine._call(f"docker pull {ref}", self.engine.api.pull, repo, tag=digest)
        else:
            self.engine._call(f"docker pull {ref}", self.engine.api.pull, ref)

    def tag(self, ref: str, new: str) -> None:
        repo, _, tag = new.rpartition(":")
        self.engine._call(f"docker tag {ref} {new}", self.engine.api.tag, ref, repo, tag)

    def remove(self, ref: str) -> None:
        self.engine.remove(ref, force=True)

    def export(self, ref: str, out: Path, compress: str, progress: Any) -> Any:
        return export_image(
            f"docker-daemon:{ref}",
            out,
            fmt="docker-archive",
            compress=compress,
            progress=progress,
            engine=self.engine,
        )

    def options(self, spec: BuildSpec) -> list[str]:
        return []  # the legacy builder has no reproducibility options (see docs/reproducibility.md)


class BuildahBuilder:
    """Buildah behind `DockerfileBuilder`, with its reproducibility options."""

    name = "buildah"

    def __init__(self, engine: Any = None) -> None:
        self.engine = engine or BuildahEngine.connect()
        self.version = self.engine.version

    def build(self, context, dockerfile, tag, spec, build_args, log):  # type: ignore[no-untyped-def]
        return self.engine.build(
            context,
            dockerfile=dockerfile,
            tag=tag,
            timestamp=spec.source_date_epoch,
            target=spec.target,
            platform=spec.platform,
            build_args=build_args,
            log=log,
        )

    def labels(self, ref: str) -> dict[str, str]:
        return self.engine.labels(ref)

    def platform(self, ref: str) -> str | None:
        return self.engine.platform(ref)

    def resolve(self, ref: str) -> tuple[str | None, str | None]:
        return self.engine.resolve(ref)

    def has(self, ref: str) -> bool:
        try:
            self.engine.inspect(ref)
        except InvalidInputError:
            return False
        return True

    def pull(self, ref: str) -> None:
        self.engine.pull(ref)

    def tag(self, ref: str, new: str) -> None:
        self.engine.tag(ref, new)

    def remove(self, ref: str) -> None:
        self.engine.remove(ref)

    def export(self, ref: str, out: Path, compress: str, progress: Any) -> Any:
        """`buildah push` to an uncompressed docker-archive beside `out`, then re-packed by export_image
        (compressed, described and hashed in one pass, renamed when complete)."""
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".buildah", dir=out.parent))
        try:
            plain = work / "image.tar"
            self.engine.push_archive(ref, plain, fmt="docker-archive")
            result = export_image(str(plain), out, fmt="docker-archive", compress=compress, progress=progress)
            result.ref = f"buildah:{ref}"
            result.tool = "buildah"
            result.steps.insert(0, f"buildah push {ref} docker-archive:…")
            return result
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def options(self, spec: BuildSpec) -> list[str]:
        return self.engine.options(spec.source_date_epoch)


def _repository(ref: str) -> str:
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def _familiar(repo: str) -> str:
    """Docker Hub names in their short form (`docker.io/library/busybox` -> `busybox`)."""
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix) :]
            break
    return repo.removeprefix("library/")
