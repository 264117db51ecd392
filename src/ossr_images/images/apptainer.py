"""Apptainer / Singularity: find the binary, build a .sif from a definition file (with %labels added) or
from a docker archive, read labels back.

No wrapper library: ossr-images finds `apptainer` (then `singularity`) itself and runs it directly, streaming
the build log (a wrapper that only ever runs `singularity` fails where only `apptainer` is installed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from ossr_images.errors import EngineUnavailableError, InvalidInputError, RemoteError

INSTALL_HINT = (
    "Install Apptainer (https://apptainer.org/docs/admin/main/installation.html) or SingularityCE, make "
    "sure `apptainer` or `singularity` is on PATH, or set OSSR_IMAGES_APPTAINER to its path."
)


def find_apptainer() -> str | None:
    """The path of `apptainer`, else `singularity` (OSSR_IMAGES_APPTAINER wins when set), or None."""
    override = os.environ.get("OSSR_IMAGES_APPTAINER")
    if override:
        return shutil.which(override) or (override if os.access(override, os.X_OK) else None)
    return shutil.which("apptainer") or shutil.which("singularity")


def require_apptainer() -> str:
    """Like find_apptainer, but raises EngineUnavailableError when there is none."""
    binary = find_apptainer()
    if not binary:
        raise EngineUnavailableError("neither apptainer nor singularity is on PATH", hint=INSTALL_HINT)
    return binary


def apptainer_version(binary: str | None = None) -> str:
    """E.g. "apptainer version 1.4.5"."""
    binary = binary or require_apptainer()
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise EngineUnavailableError(f"cannot run {binary}: {exc}", hint=INSTALL_HINT) from exc
    return (out.stdout or out.stderr).strip()


# ------------------------------------------------------------------------------------------ definitions
_SECTION = re.compile(r"^%(\w+)\b", re.MULTILINE)


def definition_labels(text: str) -> dict[str, str]:
    """The labels of the %labels section of a definition file ("KEY VALUE" lines)."""
    labels: dict[str, str] = {}
    in_labels = False
    for line in text.splitlines():
        stripped = line.strip()
        m = re.match(r"^%(\w+)", stripped)
        if m:
            in_labels = m.group(1).lower() == "labels"
            continue
        if in_labels and stripped and not stripped.startswith("#"):
            key, _, value = stripped.partition(" ")
            labels[key] = value.strip()
    return labels


def _label_line(key: str, value: str) -> str:
    value = " ".join(str(value).split())
    return f"    {key} {value}"


def definition_with_labels(text: str, labels: dict[str, str]) -> str:
    """The definition with `labels` added to its %labels section (created when missing). Labels the
    definition already sets are kept; the caller checks they do not contradict the source link."""
    existing = definition_labels(text)
    extra = [_label_line(k, v) for k, v in labels.items() if k not in existing]
    if not extra:
        return text
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*%labels\b", line, re.IGNORECASE):
            return "\n".join(lines[: i + 1] + extra + lines[i + 1 :]) + "\n"
    body = text if text.endswith("\n") else text + "\n"
    return body + "\n%labels\n" + "\n".join(extra) + "\n"


# ------------------------------------------------------------------------------------------ build


def build_sif(
    source: str,
    out: Path,
    *,
    binary: str | None = None,
    log: Callable[[str], None] | None = None,
    cwd: Path | None = None,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """`apptainer build out source` (source: a definition file, `docker-archive:PATH`, `oci-archive:PATH`,
    ...), streaming its output to `log`. Raises RemoteError with the last lines of output on failure.
    `env`: variables added to the environment (e.g. SOURCE_DATE_EPOCH)."""
    binary = binary or require_apptainer()
    cmd = [binary, "build", "--force", *(extra_args or []), str(out), source]
    tail: list[str] = []
    try:
        proc = subprocess.Popen(  # noqa: S603 - fixed argument list
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            cwd=str(cwd) if cwd else None,
            env={**os.environ, **env} if env else None,
        )
    except OSError as exc:
        raise EngineUnavailableError(f"cannot run {binary}: {exc}", hint=INSTALL_HINT) from exc
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        tail.append(line)
        del tail[:-15]
        if log:
            log(line)
    if proc.wait() != 0:
        raise RemoteError(
            f"{Path(binary).name} build of {source} failed (exit {proc.returncode}): "
            + " | ".join(t for t in tail[-5:] if t.strip()),
            hint="Read the build output above; building from a definition file may need --fakeroot or root.",
        )


def inspect_labels(sif: Path, *, binary: str | None = None) -> dict[str, str]:
    """Labels as `apptainer inspect --json --labels` reports them (data.attributes.labels)."""
    binary = binary or require_apptainer()
    proc = subprocess.run(  # noqa: S603
        [binary, "inspect", "--json", "--labels", str(sif)], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise RemoteError(
            f"{Path(binary).name} inspect {sif} failed: {proc.stderr.strip()[:400]}",
            hint="Check the file with `ossr-images inspect`.",
        )
    try:
        doc = json.loads(proc.stdout)
        labels = doc["data"]["attributes"].get("labels") or {}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(
            f"unexpected output of {Path(binary).name} inspect --json --labels: {proc.stdout[:200]!r}",
            hint="Use `ossr-images inspect FILE`, which reads the labels itself.",
        ) from exc
    return {str(k): str(v) for k, v in labels.items()}
