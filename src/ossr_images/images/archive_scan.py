"""Read a tar image archive in one streaming pass, without any engine: the members it holds, with the small
JSON ones (manifests, configs, index) kept in memory and the others hashed (with `verify`) or given to a sink
as they pass. Nothing is written to disk. What the members mean is `archive_layouts`' business.
Hostile or broken input raises `InvalidInputError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ossr_images.errors import InvalidInputError
from ossr_images.images.compression import CHUNK
from ossr_images.images.image_info import Progress

# called with (member name, size, file object) for each regular member not kept as JSON, while it streams by
MemberSink = Callable[[str, int, BinaryIO], None]

JSON_MAX = 16 * 1024 * 1024  # largest JSON member kept in memory
JSON_BUDGET = 64 * 1024 * 1024  # all JSON members together
MAX_MEMBERS = 200_000
MAX_LINK_HOPS = 8
MAX_TRAILING = 64 * 1024 * 1024  # data after the end-of-archive marker (padding is a few KiB)
MAX_EXTENDED_HEADER = 1024 * 1024  # pax / GNU long-name headers are read whole by tarfile


# --------------------------------------------------------------------------------------------- reading


class HashingReader(io.RawIOBase):
    """Reads a file sequentially, hashing (optionally) and reporting progress for every byte read."""

    def __init__(self, fh: BinaryIO, hasher: Any | None, progress: Progress | None) -> None:
        self._fh = fh
        self._hasher = hasher
        self._progress = progress
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = self._fh.read(size if size is not None and size >= 0 else CHUNK)
        if data:
            self.count += len(data)
            if self._hasher is not None:
                self._hasher.update(data)
            if self._progress is not None:
                self._progress(len(data))
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


_EXTENDED_TYPES = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a pax or GNU long-name header whole into memory: refuse absurd ones first."""

    def _proc_member(self, tarfile_: tarfile.TarFile):  # type: ignore[no-untyped-def]
        if self.type in _EXTENDED_TYPES and self.size > MAX_EXTENDED_HEADER:
            raise InvalidInputError(
                f"the archive has an extended tar header of {self.size} bytes (more than "
                f"{MAX_EXTENDED_HEADER // 1024} KiB), which no image archive has",
                hint="Refusing a hostile or corrupt archive: do not use it.",
            )
        return super()._proc_member(tarfile_)  # type: ignore[misc]


@dataclass
class TarMember:
    name: str
    kind: str  # "file", "dir", "symlink", "hardlink", "other"
    size: int
    linkname: str = ""
    data: bytes | None = None  # kept only for small JSON-looking members
    sha256: str | None = None  # of the content, for kept members and (with verify) every file


class TarScan:
    """The members of a tar, with the small JSON ones kept; the others go to `sink` (when given) as they pass."""

    def __init__(self, verify: bool = False, sink: MemberSink | None = None) -> None:
        self.members: dict[str, TarMember] = {}
        self.kept = 0
        self.verify = verify
        self.sink = sink

    def wants(self, name: str, size: int) -> bool:
        if size > JSON_MAX:
            return False
        base = posixpath.basename(name)
        return (
            name.endswith(".json") or name in ("repositories", "oci-layout") or name.startswith("blobs/")
        ) and base != "layer.tar"

    def add(self, ti: tarfile.TarInfo, reader: Callable[[], BinaryIO | None]) -> None:
        if len(self.members) >= MAX_MEMBERS:
            raise InvalidInputError(
                f"the archive has more than {MAX_MEMBERS} members, which no image archive has",
                hint="Check that this is a `docker save` or OCI archive.",
            )
        name = _norm_member_name(ti.name)
        if ti.isfile():
            kind = "file"
        elif ti.isdir():
            kind = "dir"
        elif ti.issym():
            kind = "symlink"
        elif ti.islnk():
            kind = "hardlink"
        else:
            kind = "other"
        member = TarMember(name, kind, ti.size if kind == "file" else 0, ti.linkname)
        fh: BinaryIO | None = None
        head = b""
        if kind == "file" and self.wants(name, ti.size):
            fh = reader()
            if fh is not None:
                head = fh.read(min(ti.size, 64))
                if head.lstrip()[:1] in (b"{", b"["):
                    self.kept += ti.size
                    if self.kept > JSON_BUDGET:
                        raise InvalidInputError(
                            "the archive's JSON members add up to more than "
                            f"{JSON_BUDGET // (1024 * 1024)} MiB, which no image archive has",
                            hint="Check that this is a `docker save` or OCI archive.",
                        )
                    rest = fh.read(ti.size - len(head))
                    data = head + rest
                    if len(data) != ti.size:
                        raise InvalidInputError(
                            f"member {name} of the archive is truncated",
                            hint="The file is incomplete: download or export it again.",
                        )
                    member.data = data
                    member.sha256 = hashlib.sha256(data).hexdigest()
        if kind == "file" and self.verify and member.data is None:
            fh = fh or reader()
            if fh is not None:
                hasher = hashlib.sha256(head)
                count = len(head)
                while chunk := fh.read(CHUNK):
                    hasher.update(chunk)
                    count += len(chunk)
                if count != ti.size:
                    raise InvalidInputError(
                        f"member {name} of the archive is truncated",
                        hint="The file is incomplete: download or export it again.",
                    )
                member.sha256 = hasher.hexdigest()
        if kind == "file" and self.sink is not None and member.data is None and not self.verify:
            fh = fh or reader()
            if fh is not None:
                self.sink(name, ti.size, _Prefixed(head, fh) if head else fh)
        self.members[name] = member


