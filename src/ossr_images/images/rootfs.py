"""The root filesystem of an image archive, as a typed tree of per-path metadata and content hashes.

One streaming pass over the archive (`inspect.scan_image_archive`): each layer member is read as it passes
(plain, gzip or zstd layer), its entries summarised (type, mode, owner, size, sha256 of the content, link
target, device numbers, mtime; never the content). When the archive is read and the layer order is known,
the summaries are applied in order: whiteouts (`.wh.<name>`) and opaque directories (`.wh..wh..opq`) of a
layer hide what lower layers hold, then the layer's own entries are added. Hard links take the content,
mode and owner of their target (one inode) and are grouped at the end (`Entry.hardlink` names the group's
first path on every other member, so the tar order of a group does not matter).
"""

from __future__ import annotations

import gc
import io
import posixpath
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from ossr_images.errors import InvalidInputError
from ossr_images.images.compression import decompressing_reader, detect_compression_bytes
from ossr_images.images.image_info import ImageInfo, Progress
from ossr_images.images.inspect import scan_image_archive
from ossr_images.images.layer_tar import LayerTarError, TarEntry, read_tar

MAX_ENTRIES = 2_000_000  # paths of one image: ~300 bytes each in memory
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

FILE, DIR, SYMLINK, HARDLINK = "file", "dir", "symlink", "hardlink"


@dataclass(slots=True)
class Entry:
    """One path of a root filesystem. `digest` is the sha256 of a file's content (raw bytes); `link` a
    symlink's target or "major:minor" of a device; `layer` the index of the layer that last wrote it;
    `hardlink` (after `RootFS` is complete) the first path of its hard-link group for the group's other
    members; `children` only for directories."""

    kind: str
    mode: int
    uid: int
    gid: int
    size: int = 0
    digest: bytes | None = None
    link: str | None = None
    mtime: int = 0
    layer: int = -1
    inode: int = 0
    hardlink: str | None = None
    children: dict[str, Entry] | None = None


@dataclass
class LayerInfo:
    """One layer of an image: its position, digest (the uncompressed diff_id when the config gives it), the
    archive member that holds it and the recipe instruction that made it (from the config's history)."""

    index: int
    digest: str
    member: str
    instruction: str | None


@dataclass
class RootFS:
    """An image archive read as a root filesystem: the archive's description, its layers, the tree."""

    info: ImageInfo
    layers: list[LayerInfo]
    root: Entry
    entries: int = 0
    diff_ids: list[str] = field(default_factory=list)

    def walk(self) -> Iterator[tuple[str, Entry]]:
        """Every (path, entry), the root as "/", children sorted by name, depth first."""
        return _walk(self.root, "/")


# --------------------------------------------------------------------------------------------- reading

IMPLICIT = -2  # `layer` of a directory a layer holds only because it holds something inside it


@dataclass
class _Layer:
    """One layer member as a tree of its own, before the layer order is known (read as it streams by)."""

    root: Entry = field(default_factory=lambda: Entry(DIR, 0o755, 0, 0, layer=IMPLICIT, children={}))
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    links: list[tuple[str, Entry]] = field(default_factory=list)  # hard links to a lower layer's file
    error: str | None = None  # the member is not a (readable) layer tar
    _last: tuple[str, Entry] | None = None

    def directory(self, path: str) -> Entry:
        """The directory `path` of this layer, made (implicit) when missing or not a directory."""
        if self._last is not None and self._last[0] == path:
            return self._last[1]
        node = self.root
        if path:
            for part in path.split("/"):
                assert node.children is not None
                nxt = node.children.get(part)
                if nxt is None or nxt.children is None:
                    nxt = Entry(DIR, 0o755, 0, 0, layer=IMPLICIT, children={})
                    node.children[part] = nxt
                node = nxt
        self._last = (path, node)
        return node

    def lookup(self, path: str) -> Entry | None:
        return _lookup(self.root, path)

    def add(self, parent_path: str, name: str, entry: Entry) -> None:
        """Add `entry` as `name` in the directory `parent_path` ("" and "" for the root itself)."""
        if not name:
            _set_meta(self.root, entry)
            return
        parent = self.directory(parent_path)
        assert parent.children is not None
        old = parent.children.get(name)
        if entry.kind == DIR and old is not None and old.children is not None:
            _set_meta(old, entry)  # the same directory again: keeps what it holds
            return
        parent.children[name] = entry
        self._last = None


