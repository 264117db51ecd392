"""After a fetch: load the image into Docker (checking the image ID) or Apptainer (a .sif kept or built),
and clone the source repository at the recorded commit (checking `git rev-parse HEAD`)."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ossr_images.atomic import atomic_path
from ossr_images.errors import IntegrityError, InvalidInputError, RemoteError
from ossr_images.images.apptainer import build_sif, require_apptainer
from ossr_images.images.compression import detect_compression, open_decompressed
from ossr_images.images.docker_engine import DockerEngine
from ossr_images.workflows.fetch_provenance import ImageFacts

log = logging.getLogger("ossr_images.fetch")

Notify = Callable[[str], None]
CHUNK = 1024 * 1024


@dataclass
class Loaded:
    """Where the image went: an engine image (docker) or a .sif file (singularity)."""

    engine: str  # "docker" | "singularity"
    image_id: str | None = None
    ref: str | None = None
    path: Path | None = None
    command: str = ""
    id_verified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "image_id": self.image_id,
            "ref": self.ref,
            "path": str(self.path) if self.path else None,
            "command": self.command,
            "id_verified": self.id_verified,
        }


def load_docker(path: Path, image: ImageFacts, say: Notify, *, engine: DockerEngine | None = None) -> Loaded:
    """Stream the image archive at `path` (decompressed on the fly) into the Docker engine and check that the
    loaded image ID is the archived one (IntegrityError otherwise)."""
    if image.format == "sif":
        raise InvalidInputError(
            f"{image.key} is an Apptainer/Singularity .sif, which Docker cannot load",
            "Use --load singularity instead.",
        )
    engine = engine or DockerEngine.connect()
    say(f"Loading {path} into Docker...")
    with open_decompressed(path) as stream:
        loaded_ids = list(engine.load(stream))
    expected = image.image_id
    if expected and expected not in loaded_ids:
        raise IntegrityError(
            f"Docker loaded {', '.join(loaded_ids) or 'no image'} from {path}, but the archived image "
            f"ID is {expected}",
            "Do not run this image; remove it (docker rmi) and report the record.",
            details={"expected": expected, "loaded": loaded_ids},
        )
    image_id = expected or (loaded_ids[0] if loaded_ids else None)
    ref = image.repo_tags[0] if image.repo_tags else image_id
    return Loaded(
        engine="docker",
        image_id=image_id,
        ref=ref,
        command=f"docker run --rm {shlex.quote(ref or '')}",
        id_verified=bool(expected),
    )


def load_singularity(path: Path, image: ImageFacts, say: Notify) -> Loaded:
    """Keep a .sif as it is, or build one beside a Docker/OCI archive with Apptainer (a compressed archive is
    decompressed to a temporary tar first: Apptainer reads only plain archives)."""
    if image.format == "sif":
        return Loaded(
            engine="singularity",
            path=path,
            command=f"apptainer run {shlex.quote(str(path))}",
            id_verified=True,
        )
    binary = require_apptainer()
    sif = path.with_name(_strip_archive_suffix(path.name) + ".sif")
    plain = path
    temp_tar: Path | None = None
    try:
        with atomic_path(sif) as building:  # the .sif gets its name only complete and fsynced
            if detect_compression(path) != "none":
                temp_tar = path.with_name(f".{path.name}.decompressed.tar")
                say(f"Decompressing {path.name} for Apptainer...")
                with open_decompressed(path) as src, open(temp_tar, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                plain = temp_tar
            transport = "oci-archive" if image.format == "oci-archive" else "docker-archive"
            say(f"Building {sif} from {path.name} with Apptainer...")
            build_sif(f"{transport}:{plain}", building, binary=binary, log=lambda line: log.debug("%s", line))
    finally:
        if temp_tar is not None:
            temp_tar.unlink(missing_ok=True)
    return Loaded(
        engine="singularity",
        path=sif,
        command=f"apptainer run {shlex.quote(str(sif))}",
        id_verified=False,
    )


def _strip_archive_suffix(name: str) -> str:
    for suffix in (".tar.zst", ".tar.zstd", ".tar.gz", ".oci.tar", ".tgz", ".tar", ".zst", ".gz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def check_source_dir(dest: Path) -> None:
    """--source DIR must be new, empty, or an existing git checkout (InvalidInputError otherwise)."""
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not (dest / ".git").exists())):
        raise InvalidInputError(
            f"--source {dest} exists and is not empty", "Give a new or empty folder for the source."
        )


def clone_source(repository: str, commit: str, dest: Path, say: Notify) -> Path:
    """Clone `repository` into `dest` and check out `commit` (detached); verify `git rev-parse HEAD`.
    An existing checkout of the same commit is accepted; a non-empty folder that is not one is refused."""
    git = shutil.which("git")
    if git is None:
        raise InvalidInputError("--source needs git, which is not on PATH", "Install git, or drop --source.")
    if not re.fullmatch(r"[0-9a-fA-F]{7,64}", commit):
        raise InvalidInputError(
            f"--source needs a commit id, but the record names {commit!r}",
            "Clone the repository yourself at that reference, or fetch without --source.",
        )
    dest = Path(dest)
    check_source_dir(dest)
    if dest.exists() and any(dest.iterdir()):
        head = _git(git, ["rev-parse", "HEAD"], cwd=dest, check=False)
        if head.lower() != commit.lower():
            _git(git, ["fetch", "--quiet", "origin"], cwd=dest, check=False)
            _git(git, ["checkout", "--quiet", "--detach", commit], cwd=dest)
    else:
        say(f"Cloning {repository} into {dest}...")
        _git(git, ["clone", "--quiet", "--no-checkout", "--", repository, str(dest)])
        _git(git, ["checkout", "--quiet", "--detach", commit], cwd=dest)
    head = _git(git, ["rev-parse", "HEAD"], cwd=dest)
    if head.lower() != commit.lower():
        raise IntegrityError(
            f"the checkout in {dest} is at {head}, but the image was built from {commit}",
            "Check the repository history (was the commit rewritten?) and report the record.",
        )
    return dest


def _git(git: str, args: list[str], *, cwd: Path | None = None, check: bool = True) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed git binary, no shell
        [git, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        # a URL read from a record: no prompts, and none of git's command-running transports (ext::)
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": "https:http:ssh:git:file"},
    )
    if proc.returncode != 0 and check:
        detail = " ".join((proc.stderr or proc.stdout).split())[:300]
        raise RemoteError(
            f"git {args[0]} failed in {cwd or '.'}: {detail}",
            "Check that the repository is reachable and still holds the commit (git clone / git fetch).",
        )
    return proc.stdout.strip()
