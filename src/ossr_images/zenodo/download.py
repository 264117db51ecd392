"""Downloads: stream a file into ``<dest>.part``, hash it (md5 + sha256) while the bytes arrive, verify, rename.

The body is read with ``readinto`` into a small ring of reused buffers straight from the response's
``http.client.HTTPResponse`` (requests' ``iter_content`` and urllib3's ``read(amt)`` copy every byte once or
twice more and allocate a new buffer per chunk); a compressed or unexpected body falls back to
``iter_content``. Two busy threads, which is what two CPUs give: md5 (the slowest part, serial by nature) on a
worker thread, and receiving, writing and sha256 on the calling thread. Memory stays at a few buffers.

The ``.part`` file is written back to disk while it grows (``sync_file_range``), so the ``fsync`` before the
rename finds little left to do. A resumed download (``Range``) hashes the bytes already on disk once.
"""

from __future__ import annotations

import errno
import http.client
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from ossr_images.writeback import start_writeback
from ossr_images.zenodo.errors import ZenodoError, ZenodoIntegrityError, error_from_response, safe_url
from ossr_images.zenodo.models import parse_md5
from ossr_images.zenodo.transfer import HashRing, Progress
from ossr_images.zenodo.transport import (
    NETWORK_ERRORS,
    Transport,
    classify,
    describe_network_error,
    log,
    read_some,
)

# fsync is not supported at all on this file system (some FUSE and network file systems): nothing to wait for.
# Any other error (EIO, ENOSPC, EDQUOT, ...) means the bytes may not be on disk, and is raised.
_FSYNC_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})
BUFFER_SIZE = 1024 * 1024  # 1 MiB: measured faster than 256 KiB and 4 MiB (cache-friendly, few syscalls)
WRITEBACK_WINDOW = 32 * 1024 * 1024  # start writing the part to disk every 32 MiB


@dataclass(frozen=True)
class Expected:
    """What the record says of a file: its size and md5 (``md5:<hex>`` or bare hex) and, from the image
    metadata file, its sha256; None where nothing is known."""

    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class DownloadResult:
    """A file downloaded, verified (md5 when one was given, size when one was given) and renamed into place."""

    path: Path
    size: int
    md5: str
    sha256: str