def _set_meta(dst: Entry, src: Entry) -> None:
    dst.mode, dst.uid, dst.gid, dst.mtime, dst.layer = src.mode, src.uid, src.gid, src.mtime, src.layer


def _lookup(root: Entry, path: str) -> Entry | None:
    node = root
    if not path:
        return node
    for part in path.split("/"):
        if node.children is None:
            return None
        nxt = node.children.get(part)
        if nxt is None:
            return None
        node = nxt
    return node


def _clean(name: str) -> str | None:
    """A layer entry's path relative to /, "" for the root; None for one that leaves the root."""
    while name.startswith("./"):
        name = name[2:]
    name = name.strip("/")
    if (
        "//" in name
        or "/." in name
        or name.startswith(".")
        and (name in (".", "..") or name.startswith("../"))
    ):
        norm = posixpath.normpath("/" + name)
        if "/../" in f"/{name}/":
            return None
        name = norm.strip("/")
    return "" if name == "." else name


def _read_layer(fileobj: BinaryIO, counter: list[int]) -> _Layer:
    """Read one layer member (plain, gzip or zstd tar) into a `_Layer`; a member that is not a readable tar
    gives a `_Layer` with `error` set (it matters only if the image uses it as a layer)."""
    layer = _Layer()
    src: BinaryIO = fileobj if hasattr(fileobj, "peek") else io.BufferedReader(fileobj)  # type: ignore[arg-type]
    try:
        method = detect_compression_bytes(src.peek(8)[:8])  # type: ignore[attr-defined]
        stream = src if method == "none" else decompressing_reader(src, method)
        for item in read_tar(stream):
            _add_entry(layer, item, counter)
    except (LayerTarError, EOFError, zlib.error, InvalidInputError, OSError) as exc:
        layer.error = str(exc) or type(exc).__name__
    except Exception as exc:  # zstandard.ZstdError, from the zstd reader
        if type(exc).__name__ != "ZstdError":
            raise
        layer.error = str(exc)
    return layer


def _add_entry(layer: _Layer, item: TarEntry, counter: list[int]) -> None:
    path = _clean(item.path)
    if path is None:
        raise InvalidInputError(f"the layer has an entry {item.path!r} outside the root")
    parent, _, base = path.rpartition("/")
    if base.startswith(WHITEOUT):
        if base == OPAQUE:
            layer.opaque.append(parent)
        else:
            layer.whiteouts.append(f"{parent}/{base[len(WHITEOUT) :]}" if parent else base[len(WHITEOUT) :])
        return
    counter[0] += 1
    if counter[0] > MAX_ENTRIES:
        raise InvalidInputError(f"the image has more than {MAX_ENTRIES} paths")
    kind = item.kind
    entry = Entry(kind, item.mode, item.uid, item.gid, item.size, item.digest, mtime=item.mtime)
    if kind == DIR:
        entry.children = {}
    elif kind == SYMLINK:
        entry.link = item.link
    elif item.device is not None:
        entry.link = f"{item.device[0]}:{item.device[1]}"
    elif kind == HARDLINK:
        entry.link = item.link
        target_path = _clean(item.link)
        target = layer.lookup(target_path) if target_path else None
        if target is not None and target.kind == FILE:
            _make_link(entry, target, counter)
        else:
            layer.links.append((path, entry))  # resolved against the lower layers when applied
    layer.add(parent, base, entry)


