"""`validate`: every offline check in one pass — CodeMeta, the source link, the Zenodo crosswalk and (with an
image) the image's labels. Returns a `ValidationResult`; never prints, never exits."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ossr_images.errors import HasProblems, OssrError, Problem
from ossr_images.metadata.codemeta import CodeMeta, load_codemeta
from ossr_images.metadata.crosswalk import ZenodoMetadata, to_zenodo_metadata
from ossr_images.metadata.source import SourceLink, inspect_source


@dataclass
class ValidationResult(HasProblems):
    """valid: no error (and, with strict, no warning). problems: every finding, in file order.
    codemeta/source/zenodo_metadata: what could be worked out (None otherwise); image: the images.inspect
    ImageInfo when --image was given and could be read."""

    valid: bool
    problems: list[Problem] = field(default_factory=list)
    codemeta: CodeMeta | None = None
    source: SourceLink | None = None
    zenodo_metadata: ZenodoMetadata | None = None
    image: Any | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `validate --json` document: valid, problems, source, zenodo_metadata."""
        src = self.source
        return {
            "valid": self.valid,
            "problems": [p.to_dict() for p in self.problems],
            "source": {
                "repository": src.repository if src else None,
                "commit": src.commit if src else None,
                "dirty": src.dirty if src else None,
            },
            "zenodo_metadata": self.zenodo_metadata.to_deposit() if self.zenodo_metadata else None,
        }


def run_validate(
    codemeta_path: Path | str,
    *,
    image: Path | str | None = None,
    repo_dir: Path | str | None = None,
    commit: str | None = None,
    allow_dirty: bool = False,
    strict: bool = False,
    communities: Sequence[str] = ("escape2020",),
    env: Mapping[str, str] | None = None,
    image_info: Any = None,
) -> ValidationResult:
    """Check a CodeMeta file, its source link (git checkout, --commit or CI variables) and, with `image`,
    the image's labels; build the Zenodo metadata preview. Raises InvalidInputError only when the CodeMeta
    file cannot be read; every other finding is a Problem in the result. `image_info`: the ImageInfo of
    `image` when the caller already has it (then the file is not read again)."""
    codemeta_path = Path(codemeta_path)
    report = load_codemeta(codemeta_path)
    problems = list(report.problems)
    codemeta = report.codemeta
    source: SourceLink | None = None
    zenodo: ZenodoMetadata | None = None

    if codemeta is not None:
        source_report = inspect_source(
            codemeta.code_repository,
            codemeta_path=codemeta_path,
            repo_dir=repo_dir,
            commit=commit,
            allow_dirty=allow_dirty,
            env=os.environ if env is None else env,
        )
        reported = {p.path for p in problems}
        for problem in source_report.problems:
            if problem.path == "/source/repository" and "/codeRepository" in reported:
                continue  # the missing codeRepository is already reported
            problems.append(problem)
        source = source_report.source
        zenodo = to_zenodo_metadata(codemeta, source, communities=tuple(communities))
        problems.extend(_zenodo_problems(zenodo, reported))

    if image is not None:
        image_info, image_problems = _check_image(Path(image), codemeta, source, image_info)
        problems.extend(image_problems)
    else:
        image_info = None

    if strict:
        problems = [replace(p, severity="error") if p.severity == "warning" else p for p in problems]
    valid = codemeta is not None and not any(p.severity == "error" for p in problems)
    return ValidationResult(valid, problems, codemeta, source, zenodo, image_info)


def _zenodo_problems(zenodo: ZenodoMetadata, reported: set[str]) -> list[Problem]:
    """What Zenodo itself would refuse at publish time, beyond the CodeMeta rules."""
    out: list[Problem] = []
    if zenodo.title is not None and len(zenodo.title.strip()) < 3 and "/name" not in reported:
        out.append(
            Problem(
                "/name",
                "error",
                f"name {zenodo.title!r} is too short for a Zenodo title (3 characters or more)",
                "write the software's full name",
                source="zenodo",
            )
        )
    if (
        zenodo.description is not None
        and len(zenodo.description.strip()) < 3
        and "/description" not in reported
    ):
        out.append(
            Problem(
                "/description",
                "error",
                "description is too short for Zenodo (3 characters or more)",
                "write one sentence about the software",
                source="zenodo",
            )
        )
    return out


def _check_image(
    image: Path, codemeta: CodeMeta | None, source: SourceLink | None, info: Any = None
) -> tuple[Any | None, list[Problem]]:
    """The image hook: read the archive or .sif without an engine and compare its labels with CodeMeta and
    the source link. Returns (ImageInfo or None, problems)."""
    from ossr_images.images.inspect import inspect_image
    from ossr_images.metadata.labels import check_labels

    try:
        info = info if info is not None else inspect_image(image, sha256=False)
    except OssrError as exc:
        return None, [Problem("/image", "error", exc.message, exc.hint, source=str(image))]
    return info, list(check_labels(getattr(info, "labels", None) or {}, codemeta, source))
