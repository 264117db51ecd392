"""The command line: a thin click layer. Each command lives in its own module, imported only when used,
so that `ossr-images fetch` does not pay for the Docker SDK and `--help` stays fast."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from ossr_images import __version__
from ossr_images.cli import outcome
from ossr_images.cli.common import setup_logging

# command name -> (module, attribute); the module is imported on first use
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("ossr_images.cli.validate_cmd", "validate"),
    "inspect": ("ossr_images.cli.inspect_cmd", "inspect_cmd"),
    "build": ("ossr_images.cli.build_cmd", "build"),
    "export": ("ossr_images.cli.export_cmd", "export"),
    "publish": ("ossr_images.cli.publish_cmd", "publish"),
    "fetch": ("ossr_images.cli.fetch_cmd", "fetch"),
    "search": ("ossr_images.cli.search_cmd", "search"),
    "diff": ("ossr_images.cli.diff_cmd", "diff"),
    "serve": ("ossr_images.cli.serve_cmd", "serve"),
    "reproduce": ("ossr_images.cli.reproduce_cmd", "reproduce"),
    "local-zenodo": ("ossr_images.cli.local_zenodo_cmd", "local_zenodo"),
    "demo": ("ossr_images.cli.demo_cmd", "demo"),
}


class OssrImagesGroup(click.Group):
    """The top-level group: imports a command's module only when that command runs, and ends every run
    through `cli/outcome.py` (one exit status; with --json, one JSON document for every status)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        if not standalone_mode:  # a caller that handles exceptions itself gets click's behaviour
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)  # type: ignore[misc]
        outcome.run(self, args, prog_name, complete_var=complete_var, **extra)


@click.group(cls=OssrImagesGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ossr-images")
@click.option(
    "-v", "--verbose", count=True, help="More detail on stderr; -v shows HTTP requests (token redacted)."
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr; results still go to stdout.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Archive container images on Zenodo (the ESCAPE OSSR) with their provenance.

    An image (Docker archive, OCI archive or Apptainer/Singularity .sif) is published on Zenodo together
    with the CodeMeta file of the source it was built from and an image metadata file that names the
    exact repository and commit. `fetch` gets it back, proves it is the archived one and loads it.

    \b
    Typical use:
      ossr-images validate codemeta.json --image image.tar.zst
      ossr-images publish image.tar.zst --codemeta codemeta.json --sandbox
      ossr-images fetch 10.5281/zenodo.1234567 --load docker
      ossr-images reproduce 10.5281/zenodo.1234567   # rebuild from the recorded commit, compare
      ossr-images demo            # everything end to end, offline, on a local Zenodo stand-in
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["quiet"] = quiet
    setup_logging(verbose, quiet)


logging.getLogger("ossr_images").addHandler(logging.NullHandler())

__all__ = ["main"]
