"""Read an image archive without any engine: Docker archives (`docker save`, legacy and OCI-in-tar), OCI
image-layout archives (plain, gzip or zstd) and Apptainer/Singularity `.sif` files.

One streaming pass over the file: the raw bytes are hashed as they are read, the tar is read in stream
mode over a decompressing reader, only small JSON members are kept in memory, nothing is written to disk.
An uncompressed archive read with `sha256=False` is read by seeking over the tar headers instead.
Hostile or broken input raises `InvalidInputError` (or `IntegrityError` for a digest mismatch).
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ossr_images.errors import IntegrityError, InvalidInputError
from ossr_images.images.compression import CHUNK, decompressing_reader, detect_compression_bytes

Progress = Callable[[int], None]
# called with (member name, size, file object) for each regular member not kept as JSON, while it streams by
MemberSink = Callable[[str, int, BinaryIO], None]

JSON_MAX = 16 * 1024 * 1024  # largest JSON member kept in memory
JSON_BUDGET = 64 * 1024 * 1024  # all JSON members together
MAX_MEMBERS = 200_000
MAX_LINK_HOPS = 8
MAX_TRAILING = 64 * 1024 * 1024  # data after the end-of-archive marker (padding is a few KiB)
MAX_EXTENDED_HEADER = 1024 * 1024  # pax / GNU long-name headers are read whole by tarfile
SIF_MAGIC_OFFSET = 32
SIF_MAGIC = b"SIF_MAGIC"

MT_INDEXES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
_DIGEST_RE = re.compile(r"^(sha256|sha512):([a-f0-9]+)$")
_DIGEST_LEN = {"sha256": 64, "sha512": 128}


@dataclass
class ImageInfo:
    """What the readers learn about one image file."""

    path: str
    format: str  # "docker-archive" | "oci-archive" | "sif"
    compression: str  # "none" | "gzip" | "zstd"
    size: int
    sha256: str | None
    image_id: str | None  # "sha256:<hex>": the digest of the config blob
    manifest_digest: str | None
    repo_tags: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    architecture: str | None = None
    os: str | None = None
    created: str | None = None
    docker_version: str | None = None  # the engine that built it: legacy config field, absent with BuildKit
    layers: list[dict[str, Any]] = field(default_factory=list)  # [{digest, size}]
    layout: str | None = None  # "docker-legacy", "docker+oci", "oci", "sif"
    layers_verified: bool = False  # every layer's content was hashed and matched its digest
    image_count: int = 1
    sif: dict[str, Any] | None = None  # SIF header and descriptors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return asdict(self)


# --------------------------------------------------------------------------------------------- reading


class _HashingReader(io.RawIOBase):
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
class _Member:
    name: str
    kind: str  # "file", "dir", "symlink", "hardlink", "other"
    size: int
    linkname: str = ""
    data: bytes | None = None  # kept only for small JSON-looking members
    sha256: str | None = None  # of the content, for kept members and (with verify) every file


class _Scan:
    """The members of a tar, with the small JSON ones kept; the others go to `sink` (when given) as they pass."""

    def __init__(self, verify: bool = False, sink: MemberSink | None = None) -> None:
        self.members: dict[str, _Member] = {}
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
        member = _Member(name, kind, ti.size if kind == "file" else 0, ti.linkname)
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


def _scan_stream(stream: BinaryIO, verify: bool = False, sink: MemberSink | None = None) -> tuple[_Scan, int]:
    """Scan a tar read sequentially; also return where the end-of-archive marker should start."""
    scan = _Scan(verify, sink)
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


def _scan_seek(path: Path, size: int, verify: bool = False) -> _Scan:
    scan = _Scan(verify)
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


def _read_errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard

        return (*_READ_ERRORS, zstandard.ZstdError)
    except ImportError:  # pragma: no cover
        return _READ_ERRORS


def _corrupt(path: Path, compression: str, exc: BaseException) -> InvalidInputError:
    what = "tar archive" if compression == "none" else f"{compression}-compressed tar archive"
    return InvalidInputError(
        f"{path} is not a readable {what}: {exc}",
        hint="The file is truncated or corrupt: download or export it again (and check its sha256).",
    )


# --------------------------------------------------------------------------------------------- public


def inspect_image(
    path: Path | str,
    *,
    sha256: bool = True,
    progress: Progress | None = None,
    verify_layers: bool = False,
) -> ImageInfo:
    """Describe the image file at `path` (Docker archive, OCI archive or .sif; plain, gzip or zstd).

    With `sha256=True` the whole file is read once and its sha256 reported; with `sha256=False` an
    uncompressed archive is read by seeking (headers and small JSON members only). `progress(n)` is
    called with the number of raw bytes read. With `verify_layers=True` every layer is hashed too (in the
    same pass) and compared with its digest / diff_id: a mismatch raises IntegrityError. The config and
    manifest blobs are always checked against their digests.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read image file {path}: {exc.strerror or exc}",
            hint="Check the path: give an image archive (.tar, .tar.zst, .tar.gz) or a .sif file.",
        ) from exc
    if not path.is_file():
        raise InvalidInputError(
            f"{path} is not a regular file", hint="Give an image archive or a .sif file, not a directory."
        )
    size = st.st_size
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInputError(
            f"cannot open image file {path}: {exc.strerror or exc}", hint="Check the file's permissions."
        ) from exc
    with fh:
        head = fh.read(SIF_MAGIC_OFFSET + len(SIF_MAGIC) + 600)
        fh.seek(0)
        if len(head) == 0:
            raise InvalidInputError(
                f"{path} is empty", hint="The file is incomplete: build, export or download it again."
            )
        if head[SIF_MAGIC_OFFSET : SIF_MAGIC_OFFSET + len(SIF_MAGIC)] == SIF_MAGIC:
            from ossr_images.images.sif import inspect_sif

            try:
                return inspect_sif(path, fh, size, sha256=sha256, progress=progress)
            except OSError as exc:
                raise InvalidInputError(
                    f"reading {path} failed: {exc.strerror or exc}", hint="Check the file and the disk."
                ) from exc
        compression = detect_compression_bytes(head)
        if compression == "none" and not _looks_like_tar(head):
            raise InvalidInputError(
                f"{path} is neither a tar archive, a gzip/zstd-compressed one, nor a SIF file",
                hint="Give a `docker save` archive (.tar, .tar.gz, .tar.zst), an OCI archive or a .sif file.",
            )
        errors = _read_errors()
        digest: str | None = None
        try:
            if compression == "none" and not sha256:
                scan = _scan_seek(path, size, verify_layers)
                if progress is not None:
                    progress(size)
            else:
                hasher = hashlib.sha256() if sha256 else None
                raw = _HashingReader(fh, hasher, progress)
                scan = _scan_to_end(decompressing_reader(raw, compression), path, verify_layers)  # type: ignore[arg-type]
                raw.drain()
                if hasher is not None:
                    digest = hasher.hexdigest()
        except (InvalidInputError, IntegrityError):
            raise
        except errors as exc:
            raise _corrupt(path, compression, exc) from exc
    info = _describe(scan, path)
    info.layers_verified = verify_layers
    info.compression = compression
    info.size = size
    info.sha256 = digest
    return info


