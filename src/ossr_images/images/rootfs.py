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

import hashlib
import io
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ossr_images.errors import InvalidInputError
from ossr_images.images.compression import CHUNK, decompressing_reader, detect_compression_bytes
from ossr_images.images.inspect import ImageInfo, Progress, scan_image_archive

MAX_ENTRIES = 2_000_000  # paths of one image: ~200 bytes each in memory
MAX_EXTENDED_HEADER = 1024 * 1024
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

FILE, DIR, SYMLINK, HARDLINK = "file", "dir", "symlink", "hardlink"
_KINDS = {
    tarfile.REGTYPE: FILE,
    tarfile.AREGTYPE: FILE,
    tarfile.CONTTYPE: FILE,
    tarfile.GNUTYPE_SPARSE: FILE,
    tarfile.DIRTYPE: DIR,
    tarfile.SYMTYPE: SYMLINK,
    tarfile.LNKTYPE: HARDLINK,
    tarfile.CHRTYPE: "char-device",
    tarfile.BLKTYPE: "block-device",
    tarfile.FIFOTYPE: "fifo",
}


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
        stack: list[tuple[str, Entry]] = [("/", self.root)]
        while stack:
            path, entry = stack.pop()
            yield path, entry
            if entry.children:
                base = path if path.endswith("/") else path + "/"
                stack.extend(
                    (base + name, entry.children[name]) for name in sorted(entry.children, reverse=True)
                )


# --------------------------------------------------------------------------------------------- reading


class _Forward(io.RawIOBase):
    """A sequential stream as a file that only seeks forward (tarfile's random-access mode then reads it
    once without copying every block)."""

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            size = CHUNK
        data = self._src.read(size)
        if len(data) < size and data:
            parts = [data]
            got = len(data)
            while got < size and (more := self._src.read(size - got)):
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        self._pos += len(data)
        return data

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a sequential stream cannot seek from its end")
        if pos < self._pos:
            raise io.UnsupportedOperation("a sequential stream cannot seek backwards")
        while self._pos < pos:
            data = self._src.read(min(CHUNK, pos - self._pos))
            if not data:
                break
            self._pos += len(data)
        self._pos = pos
        return pos


class _TarInfo(tarfile.TarInfo):
    def _proc_member(self, tarfile_: tarfile.TarFile):  # type: ignore[no-untyped-def]
        if self.type in (
            tarfile.XHDTYPE,
            tarfile.XGLTYPE,
            tarfile.GNUTYPE_LONGNAME,
            tarfile.GNUTYPE_LONGLINK,
        ):
            if self.size > MAX_EXTENDED_HEADER:
                raise tarfile.ReadError(f"an extended tar header of {self.size} bytes")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


@dataclass
class _Layer:
    """What one layer member holds, in tar order, before the layer order is known."""

    entries: list[tuple[str, Entry]] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    error: str | None = None  # the member is not a (readable) layer tar


def _clean(name: str) -> str | None:
    """A layer entry's path relative to /, "" for the root; None for one that leaves the root."""
    norm = posixpath.normpath("/" + name.lstrip("/")).lstrip("/")
    if name.startswith("../") or "/../" in f"/{name}/":
        return None
    return "" if norm == "." else norm


def _read_layer(fileobj: BinaryIO, counter: list[int]) -> _Layer:
    layer = _Layer()
    src = io.BufferedReader(fileobj, CHUNK) if not isinstance(fileobj, io.BufferedReader) else fileobj  # type: ignore[arg-type]
    try:
        method = detect_compression_bytes(src.peek(8)[:8])
        stream: BinaryIO = src  # type: ignore[assignment]
        if method != "none":
            stream = io.BufferedReader(decompressing_reader(src, method), CHUNK)  # type: ignore[arg-type]
        fwd = _Forward(stream)
        with tarfile.open(fileobj=fwd, mode="r:", tarinfo=_TarInfo) as tar:  # type: ignore[call-overload]
            while (ti := tar.next()) is not None:
                tar.members = []
                _add_entry(layer, tar, fwd, ti, counter)
    except (tarfile.TarError, EOFError, zlib.error, ValueError, InvalidInputError, OSError) as exc:
        layer.error = str(exc) or type(exc).__name__
    except Exception as exc:  # zstandard.ZstdError
        if type(exc).__name__ != "ZstdError":
            raise
        layer.error = str(exc)
    return layer


def _add_entry(
    layer: _Layer, tar: tarfile.TarFile, fwd: _Forward, ti: tarfile.TarInfo, counter: list[int]
) -> None:
    path = _clean(ti.name)
    if path is None:
        raise InvalidInputError(f"the layer has an entry {ti.name!r} outside the root")
    base = posixpath.basename(path)
    if base.startswith(WHITEOUT):
        parent = posixpath.dirname(path)
        if base == OPAQUE:
            layer.opaque.append(parent)
        else:
            layer.whiteouts.append(posixpath.join(parent, base[len(WHITEOUT) :]))
        return
    counter[0] += 1
    if counter[0] > MAX_ENTRIES:
        raise InvalidInputError(f"the image has more than {MAX_ENTRIES} paths")
    kind = _KINDS.get(ti.type, FILE if ti.type not in tarfile.SUPPORTED_TYPES else "other")
    entry = Entry(kind, ti.mode & 0o7777, ti.uid, ti.gid, mtime=int(ti.mtime))
    if kind == FILE:
        entry.size = ti.size
        entry.digest = _hash_member(tar, fwd, ti)
        entry.inode = counter[0]
    elif kind == DIR:
        entry.children = {}
    elif kind in (SYMLINK, HARDLINK):
        entry.link = ti.linkname
    elif kind in ("char-device", "block-device"):
        entry.link = f"{ti.devmajor}:{ti.devminor}"
    layer.entries.append((path, entry))


