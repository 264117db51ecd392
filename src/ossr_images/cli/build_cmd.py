"""`ossr-images build docker|singularity`: build with a real engine, writing the OCI provenance labels
(source, revision, version, created, licenses, title, ...) from CodeMeta and git, then export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ossr_images.cli.common import emit_json, info, is_quiet, json_option, source_options

_provenance_options = source_options(
    codemeta_help="The source's CodeMeta file [default: codemeta.json in --repo, beside the input, or here].",
    repo_help="The git checkout being built [default: the one holding the CodeMeta file].",
)


def _find_codemeta(explicit: Path | None, *candidates: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    for folder in candidates:
        if folder is not None and (folder / "codemeta.json").is_file():
            return folder / "codemeta.json"
    return None


def _provenance(codemeta_path: Path | None, repo_dir: Path | None, commit: str | None, allow_dirty: bool):
    """(CodeMeta or None, SourceLink): warnings are shown, a missing source link is an error."""
    from ossr_images.metadata.codemeta import load_codemeta
    from ossr_images.metadata.source import resolve_source

    codemeta = None
    if codemeta_path is not None:
        report = load_codemeta(codemeta_path)
        for p in report.problems:
            info(f"{p.severity.capitalize()}: {codemeta_path}#{p.path}: {p.message}")
        codemeta = report.codemeta
    else:
        info(
            "Warning: no codemeta.json found: only the source and revision labels are written (use --codemeta)."
        )
    source = resolve_source(
        codemeta.code_repository if codemeta else None,
        codemeta_path=codemeta_path,
        repo_dir=repo_dir,
        commit=commit,
        allow_dirty=allow_dirty,
    )
    info(f"Source: {source.repository} at {source.commit}" + (" (dirty)" if source.dirty else ""))
    return codemeta, source


class _LazyProgress:
    """A progress bar that starts with the first byte exported (not with the build before it)."""

    def __init__(self, description: str, enabled: bool) -> None:
        self.description = description
        self.enabled = enabled
        self._bar: Any = None

    def __call__(self, nbytes: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from ossr_images.cli.progress import Progress

            self._bar = Progress(None, self.description, enabled=True)
        self._bar(nbytes)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _report(result: Any, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    for p in result.problems:
        info(f"Warning: {p.message}")
    if result.image_id:
        click.echo(f"Built {result.tag}: {result.image_id} ({result.engine} {result.engine_version})")
    else:
        click.echo(f"Built with {result.engine_version}")
    for key in sorted(result.labels):
        if key.startswith("org.opencontainers.image."):
            click.echo(f"  {key}={result.labels[key]}")
    if result.export:
        e = result.export
        click.echo(f"Wrote {e.path} ({e.format}, {e.compression}, {e.size} bytes)")
        click.echo(f"SHA-256:   {e.sha256}")
        click.echo(f"Load with: {e.load_instructions}")


@click.group("build")
def build() -> None:
    """Build an image with a real engine, labelled with its source repository and commit."""


@build.command("docker")
@click.argument("context", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-f",
    "--file",
    "dockerfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dockerfile [default: CONTEXT/Dockerfile].",
)
@click.option("-t", "--tag", help="Image name:tag [default: CodeMeta name:version].")
@_provenance_options
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also export the image to this file (docker-archive).",
)
@click.option(
    "--compress",
    type=click.Choice(["zstd", "gzip", "none"]),
    default="zstd",
    show_default=True,
    help="Compression of the exported archive.",
)
@json_option
@click.pass_context
def build_docker_cmd(
    ctx: click.Context,
    context: Path,
    dockerfile: Path | None,
    tag: str | None,
    codemeta: Path | None,
    repo_dir: Path | None,
    commit: str | None,
    allow_dirty: bool,
    out: Path | None,
    compress: str,
    as_json: bool,
) -> None:
    """Build CONTEXT with the Docker engine (DOCKER_HOST) and OCI provenance labels.

    Labels the Dockerfile sets itself are kept, unless they contradict the source link (an error). The build
    log is streamed to stderr; the labels on the built image are read back and checked.

    \b
    Examples:
      ossr-images build docker . -t hello:1.0 -o hello.tar.zst
      ossr-images build docker ctx -f ctx/Dockerfile.prod --codemeta codemeta.json --commit $SHA
    """
    from ossr_images.images.build import build_docker

    quiet = is_quiet(ctx)
    cm_path = _find_codemeta(codemeta, repo_dir, context, Path("."))
    cm, source = _provenance(cm_path, repo_dir or (None if cm_path else context), commit, allow_dirty)
    progress = _LazyProgress("Exporting", enabled=bool(out) and not (quiet or as_json))
    try:
        result = build_docker(
            context,
            dockerfile=dockerfile,
            tag=tag,
            codemeta=cm,
            source=source,
            out=out,
            compress=compress,
            log=None if quiet else lambda line: click.echo(line, err=True) if line.strip() else None,
            progress=progress,
        )
    finally:
        progress.close()
    _report(result, as_json)


@build.command("singularity")
@click.argument("definition", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@_provenance_options
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .sif to write [default: DEFINITION with .sif].",
)
@json_option
@click.pass_context
def build_singularity_cmd(
    ctx: click.Context,
    definition: Path,
    codemeta: Path | None,
    repo_dir: Path | None,
    commit: str | None,
    allow_dirty: bool,
    out: Path | None,
    as_json: bool,
) -> None:
    """Build a .sif from an Apptainer/Singularity DEFINITION file, with the labels written into %labels.

    Finds `apptainer` (else `singularity`) on PATH. The .sif's labels are read back and checked.

    \b
    Example:
      ossr-images build singularity hello.def -o hello.sif
    """
    from ossr_images.images.build import build_singularity

    quiet = is_quiet(ctx)
    cm_path = _find_codemeta(codemeta, repo_dir, definition.parent, Path("."))
    cm, source = _provenance(
        cm_path, repo_dir or (None if cm_path else definition.parent), commit, allow_dirty
    )
    result = build_singularity(
        definition,
        out or definition.with_suffix(".sif"),
        codemeta=cm,
        source=source,
        log=None if quiet else lambda line: click.echo(line, err=True),
    )
    _report(result, as_json)


build.add_command(build_singularity_cmd, "apptainer")