def inspect_tar_stream(stream: BinaryIO, name: Path | str) -> ImageInfo:
    """Describe the uncompressed image tar read from `stream`, which is read to its end, once (so that a
    caller can compress or hash the same bytes as they are read). `name` is used in messages and as the
    info's path. Raises InvalidInputError for a stream that is not a complete image archive; exceptions
    raised by `stream` itself propagate unchanged, except the tar and read errors of `_read_errors()`."""
    path = Path(name)
    try:
        scan = _scan_to_end(stream, path, False)
    except (InvalidInputError, IntegrityError):
        raise
    except _read_errors() as exc:
        raise _corrupt(path, "none", exc) from exc
    info = _describe(scan, path)
    info.compression = "none"
    info.size = 0
    return info


def _scan_to_end(src: BinaryIO, path: Path, verify: bool, sink: MemberSink | None = None) -> _Scan:
    stream = _HashingReader(src, None, None)
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


@dataclass
class ScannedImage:
    """An image archive read once by `scan_image_archive`: what inspect reports, the archive member holding
    each layer (in the image's order) and the image config document."""

    info: ImageInfo
    layer_members: list[str]
    config: dict[str, Any]


def scan_image_archive(
    path: Path | str, sink: MemberSink, *, progress: Progress | None = None
) -> ScannedImage:
    """Read a Docker or OCI image archive (plain, gzip or zstd) once, streaming, as `inspect_image` does;
    every regular member that is not a small JSON document (layers, mostly) is given to
    `sink(name, size, fileobj)` as it passes, to read or not. Raises InvalidInputError for a file that is not
    such an archive (a SIF file included) and IntegrityError for a config or manifest that fails its digest.
    """
    path = Path(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read image file {path}: {exc.strerror or exc}",
            hint="Check the path: give an image archive (.tar, .tar.zst, .tar.gz).",
        ) from exc
    with fh:
        head = fh.read(SIF_MAGIC_OFFSET + len(SIF_MAGIC) + 600)
        fh.seek(0)
        if head[SIF_MAGIC_OFFSET : SIF_MAGIC_OFFSET + len(SIF_MAGIC)] == SIF_MAGIC:
            raise InvalidInputError(
                f"{path} is a SIF file; only Docker and OCI archives can be read layer by layer",
                hint="Compare Docker or OCI archives (`ossr-images export` writes one).",
            )
        compression = detect_compression_bytes(head)
        if compression == "none" and not _looks_like_tar(head):
            raise InvalidInputError(
                f"{path} is neither a tar archive nor a gzip/zstd-compressed one",
                hint="Give a `docker save` archive (.tar, .tar.gz, .tar.zst) or an OCI archive.",
            )
        try:
            raw = _HashingReader(fh, None, progress)
            scan = _scan_to_end(decompressing_reader(raw, compression), path, False, sink)  # type: ignore[arg-type]
            raw.drain()
        except (InvalidInputError, IntegrityError):
            raise
        except _read_errors() as exc:
            raise _corrupt(path, compression, exc) from exc
    info = _describe(scan, path)
    info.compression = compression
    info.size = raw.count
    if info.format == "docker-archive":
        entry = _json_of(_resolve(scan, "manifest.json", "manifest"), "manifest")[0]
        members = [_resolve(scan, ref, "layer", follow_links=True).name for ref in entry["Layers"]]
        config = _json_of(_resolve(scan, entry.get("Config"), "config"), "config")
    else:
        members = [_blob(scan, layer["digest"], "layer").name for layer in info.layers]
        config = _json_of(_blob(scan, str(info.image_id), "config"), "config")
    return ScannedImage(info, members, config)


