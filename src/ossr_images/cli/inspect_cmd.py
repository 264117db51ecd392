"""`ossr-images inspect FILE`: what an image file holds, read without any engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ossr_images.cli.common import emit_json, human_size, is_quiet, json_option


def render(info: Any) -> list[str]:
    """Human lines for an ImageInfo."""
    lines = [
        f"File:           {info.path}",
        f"Format:         {info.format}"
        + (f" ({info.layout})" if info.layout and info.layout != "sif" else ""),
        f"Compression:    {info.compression}",
        f"Size:           {info.size} bytes ({human_size(info.size)})",
    ]
    if info.sha256:
        lines.append(f"SHA-256:        {info.sha256}")
    if info.image_id:
        lines.append(f"Image ID:       {info.image_id}")
    if info.manifest_digest:
        lines.append(f"Manifest:       {info.manifest_digest}")
    if info.repo_tags:
        lines.append(f"Tags:           {', '.join(info.repo_tags)}")
    if info.image_count > 1:
        lines.append(f"Images:         {info.image_count} (the first is described)")
    platform = "/".join(p for p in (info.os, info.architecture) if p)
    if platform:
        lines.append(f"Platform:       {platform}")
    if info.created:
        lines.append(f"Created:        {info.created}")
    kind = "Partitions" if info.format == "sif" else "Layers"
    total = sum(int(layer.get("size") or 0) for layer in info.layers)
    checked = ", each verified against its digest" if info.layers_verified else ""
    lines.append(f"{kind + ':':<16}{len(info.layers)} ({human_size(total)}{checked})")
    for layer in info.layers:
        name = layer.get("digest") or layer.get("fstype") or "-"
        lines.append(f"  {name}  {human_size(int(layer.get('size') or 0))}")
    if info.labels:
        lines.append("Labels:")
        for key in sorted(info.labels):
            lines.append(f"  {key}={info.labels[key]}")
    else:
        lines.append("Labels:         (none)")
    return lines


@click.command("inspect")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--verify", is_flag=True, help="Also hash every layer and compare it with its digest (same single pass)."
)
@click.option(
    "--no-sha256", is_flag=True, help="Do not hash the file (an uncompressed archive is then only seeked)."
)
@json_option
@click.pass_context
def inspect_cmd(ctx: click.Context, file: Path, verify: bool, no_sha256: bool, as_json: bool) -> None:
    """Show what an image file holds, without any engine.

    FILE is a Docker archive (`docker save`, legacy or with the OCI layout), an OCI image-layout archive
    (each plain, .gz or .zst) or an Apptainer/Singularity .sif. Reports the format, compression, size and
    sha256, the image ID (config digest) and manifest digest, tags, labels, platform, creation time and
    layers. One pass over the file; nothing is extracted.

    \b
    Examples:
      ossr-images inspect hello.tar.zst
      ossr-images inspect app.sif --json
    """
    from ossr_images.cli.progress import Progress
    from ossr_images.images.inspect import inspect_image

    quiet = is_quiet(ctx)
    total = file.stat().st_size if file.is_file() else None
    enabled = not (quiet or as_json) and bool(total and total > 256 * 1024 * 1024)
    with Progress(total, f"Reading {file.name}", enabled=enabled) as progress:
        info = inspect_image(file, sha256=not no_sha256, progress=progress, verify_layers=verify)
    if as_json:
        emit_json(info.to_dict())
        return
    for line in render(info):
        click.echo(line)