def _make_link(entry: Entry, target: Entry, counter: list[int]) -> None:
    """Make `entry` (a hard link) the same inode as the file `target`: its content, mode and owner."""
    if not target.inode:
        counter[1] += 1
        target.inode = counter[1]
    entry.kind, entry.size, entry.digest, entry.inode = FILE, target.size, target.digest, target.inode
    entry.link = None
    entry.mode, entry.uid, entry.gid, entry.mtime = target.mode, target.uid, target.gid, target.mtime


# --------------------------------------------------------------------------------------------- applying


def _apply(root: Entry, layer: _Layer, index: int, counter: list[int]) -> None:
    """Apply `layer` on the tree at `root`: its whiteouts and opaque directories hide lower layers' paths,
    then its entries are moved in (a directory already there keeps what lower layers put in it)."""
    for path in layer.whiteouts:
        parent = _lookup(root, path.rpartition("/")[0])
        if parent is not None and parent.children is not None:
            parent.children.pop(path.rpartition("/")[2], None)
    for path in layer.opaque:
        node = _lookup(root, path)
        if node is not None and node.children is not None:
            node.children.clear()
    if layer.root.layer != IMPLICIT:
        _set_meta(root, layer.root)
        root.layer = index
    stack = [(root, layer.root)]
    while stack:
        dst, src = stack.pop()
        assert dst.children is not None and src.children is not None
        for name, entry in src.children.items():
            old = dst.children.get(name)
            if entry.kind == DIR and old is not None and old.children is not None:
                if entry.layer != IMPLICIT:
                    _set_meta(old, entry)
                    old.layer = index
                stack.append((old, entry))
                continue
            dst.children[name] = entry
            _set_layer(entry, index)
    for _path, entry in layer.links:
        target_path = _clean(entry.link or "")
        target = _lookup(root, target_path) if target_path else None
        if target is not None and target is not entry and target.kind == FILE:
            _make_link(entry, target, counter)


def _set_layer(entry: Entry, index: int) -> None:
    entry.layer = index
    if entry.children:
        stack = [entry]
        while stack:
            for child in stack.pop().children.values():  # type: ignore[union-attr]
                child.layer = index
                if child.children:
                    stack.append(child)


def _clone(entry: Entry) -> Entry:
    """A deep copy of a layer tree (for a layer the image uses twice)."""
    top = replace(entry, children={} if entry.children is not None else None)
    stack = [(top, entry)]
    while stack:
        dst, src = stack.pop()
        for name, child in (src.children or {}).items():
            copy = replace(child, children={} if child.children is not None else None)
            dst.children[name] = copy  # type: ignore[index]
            if child.children:
                stack.append((copy, child))
    return top


def _clone_layer(layer: _Layer) -> _Layer:
    links = {id(e) for _p, e in layer.links}
    clone = _Layer(_clone(layer.root), list(layer.whiteouts), list(layer.opaque))
    if links:  # find the copies of the pending hard links again
        for path, entry in _walk(clone.root, "/"):
            if entry.kind == HARDLINK:
                clone.links.append((path.lstrip("/"), entry))
    return clone


def _walk(root: Entry, top: str) -> Iterator[tuple[str, Entry]]:
    stack: list[tuple[str, Entry]] = [(top, root)]
    while stack:
        path, entry = stack.pop()
        yield path, entry
        if entry.children:
            base = path if path.endswith("/") else path + "/"
            stack.extend((base + name, entry.children[name]) for name in sorted(entry.children, reverse=True))


def _group_hardlinks(root: Entry) -> int:
    """Name each hard-link group by its first path (walk order); returns the number of entries."""
    first: dict[int, str] = {}
    multi: set[int] = set()
    count = 0
    for path, entry in _walk(root, "/"):
        count += 1
        if entry.inode:
            if entry.inode in first:
                multi.add(entry.inode)
            else:
                first[entry.inode] = path
    if multi:
        for path, entry in _walk(root, "/"):
            if entry.inode in multi and first[entry.inode] != path:
                entry.hardlink = first[entry.inode]
    return count