def _looks_like_tar(head: bytes) -> bool:
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


# --------------------------------------------------------------------------------------------- layouts


def _describe(scan: _Scan, path: Path) -> ImageInfo:
    members = scan.members
    if "manifest.json" in members:
        return _describe_docker(scan, path)
    if "index.json" in members:
        return _describe_oci(scan, path)
    raise InvalidInputError(
        f"{path} is a tar archive but not an image archive: it has neither manifest.json (docker save) "
        "nor index.json (OCI layout)",
        hint="Export the image with `ossr-images export` or `docker save`, then try again.",
    )


def _resolve(scan: _Scan, ref: Any, role: str, *, follow_links: bool = False) -> _Member:
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


def _json_of(member: _Member, role: str) -> Any:
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


def _check_digest(data: bytes, digest: str, what: str) -> None:
    alg, _, expected = digest.partition(":")
    actual = hashlib.new(alg, data).hexdigest()
    if actual != expected:
        raise IntegrityError(
            f"{what} does not match its digest: expected {digest}, found {alg}:{actual}",
            hint="The archive was altered or corrupted: do not use it; export or download it again.",
        )


def _parse_digest(value: Any, what: str) -> str:
    m = _DIGEST_RE.match(value) if isinstance(value, str) else None
    if not m or len(m.group(2)) != _DIGEST_LEN[m.group(1)]:
        raise InvalidInputError(
            f"{what} has an invalid digest {value!r}",
            hint="The archive is corrupt or was not made by docker save / an OCI tool.",
        )
    return value


def _config_facts(config: Any, info: ImageInfo, where: str) -> list[str]:
    """Fill labels, architecture, os, created, docker_version from a config; return its diff_ids."""
    if not isinstance(config, dict):
        raise InvalidInputError(
            f"the image config {where} is not a JSON object",
            hint="The archive is corrupt or was not made by docker save / an OCI tool.",
        )
    inner = config.get("config") or {}
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    if labels is None:
        labels = {}
    if not isinstance(labels, dict):
        raise InvalidInputError(
            f"the labels in the image config {where} are not a JSON object",
            hint="The archive is corrupt or was not made by docker save / an OCI tool.",
        )
    info.labels = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in labels.items()}
    for attr in ("architecture", "os", "created"):
        value = config.get(attr)
        setattr(info, attr, value if isinstance(value, str) else None)
    version = config.get("docker_version")
    info.docker_version = version if isinstance(version, str) and version else None
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return [d for d in diff_ids if isinstance(d, str)] if isinstance(diff_ids, list) else []


