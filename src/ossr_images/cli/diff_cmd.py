"""`ossr-images diff A B`: compare two image archives as root filesystems, without any engine."""

from __future__ import annotations

from pathlib import Path

import click

from ossr_images.cli.common import emit_json, is_quiet, json_option
from ossr_images.errors import IntegrityError

SHOWN = 20


def render(result) -> list[str]:  # type: ignore[no-untyped-def]
    """Human lines for a DiffResult: the verdict, the counts, the first differences."""
    lines = [f"Verdict: {result.verdict} ({result.reason})"]
    for label, side in (("A", result.a), ("B", result.b)):
        lines.append(f"{label}: {side.path} ({side.format}, {len(side.layers)} layers, {side.entries} paths)")
    return lines + difference_lines(result)


def difference_lines(result, only_in: tuple[str, str] | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    """The counts, the ignored counts and the first differences of a DiffResult (nothing when identical).

    `only_in` names the two sides for a path found on one side only (reproduce: archived image, rebuild)."""
    if result.verdict == "identical":
        return []
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items() if n) or "none"
    ignored = result.ignored
    lines = [
        f"Differences: {counts}",
        f"Ignored: {ignored['mtime']} path(s) differing only in mtime, "
        f"{ignored['layer_boundary']} in the layer that wrote them",
    ]
    for d in result.differences[:SHOWN]:
        origin = d.origin
        where = f"layer {origin.layer.index}" if origin.layer else "no layer"
        if origin.layer and origin.layer.instruction:
            where += f": {origin.layer.instruction[:80]}"
        lines.append(f"  {d.change:<8} {d.path}  {_detail(d, only_in)}  [{where}]")
    if result.total > SHOWN:
        lines.append(f"  ... and {result.total - SHOWN} more (--json lists up to {len(result.differences)})")
    return lines


def _detail(d, only_in: tuple[str, str] | None) -> str:  # type: ignore[no-untyped-def]
    """What changed, in a few words (A -> B)."""
    a, b = d.a, d.b
    if d.change == "modified":
        return f"{a.size} -> {b.size} bytes" if a.size != b.size else "same size, other content"
    if d.change == "mode":
        return f"{a.mode:04o} -> {b.mode:04o}"
    if d.change == "owner":
        return f"{a.uid}:{a.gid} -> {b.uid}:{b.gid}"
    if d.change == "type":
        return f"{a.type} -> {b.type}"
    if d.change == "link":
        return f"{a.link or a.hardlink} -> {b.link or b.hardlink}"
    side = a or b
    if only_in is None:
        return side.type
    return f"{side.type}, only in the {only_in[0] if a else only_in[1]}"


@click.command("diff")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@json_option
@click.pass_context
def diff(ctx: click.Context, a: Path, b: Path, as_json: bool) -> None:
    """Compare two image archives as root filesystems, without any engine.

    A and B are Docker archives (`docker save`, legacy or with the OCI layout) or OCI archives, each plain,
    .gz or .zst. Each is read once; layers are applied with their whiteouts; per path the type, mode, owner,
    link target and sha256 of the content are compared (never the contents themselves).

    \b
    Verdict (the first that holds):
      identical     same image config digest, or same layer digests         (exit 0)
      same-content  same files, modes, owners, links; only mtimes or the
                    layer a file came from differ (counted as "ignored")    (exit 0)
      differs       added, removed, modified, mode, owner, type, link       (exit 3)
    A bad input exits 1. `added` is what B has and A has not.

    \b
    --json: {"verdict", "reason", "a": {path, format, compression, image_id, paths,
    layers: [{index, digest, instruction}]}, "b": {...}, "counts": {added, removed, type,
    modified, mode, owner, link}, "differences": [{"path", "change", "layer": {index, digest},
    "instruction", "a": {type, mode, uid, gid, size, sha256, link, hardlink, layer,
    instruction} | null, "b": {...} | null}], "differences_listed", "ignored": {"mtime",
    "layer_boundary"}}. A difference's layer and instruction are A's (B's for an added path);
    at most 10,000 differences are listed, all are counted.

    \b
    Examples:
      ossr-images diff archived.tar.zst rebuilt.tar
      ossr-images diff a.tar b.tar --json
    """
    from ossr_images.cli.progress import Progress
    from ossr_images.workflows.diff import run_diff

    total = sum(p.stat().st_size for p in (a, b) if p.is_file())
    enabled = not (is_quiet(ctx) or as_json) and total > 512 * 1024 * 1024
    with Progress(total, "Reading both images", enabled=enabled) as progress:
        result = run_diff(a, b, progress=progress)
    if as_json:
        emit_json(result.to_dict())
    else:
        for line in render(result):
            click.echo(line)
    if result.verdict == "differs":
        counts = ", ".join(f"{n} {k}" for k, n in result.counts.items() if n)
        raise IntegrityError(
            f"{b} differs from {a}: {counts}",
            "See the differences listed above (all of them with --json); each names the layer and the "
            "recipe instruction that made it.",
        )
