"""`ossr-images build docker|singularity`: build with a real engine, writing the OCI provenance labels
(source, revision, version, created, licenses, title, ...) from CodeMeta and git, then export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ossr_images.cli.common import emit_json, info, is_quiet, json_option, source_options, stack

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
    if result.build is not None:
        b = result.build
        bases = ", ".join(f"{x.ref}@{x.digest or x.image_id or '?'}" for x in b.base_images) or "none"
        click.echo(f"Recipe:    {b.recipe} (context {b.context}, platform {b.platform or '-'})")
        click.echo(f"Epoch:     SOURCE_DATE_EPOCH={b.source_date_epoch}   Base images: {bases}")
        if b.converted_recipe:
            click.echo(f"Converted: {b.converted_recipe} (spython)")
    if result.export:
        e = result.export
        click.echo(f"Wrote {e.path} ({e.format}, {e.compression}, {e.size} bytes)")
        click.echo(f"SHA-256:   {e.sha256}")
        click.echo(f"Load with: {e.load_instructions}")
        if result.build is not None:
            from ossr_images.metadata.build_record import sidecar_path

            click.echo(f"Build record: {sidecar_path(e.path)} (publish puts it in the image metadata file)")


def _spec(opts: dict[str, Any]) -> Any:
    """A BuildSpec from the recipe options (--target, --platform, --build-arg, --record-build-arg,
    --source-date-epoch)."""
    from ossr_images.images.build_spec import BuildSpec
    from ossr_images.metadata.build_record import parse_build_args

    values, recorded = parse_build_args(opts.get("build_args") or (), opts.get("record_build_args") or ())
    return BuildSpec(
        target=opts.get("target"),
        platform=opts.get("platform"),
        build_args=values,
        recorded_args=recorded,
        source_date_epoch=opts.get("source_date_epoch"),
    )


_epoch_option = click.option(
    "--source-date-epoch",
    type=click.IntRange(min=0),
    envvar="SOURCE_DATE_EPOCH",
    help="Unix time used for every timestamp of the build [default: the commit's date, git log -1 "
    "--format=%ct; env: SOURCE_DATE_EPOCH].",
)
_arg_options = stack(
    click.option(
        "--build-arg",
        "build_args",
        multiple=True,
        metavar="NAME=VALUE",
        help="A build argument (repeatable; NAME alone takes the environment's value). Recorded by name only.",
    ),
    click.option(
        "--record-build-arg",
        "record_build_args",
        multiple=True,
        metavar="NAME",
        help="Record this build argument's value in the build section (repeatable), so that a rebuild "
        "can pass it. Never use it for secrets.",
    ),
)
_recipe_options = stack(
    click.option("--target", metavar="STAGE", help="Build this stage of a multi-stage Dockerfile."),
    click.option("--platform", metavar="OS/ARCH", help="Target platform, e.g. linux/amd64."),
    _arg_options,
    _epoch_option,
)


def _dockerfile_command(engine: str) -> click.Command:
    """`build docker` and `build buildah`: the same options, another engine."""

    @click.command(engine)
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
    @_recipe_options
    @click.option(
        "-o",
        "--output",
        "out",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also export the image to this file (docker-archive), with its build record FILE.build.json.",
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
    def command(
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
        **recipe: Any,
    ) -> None:
        from ossr_images.images.build import build_buildah, build_docker

        quiet = is_quiet(ctx)
        cm_path = _find_codemeta(codemeta, repo_dir, context, Path("."))
        cm, source = _provenance(cm_path, repo_dir or (None if cm_path else context), commit, allow_dirty)
        spec = _spec(recipe)
        if repo_dir is not None:
            spec.repo_root = repo_dir.resolve()
        progress = _LazyProgress("Exporting", enabled=bool(out) and not (quiet or as_json))
        run = build_docker if engine == "docker" else build_buildah
        try:
            result = run(
                context,
                dockerfile=dockerfile,
                tag=tag,
                codemeta=cm,
                source=source,
                out=out,
                compress=compress,
                log=None if quiet else lambda line: click.echo(line, err=True) if line.strip() else None,
                progress=progress,
                spec=spec,
            )
        finally:
            progress.close()
        _report(result, as_json)

    return command


@click.group("build")
def build() -> None:
    """Build an image with a real engine, labelled with its source repository and commit, and record how
    (recipe, context, target, platform, build arguments, base image digests, SOURCE_DATE_EPOCH)."""


build_docker_cmd = _dockerfile_command("docker")
build_docker_cmd.help = """Build CONTEXT with the Docker engine (DOCKER_HOST) and OCI provenance labels.

    Labels the Dockerfile sets itself are kept, unless they contradict the source link (an error). The build
    log is streamed to stderr; the labels on the built image are read back and checked. SOURCE_DATE_EPOCH
    (the commit's date) gives the created label and is passed to a Dockerfile that declares
    `ARG SOURCE_DATE_EPOCH`; the legacy Docker builder cannot make file times reproducible (see
    docs/reproducibility.md): use `build buildah` for identical rebuilds.

    \b
    Examples:
      ossr-images build docker . -t hello:1.0 -o hello.tar.zst
      ossr-images build docker ctx -f ctx/Dockerfile.prod --codemeta codemeta.json --commit $SHA
      ossr-images build docker . --build-arg VERSION=1.2 --record-build-arg VERSION -o app.tar.zst
    """
build_buildah_cmd = _dockerfile_command("buildah")
build_buildah_cmd.help = """Build CONTEXT with Buildah (no daemon), reproducibly, with OCI provenance labels.

    Buildah runs with --timestamp SOURCE_DATE_EPOCH (the commit's date), no identity label and no cache,
    so two builds of one commit give the same image ID and layer digests. Storage and registries are
    Buildah's own settings (containers-storage.conf, registries.conf).

    \b
    Example:
      ossr-images build buildah . -t hello:1.0 -o hello.tar.zst
    """
build.add_command(build_docker_cmd, "docker")
build.add_command(build_buildah_cmd, "buildah")


@build.command("singularity")
@click.argument("definition", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@_provenance_options
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .sif to write [default: DEFINITION with .sif], with its build record FILE.build.json.",
)
@click.option(
    "--context",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder the build runs in (relative %files paths) [default: the working directory; for a "
    "Dockerfile, its folder].",
)
@_arg_options
@_epoch_option
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
    context: Path | None,
    as_json: bool,
    **recipe: Any,
) -> None:
    """Build a .sif from an Apptainer/Singularity DEFINITION file, or from a Dockerfile converted with
    spython (kept beside the image as NAME.converted.def), with the labels written into %labels.

    Finds `apptainer` (else `singularity`) on PATH. The .sif's labels are read back and checked.
    SOURCE_DATE_EPOCH (the commit's date) is set for the build. For machines without Docker (HPC login
    nodes): spython converts most Dockerfiles; check the converted definition.

    \b
    Examples:
      ossr-images build singularity hello.def -o hello.sif
      ossr-images build singularity Dockerfile -o hello.sif      # converted with spython
    """
    from ossr_images.images.build import build_singularity

    quiet = is_quiet(ctx)
    cm_path = _find_codemeta(codemeta, repo_dir, definition.parent, Path("."))
    cm, source = _provenance(
        cm_path, repo_dir or (None if cm_path else definition.parent), commit, allow_dirty
    )
    spec = _spec(recipe)
    if repo_dir is not None:
        spec.repo_root = repo_dir.resolve()
    result = build_singularity(
        definition,
        out or definition.with_suffix(".sif"),
        codemeta=cm,
        source=source,
        log=None if quiet else lambda line: click.echo(line, err=True),
        context=context,
        spec=spec,
    )
    _report(result, as_json)


build.add_command(build_singularity_cmd, "apptainer")