_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^/bin/sh -c ")


def instruction_of(created_by: str) -> str:
    """A history entry's `created_by` as the recipe instruction: "/bin/sh -c #(nop) COPY ..." -> "COPY ...",
    "/bin/sh -c apt-get ..." -> "RUN apt-get ...", BuildKit's "... # buildkit" suffix dropped."""
    text = created_by.strip().removesuffix("# buildkit").strip()
    if _NOP.match(text):
        return _NOP.sub("", text).strip()
    if _SHELL.match(text):
        return "RUN " + _SHELL.sub("", text).strip()
    return text


def layer_instructions(config: dict[str, Any], count: int) -> list[str | None]:
    """The instruction that made each of `count` layers: the config's history without its empty_layer
    entries, in order; all None when the history does not match the layers."""
    history = config.get("history")
    if not isinstance(history, list):
        return [None] * count
    made = [h for h in history if isinstance(h, dict) and not h.get("empty_layer")]
    if len(made) != count:
        return [None] * count
    return [instruction_of(h["created_by"]) if isinstance(h.get("created_by"), str) else None for h in made]


def read_rootfs(path: Path | str, *, progress: Progress | None = None) -> RootFS:
    """Read the image archive at `path` once and return its root filesystem (see the module docstring).

    Raises InvalidInputError for a file that is not a Docker/OCI image archive or a layer that is not a
    readable tar (naming the layer and the archive).
    """
    path = Path(path)
    layers: dict[str, _Layer] = {}
    counter = [0, 0]  # entries, hard-link inodes

    def sink(name: str, size: int, fileobj: BinaryIO) -> None:
        layers[name] = _read_layer(fileobj, counter)

    with _GC_PAUSE:
        scanned = scan_image_archive(path, sink, progress=progress)
        infos = _layer_infos(scanned.config, scanned.info.layers, scanned.layer_members)
        uses: dict[str, int] = {}
        for member in scanned.layer_members:
            uses[member] = uses.get(member, 0) + 1
        root = Entry(DIR, 0o755, 0, 0, children={})
        for info in infos:
            layer = layers.get(info.member)
            if layer is None or layer.error is not None:
                why = (
                    "is not in the archive"
                    if layer is None
                    else f"is not a readable layer tar: {layer.error}"
                )
                raise InvalidInputError(
                    f"layer {info.index} ({info.digest}, member {info.member}) of {path} {why}",
                    hint="The archive is corrupt or truncated: export or download it again.",
                )
            uses[info.member] -= 1
            if uses[info.member]:
                layer = _clone_layer(layer)  # the same layer again later
            else:
                del layers[info.member]
            _apply(root, layer, info.index, counter)
        layers.clear()
        fs = RootFS(scanned.info, infos, root, diff_ids=[x.digest for x in infos])
        fs.entries = _group_hardlinks(root)
        return fs


class _GcPause:
    """The cyclic garbage collector off while trees are built (hundreds of thousands of small objects that
    live until the end and hold no cycles: each collection would walk them all); counted, so that two
    threads reading two images at once leave it as they found it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = True

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


_GC_PAUSE = _GcPause()


def _layer_infos(config: dict[str, Any], layers: list[dict[str, Any]], members: list[str]) -> list[LayerInfo]:
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    digests = [layer["digest"] for layer in layers]
    if (
        isinstance(diff_ids, list)
        and len(diff_ids) == len(digests)
        and all(isinstance(d, str) for d in diff_ids)
    ):
        digests = list(diff_ids)
    instructions = layer_instructions(config, len(digests))
    return [LayerInfo(i, digests[i], member, instructions[i]) for i, member in enumerate(members)]
