"""Compare two images read as root filesystems (`rootfs.RootFS`) and give a verdict.

In order, the first that holds: `identical` (same config digest, or same layer digests), `same-content`
(same paths, types, modes, owners, link targets, device numbers, file contents and hard-link groups;
differences of mtime or of the layer a path came from are only counted, under `ignored`), else `differs`
with one `Difference` per path and kind of change: `added` (only in B), `removed` (only in A), `type`,
`modified` (content or device numbers), `mode`, `owner`, `link` (symlink target or hard-link group).

The two sides are "A" and "B" here; `DiffResult.to_dict(names=("archived", "rebuilt"))` names them for a
caller such as `reproduce` (A is the archived image, B the rebuilt one: "added" is then what the rebuild
added, "removed" what it lost).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ossr_images.images.rootfs import DIR, FILE, SYMLINK, Entry, LayerInfo, RootFS

MAX_LISTED = 10_000  # differences kept in the result (all are counted)
CHANGES = ("added", "removed", "type", "modified", "mode", "owner", "link")


@dataclass
class Side:
    """One side of a difference: what the path is in that image and which layer (and instruction) wrote it."""

    type: str
    mode: int
    uid: int
    gid: int
    size: int | None
    sha256: str | None
    link: str | None
    hardlink: str | None
    layer: LayerInfo | None

    @classmethod
    def of(cls, entry: Entry, fs: RootFS) -> Side:
        layer = fs.layers[entry.layer] if 0 <= entry.layer < len(fs.layers) else None
        return cls(
            type=entry.kind,
            mode=entry.mode,
            uid=entry.uid,
            gid=entry.gid,
            size=entry.size if entry.kind == FILE else None,
            sha256=entry.digest.hex() if entry.digest is not None else None,
            link=entry.link,
            hardlink=entry.hardlink,
            layer=layer,
        )

    def to_dict(self) -> dict[str, Any]:
        """type, mode (octal text), uid, gid, size, sha256, link, hardlink, layer {index, digest},
        instruction."""
        return {
            "type": self.type,
            "mode": f"{self.mode:04o}",
            "uid": self.uid,
            "gid": self.gid,
            "size": self.size,
            "sha256": self.sha256,
            "link": self.link,
            "hardlink": self.hardlink,
            "layer": _layer_ref(self.layer),
            "instruction": self.layer.instruction if self.layer else None,
        }


def _layer_ref(layer: LayerInfo | None) -> dict[str, Any] | None:
    return None if layer is None else {"index": layer.index, "digest": layer.digest}


@dataclass
class Difference:
    """One change of one path between A and B (`a` is None for added, `b` for removed)."""

    path: str
    change: str
    a: Side | None
    b: Side | None

    @property
    def origin(self) -> Side:
        """The side whose layer is reported: A's when A has the path, else B's."""
        side = self.a or self.b
        assert side is not None
        return side

    def to_dict(self, names: tuple[str, str] = ("a", "b")) -> dict[str, Any]:
        """{path, change, layer, instruction, <name A>, <name B>}: `layer`/`instruction` are A's when A has
        the path (B's for an added one); each side also names its own."""
        origin = self.origin
        return {
            "path": self.path,
            "change": self.change,
            "layer": _layer_ref(origin.layer),
            "instruction": origin.layer.instruction if origin.layer else None,
            names[0]: self.a.to_dict() if self.a else None,
            names[1]: self.b.to_dict() if self.b else None,
        }


@dataclass
class ImageSummary:
    """What the result says about each image."""

    path: str
    format: str
    compression: str
    image_id: str | None
    layers: list[LayerInfo]
    entries: int

    @classmethod
    def of(cls, fs: RootFS) -> ImageSummary:
        info = fs.info
        return cls(info.path, info.format, info.compression, info.image_id, fs.layers, fs.entries)

    def to_dict(self) -> dict[str, Any]:
        """path, format, compression, image_id, paths, layers [{index, digest, instruction}]."""
        return {
            "path": self.path,
            "format": self.format,
            "compression": self.compression,
            "image_id": self.image_id,
            "paths": self.entries,
            "layers": [
                {"index": x.index, "digest": x.digest, "instruction": x.instruction} for x in self.layers
            ],
        }


@dataclass
class DiffResult:
    """The verdict, both images, the differences (the first MAX_LISTED; `counts` has them all) and the
    ignored ones (`mtime`, `layer_boundary`: paths otherwise equal)."""

    verdict: str  # "identical" | "same-content" | "differs"
    a: ImageSummary
    b: ImageSummary
    differences: list[Difference] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=lambda: {"mtime": 0, "layer_boundary": 0})
    reason: str = ""

    @property
    def total(self) -> int:
        """How many differences there are (listed or not)."""
        return sum(self.counts.values())

    def to_dict(self, names: tuple[str, str] = ("a", "b")) -> dict[str, Any]:
        """The `diff --json` document (see the module docstring for `names`)."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            names[0]: self.a.to_dict(),
            names[1]: self.b.to_dict(),
            "counts": {k: self.counts.get(k, 0) for k in CHANGES},
            "differences": [d.to_dict(names) for d in self.differences],
            "differences_listed": len(self.differences),
            "ignored": dict(self.ignored),
        }


def compare_rootfs(a: RootFS, b: RootFS) -> DiffResult:
    """The verdict for two images read by `rootfs.read_rootfs` (see the module docstring)."""
    result = DiffResult("identical", ImageSummary.of(a), ImageSummary.of(b))
    if a.info.image_id and a.info.image_id == b.info.image_id:
        result.reason = "same image config digest"
        return result
    if a.diff_ids and a.diff_ids == b.diff_ids:
        result.reason = "same layer digests"
        return result
    counts: Counter[str] = Counter()
    stack: list[tuple[str, Entry | None, Entry | None]] = [("/", a.root, b.root)]
    while stack:
        path, ea, eb = stack.pop()
        for change in _changes(ea, eb, result):
            counts[change] += 1
            if len(result.differences) < MAX_LISTED:
                result.differences.append(
                    Difference(path, change, Side.of(ea, a) if ea else None, Side.of(eb, b) if eb else None)
                )
        ca = ea.children if ea is not None and ea.kind == DIR else None
        cb = eb.children if eb is not None and eb.kind == DIR else None
        if ca or cb:
            base = path if path.endswith("/") else path + "/"
            names = sorted(set(ca or ()) | set(cb or ()), reverse=True)
            stack.extend((base + n, (ca or {}).get(n), (cb or {}).get(n)) for n in names)
    result.counts = dict(counts)
    if counts:
        result.verdict = "differs"
        result.reason = f"{sum(counts.values())} difference(s) in the root filesystems"
    else:
        result.verdict = "same-content"
        result.reason = "same root filesystem content; image digests differ"
    return result


def _changes(ea: Entry | None, eb: Entry | None, result: DiffResult) -> list[str]:
    if ea is None:
        return ["added"]
    if eb is None:
        return ["removed"]
    if ea.kind != eb.kind:
        return ["type"]
    out = []
    if ea.digest != eb.digest or ea.size != eb.size or (ea.kind not in (SYMLINK,) and ea.link != eb.link):
        out.append("modified")
    if ea.kind != SYMLINK and ea.mode != eb.mode:
        out.append("mode")
    if ea.uid != eb.uid or ea.gid != eb.gid:
        out.append("owner")
    if (ea.kind == SYMLINK and ea.link != eb.link) or ea.hardlink != eb.hardlink:
        out.append("link")
    if not out:
        if ea.mtime != eb.mtime:
            result.ignored["mtime"] += 1
        if ea.layer != eb.layer:
            result.ignored["layer_boundary"] += 1
    return out
