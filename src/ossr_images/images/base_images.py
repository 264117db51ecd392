"""The base images of a Dockerfile: which FROM lines name an image (not `scratch`, not an earlier stage),
with build arguments expanded, and the same Dockerfile with those references pinned by digest."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ossr_images.images.dockerfile import _logical_lines
from ossr_images.metadata.build_record import BaseImage

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class FromLine:
    """One FROM instruction: its line, the reference as written and expanded, the stage name it defines,
    and whether it names an image (False for `scratch` and earlier stages)."""

    line: int
    written: str
    ref: str
    stage: str | None
    is_image: bool


def _expand(text: str, values: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        whole = m.group(0)
        name = m.group(1) or m.group(2)
        if name in values:
            if ":+" in whole or whole.startswith("${" + name + "+"):
                return whole.split("+", 1)[1].rstrip("}")
            return values[name]
        if ":-" in whole or whole.startswith("${" + name + "-"):
            return whole.split("-", 1)[1].rstrip("}")
        return ""

    return _VAR.sub(sub, text)


def from_lines(text: str, build_args: Mapping[str, str] | None = None) -> list[FromLine]:
    """The FROM instructions of a Dockerfile; `${ARG}` in a reference is expanded with `build_args`, then
    with the defaults of the ARG instructions before the first FROM (as the builders do)."""
    args = dict(build_args or {})
    defaults: dict[str, str] = {}
    stages: set[str] = set()
    out: list[FromLine] = []
    for number, line in _logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not out:
            for item in rest.split():
                name, sep, value = item.partition("=")
                if sep:
                    defaults[name] = value.strip("\"'")
                else:
                    defaults.setdefault(name, "")
        if keyword != "FROM":
            continue
        parts = [p for p in rest.split() if not p.startswith("--")]
        if not parts:
            continue
        written = parts[0]
        ref = _expand(written, {**defaults, **args})
        stage = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else None
        is_image = ref.lower() != "scratch" and ref.lower() not in stages
        out.append(FromLine(number, written, ref, stage, is_image))
        if stage:
            stages.add(stage.lower())
    return out


def pin_dockerfile(text: str, pins: Mapping[str, str], build_args: Mapping[str, str] | None = None) -> str:
    """The Dockerfile with the reference of every FROM whose expanded reference is a key of `pins`
    replaced by its value (e.g. `name@sha256:...`); options and stage names are kept. Only the first
    physical line of an instruction is touched (FROM is never continued before its reference)."""
    lines = text.splitlines(keepends=True)
    for f in from_lines(text, build_args):
        if f.ref not in pins:
            continue
        pattern = re.compile(
            r"^(\s*FROM\s+(?:--\S+\s+)*)" + re.escape(f.written) + r"(?=\s|$)", re.IGNORECASE
        )
        lines[f.line - 1] = pattern.sub(lambda m, f=f: m.group(1) + pins[f.ref], lines[f.line - 1], count=1)
    return "".join(lines)


def recipe_base_images(recipe: Path, build_args: Mapping[str, str] | None = None) -> tuple[BaseImage, ...]:
    """The base images a Dockerfile names, for a build made elsewhere: no digest is known unless the
    recipe pins one (`name@sha256:...`). None for an Apptainer definition or a missing file."""
    if recipe.suffix == ".def" or not recipe.is_file():
        return ()
    text = recipe.read_text(encoding="utf-8", errors="replace")
    refs = dict.fromkeys(f.ref for f in from_lines(text, build_args) if f.is_image)
    return tuple(BaseImage(r, r.rsplit("@", 1)[1] if "@" in r else None) for r in refs)
