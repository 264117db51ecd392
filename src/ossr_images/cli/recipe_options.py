"""`publish --recipe/--context/--target/--platform/--record-build-arg`: describe how an image was built
(outside ossr-images, or override the build record `build -o` wrote beside it) for the `build` section of
the image metadata file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ossr_images.cli.common import stack

_KEY = "ossr_images.recipe_options"
_NAMES = ("recipe", "context", "build_target", "platform", "record_build_args")


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_KEY, {})[param.name] = value
    return value


def recipe_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options; their values are read with `build_record_for(ctx, image, repo_dir)`."""
    common: dict[str, Any] = {"expose_value": False, "callback": _remember}
    return stack(
        click.option(
            "--recipe",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The Dockerfile or Apptainer definition the image was built from (in the repository); "
            "recorded in the image metadata file's build section [default: the record `ossr-images build "
            "-o IMAGE` wrote beside IMAGE].",
            **common,
        ),
        click.option(
            "--context",
            type=click.Path(file_okay=False, path_type=Path),
            help="The build context [default: the recipe's folder].",
            **common,
        ),
        click.option("--target", "build_target", metavar="STAGE", help="The stage built.", **common),
        click.option("--platform", metavar="OS/ARCH", help="The platform built, e.g. linux/amd64.", **common),
        click.option(
            "--record-build-arg",
            "record_build_args",
            multiple=True,
            metavar="NAME=VALUE",
            help="A build argument and the value used, recorded (repeatable; never for secrets).",
            **common,
        ),
    )(f)


def build_record_for(ctx: click.Context, image: str, repo_dir: Path | None) -> Any:
    """The BuildRecord to publish: from the options when --recipe is given, else the build record beside
    an image file, else None."""
    from ossr_images.images.base_images import recipe_base_images
    from ossr_images.metadata.build_record import describe_external_build, read_sidecar, repo_root_of

    opts = {name: ctx.meta.get(_KEY, {}).get(name) for name in _NAMES}
    if not opts["recipe"]:
        extra = [n for n in _NAMES[1:] if opts[n]]
        if extra:
            raise click.UsageError(
                f"--{extra[0].replace('build_', '').replace('_', '-')} describes a build: give --recipe too"
            )
        path = Path(image)
        return read_sidecar(path) if path.is_file() else None
    recipe = Path(opts["recipe"])
    root = repo_dir.resolve() if repo_dir else repo_root_of(recipe if recipe.exists() else Path("."))
    return describe_external_build(
        recipe=recipe,
        context=opts["context"],
        repo_root=root,
        target=opts["build_target"],
        platform=opts["platform"],
        build_args=opts["record_build_args"] or (),
        base_images=recipe_base_images(recipe if recipe.exists() or root is None else root / recipe),
    )