def download_file(
    transport: Transport,
    url: str,
    dest: Path,
    *,
    expect: Expected = Expected(),
    progress: Progress | None = None,
    max_resumes: int = 0,
    restart_stale: bool = False,
    buffer_size: int = BUFFER_SIZE,
) -> DownloadResult:
    """Stream ``url`` into ``<dest>.part``, verify it against ``expect`` and rename it to ``dest``.

    A failure that a retry may fix is resumed with ``Range`` (up to the policy's ``max_attempts`` in a row);
    when those are spent while the part still grew, up to ``max_resumes`` more rounds follow. A mismatch
    deletes the part and raises :class:`ZenodoIntegrityError`; with ``restart_stale``, a part left by an
    earlier run that fails the checks is first downloaded once more from the start. The result's md5 and
    sha256 are those of the bytes received: they were compared only with those in ``expect`` (the caller
    says which were).
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if expect.size is not None and part.exists() and part.stat().st_size > expect.size:
        part.unlink()
    stale = restart_stale and part.exists() and part.stat().st_size > 0
    while True:
        got_size, got_md5, got_sha = _receive(
            transport, url, part, expect, progress, max_resumes, buffer_size
        )
        problems = _mismatches(expect, got_size, got_md5, got_sha)
        if not problems:
            break
        part.unlink(missing_ok=True)
        if not stale:
            raise ZenodoIntegrityError(
                f"Downloaded {dest.name} from {safe_url(url)} does not match the record: {', '.join(problems)}",
                "The partial file was deleted. Run the command again to download it anew; if it fails again, "
                "the record's file may be damaged: report it to Zenodo.",
                details={
                    "url": safe_url(url),
                    "size": got_size,
                    "md5": got_md5,
                    "expected_size": expect.size,
                    "expected_md5": parse_md5(expect.md5),
                },
            )
        # a stale part (another version of the file, left by an earlier run): once more from the start
        stale = False
        log.info("%s: the partial file left by an earlier run did not match; downloading it again", dest.name)
    os.replace(part, dest)
    return DownloadResult(dest, got_size, got_md5, got_sha)


def _mismatches(expect: Expected, size: int, md5: str, sha256: str) -> list[str]:
    problems = []
    if expect.size is not None and size != expect.size:
        problems.append(f"size {size} instead of {expect.size}")
    expected_md5 = parse_md5(expect.md5)
    if expected_md5 and md5 != expected_md5:
        problems.append(f"md5 {md5} instead of {expected_md5}")
    expected_sha = expect.sha256.lower().removeprefix("sha256:") if expect.sha256 else None
    if expected_sha and sha256 != expected_sha:
        problems.append(f"sha256 {sha256} instead of {expected_sha}")
    return problems


def _receive(
    transport: Transport,
    url: str,
    part: Path,
    expect: Expected,
    progress: Progress | None,
    max_resumes: int,
    buffer_size: int,
) -> tuple[int, str, str]:
    """The resume loop: GETs with ``Range`` until the part holds the whole file; (size, md5, sha256)."""
    policy = transport.retry
    attempt = 0  # failed attempts since the part last grew past a round's start
    resumes = 0
    state = _PartState(part, buffer_size)
    try:
        round_start = state.sync()
        while True:
            attempt += 1
            have = state.sync()  # hashes what is already on disk (once), so a resume costs no re-read
            try:
                if expect.size is not None and have == expect.size:
                    break
                _download_once(transport, url, state, progress, attempt)
                if expect.size is not None and state.length < expect.size:
                    raise _ResumableError("the answer ended before the end of the file")
                break
            except _ResumableError as exc:
                if attempt >= policy.max_attempts:
                    grown = state.sync() > round_start
                    if not grown or resumes >= max_resumes:
                        raise ZenodoError(
                            f"Download of {safe_url(url)} failed after {attempt} attempts: {exc}",
                            status=exc.status,
                            url=url,
                            method="GET",
                        ) from None
                    resumes += 1
                    attempt, round_start = 0, state.length
                    log.info(
                        "download of %s stopped at %d bytes; resuming (%d/%d)",
                        safe_url(url),
                        state.length,
                        resumes,
                        max_resumes,
                    )
                    continue
                wait = exc.wait if exc.wait is not None else policy.backoff(attempt)
                log.info("download of %s interrupted (%s); resuming in %.1fs", safe_url(url), exc, wait)
                policy.sleep(wait)
        got_size = state.sync()
        got_md5, got_sha = state.hashes.hexdigests()
    finally:
        state.close()
    return got_size, got_md5, got_sha


def _download_once(
    transport: Transport, url: str, state: _PartState, progress: Progress | None, attempt: int
) -> None:
    """One GET (with ``Range`` from the part's length) appended to the part; a failure that a retry may fix
    raises :class:`_ResumableError`."""
    have = state.length
    headers = {"Accept": "*/*"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = transport.open(url, headers=headers, note=f" (from byte {have})" if have else "")
    except NETWORK_ERRORS as exc:
        raise _ResumableError(describe_network_error(exc)) from None
    with resp:
        _check_answer(transport, url, resp, state, attempt)
        raw = _raw_body(resp)
        with state.writer() as out:
            if raw is not None:
                out.copy_from(raw, _content_length(resp), progress)
            else:
                out.copy_chunks(resp.iter_content(chunk_size=state.buffer_size), progress)


def _check_answer(
    transport: Transport, url: str, resp: requests.Response, state: _PartState, attempt: int
) -> None:
    """Raise for an answer that carries no (or not the right) bytes; reset the part when the server sends
    the whole file again."""
    have = state.length
    if resp.status_code == 416 and have:
        state.reset()  # our part is longer than the file: start again
        raise _ResumableError("the partial file did not fit the remote file", wait=0.0)
    if resp.status_code not in (200, 206):
        verdict = classify(transport.retry, attempt, idempotent=True, response=resp)
        if verdict.wait is None:  # not worth a retry, or a 429 asking for hours
            raise error_from_response(
                resp.status_code, read_some(resp), resp.headers.get("Content-Type"), url=url, method="GET"
            )
        reason = "rate limited" if resp.status_code == 429 else f"server answered {resp.status_code}"
        raise _ResumableError(reason, status=resp.status_code, wait=verdict.wait)
    if resp.status_code == 206:
        start = _content_range_start(resp.headers.get("Content-Range"))
        if start != have:
            state.reset()
            raise _ResumableError("the server resumed at the wrong offset", wait=0.0)
    elif have:
        state.reset()  # 200: the whole file comes again


def _raw_body(resp: requests.Response) -> http.client.HTTPResponse | None:
    """The ``http.client`` response under requests and urllib3, when its bytes are the file's bytes as they
    are (no Content-Encoding) and nothing has been read from it yet; else None (use ``iter_content``)."""
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return None
    raw = getattr(resp, "raw", None)
    fp = getattr(raw, "_fp", None)
    if not isinstance(fp, http.client.HTTPResponse) or getattr(raw, "_fp_bytes_read", None) != 0:
        return None
    return fp


def _content_length(resp: requests.Response) -> int | None:
    if resp.headers.get("Transfer-Encoding"):
        return None  # chunked: http.client finds the end and raises IncompleteRead on a cut
    try:
        value = int(resp.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


class _PartState:
    """A ``.part`` file and the hashes of its bytes, kept in step while it grows (no second read)."""

    def __init__(self, path: Path, buffer_size: int = BUFFER_SIZE) -> None:
        self.path = path
        self.buffer_size = buffer_size
        self.hashes = HashRing(buffer_size)
        self.length = 0
        self._synced = False

    def sync(self) -> int:
        """Make the hashes cover exactly the file on disk (re-reading it only if they do not)."""
        on_disk = self.path.stat().st_size if self.path.exists() else 0
        if self._synced and on_disk == self.length:
            return self.length
        self.hashes.close()
        self.hashes = HashRing(self.buffer_size)
        self.length = 0
        if on_disk:
            with open(self.path, "rb", buffering=0) as fh:
                while True:
                    view = self.hashes.buffer()
                    n = fh.readinto(view)
                    if not n:
                        break
                    self.hashes.update(view[:n])
                    self.length += n
        self._synced = True
        return self.length

    def writer(self) -> _PartWriter:
        """Append to the part; the hashes follow every byte written."""
        return _PartWriter(self)

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)
        self.hashes.close()
        self.hashes = HashRing(self.buffer_size)
        self.length = 0
        self._synced = True

    def close(self) -> None:
        """Stop the hashing thread."""
        self.hashes.close()


class _PartWriter:
    """The part opened for appending: received bytes are written, hashed and counted, in that order, so
    that the hashes never cover a byte that is not in the file. Closing fsyncs (also after an error: the
    bytes kept are resumed next time); an fsync that fails is an error naming the part, so that a file the
    disk may not hold is never renamed to its final name (the part stays for the next run to check)."""

    def __init__(self, state: _PartState) -> None:
        self.state = state
        self._fd = -1
        self._flushed = 0

    def __enter__(self) -> _PartWriter:
        self._fd = os.open(self.state.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._flushed = self.state.length
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            os.fsync(self._fd)
        except OSError as err:
            if err.errno not in _FSYNC_UNSUPPORTED:
                raise OSError(
                    err.errno, f"{err.strerror or err} (while writing it to disk)", str(self.state.path)
                ) from err
            log.debug("%s: this file system cannot fsync (%s)", self.state.path, err)
        finally:
            os.close(self._fd)

    def add(self, view: memoryview | bytes) -> None:
        _write_all(self._fd, view)
        # a failed write leaves bytes the hashes do not cover: sync() then re-reads the part
        self.state.hashes.update(view)
        self.state.length += len(view)
        if self.state.length - self._flushed >= WRITEBACK_WINDOW:
            start_writeback(self._fd, self._flushed, self.state.length - self._flushed)
            self._flushed = self.state.length

    def copy_from(self, fp: http.client.HTTPResponse, length: int | None, progress: Progress | None) -> None:
        """Read ``fp`` to its end with ``readinto`` into the hashes' buffers. The bytes received before the
        body ends early are kept (the resume asks for the next byte); a read that fails with an error (a
        timeout, a reset) may lose the buffer being filled, which the resume fetches again."""
        got = 0
        while True:
            view = self.state.hashes.buffer()
            n, error = _fill(fp, view)
            if n:
                self.add(view[:n])
                got += n
                if progress is not None:
                    progress(n)
            if error is not None:
                raise _ResumableError(_describe_read_error(error)) from None
            if n < len(view):
                break
        if length is not None and got < length:
            raise _ResumableError("the answer was cut off")

    def copy_chunks(self, chunks: Iterator[bytes], progress: Progress | None) -> None:
        """The fallback: requests' chunks (decoded when the server compressed the body)."""
        try:
            for chunk in chunks:
                self.add(chunk)
                if progress is not None:
                    progress(len(chunk))
        except NETWORK_ERRORS as exc:
            raise _ResumableError(describe_network_error(exc)) from None


def _write_all(fd: int, data: memoryview | bytes) -> None:
    written = 0
    while written < len(data):
        written += os.write(fd, data[written:])


def _fill(fp: http.client.HTTPResponse, view: memoryview) -> tuple[int, BaseException | None]:
    """Read into ``view`` until it is full or the body ends: (bytes read, the network error that stopped
    the reading, if one did)."""
    n = 0
    try:
        while n < len(view):
            k = fp.readinto(view[n:])
            if not k:
                break
            n += k
    except http.client.IncompleteRead as exc:  # a cut chunked body: its partial bytes are in the buffer
        partial = exc.partial if isinstance(exc.partial, bytes) else b""
        if partial and view[n : n + len(partial)] == partial:
            n += len(partial)
        return n, exc
    except (OSError, http.client.HTTPException) as exc:
        return n, exc
    return n, None


def _describe_read_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, http.client.IncompleteRead):
        return "the answer was cut off"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    return str(exc) or type(exc).__name__


class _ResumableError(Exception):
    def __init__(self, message: str, *, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.wait = wait


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None
