"""What the build dispatcher (`build`) and the engine-specific builds (`dockerfile_build`, `apptainer_build`)
share: the build result, how our provenance labels merge with a recipe's own, the LABEL instruction added to
a Dockerfile, and the refusal of a built image without the source link."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ossr_images.errors import IntegrityError, InvalidInputError, Problem
from ossr_images.images.export import ExportResult
from ossr_images.metadata import labels as L
from ossr_images.metadata.build_record import BuildRecord

PROVENANCE_KEYS = (L.SOURCE, L.REVISION, L.LEGACY_SOURCE, L.LEGACY_REVISION)


@dataclass
class BuildResult:
    """What a build made: engine, image ID or file, final labels, the export, problems found."""

    engine: str  # "docker", "buildah" or "apptainer"
    engine_version: str
    image_id: str | None
    tag: str | None
    labels: dict[str, str]
    created: str
    export: ExportResult | None = None
    problems: list[Problem] = field(default_factory=list)
    build: BuildRecord | None = None  # how it was built (the image metadata file's `build` section)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "engine_version": self.engine_version,
            "image_id": self.image_id,
            "tag": self.tag,
            "labels": self.labels,
            "created": self.created,
            "export": self.export.to_dict() if self.export else None,
            "problems": [p.to_dict() for p in self.problems],
            "build": self.build.to_json() if self.build else None,
        }


def merge_labels(ours: dict[str, str], theirs: dict[str, str], source: Any, where: str) -> dict[str, str]:
    """The labels to pass to the engine: ours, except keys `theirs` (the Dockerfile's or definition's own)
    sets. A provenance label of theirs that contradicts the source link raises InvalidInputError; one that
    depends on a build variable ($VAR) is overridden by ours."""
    if source is not None:
        for key in PROVENANCE_KEYS:
            value = theirs.get(key)
            if value is None or "$" in value:
                continue
            if key in (L.SOURCE, L.LEGACY_SOURCE):
                ok = L._same_repository(value, source.repository)
                wanted = source.repository
            else:
                ok = value.lower() == source.commit.lower() or (
                    len(value) >= 7 and source.commit.lower().startswith(value.lower())
                )
                wanted = source.commit
            if not ok:
                raise InvalidInputError(
                    f"{where} sets the label {key} to {value}, but the source link says {wanted}",
                    hint=f"Remove that label from {where} (ossr-images writes it), or build from the "
                    "repository and commit the label names.",
                )
    passed = {}
    for key, value in ours.items():
        mine = theirs.get(key)
        if mine is None or (key in PROVENANCE_KEYS and "$" in mine):
            passed[key] = value
    return passed


def dockerfile_with_labels(text: str, labels: dict[str, str]) -> str:
    """The Dockerfile with one LABEL instruction for `labels` appended (it applies to the final stage)."""
    if not labels:
        return text
    m = re.search(
        r"^#\s*escape\s*=\s*(\S)\s*$", "\n".join(text.splitlines()[:5]), re.MULTILINE | re.IGNORECASE
    )
    esc = m.group(1) if m else "\\"

    def quote(value: str) -> str:
        value = " ".join(value.split())
        return '"' + value.replace(esc, esc + esc).replace('"', esc + '"').replace("$", esc + "$") + '"'

    pairs = f" {esc}\n    ".join(f"{quote(k)}={quote(v)}" for k, v in labels.items())
    body = text if text.endswith("\n") else text + "\n"
    return f"{body}# provenance labels added by ossr-images\nLABEL {pairs}\n"


def refuse(problems: list[Problem], what: str) -> None:
    """Raise IntegrityError when `problems` hold an error (the built image lacks the source link)."""
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise IntegrityError(
            f"{what} does not carry the source link: " + "; ".join(p.message for p in errors),
            hint=errors[0].hint or "Build again.",
        )
