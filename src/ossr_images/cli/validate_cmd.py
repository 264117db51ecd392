"""`ossr-images validate`: offline checks of CodeMeta, the source link and image labels."""

from __future__ import annotations

from pathlib import Path

import click

from ossr_images.cli.common import emit_json, info, json_option, source_options
from ossr_images.errors import InvalidInputError, Problem
from ossr_images.workflows.validate import ValidationResult, run_validate


@click.command("validate")
@click.argument(
    "codemeta",
    required=False,
    default="codemeta.json",
    type=click.Path(path_type=Path),
    metavar="[CODEMETA]",
)
@click.option(
    "--image",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also check this image (Docker/OCI archive or .sif): its source and revision labels must match.",
)
@source_options(
    repo_help="The git checkout the image is built from [default: the one holding CODEMETA].",
    dirty_help="Accept uncommitted changes in the checkout (a warning).",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@json_option
def validate(
    codemeta: Path,
    image: Path | None,
    repo_dir: Path | None,
    commit: str | None,
    allow_dirty: bool,
    strict: bool,
    as_json: bool,
) -> None:
    """Check a CodeMeta file, its link to a source commit and, with --image, the image's labels.

    Everything is checked offline and reported at once: each problem with its JSON pointer (into
    CODEMETA, or /source/... for the source link, or the image's label), a severity and a hint.
    CODEMETA defaults to ./codemeta.json. The commit comes from --commit, else the git checkout (--repo,
    default: the one holding CODEMETA), else CI variables (GitHub Actions, GitLab CI).

    \b
    Exit status: 0 valid (warnings allowed unless --strict), 1 invalid.
    With --json, stdout holds one document: {valid, problems, source, zenodo_metadata}.
    """
    result = run_validate(
        codemeta, image=image, repo_dir=repo_dir, commit=commit, allow_dirty=allow_dirty, strict=strict
    )
    if as_json:
        emit_json(result.to_dict())
        info(verdict(result, codemeta))
    else:
        for line in render_problems(result.problems):
            click.echo(line)
        if result.source is not None:
            click.echo(source_line(result))
        click.echo(verdict(result, codemeta))
    if not result.valid:
        n_err = len(result.errors)
        raise InvalidInputError(
            f"{codemeta} is not valid: {n_err} error{'s' if n_err != 1 else ''}"
            + (" (warnings count as errors with --strict)" if strict else ""),
            "Fix the problems listed above and run `ossr-images validate` again.",
        )


def render_problems(problems: list[Problem]) -> list[str]:
    """One line per problem: `error /license: message (hint: ...)`."""
    lines = []
    for p in problems:
        where = p.path or "(file)"
        hint = f" (hint: {p.hint})" if p.hint else ""
        lines.append(f"{p.severity} {where}: {p.message}{hint}")
    return lines


def source_line(result: ValidationResult) -> str:
    src = result.source
    assert src is not None
    state = {True: "dirty", False: "clean", None: "work tree not checked"}[src.dirty]
    ref = f", {src.ref}" if src.ref else ""
    return f"source: {src.repository} at {src.commit} ({src.origin}{ref}, {state})"


def verdict(result: ValidationResult, codemeta: Path) -> str:
    n_err, n_warn = len(result.errors), len(result.warnings)
    counts = f"{n_err} error{'s' if n_err != 1 else ''}, {n_warn} warning{'s' if n_warn != 1 else ''}"
    if result.valid:
        return f"VALID: {codemeta} ({counts})"
    return f"INVALID: {codemeta} ({counts})"
