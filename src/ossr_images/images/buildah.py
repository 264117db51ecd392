"""Buildah (daemonless builds): reproducible builds of a Dockerfile and their export to an archive.

Every build uses the options that make two builds of one commit give the same layers and config:
`--timestamp EPOCH` (the config's created time, the history times and every file time in the new layers),
`--identity-label=false` (no `io.buildah.version` label, so another Buildah version can still match),
`--layers --no-cache` (one layer per instruction, as Docker makes them, none taken from a cache) and
`--format oci`. Storage is Buildah's own (`/var/lib/containers/storage` as root); the usual
containers-storage settings apply (CONTAINERS_STORAGE_CONF, STORAGE_DRIVER, CONTAINERS_REGISTRIES_CONF).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ossr_images.errors import EngineUnavailableError, InvalidInputError, RemoteError

INSTALL_HINT = (
    "Install Buildah (apt-get install buildah, dnf install buildah) and check `buildah info`; as a user "
    "it needs subuid/subgid ranges (rootless), or run it as root."
)
REPRODUCIBLE_OPTIONS = ("--identity-label=false", "--layers", "--no-cache", "--format=oci")
# base images: pulled only when missing, as the Docker engine does (a rebuild pulls pinned digests first)
PULL_OPTION = "--pull=false"


def find_buildah() -> str | None:
    """The path of `buildah` on PATH, or None."""
    return shutil.which("buildah")


class BuildahEngine:
    """The `buildah` command. Create it with `BuildahEngine.connect()`."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self._version: str | None = None

    @classmethod
    def connect(cls) -> BuildahEngine:
        """Find buildah and check that it runs (`buildah version`); EngineUnavailableError otherwise."""
        binary = find_buildah()
        if not binary:
            raise EngineUnavailableError("buildah is not on PATH", hint=INSTALL_HINT)
        engine = cls(binary)
        _ = engine.version
        return engine

    def _run(self, what: str, args: list[str], *, timeout: float = 600) -> str:
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argument list
                [self.binary, *args], capture_output=True, text=True, errors="replace", timeout=timeout
            )
        except OSError as exc:
            raise EngineUnavailableError(f"cannot run {self.binary}: {exc}", hint=INSTALL_HINT) from exc
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip().splitlines()
            detail = " | ".join(message[-3:])[:500]
            if "image not known" in detail or "not found" in detail or "unknown" in detail.lower():
                raise InvalidInputError(
                    f"{what}: buildah has no such image ({detail})",
                    hint="Check the name with `buildah images`, or build the image first.",
                )
            raise RemoteError(f"{what} failed (exit {proc.returncode}): {detail}", hint=INSTALL_HINT)
        return proc.stdout

    @property
    def version(self) -> str:
        """E.g. "1.28.2"."""
        if self._version is None:
            out = self._run("buildah version", ["version", "--json"], timeout=60)
            try:
                self._version = str(json.loads(out)["version"])
            except (ValueError, KeyError, TypeError) as exc:
                raise EngineUnavailableError(
                    f"unexpected output of buildah version --json: {out[:200]!r}", hint=INSTALL_HINT
                ) from exc
        return self._version

    # ------------------------------------------------------------------------------------------ build
    def build(
        self,
        context: Path | str,
        *,
        dockerfile: Path | str,
        tag: str,
        timestamp: int | None,
        target: str | None = None,
        platform: str | None = None,
        build_args: Mapping[str, str] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> str:
        """Build `dockerfile` in `context` with the reproducibility options and tag it; returns the image
        ID ("sha256:<hex>"). The build log is passed line by line to `log`."""
        with tempfile.TemporaryDirectory(prefix="ossr-buildah-") as tmp:
            iidfile = Path(tmp) / "iid"
            cmd = [self.binary, "build", *self.options(timestamp), PULL_OPTION, "-f", str(dockerfile)]
            cmd += ["-t", tag]
            cmd += ["--iidfile", str(iidfile)]
            if target:
                cmd += ["--target", target]
            if platform:
                cmd += ["--platform", platform]
            for name, value in (build_args or {}).items():
                cmd += ["--build-arg", f"{name}={value}"]
            cmd.append(str(context))
            _stream(cmd, f"buildah build of {context}", log)
            image_id = iidfile.read_text().strip()
        return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"

    @staticmethod
    def options(timestamp: int | None) -> list[str]:
        """The reproducibility options of a build (recorded in the build section)."""
        stamp = [f"--timestamp={timestamp}"] if timestamp is not None else []
        return [*stamp, *REPRODUCIBLE_OPTIONS]

    # ------------------------------------------------------------------------------------------ facts
    def inspect(self, ref: str) -> dict[str, Any]:
        """`buildah inspect --type image REF` as a dict."""
        out = self._run(f"buildah inspect {ref}", ["inspect", "--type", "image", ref], timeout=120)
        try:
            return dict(json.loads(out))
        except ValueError as exc:
            raise RemoteError(f"buildah inspect {ref} printed no JSON", hint=INSTALL_HINT) from exc

    def labels(self, ref: str) -> dict[str, str]:
        """The labels of image `ref`."""
        config = (self.inspect(ref).get("OCIv1") or {}).get("config") or {}
        return dict(config.get("Labels") or {})

    def platform(self, ref: str) -> str | None:
        """ "os/arch[/variant]" of image `ref`."""
        oci = self.inspect(ref).get("OCIv1") or {}
        parts = [oci.get("os"), oci.get("architecture"), oci.get("variant")]
        return "/".join(p for p in parts if p) if parts[0] and parts[1] else None

    def resolve(self, ref: str) -> tuple[str | None, str | None]:
        """(registry manifest digest, image ID) of a base image in Buildah's storage."""
        doc = self.inspect(ref)
        digest = doc.get("FromImageDigest") or None
        image_id = doc.get("FromImageID") or None
        if image_id and not str(image_id).startswith("sha256:"):
            image_id = f"sha256:{image_id}"
        return digest, image_id

    def pull(self, ref: str) -> None:
        """`buildah pull REF` (registries.conf decides about TLS and mirrors)."""
        self._run(f"buildah pull {ref}", ["pull", "-q", ref], timeout=3600)

    def tag(self, ref: str, new: str) -> None:
        """`buildah tag REF NEW`."""
        self._run(f"buildah tag {ref} {new}", ["tag", ref, new], timeout=120)

    def remove(self, ref: str) -> None:
        """`buildah rmi REF` (no error when it is already gone)."""
        try:
            self._run(f"buildah rmi {ref}", ["rmi", ref], timeout=300)
        except InvalidInputError:
            return

    def push_archive(self, ref: str, path: Path, *, fmt: str = "docker-archive") -> None:
        """Write image `ref` to `path` as an uncompressed docker-archive or oci-archive (named `ref`)."""
        if fmt not in ("docker-archive", "oci-archive"):
            raise InvalidInputError(
                f"buildah cannot write a {fmt}", hint="Use docker-archive or oci-archive."
            )
        self._run(f"buildah push {ref}", ["push", "-q", ref, f"{fmt}:{path}:{ref}"], timeout=3600)


def _stream(cmd: list[str], what: str, log: Callable[[str], None] | None) -> None:
    tail: list[str] = []
    try:
        proc = subprocess.Popen(  # noqa: S603 - fixed argument list
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
    except OSError as exc:
        raise EngineUnavailableError(f"cannot run {cmd[0]}: {exc}", hint=INSTALL_HINT) from exc
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        tail.append(line)
        del tail[:-15]
        if log:
            log(line)
    if proc.wait() != 0:
        raise RemoteError(
            f"{what} failed (exit {proc.returncode}): " + " | ".join(t for t in tail[-5:] if t.strip()),
            hint="Read the build output above; fix the Dockerfile step that failed and build again.",
        )