def _check_layer(member: _Member, digest: str, path: Path) -> None:
    alg, _, expected = digest.partition(":")
    if alg != "sha256" or member.sha256 is None:
        return  # only sha256 digests are computed
    if member.sha256 != expected:
        raise IntegrityError(
            f"layer {member.name} in {path} does not match its digest: expected {digest}, found "
            f"sha256:{member.sha256}",
            hint="The archive was altered or corrupted: do not use it; export or download it again.",
        )


def _blank(path: Path, fmt: str) -> ImageInfo:
    return ImageInfo(
        path=str(path),
        format=fmt,
        compression="none",
        size=0,
        sha256=None,
        image_id=None,
        manifest_digest=None,
    )


def _describe_docker(scan: _Scan, path: Path) -> ImageInfo:
    manifest = _json_of(_resolve(scan, "manifest.json", "manifest"), "manifest")
    if not isinstance(manifest, list) or not manifest or not all(isinstance(e, dict) for e in manifest):
        raise InvalidInputError(
            f"manifest.json in {path} is not a non-empty list of images",
            hint="The archive is corrupt or was not made by docker save.",
        )
    entry = manifest[0]
    info = _blank(path, "docker-archive")
    info.image_count = len(manifest)
    config_member = _resolve(scan, entry.get("Config"), "config")
    config_bytes = config_member.data
    config = _json_of(config_member, "config")
    assert config_bytes is not None
    image_hex = hashlib.sha256(config_bytes).hexdigest()
    info.image_id = f"sha256:{image_hex}"
    # the config's name carries its digest: "<hex>.json" (legacy) or "blobs/sha256/<hex>" (Docker 25+)
    named = posixpath.basename(config_member.name).removesuffix(".json")
    if re.fullmatch(r"[a-f0-9]{64}", named) and named != image_hex:
        raise IntegrityError(
            f"the image config {config_member.name} in {path} does not match its name: its sha256 is "
            f"{image_hex}",
            hint="The archive was altered or corrupted: do not use it; export or download it again.",
        )
    diff_ids = _config_facts(config, info, config_member.name)
    tags = entry.get("RepoTags") or []
    info.repo_tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    layer_refs = entry.get("Layers")
    if not isinstance(layer_refs, list):
        raise InvalidInputError(
            f"manifest.json in {path} has no list of layers",
            hint="The archive is corrupt or was not made by docker save.",
        )
    if len(layer_refs) != len(diff_ids):
        raise InvalidInputError(
            f"manifest.json in {path} lists {len(layer_refs)} layers but the image config has "
            f"{len(diff_ids)} diff_ids",
            hint="The archive is corrupt: export or download it again.",
        )
    for ref, diff_id in zip(layer_refs, diff_ids, strict=True):
        member = _resolve(scan, ref, "layer", follow_links=True)
        if scan.verify:
            _check_layer(member, diff_id, path)
        info.layers.append({"digest": diff_id, "size": member.size})
    info.layout = "docker-legacy"
    if "index.json" in scan.members and "oci-layout" in scan.members:
        info.layout = "docker+oci"
        info.manifest_digest = _find_manifest_for_config(scan, info.image_id)
    return info


def _find_manifest_for_config(scan: _Scan, image_id: str) -> str | None:
    """The digest of the OCI manifest (Docker 25+ layout) whose config is `image_id`, if any."""
    try:
        manifests = _walk_index(scan)
    except InvalidInputError:
        return None
    for digest, manifest, _annotations in manifests:
        config = manifest.get("config") if isinstance(manifest, dict) else None
        if isinstance(config, dict) and config.get("digest") == image_id:
            return digest
    return None


def _blob(scan: _Scan, digest: str, role: str) -> _Member:
    alg, _, hex_ = _parse_digest(digest, role).partition(":")
    return _resolve(scan, f"blobs/{alg}/{hex_}", f"{role} blob {digest}")


