"""Export an image to a file: from the Docker engine (`docker-daemon:NAME:TAG`, streamed through the SDK),
from a registry without a daemon (`docker://REGISTRY/REPO:TAG`, through skopeo), or by re-packing or
converting an existing archive or .sif (docker-archive <-> oci-archive with skopeo, -> .sif with Apptainer).

The result is written under a temporary name beside `out` and renamed only when complete, so a partial
file never appears under the final name; intermediate files live in a temporary folder beside `out`
(same file system, so no /tmp space is needed) and are removed whatever happens.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ossr_images.atomic import commit
from ossr_images.errors import InvalidInputError, RemoteError
from ossr_images.images.apptainer import build_sif
from ossr_images.images.compression import CHUNK, METHODS, compressing_writer, open_decompressed
from ossr_images.images.docker_engine import DockerEngine
from ossr_images.images.image_info import ImageInfo, Progress
from ossr_images.images.inspect import inspect_image, inspect_tar_stream
from ossr_images.images.skopeo import skopeo_copy, skopeo_stream
from ossr_images.writeback import start_writeback

FORMATS = ("docker-archive", "oci-archive", "sif")


@dataclass
class ExportResult:
    """What was written: the file, its format/compression/size/sha256, the image it holds, how to load it."""

    path: Path
    format: str
    compression: str
    size: int
    sha256: str
    image_id: str | None
    manifest_digest: str | None
    ref: str
    tool: str  # what produced the bytes: "docker-sdk", "skopeo", "apptainer", "ossr-images"
    load_instructions: str
    info: ImageInfo
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def load_instructions(path: Path | str, fmt: str, compression: str, tag: str | None = None) -> str:
    """The shell command that loads this file into an engine."""
    name = Path(path).name
    if fmt == "sif":
        return f"apptainer run {name}   # or: singularity run {name}"
    if fmt == "oci-archive":
        target = tag or "IMAGE:TAG"
        if compression == "none":
            return f"skopeo copy oci-archive:{name} docker-daemon:{target}"
        tool = "zstd -dc" if compression == "zstd" else "gzip -dc"
        plain = name.rsplit(".", 1)[0]
        return f"{tool} {name} > {plain} && skopeo copy oci-archive:{plain} docker-daemon:{target}"
    if compression == "zstd":
        return f"zstd -dc {name} | docker load"
    return f"docker load -i {name}"


# ------------------------------------------------------------------------------------------ references


def parse_ref(ref: str) -> tuple[str, str]:
    """("docker-daemon", "name:tag"), ("docker", "registry/repo:tag") or ("file", path)."""
    if ref.startswith("docker-daemon:"):
        value = ref[len("docker-daemon:") :]
        return "docker-daemon", value if (
            ":" in value.rsplit("/", 1)[-1] or "@" in value
        ) else value + ":latest"
    if ref.startswith("docker://"):
        return "docker", ref[len("docker://") :]
    for prefix in ("docker-archive:", "oci-archive:", "sif:"):
        if ref.startswith(prefix):
            return "file", ref[len(prefix) :]
    if os.path.exists(ref):
        return "file", ref
    raise InvalidInputError(
        f"{ref!r} is neither an existing file nor an image reference",
        hint="Give docker-daemon:NAME:TAG (an image in the local Docker engine), docker://REGISTRY/REPO:TAG "
        "(a registry, no daemon needed), or the path of a .tar/.tar.zst/.tar.gz archive or .sif file.",
    )


def _registry_host(value: str) -> str:
    first = value.split("/", 1)[0]
    return first if ("." in first or ":" in first or first == "localhost") and "/" in value else "docker.io"


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------ helpers


class _IterReader(io.RawIOBase):
    """A file object over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            size = CHUNK
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return b""
        data, self._buf = self._buf[:size], self._buf[size:]
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


WRITEBACK_STEP = 32 << 20


