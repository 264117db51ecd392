"""`ossr-images publish`: the main job. Validate locally, upload, verify, publish; safe to run again."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ossr_images.cli.common import emit_json, info, is_quiet, json_option, source_options, target_options
from ossr_images.cli.recipe_options import build_record_for, recipe_options
from ossr_images.errors import InvalidInputError

if TYPE_CHECKING:
    from ossr_images.workflows.publish_plan import PublishResult


def _interactive() -> bool:
    """True when a person can answer a prompt (stdin and stderr are terminals)."""
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _is_production(target: Any) -> bool:
    return getattr(target, "name", None) == "zenodo"


@click.command("publish")
@click.argument("image", metavar="IMAGE")
@source_options(
    codemeta_help="The source's CodeMeta file [default: codemeta.json in --repo or the current folder].",
    repo_help="The git checkout the image was built from (gives the repository URL and commit).",
)
@target_options
@recipe_options
@click.option(
    "--community",
    "communities",
    multiple=True,
    metavar="SLUG",
    help="Zenodo community to submit to (repeatable) [default: escape2020].",
)
@click.option("--no-community", is_flag=True, help="Submit to no community.")
@click.option(
    "--new-version-of",
    metavar="DOI",
    help="Make a new version of this earlier image record (else found automatically by repository).",
)
@click.option("--draft", is_flag=True, help="Upload and verify, but leave the deposition unpublished.")
@click.option(
    "--dry-run", is_flag=True, help="Do every local step, show the metadata and files; send nothing."
)
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation before publishing on zenodo.org."
)
@json_option
@click.pass_context
def publish(
    ctx: click.Context,
    image: str,
    codemeta: Path | None,
    repo_dir: Path | None,
    commit: str | None,
    allow_dirty: bool,
    sandbox: bool,
    zenodo_url: str | None,
    token_file: str | None,
    allow_insecure_http: bool,
    api: str,
    communities: tuple[str, ...],
    no_community: bool,
    new_version_of: str | None,
    draft: bool,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Publish a container image on Zenodo with the CodeMeta of its source and an image metadata file.

    IMAGE is an image file uploaded byte for byte (docker archive .tar/.tar.zst/.tar.gz, OCI archive, or
    .sif), or an engine reference exported on the fly: docker-daemon:NAME:TAG or docker://REGISTRY/REPO:TAG.

    Everything local is checked first (CodeMeta, source repository and commit, image labels, Zenodo's
    limits); nothing is sent before that passes. Each upload is verified by the md5 and size Zenodo returns
    for it; the image's sha256 is written into the image metadata file, where `fetch` checks it. Running the same command again is safe: an unfinished
    draft is continued (files already uploaded are not sent again) and a release that is already published
    is reported, not duplicated.

    A new commit of a repository already archived becomes a new version of its newest image record (a
    record with the keyword ossr-images:container-image and this repository, never the source code's own
    record), unless --new-version-of says which.

    \b
    Exit status: 0 published (or already published), 1 invalid input or local check failed,
    3 checksum/provenance disagreement, 4 Zenodo refused or failed, 130 interrupted.

    \b
    Examples:
      ossr-images publish hello.tar.zst --codemeta codemeta.json --sandbox
      ossr-images publish docker-daemon:hello:1.0 --repo . --yes
      ossr-images publish app.sif --dry-run --json
    """
    from ossr_images.cli.progress import Progress
    from ossr_images.workflows.publish import publish as run_publish
    from ossr_images.workflows.publish_options import PublishOptions
    from ossr_images.zenodo.target import resolve_target

    if no_community and communities:
        raise click.UsageError("--community and --no-community exclude each other")
    chosen = () if no_community else (communities or ("escape2020",))
    quiet = is_quiet(ctx)
    target = resolve_target(
        sandbox=sandbox,
        zenodo_url=zenodo_url,
        token_file=token_file,
        allow_insecure_http=allow_insecure_http,
        api=api,
        require_token=not dry_run,
    )

    def progress(total: int | None, description: str) -> Progress:
        return Progress(total, description, enabled=not (quiet or as_json))

    def confirm(summary: str) -> bool:
        if yes or draft or not _is_production(target) or not _interactive():
            return True
        click.echo(summary, err=True)
        return click.confirm(
            "Publishing on zenodo.org is permanent (a DOI is minted; files cannot be changed). Continue?",
            default=False,
            err=True,
        )

    try:
        options = PublishOptions(
            codemeta=codemeta,
            repo_dir=repo_dir,
            commit=commit,
            allow_dirty=allow_dirty,
            communities=tuple(chosen),
            new_version_of=new_version_of,
            draft=draft,
            dry_run=dry_run,
            build=build_record_for(ctx, image, repo_dir),
        )
        result = run_publish(image, options, target=target, confirm=confirm, progress=progress, notify=info)
    except InvalidInputError as exc:
        if isinstance(exc.details, list) and len(exc.details) > 1 and not as_json:
            for p in exc.details:
                if isinstance(p, dict):
                    info(f"  {p.get('severity', 'error')}: {p.get('path') or '-'}: {p.get('message')}")
        raise

    for warning in result.warnings:
        info(f"Warning: {warning.path or '-'}: {warning.message}")
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(result_summary(result))


def result_summary(result: PublishResult) -> str:
    """Human lines for a result (the CLI prints them)."""
    from ossr_images.metadata.image_record import IMAGE_RECORD_KEY

    if result.state == "dry-run":
        lines = [
            "Dry run: nothing was sent.",
            "Zenodo metadata:",
            json.dumps(result.zenodo_metadata, indent=2),
            f"Image metadata file ({IMAGE_RECORD_KEY}):",
            json.dumps(result.image_record, indent=2),
            "Files:",
        ]
        lines += [f"  {f.key}  {f.size} bytes  md5 {f.md5}  sha256 {f.sha256}" for f in result.files]
        lines.append(f"Source: {result.repository} @ {result.commit}")
        return "\n".join(lines)
    if result.state == "submitted" and result.review is not None:
        return "\n".join(
            [
                "Submitted for review: the record is published when the community's curators accept it.",
                f"  Request:     {result.review.url} ({result.review.status})",
                f"  DOI:         {result.doi} (reserved)",
                f"  Draft:       {result.record_url}",
                "  Run the same command again later to see where the request stands.",
            ]
        )
    head = {
        "published": "Already published (nothing changed):" if result.already_published else "Published:",
        "draft": "Draft ready (not published):",
    }.get(result.state, result.state)
    lines = [
        head,
        f"  DOI:         {result.doi}",
        f"  Concept DOI: {result.conceptdoi}",
        f"  Record:      {result.record_url}",
    ]
    return "\n".join(lines)