def _hash_member(tar: tarfile.TarFile, fwd: _Forward, ti: tarfile.TarInfo) -> bytes:
    hasher = hashlib.sha256()
    if ti.issparse():
        fh = tar.extractfile(ti)
        assert fh is not None
        while chunk := fh.read(CHUNK):
            hasher.update(chunk)
        return hasher.digest()
    fwd.seek(ti.offset_data)
    left = ti.size
    while left:
        chunk = fwd.read(min(left, CHUNK))
        if not chunk:
            raise tarfile.ReadError(f"{ti.name} is truncated")
        hasher.update(chunk)
        left -= len(chunk)
    return hasher.digest()


# --------------------------------------------------------------------------------------------- applying


class _Tree:
    def __init__(self) -> None:
        self.root = Entry(DIR, 0o755, 0, 0, children={})
        self.count = 0

    def lookup(self, path: str) -> Entry | None:
        node = self.root
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

    def parent(self, path: str, layer: int) -> Entry:
        """The directory holding `path`, made (as the engines do) when missing or not a directory."""
        node = self.root
        for part in path.split("/")[:-1]:
            assert node.children is not None
            nxt = node.children.get(part)
            if nxt is None or nxt.children is None:
                nxt = Entry(DIR, 0o755, 0, 0, layer=layer, children={})
                node.children[part] = nxt
            node = nxt
        return node

    def remove(self, path: str) -> None:
        if not path:
            return
        parent = self.lookup(posixpath.dirname(path))
        if parent is not None and parent.children is not None:
            parent.children.pop(posixpath.basename(path), None)

    def apply(self, layer: _Layer, index: int) -> None:
        for path in layer.whiteouts:
            self.remove(path)
        for path in layer.opaque:
            node = self.lookup(path)
            if node is not None and node.children is not None:
                node.children.clear()
        for path, entry in layer.entries:
            entry.layer = index
            if entry.kind == HARDLINK:
                entry = self._link(path, entry)
            if not path:
                self.root.mode, self.root.uid, self.root.gid = entry.mode, entry.uid, entry.gid
                self.root.mtime, self.root.layer = entry.mtime, index
                continue
            parent = self.parent(path, index)
            assert parent.children is not None
            name = path.rsplit("/", 1)[-1]
            old = parent.children.get(name)
            if entry.kind == DIR and old is not None and old.children is not None:
                entry.children = old.children  # a directory written again keeps what it holds
            parent.children[name] = entry

    def _link(self, path: str, entry: Entry) -> Entry:
        target_path = _clean(entry.link or "")
        target = self.lookup(target_path) if target_path else None
        if target is None or target.kind != FILE:
            return entry  # dangling: kept as a hard link to its target name
        return Entry(
            FILE,
            target.mode,
            target.uid,
            target.gid,
            size=target.size,
            digest=target.digest,
            mtime=target.mtime,
            layer=entry.layer,
            inode=target.inode,
        )


def _group_hardlinks(fs: RootFS) -> int:
    """Name each hard-link group by its first path; returns the number of entries."""
    first: dict[int, str] = {}
    multi: set[int] = set()
    count = 0
    for path, entry in fs.walk():
        count += 1
        if entry.kind == FILE:
            if entry.inode in first:
                multi.add(entry.inode)
            else:
                first[entry.inode] = path
    if multi:
        for path, entry in fs.walk():
            if entry.kind == FILE and entry.inode in multi and first[entry.inode] != path:
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
    counter = [0]

    def sink(name: str, size: int, fileobj: BinaryIO) -> None:
        layers[name] = _read_layer(fileobj, counter)

    scanned = scan_image_archive(path, sink, progress=progress)
    config = scanned.config
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    digests = [layer["digest"] for layer in scanned.info.layers]
    if (
        isinstance(diff_ids, list)
        and len(diff_ids) == len(digests)
        and all(isinstance(d, str) for d in diff_ids)
    ):
        digests = list(diff_ids)
    instructions = layer_instructions(config, len(digests))
    infos = [
        LayerInfo(i, digests[i], member, instructions[i]) for i, member in enumerate(scanned.layer_members)
    ]
    uses: dict[str, int] = {}
    for member in scanned.layer_members:
        uses[member] = uses.get(member, 0) + 1
    tree = _Tree()
    for info in infos:
        layer = layers.get(info.member)
        if layer is None or layer.error is not None:
            why = "is not in the archive" if layer is None else f"is not a readable layer tar: {layer.error}"
            raise InvalidInputError(
                f"layer {info.index} ({info.digest}, member {info.member}) of {path} {why}",
                hint="The archive is corrupt or truncated: export or download it again.",
            )
        uses[info.member] -= 1
        if uses[info.member]:  # the same layer again later: apply a copy
            layer = _Layer(
                [(p, _copy(e)) for p, e in layer.entries], list(layer.whiteouts), list(layer.opaque)
            )
        else:
            del layers[info.member]
        tree.apply(layer, info.index)
    fs = RootFS(scanned.info, infos, tree.root, diff_ids=digests)
    fs.entries = _group_hardlinks(fs)
    return fs


def _copy(entry: Entry) -> Entry:
    return Entry(
        entry.kind,
        entry.mode,
        entry.uid,
        entry.gid,
        entry.size,
        entry.digest,
        entry.link,
        entry.mtime,
        entry.layer,
        entry.inode,
        None,
        {} if entry.children is not None else None,
    )