class _HashingWriter(io.RawIOBase):
    """Writes to the file `fh` (opened unbuffered), hashing what it writes. Every WRITEBACK_STEP bytes it
    starts the disk write of what came before, so that the final fsync has next to nothing left to wait for
    (else it waits for the whole file: 0.2 s per GiB here)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self.count = 0
        self._synced = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        view = memoryview(data)
        while view:  # an unbuffered write may write less than it was given
            view = view[self._fh.write(view) or 0 :]
        self.sha256.update(data)
        self.count += len(data)
        if self.count - self._synced >= WRITEBACK_STEP:
            start_writeback(self._fh.fileno(), self._synced, self.count - self._synced)
            self._synced = self.count
        return len(data)


class _Tee(io.RawIOBase):
    """Reads `src` and writes every byte read, once and in order, to `sink` too. Errors of either are
    wrapped in _Passed so that a reader of this stream (the tar scan) cannot mistake them for its own."""

    def __init__(self, src: BinaryIO, sink: BinaryIO, progress: Progress | None) -> None:
        self._src = src
        self._sink = sink
        self._progress = progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        try:
            data = self._src.read(size if size is not None and size >= 0 else CHUNK)
            if data:
                self._sink.write(data)
        except Exception as exc:
            raise _Passed(exc) from exc
        if data and self._progress:
            self._progress(len(data))
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Passed(Exception):  # noqa: N818 - a carrier, never shown
    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


def _write_compressed(
    src: BinaryIO, part: Path, method: str, progress: Progress | None, *, describe: bool = False
) -> tuple[str, ImageInfo | None]:
    """Compress `src` into `part` (created; made durable by `atomic.commit` when it is the result); return the sha256 of what was written and, with
    `describe`, what `src` holds (an image tar, scanned while its bytes go by: nothing is read twice)."""
    info = None
    with open(part, "wb", buffering=0) as fh:
        writer = _HashingWriter(fh)
        with compressing_writer(writer, method) as sink:  # type: ignore[arg-type]
            if not describe:
                while chunk := src.read(CHUNK):
                    sink.write(chunk)
                    if progress:
                        progress(len(chunk))
            else:
                try:
                    info = inspect_tar_stream(_Tee(src, sink, progress), part)
                except _Passed as passed:
                    raise passed.exc from None
    return writer.sha256.hexdigest(), info


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------ export


def export_image(
    ref: str,
    out: Path | str,
    *,
    fmt: str = "docker-archive",
    compress: str | None = None,
    progress: Progress | None = None,
    engine: Any = None,
    tls_verify: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export image `ref` to `out` in format `fmt` ("docker-archive", "oci-archive", "sif") compressed
    with `compress` ("zstd", "gzip", "none"; default zstd for archives, none for .sif).

    `ref`: docker-daemon:NAME:TAG, docker://REGISTRY/REPO:TAG or the path of an archive / .sif.
    `tls_verify` for registries: None verifies except for loopback registries. `engine`: a connected
    DockerEngine to reuse. `progress(n)`: uncompressed bytes processed.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}", hint=f"Use one of: {', '.join(FORMATS)}.")
    if compress is None:
        compress = "none" if fmt == "sif" else "zstd"
    if compress not in METHODS:
        raise InvalidInputError(
            f"unknown compression {compress!r}", hint=f"Use one of: {', '.join(METHODS)}."
        )
    if fmt == "sif" and compress != "none":
        raise InvalidInputError(
            "a .sif file is not compressed as a whole (its squashfs partition already is)",
            hint="Use --compress none with --format sif.",
        )
    out = Path(out)
    if out.is_dir():
        raise InvalidInputError(f"output {out} is a directory", hint="Give the path of the file to write.")
    transport, value = parse_ref(ref)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".export", dir=out.parent))
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write in {out.parent}: {exc.strerror or exc}",
            hint="Choose an output folder you can write to.",
        ) from exc
    try:
        return _export(ref, out, work, transport, value, fmt, compress, progress, engine, tls_verify, log)
    except OSError as exc:  # the disk, not the engine (engine errors are OssrErrors already)
        raise InvalidInputError(
            f"writing {out} failed: {exc.strerror or exc}",
            hint=f"Check the free space and permissions in {out.parent}, then run the command again.",
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export(
    ref: str,
    out: Path,
    work: Path,
    transport: str,
    value: str,
    fmt: str,
    compress: str,
    progress: Progress | None,
    engine: Any,
    tls_verify: bool | None,
    log: Callable[[str], None] | None,
) -> ExportResult:
    steps: list[str] = []
    part = work / "result.part"
    tag: str | None = None
    reported = False  # progress already shown for a step (no double counting)
    if transport == "docker-daemon":
        tool = "docker-sdk"
        tag = value
        if engine is None:
            engine = DockerEngine.connect()
        if fmt == "docker-archive":
            steps.append(f"docker save {value} (Docker SDK, streamed) | {compress}")
            stream = _IterReader(engine.save_stream(value))
            digest, info = _write_compressed(stream, part, compress, progress, describe=True)
            return _finish(part, out, fmt, compress, digest, info, ref, tool, steps, tag)
        plain = work / "docker.tar"
        steps.append(f"docker save {value} (Docker SDK, streamed)")
        _write_compressed(_IterReader(engine.save_stream(value)), plain, "none", progress)
        reported = True
        src_fmt = "docker-archive"
    elif transport == "docker":
        tool = "skopeo"
        host = _registry_host(value)
        verify = tls_verify if tls_verify is not None else not _is_loopback(host)
        name = value if "@" not in value else None
        tag = name
        src_fmt = "oci-archive" if fmt == "oci-archive" else "docker-archive"
        note = "" if verify else " (TLS not verified)"
        if fmt != "sif" and hasattr(os, "mkfifo"):
            steps.append(f"skopeo copy docker://{value} {src_fmt}:FIFO | {compress}{note}")
            digest, info = skopeo_stream(
                f"docker://{value}",
                src_fmt,
                name,
                lambda stream: _write_compressed(stream, part, compress, progress, describe=True),
                work=work,
                src_tls_verify=verify,
                log=log,
            )
            return _finish(part, out, fmt, compress, digest, info, ref, tool, steps, tag)
        plain = work / f"{src_fmt}.tar"
        dst = f"{src_fmt}:{plain}" + (f":{name}" if name else "")
        skopeo_copy(f"docker://{value}", dst, src_tls_verify=verify, log=log)
        steps.append(f"skopeo copy docker://{value} {src_fmt}:…{note}")
    else:
        tool = "ossr-images"
        src = Path(value)
        info = inspect_image(src, sha256=False)
        src_fmt = info.format
        tag = info.repo_tags[0] if info.repo_tags else None
        if src_fmt == fmt:
            if fmt == "sif" or info.compression == compress:
                steps.append(f"copy {src} (already a {fmt}, {info.compression})")
                with open(src, "rb") as fh:
                    digest, _ = _write_compressed(fh, part, "none", progress)
                copied: ImageInfo | None = info  # the same bytes: no need to read them again
            else:
                steps.append(f"re-pack {src} ({info.compression} -> {compress})")
                with open_decompressed(src) as fh:
                    digest, copied = _write_compressed(fh, part, compress, progress, describe=True)
            return _finish(part, out, fmt, compress, digest, copied, ref, tool, steps, tag)
        if src_fmt == "sif":
            raise InvalidInputError(
                f"{src} is a .sif file, which cannot be converted to a {fmt}",
                hint="Export the Docker image it was built from instead (docker-daemon:NAME:TAG).",
            )
        if info.compression != "none":
            plain = work / f"{src_fmt}.tar"
            steps.append(f"decompress {src} ({info.compression})")
            with open_decompressed(src) as fh:
                _write_compressed(fh, plain, "none", progress)
            reported = True
        else:
            plain = src
    # convert `plain` (src_fmt, uncompressed) to fmt
    if src_fmt != fmt:
        plain, tool = _convert(plain, src_fmt, fmt, work, tag, steps, log)
    if fmt == "sif":
        if plain.parent == work:
            os.replace(plain, part)
        else:
            shutil.copyfile(plain, part)
        digest = _sha256_file(part)
        return _finish(part, out, fmt, "none", digest, None, ref, tool, steps, tag)
    if compress != "none":
        steps.append(f"compress with {compress}")
    with open(plain, "rb") as fh:
        digest, info = _write_compressed(fh, part, compress, None if reported else progress, describe=True)
    return _finish(part, out, fmt, compress, digest, info, ref, tool, steps, tag)


def _convert(
    plain: Path,
    src_fmt: str,
    fmt: str,
    work: Path,
    tag: str | None,
    steps: list[str],
    log: Callable[[str], None] | None,
) -> tuple[Path, str]:
    if fmt == "sif":
        if src_fmt == "oci-archive":  # apptainer needs directory entries in oci-archives: go via docker
            plain, _ = _convert(plain, src_fmt, "docker-archive", work, tag, steps, log)
        target = work / "image.sif"
        steps.append("apptainer build image.sif docker-archive:…")
        build_sif(f"docker-archive:{plain}", target, log=log)
        return target, "apptainer"
    target = work / f"{fmt}.tar"
    name = tag if tag and _looks_like_docker_ref(tag) else None
    dst = f"{fmt}:{target}" + (f":{name}" if name else "")
    steps.append(f"skopeo copy {src_fmt}:… {fmt}:…")
    skopeo_copy(f"{src_fmt}:{plain}", dst, log=log)
    return target, "skopeo"


def _looks_like_docker_ref(tag: str) -> bool:
    last = tag.rsplit("/", 1)[-1]
    return ":" in last and tag == tag.lower() and " " not in tag


def _finish(
    part: Path,
    out: Path,
    fmt: str,
    compress: str,
    digest: str,
    info: ImageInfo | None,
    ref: str,
    tool: str,
    steps: list[str],
    tag: str | None,
) -> ExportResult:
    """Check what was written (described while it was written, or read back) and give it its name."""
    if info is None:
        info = inspect_image(part, sha256=False)
    info.compression = compress
    if info.format != fmt:
        raise RemoteError(
            f"the export of {ref} produced a {info.format}, not a {fmt}",
            hint="Report this; try another --format meanwhile.",
        )
    info.sha256 = digest
    commit(part, out)  # fsync (an error names the file), then the final name
    info.path = str(out)
    size = out.stat().st_size
    info.size = size
    return ExportResult(
        path=out,
        format=fmt,
        compression=compress,
        size=size,
        sha256=digest,
        image_id=info.image_id,
        manifest_digest=info.manifest_digest,
        ref=ref,
        tool=tool,
        load_instructions=load_instructions(out, fmt, compress, tag),
        info=info,
        steps=steps,
    )