class _Prefixed(io.RawIOBase):
    """`head` (already read) followed by the rest of `fh`."""

    def __init__(self, head: bytes, fh: BinaryIO) -> None:
        self._head = head
        self._fh = fh

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if self._head:
            n = len(self._head) if size is None or size < 0 else min(size, len(self._head))
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._fh.read(size)

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _norm_member_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") if name not in ("", "/") else name


class _ForwardFile(io.RawIOBase):
    """A sequential stream as a file that only seeks forward, by reading through the bytes skipped: tarfile's
    random-access mode then reads it in one pass, and skips large members without copying them (its stream
    mode copies every block into a new buffer)."""

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
        parts = []
        got = 0
        while got < size:  # tarfile takes a short read for the end of the data
            data = self._src.read(size - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        self._pos += got
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a sequential stream cannot seek from its end")
        if pos < self._pos:
            raise io.UnsupportedOperation("a sequential stream cannot seek backwards")
        while self._pos < pos:
            data = self._src.read(min(CHUNK, pos - self._pos))
            if not data:  # beyond the end, as a file allows: the next read gives b""
                break
            self._pos += len(data)
        self._pos = pos
        return pos


def _scan_stream(
    stream: BinaryIO, verify: bool = False, sink: MemberSink | None = None
) -> tuple[TarScan, int]:
    """Scan a tar read sequentially; also return where the end-of-archive marker should start."""
    scan = TarScan(verify, sink)
    with tarfile.open(fileobj=_ForwardFile(stream), mode="r:", tarinfo=_BoundedTarInfo) as tar:
        while True:
            ti = tar.next()
            if ti is None:
                break
            scan.add(ti, lambda ti=ti: tar.extractfile(ti))
            tar.members = []  # keep memory flat: we remember what we need in scan
        end = tar.offset
    return scan, end


def _check_end(end: int, total: int) -> None:
    """tarfile silently stops at a missing or cut header; an archive must go on to its end marker."""
    if total < end + tarfile.BLOCKSIZE:
        raise tarfile.ReadError(
            f"the archive stops at byte {total} without its end-of-archive marker (truncated)"
        )


def scan_seek(path: Path, size: int, verify: bool = False) -> TarScan:
    scan = TarScan(verify)
    with tarfile.open(path, mode="r:", tarinfo=_BoundedTarInfo) as tar:
        while True:
            ti = tar.next()
            if ti is None:
                break
            if ti.isfile() and ti.offset_data + ti.size > size:
                raise InvalidInputError(
                    f"member {ti.name} of the archive ends beyond the end of the file (truncated archive)",
                    hint="The file is incomplete: download or export it again.",
                )
            scan.add(ti, lambda ti=ti: tar.extractfile(ti))
            tar.members = []  # keep memory flat: we remember what we need in scan
        _check_end(tar.offset, size)
    return scan


_READ_ERRORS: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


def read_errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard

        return (*_READ_ERRORS, zstandard.ZstdError)
    except ImportError:  # pragma: no cover
        return _READ_ERRORS


def corrupt_archive(path: Path, compression: str, exc: BaseException) -> InvalidInputError:
    what = "tar archive" if compression == "none" else f"{compression}-compressed tar archive"
    return InvalidInputError(
        f"{path} is not a readable {what}: {exc}",
        hint="The file is truncated or corrupt: download or export it again (and check its sha256).",
    )


def scan_to_end(src: BinaryIO, path: Path, verify: bool, sink: MemberSink | None = None) -> TarScan:
    stream = HashingReader(src, None, None)
    scan, end = _scan_stream(stream, verify, sink)  # type: ignore[arg-type]
    # read to the end: trailing padding, the compressed stream's end (catches truncation)
    while stream.read(CHUNK):
        if stream.count - end > MAX_TRAILING:
            raise InvalidInputError(
                f"{path} goes on for more than {MAX_TRAILING // (1024 * 1024)} MiB after the end "
                "of its tar archive",
                hint="Refusing a hostile or corrupt archive: do not use it.",
            )
    _check_end(end, stream.count)
    return scan


def looks_like_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    # old v7 tar: check the header checksum
    try:
        stored = int(head[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(head[:148]) + 8 * 32 + sum(head[156:512])
    return stored == computed


def resolve_member(scan: TarScan, ref: Any, role: str, *, follow_links: bool = False) -> TarMember:
    """The member a manifest names; refuses names outside the archive, missing members and links."""
    if not isinstance(ref, str) or not ref or "\x00" in ref:
        raise InvalidInputError(
            f"the archive's manifest names its {role} with an invalid path {ref!r}",
            hint="The archive is corrupt or was not made by docker save / an OCI tool.",
        )
    name = ref
    for _ in range(MAX_LINK_HOPS + 1):
        norm = posixpath.normpath(_norm_member_name(name))
        if name.startswith("/") or norm == ".." or norm.startswith("../"):
            raise InvalidInputError(
                f"the archive's {role} {ref!r} points outside the archive",
                hint="Refusing a hostile or corrupt archive: do not use it.",
            )
        member = scan.members.get(norm)
        if member is None:
            raise InvalidInputError(
                f"the archive's {role} {ref!r} is not in the archive",
                hint="The archive is incomplete or corrupt: export or download it again.",
            )
        if member.kind == "file":
            return member
        if member.kind in ("symlink", "hardlink") and follow_links:
            if member.kind == "symlink":
                name = posixpath.join(posixpath.dirname(norm), member.linkname)
            else:
                name = member.linkname
            continue
        if member.kind in ("symlink", "hardlink"):
            raise InvalidInputError(
                f"the archive's {role} {ref!r} is a {member.kind} to {member.linkname!r}, not a file",
                hint="Refusing a hostile or corrupt archive: do not use it.",
            )
        raise InvalidInputError(
            f"the archive's {role} {ref!r} is not a regular file",
            hint="The archive is corrupt: export or download it again.",
        )
    raise InvalidInputError(
        f"the archive's {role} {ref!r} is a chain of more than {MAX_LINK_HOPS} links",
        hint="Refusing a hostile or corrupt archive: do not use it.",
    )


def member_json(member: TarMember, role: str) -> Any:
    if member.data is None:
        if member.size > JSON_MAX:
            raise InvalidInputError(
                f"the archive's {role} {member.name} is {member.size} bytes, more than the "
                f"{JSON_MAX // (1024 * 1024)} MiB a JSON document of an image may have",
                hint="Refusing a hostile or corrupt archive: do not use it.",
            )
        raise InvalidInputError(
            f"the archive's {role} {member.name} is not JSON",
            hint="The archive is corrupt or was not made by docker save / an OCI tool.",
        )
    try:
        return json.loads(member.data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInputError(
            f"the archive's {role} {member.name} is not valid JSON: {exc}",
            hint="The archive is corrupt: export or download it again.",
        ) from exc
