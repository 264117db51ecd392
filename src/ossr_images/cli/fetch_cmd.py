"""`ossr-images fetch`: get an archived image back, prove it is the one, load it, name its source."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ossr_images.cli.common import emit_json, human_size, info, is_quiet, json_option, target_options

if TYPE_CHECKING:  # the workflow is imported when the command runs (the CLI loads lazily)
    from ossr_images.workflows.fetch import FetchedFile, FetchResult


@click.command("fetch")
@click.argument("identifier", metavar="DOI|URL|ID")
@target_options
@click.option(
    "-d",
    "--dir",
    "dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the files (DIR/<key>; created when missing) [default: ./zenodo-<record id>].",
)
@click.option(
    "--only",
    type=click.Choice(["image", "metadata"]),
    help="Fetch only the image file, or only the metadata files.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace files in DIR that differ from the record's; on a provenance disagreement, leave the "
    "files under their own names (exit status 3 still).",
)
@click.option(
    "--load",
    type=click.Choice(["docker", "singularity"]),
    help="Load the image into Docker (checking the image ID), or keep/build a .sif for Apptainer.",
)
@click.option(
    "--source",
    "source_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also clone the source repository at the recorded commit into this folder.",
)
@click.option(
    "--allow-unverified",
    is_flag=True,
    help="Keep files for which the record gives no checksum (reported as NOT verified) instead of refusing "
    "them (exit status 3).",
)
@json_option
@click.pass_context
def fetch(
    ctx: click.Context,
    identifier: str,
    sandbox: bool,
    zenodo_url: str | None,
    token_file: str | None,
    allow_insecure_http: bool,
    api: str,
    dest: Path | None,
    only: str | None,
    force: bool,
    load: str | None,
    source_dir: Path | None,
    allow_unverified: bool,
    as_json: bool,
) -> None:
    """Download a record, verify every byte and the image's provenance, optionally load it.

    DOI|URL|ID is a DOI (10.5281/zenodo.N, 10.5072/zenodo.N on the sandbox), a record or DOI URL, or a
    record id; a concept DOI or id gives the latest version. Each file is verified by the md5 the Zenodo
    record gives and, for the image, the sha256 its image metadata file gives; a file with no checksum to
    compare is refused (exit status 3) unless --allow-unverified. The image's labels, its metadata file and
    the Zenodo record must name the same repository and commit (exit status 3 otherwise, and the files are
    moved aside to DIR/<key>.unverified-provenance).

    \b
    Examples:
      ossr-images fetch 10.5281/zenodo.1234567 --load docker
      ossr-images fetch https://sandbox.zenodo.org/records/123 -d img --source src
    """
    from ossr_images.cli.progress import Progress
    from ossr_images.workflows.fetch import FetchOptions, resolve_fetch_target
    from ossr_images.workflows.fetch import fetch as run_fetch

    quiet = is_quiet(ctx)
    ref, target = resolve_fetch_target(
        identifier,
        sandbox=sandbox,
        zenodo_url=zenodo_url,
        token_file=token_file,
        allow_insecure_http=allow_insecure_http,
        api=api,
    )
    info(f"Reading record {ref.record_id or ref.doi} from {target.api_url}")
    options = FetchOptions(
        dest=dest, only=only, force=force, load=load, source_dir=source_dir, allow_unverified=allow_unverified
    )

    def progress_factory(total: int, description: str) -> Progress:
        return Progress(total or None, description, enabled=not (quiet or as_json))

    result = run_fetch(
        ref, target, options, requested=identifier, progress_factory=progress_factory, notify=info
    )
    for warning in result.warnings:
        info(f"Warning: {warning}")
    if as_json:
        emit_json(result.to_dict())
        return
    _print_human(result)


def _verification(f: FetchedFile) -> str:
    """What was checked, in words: "md5 verified", "md5 + sha256 verified", or why it is not verified."""
    if f.verified:
        return " + ".join(f.checked) + " verified"
    return "NOT verified: the record gives no checksum for it"


def _print_human(result: FetchResult) -> None:
    """Where everything is, and the provenance, on stdout (the result of the command)."""
    out = click.echo
    title = (
        f" ({result.title}{', version ' + result.version if result.version else ''})" if result.title else ""
    )
    out(f"Record {result.record_id}{title}")
    if result.doi:
        out(f"  DOI         {result.doi}")
    if result.conceptdoi:
        latest = "  (the latest version was fetched)" if result.from_concept else ""
        out(f"  concept DOI {result.conceptdoi}{latest}")
    out(f"Files in {result.directory}:")
    for f in result.files:
        if f.path is None:
            continue
        how = "downloaded" if f.downloaded else "already there"
        out(f"  {f.key}  ({human_size(f.size)}, {how}, {_verification(f)})")
    if result.image_key and result.image_format:
        ident = f", image ID {result.image_id}" if result.image_id else ""
        fetched = "" if result.image_fetched else "; not fetched"
        out(f"Image: {result.image_key} ({result.image_format}{ident}{fetched})")
    if result.repository and result.commit:
        if not result.provenance_checked:
            checked = "from the Zenodo record only; not verified"
        elif result.image_fetched:
            checked = "verified: image labels, image metadata file and Zenodo record agree"
        else:
            checked = "verified: image metadata file and Zenodo record agree; image labels not read"
        out(f"Provenance: built from {result.repository} at {result.commit} ({checked})")
    else:
        out("Provenance: could not be checked (no image metadata file in this record)")
    if result.checkout:
        out(f"Source: {result.checkout} (checked out at {result.commit})")
    if result.loaded:
        loaded = result.loaded
        if loaded.engine == "docker":
            out(f"Loaded into Docker: {loaded.ref} (image ID {loaded.image_id}, matches the archive)")
        else:
            out(f"Apptainer image: {loaded.path}")
        out(f"Run it with: {loaded.command}")
    elif result.image and result.image.run_command and result.image_fetched:
        load_command = result.image.load_command
        if load_command and not load_command.startswith("#"):
            out(f"Load it with: (cd {result.directory} && {load_command})  [or fetch with --load]")
        out(f"Run it with: {result.image.run_command}")
