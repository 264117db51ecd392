"""Read the labels a Dockerfile sets itself (LABEL instructions of the final stage and the stages it
builds on), so that a build keeps them and refuses those that contradict the source link."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from ossr_images.errors import InvalidInputError


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, instruction) with continuation lines joined and comments dropped."""
    escape = "\\"
    lines = text.splitlines()
    for raw in lines[:5]:  # parser directives come first
        m = re.match(r"^#\s*escape\s*=\s*(\S)\s*$", raw.strip(), re.IGNORECASE)
        if m:
            escape = m.group(1)
            break
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comments inside a continued instruction
        if not current:
            start = number
        body = raw.rstrip()
        if body.endswith(escape):
            current.append(body[: -len(escape)])
            continue
        current.append(body)
        out.append((start, " ".join(part.strip() for part in current).strip()))
        current = []
    if current:
        out.append((start, " ".join(part.strip() for part in current).strip()))
    return out


def _parse_label_args(args: str, where: str) -> dict[str, str]:
    sentinel = "\x00"  # Docker reads \$ as a literal $; shlex would keep the backslash
    try:
        tokens = [t.replace(sentinel, "$") for t in shlex.split(args.replace("\\$", sentinel), posix=True)]
    except ValueError as exc:
        raise InvalidInputError(
            f"{where}: cannot read the LABEL instruction ({exc})",
            hint="Quote label values with matching double quotes.",
        ) from exc
    if not tokens:
        return {}
    if "=" not in tokens[0]:  # legacy form: LABEL key value with spaces
        return {tokens[0]: " ".join(tokens[1:])}
    labels: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise InvalidInputError(
                f"{where}: LABEL expects key=value pairs, found {token!r}",
                hint='Write LABEL key="value" (quote values that contain spaces).',
            )
        labels[key] = value
    return labels


def dockerfile_labels(text: str, *, name: str = "Dockerfile") -> dict[str, str]:
    """The labels the final stage of a Dockerfile sets (including stages it is built FROM)."""
    stages: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    seen_from = False
    for number, line in _logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            seen_from = True
            parts = [p for p in args.split() if not p.startswith("--")]
            base = parts[0].lower() if parts else ""
            current = dict(stages.get(base, {}))
            if len(parts) >= 3 and parts[1].lower() == "as":
                stages[parts[2].lower()] = current
        elif keyword == "LABEL" and seen_from:
            current.update(_parse_label_args(args, f"{name} line {number}"))
    return dict(current)


def read_dockerfile_labels(path: Path) -> dict[str, str]:
    """`dockerfile_labels` of the file at `path` (InvalidInputError when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read the Dockerfile {path}: {exc.strerror or exc}",
            hint="Give the Dockerfile with -f, or a context directory that has one.",
        ) from exc
    return dockerfile_labels(text, name=str(path))
