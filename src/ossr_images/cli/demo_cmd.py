"""`ossr-images demo`: the main job end to end on a local Zenodo stand-in, with no account and no engine."""

from __future__ import annotations

from pathlib import Path

import click

from ossr_images.cli.common import emit_json, info, is_quiet, json_option


@click.command("demo")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep every file (stand-in data, example repository, image, fetched copy) in this new folder.",
)
@json_option
@click.pass_context
def demo(ctx: click.Context, keep: Path | None, as_json: bool) -> None:
    """Publish the bundled example end to end on a local Zenodo stand-in, offline.

    Starts the stand-in on a free loopback port, makes a git repository from the bundled example project,
    writes a small image archive for it without any engine (labels naming that repository and commit),
    publishes it with the real publish code over HTTP, prints the DOI, then fetches it back and verifies it.
    Nothing leaves this machine; without --keep everything is removed at the end.
    """
    from ossr_images.cli.progress import Progress
    from ossr_images.cli.publish_cmd import result_summary
    from ossr_images.workflows.demo import run_demo

    quiet = is_quiet(ctx)

    def progress(total: int | None, description: str) -> Progress:
        return Progress(total, description, enabled=not (quiet or as_json))

    result = run_demo(keep=keep, notify=info, progress=progress)
    for warning in getattr(result.publish, "warnings", []):
        info(f"Warning: {warning.path or '-'}: {warning.message}")
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(result_summary(result.publish))
    click.echo(f"  Source:      {result.repository} @ {result.commit}")
    if result.fetch is not None:
        click.echo("Fetched back and verified.")
    if result.kept:
        click.echo(f"Files kept in {result.work_dir}")
    else:
        click.echo("The stand-in and its files were removed; use --keep DIR to keep them.")
