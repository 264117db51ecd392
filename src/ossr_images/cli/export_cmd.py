"""`ossr-images export REF -o OUT`: an image from the Docker engine, a registry or a file, to a file."""

from __future__ import annotations

from pathlib import Path

import click

from ossr_images.cli.common import emit_json, info, is_quiet, json_option


@click.command("export")
@click.argument("ref", metavar="REF")
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["docker-archive", "oci-archive", "sif"]),
    default="docker-archive",
    show_default=True,
    help="Archive format to write.",
)
@click.option(
    "--compress",
    type=click.Choice(["zstd", "gzip", "none"]),
    default=None,
    help="Compression of an archive [default: zstd; none for sif].",
)
@click.option(
    "--tls-verify/--no-tls-verify",
    default=None,
    help="Verify the registry's TLS certificate [default: yes, except for loopback registries].",
)
@json_option
@click.pass_context
def export(
    ctx: click.Context,
    ref: str,
    out: Path,
    fmt: str,
    compress: str | None,
    tls_verify: bool | None,
    as_json: bool,
) -> None:
    """Export an image to a file that Zenodo can keep.

    \b
    REF is one of:
      docker-daemon:NAME:TAG         an image in the Docker engine (streamed through the Docker SDK)
      docker://REGISTRY/REPO:TAG     an image in a registry, without a daemon (through skopeo)
      FILE                           an archive or .sif to re-pack or convert (docker/oci -> sif with Apptainer)

    The file appears under OUT only when complete. zstd (all cores) is fast and small; load a .tar.zst with
    `zstd -dc OUT | docker load`.

    \b
    Examples:
      ossr-images export docker-daemon:hello:1.0 -o hello.tar.zst
      ossr-images export docker://ghcr.io/org/app:1.2 -o app.tar.gz --compress gzip
      ossr-images export hello.tar.zst -o hello.sif --format sif
    """
    from ossr_images.cli.progress import Progress
    from ossr_images.images.export import export_image

    quiet = is_quiet(ctx)
    verbose = int((ctx.find_root().obj or {}).get("verbose") or 0)
    with Progress(None, f"Exporting {ref}", enabled=not (quiet or as_json)) as progress:
        result = export_image(
            ref,
            out,
            fmt=fmt,
            compress=compress,
            progress=progress,
            tls_verify=tls_verify,
            log=info if verbose else None,
        )
    if as_json:
        emit_json(result.to_dict())
        return
    for step in result.steps:
        info(f"  {step}")
    click.echo(f"Wrote {result.path} ({result.format}, {result.compression}, {result.size} bytes)")
    click.echo(f"SHA-256:   {result.sha256}")
    if result.image_id:
        click.echo(f"Image ID:  {result.image_id}")
    click.echo(f"Load with: {result.load_instructions}")