def _walk_index(scan: _Scan) -> list[tuple[str, Any, dict[str, str]]]:
    """All image manifests reachable from index.json: (digest, manifest, annotations). Inside a nested
    image index, platform variants whose blobs the archive does not carry (a single-platform save of a
    multi-platform image) and attestation manifests are skipped."""
    index = _json_of(_resolve(scan, "index.json", "index"), "index")
    found: list[tuple[str, Any, dict[str, str]]] = []

    def walk(doc: Any, depth: int, inherited: dict[str, str]) -> None:
        if depth > 4:
            raise InvalidInputError(
                "the OCI index nests more than 4 levels", hint="Refusing a hostile or corrupt archive."
            )
        entries = doc.get("manifests") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise InvalidInputError(
                "an OCI index of the archive has no list of manifests",
                hint="The archive is corrupt or was not made by an OCI tool.",
            )
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            digest = _parse_digest(entry.get("digest"), "a manifest in the OCI index")
            platform = entry.get("platform") if isinstance(entry.get("platform"), dict) else {}
            ann = entry.get("annotations") if isinstance(entry.get("annotations"), dict) else {}
            if depth > 0 and (platform.get("os") == "unknown" or "vnd.docker.reference.type" in ann):
                continue  # an attestation, not an image
            alg, _, hex_ = digest.partition(":")
            if depth > 0 and f"blobs/{alg}/{hex_}" not in scan.members:
                continue  # a platform this archive does not carry
            member = _blob(scan, digest, "manifest")
            if member.data is not None:
                _check_digest(member.data, digest, f"manifest blob {member.name}")
            doc2 = _json_of(member, f"manifest {digest}")
            media = entry.get("mediaType") or (doc2.get("mediaType") if isinstance(doc2, dict) else None)
            media = media if isinstance(media, str) else None
            merged = {**ann, **inherited}
            if media in MT_INDEXES or (isinstance(doc2, dict) and "manifests" in doc2):
                walk(doc2, depth + 1, merged)
            else:
                if platform:
                    merged = {
                        **merged,
                        "ossr-images.platform": f"{platform.get('os')}/{platform.get('architecture')}",
                    }
                found.append((digest, doc2, merged))

    walk(index, 0, {})
    return found


def _describe_oci(scan: _Scan, path: Path) -> ImageInfo:
    if "oci-layout" not in scan.members:
        raise InvalidInputError(
            f"{path} has index.json but no oci-layout file, so it is not an OCI image layout",
            hint="The archive is corrupt or was not made by an OCI tool.",
        )
    manifests = _walk_index(scan)
    if not manifests:
        raise InvalidInputError(
            f"the OCI index of {path} lists no image", hint="The archive holds no image: export it again."
        )
    info = _blank(path, "oci-archive")
    info.image_count = len(manifests)
    info.layout = "oci"
    digest, manifest, annotations = _pick_manifest(manifests)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise InvalidInputError(
            f"the image manifest {digest} in {path} has no config",
            hint="The archive is corrupt or was not made by an OCI tool.",
        )
    info.manifest_digest = digest
    config_digest = _parse_digest(manifest["config"].get("digest"), f"the config of manifest {digest}")
    config_member = _blob(scan, config_digest, "config")
    if config_member.data is not None:
        _check_digest(config_member.data, config_digest, f"config blob {config_member.name}")
    config = _json_of(config_member, "config")
    info.image_id = config_digest
    _config_facts(config, info, config_member.name)
    layers = manifest.get("layers")
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict):
            continue
        ldigest = _parse_digest(layer.get("digest"), f"a layer of manifest {digest}")
        member = _blob(scan, ldigest, "layer")
        declared = layer.get("size")
        if isinstance(declared, int) and declared != member.size:
            raise IntegrityError(
                f"layer blob {member.name} in {path} is {member.size} bytes but its manifest says {declared}",
                hint="The archive was altered or corrupted: do not use it; export or download it again.",
            )
        if scan.verify:
            _check_layer(member, ldigest, path)
        entry = {"digest": ldigest, "size": member.size}
        if isinstance(layer.get("mediaType"), str):
            entry["media_type"] = layer["mediaType"]
        info.layers.append(entry)
    names = [
        annotations.get("io.containerd.image.name") or annotations.get("org.opencontainers.image.ref.name")
        for _d, _m, annotations in manifests
    ]
    info.repo_tags = list(dict.fromkeys(n for n in names if isinstance(n, str)))
    return info


def _host_platform() -> str:
    import platform

    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"linux/{arch}"


def _pick_manifest(manifests: list[tuple[str, Any, dict[str, str]]]) -> tuple[str, Any, dict[str, str]]:
    """The manifest for this machine's platform when the index says, else the first."""
    host = _host_platform()
    for entry in manifests:
        if entry[2].get("ossr-images.platform") == host:
            return entry
    return manifests[0]
