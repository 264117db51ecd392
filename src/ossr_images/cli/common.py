"""Shared pieces of the CLI: JSON output, human text, logging, target and source options. How a run ends
(errors, exit statuses, the one JSON document) is decided in `cli/outcome.py`. Only the CLI prints and exits."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ossr_images.cli.outcome import set_result
from ossr_images.redact import redact_text

log = logging.getLogger("ossr_images")


def emit_json(document: Any) -> None:
    """The command's result for --json: printed once at the end of the run (cli/outcome.py), with "ok" and
    "exit_status" added, so that stdout holds exactly one JSON document whatever the exit status."""
    set_result(document)


def is_quiet(ctx: click.Context | None = None) -> bool:
    """Whether -q was given (to the current command's root when `ctx` is None)."""
    ctx = ctx or click.get_current_context(silent=True)
    return ctx is not None and bool((ctx.find_root().obj or {}).get("quiet"))


def info(message: str) -> None:
    """Human text: always on stderr so that stdout stays clean for --json and results; silenced by -q."""
    if not is_quiet():
        click.echo(redact_text(message), err=True)


def human_size(n: int | None) -> str:
    """A byte count for people: "512 B", "1.5 MiB"."""
    if n is None:
        return "size unknown"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING
    if quiet:
        level = logging.ERROR
    elif verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("ossr_images")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class RedactingFormatter(logging.Formatter):
    """A log line (and its traceback) with the userinfo and token parameters of every URL masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    root = ctx.find_root()
    root.ensure_object(dict)
    root.obj["json"] = bool(value)
    return value


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--json: one JSON document on stdout; errors too are then printed as JSON on stdout."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_remember_json,
        help="Print one JSON document on stdout (human text goes to stderr).",
    )(f)


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def stack(*decorators: Decorator) -> Decorator:
    """One decorator applying `decorators` as if written one above the other, first on top."""

    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


def target_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--sandbox / --zenodo-url / --token-file / --allow-insecure-http / --api, shared by publish, fetch, search."""
    return stack(
        click.option(
            "--sandbox", is_flag=True, help="Use sandbox.zenodo.org (token from ZENODO_SANDBOX_TOKEN)."
        ),
        click.option(
            "--zenodo-url",
            envvar="OSSR_IMAGES_ZENODO_URL",
            metavar="URL",
            help="API base of any Zenodo-compatible server, e.g. http://127.0.0.1:8765/api "
            "[env: OSSR_IMAGES_ZENODO_URL]; its token comes from OSSR_IMAGES_TOKEN (ZENODO_TOKEN only for "
            "zenodo.org or a loopback server).",
        ),
        click.option(
            "--token-file",
            type=click.Path(dir_okay=False, exists=True),
            help="Read the token from this file (else ZENODO_TOKEN for zenodo.org, ZENODO_SANDBOX_TOKEN for "
            "the sandbox, OSSR_IMAGES_TOKEN for any other server).",
        ),
        click.option(
            "--allow-insecure-http",
            is_flag=True,
            help="Allow sending the token over plain http to a non-loopback host (not recommended).",
        ),
        click.option(
            "--api",
            type=click.Choice(["auto", "legacy", "rdm"]),
            default="auto",
            show_default=True,
            envvar="OSSR_IMAGES_API",
            help="Which API to speak: 'legacy' (Zenodo's deposit API), 'rdm' (InvenioRDM's records API, on "
            "Zenodo and any InvenioRDM repository) or 'auto' (legacy on zenodo.org and its sandbox; other "
            "servers are asked once) [env: OSSR_IMAGES_API].",
        ),
    )(f)


def source_options(
    *,
    repo_help: str,
    codemeta_help: str | None = None,
    dirty_help: str = "Accept a checkout with uncommitted changes.",
) -> Decorator:
    """[--codemeta] / --repo / --commit / --allow-dirty: where the source link comes from (build, publish,
    validate); no --codemeta without `codemeta_help` (validate takes the file as an argument)."""
    codemeta = [
        click.option("--codemeta", type=click.Path(dir_okay=False, path_type=Path), help=codemeta_help)
    ]
    return stack(
        *(codemeta if codemeta_help else []),
        click.option("--repo", "repo_dir", type=click.Path(file_okay=False, path_type=Path), help=repo_help),
        click.option(
            "--commit",
            metavar="SHA",
            help="The source commit: its full id; with a checkout also an abbreviated id or a tag "
            "[default: from the checkout, else CI variables].",
        ),
        click.option("--allow-dirty", is_flag=True, help=dirty_help),
    )
