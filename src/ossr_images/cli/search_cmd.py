"""`ossr-images search`: find published container images on Zenodo."""

from __future__ import annotations

import click

from ossr_images.cli.common import emit_json, human_size, info, json_option, target_options


@click.command("search")
@click.argument("text", required=False)
@target_options
@click.option("--community", metavar="SLUG", help="Only records of this community, e.g. escape2020.")
@json_option
def search(
    text: str | None,
    sandbox: bool,
    zenodo_url: str | None,
    token_file: str | None,
    allow_insecure_http: bool,
    api: str,
    community: str | None,
    as_json: bool,
) -> None:
    """List image records published with ossr-images (all pages of results).

    TEXT narrows the search (Zenodo query syntax). For each record: DOI, title, version, image format and
    size, and the source repository and commit it was built from.

    \b
    Examples:
      ossr-images search --community escape2020
      ossr-images search gammapy --sandbox --json
    """
    from ossr_images.workflows.search import search as run_search
    from ossr_images.zenodo.target import resolve_target

    target = resolve_target(
        sandbox=sandbox,
        zenodo_url=zenodo_url,
        token_file=token_file,
        allow_insecure_http=allow_insecure_http,
        api=api,
        require_token=False,
    )
    where = f" in community {community}" if community else ""
    info(f"Searching {target.api_url} for container images{where}...")
    result = run_search(target, text, community=community, notify=info)
    if as_json:
        emit_json(result.to_dict())
        return
    if not result.hits:
        info("No image records found.")
        return
    for hit in result.hits:
        click.echo(_line(hit))
    info(f"{len(result.hits)} image record(s). Fetch one with: ossr-images fetch <DOI>")


def _line(hit) -> str:  # type: ignore[no-untyped-def]
    version = f" {hit.version}" if hit.version else ""
    fmt = hit.format or "format unknown"
    if hit.compression and hit.compression != "none":
        fmt += f"+{hit.compression}"
    size = human_size(hit.size)
    source = f"{hit.repository} at {hit.commit}" if hit.repository and hit.commit else "source unknown"
    return f"{hit.doi or 'record ' + hit.record_id}  {hit.title or '(no title)'}{version}  [{fmt}, {size}]  {source}"
