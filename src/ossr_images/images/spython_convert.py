"""A Dockerfile as an Apptainer definition, with spython (the Singularity Python library), for machines
without Docker: `build singularity Dockerfile` converts, keeps the definition beside the image and builds it.

spython's conversion is kept as it is, with three repairs for what Apptainer needs: `FROM scratch` becomes
`Bootstrap: scratch` (there is no `scratch` image to pull), the labels are the Dockerfile's own as read by
ossr-images (spython writes `key=value` pairs as one label name), and a scratch image's run script does not
call /bin/bash (there is none).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ossr_images.atomic import atomic_write
from ossr_images.errors import EngineUnavailableError, InvalidInputError

HEADER = (
    "# Converted from {recipe} by ossr-images with spython {version}: edit the Dockerfile, not this file."
)
_MARK = "by ossr-images with spython"
_DOCKERFILE_NAMES = re.compile(r"(^|[._-])(dockerfile|containerfile)([._-]|$)", re.IGNORECASE)


def is_dockerfile(path: Path, text: str) -> bool:
    """True when `path` is a Dockerfile (by name, or its first instruction is FROM or ARG) rather than
    an Apptainer definition (which starts with `Bootstrap:`)."""
    if _DOCKERFILE_NAMES.search(path.name):
        return True
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if re.match(r"^bootstrap\s*:", stripped, re.IGNORECASE):
            return False
        return bool(re.match(r"^(FROM|ARG)\s", stripped, re.IGNORECASE))
    return False


def spython_version() -> str:
    """The installed spython's version (EngineUnavailableError when it is missing)."""
    try:
        import spython
    except ImportError as exc:
        raise EngineUnavailableError(
            "spython is not installed, so a Dockerfile cannot be converted to an Apptainer definition",
            hint="pip install spython (it comes with ossr-images), or write the definition file yourself.",
        ) from exc
    return str(getattr(spython, "__version__", "unknown"))


def dockerfile_to_definition(text: str, *, recipe: str, labels: Mapping[str, str] | None = None) -> str:
    """The Apptainer definition of Dockerfile `text` (`recipe` names it in the header comment;
    `labels`: the Dockerfile's own labels, as `dockerfile.dockerfile_labels` reads them)."""
    version = spython_version()
    from spython.main.parse.parsers import DockerParser
    from spython.main.parse.writers import SingularityWriter

    with tempfile.TemporaryDirectory(prefix="ossr-spython-") as tmp:
        path = Path(tmp) / "Dockerfile"
        path.write_text(text, encoding="utf-8")
        try:
            converted = SingularityWriter(DockerParser(str(path)).recipe).convert()
        except Exception as exc:  # spython raises bare exceptions (and SystemExit) on what it cannot parse
            raise InvalidInputError(
                f"spython cannot convert {recipe}: {exc}",
                hint="Write an Apptainer definition file for it, or build with docker/buildah.",
            ) from exc
    return _repair(converted, HEADER.format(recipe=recipe, version=version), labels or {})


def _repair(definition: str, header: str, labels: Mapping[str, str]) -> str:
    lines = definition.splitlines()
    scratch = False
    out: list[str] = [header]
    section = None
    for i, line in enumerate(lines):
        m = re.match(r"^%(\w+)", line)
        if m:
            section = m.group(1).lower()
            if section == "labels":
                out.append(line)
                out.extend(f"    {k} {' '.join(str(v).split())}" for k, v in labels.items())
                continue
        elif section == "labels":
            continue  # spython's labels are replaced by the Dockerfile's own (above)
        if (
            line.strip().lower() == "bootstrap: docker"
            and i + 1 < len(lines)
            and lines[i + 1].strip().lower() == "from: scratch"
        ):
            out.append("Bootstrap: scratch")
            scratch = True
            continue
        if scratch and line.strip().lower() == "from: scratch":
            continue
        if scratch and section in ("runscript", "startscript"):
            line = line.replace("exec /bin/bash ", "exec ")
        out.append(line)
    text = "\n".join(out) + "\n"
    if labels and "%labels" not in text:
        text += "%labels\n" + "".join(f"    {k} {' '.join(str(v).split())}\n" for k, v in labels.items())
    return text


def converted_path(out: Path) -> Path:
    """Where the converted definition of the image `out` is kept: `NAME.converted.def` beside it."""
    return out.with_name(f"{out.name.split('.')[0] or out.name}.converted.def")


def write_converted(path: Path, text: str) -> None:
    """Write the converted definition (atomically). A file of that name not written by ossr-images is
    never overwritten: InvalidInputError names it."""
    if path.exists():
        try:
            old = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            old = ""
        first = old.splitlines()[0] if old.strip() else ""
        if _MARK not in first:
            raise InvalidInputError(
                f"{path} exists and was not written by ossr-images",
                hint="Move it away, or choose another output name with -o.",
            )
    with atomic_write(path, text=True) as fh:
        fh.write(text)
