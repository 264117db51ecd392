"""skopeo, the daemon-less copier between registries and archives: `skopeo_copy` runs one copy,
`skopeo_stream` copies into a FIFO that this process reads as skopeo writes (used by `export`)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from ossr_images.errors import EngineUnavailableError, InvalidInputError, RemoteError

SKOPEO_HINT = "Install skopeo (apt-get install skopeo, dnf install skopeo, brew install skopeo)."
T = TypeVar("T")


def _skopeo() -> str:
    binary = shutil.which("skopeo")
    if not binary:
        raise EngineUnavailableError("skopeo is not on PATH", hint=SKOPEO_HINT)
    return binary


def _skopeo_cmd(src: str, dst: str, src_tls_verify: bool | None) -> list[str]:
    cmd = [_skopeo(), "copy"]
    if not any(Path(p).exists() for p in ("/etc/containers/policy.json", _user_policy())):
        cmd.append("--insecure-policy")
    if src_tls_verify is False:
        cmd.append("--src-tls-verify=false")
    return [*cmd, src, dst]


def _skopeo_outcome(src: str, dst: str, code: int, output: str, log: Callable[[str], None] | None) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    if log:
        for line in lines:
            log(line)
    if code != 0:
        message = lines[-1] if lines else f"exit {code}"
        raise RemoteError(
            f"skopeo copy {src} -> {dst.split(':', 1)[0]} failed: {message[:400]}",
            hint="Check the reference and that the registry is reachable (`skopeo inspect` it); for a "
            "registry without TLS on another host, log in or configure it in registries.conf.",
        )


def skopeo_copy(
    src: str, dst: str, *, src_tls_verify: bool | None = None, log: Callable[[str], None] | None = None
) -> None:
    """`skopeo copy SRC DST` (transport-prefixed references). Raises RemoteError with skopeo's message."""
    cmd = _skopeo_cmd(src, dst, src_tls_verify)
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)  # noqa: S603
    _skopeo_outcome(src, dst, proc.returncode, proc.stdout + proc.stderr, log)


def skopeo_stream(
    src: str,
    transport: str,
    name: str | None,
    consume: Callable[[BinaryIO], T],
    *,
    work: Path,
    src_tls_verify: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> T:
    """`skopeo copy SRC TRANSPORT:FIFO[:NAME]` while `consume` reads what comes out of the FIFO (export
    compresses and describes it into a part file: no uncompressed copy on disk); returns what `consume`
    returns. Raises RemoteError when skopeo fails (then what `consume` wrote is incomplete: the caller
    removes it); an InvalidInputError of `consume` after skopeo cut the stream short gives way to skopeo's."""
    fifo = work / f"{transport}.fifo"
    os.mkfifo(fifo, 0o600)
    dst = f"{transport}:{fifo}" + (f":{name}" if name else "")
    log_path = work / "skopeo.log"
    with open(log_path, "w+", encoding="utf-8", errors="replace") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed argument list
            _skopeo_cmd(src, dst, src_tls_verify), stdout=out, stderr=subprocess.STDOUT
        )

        opened = threading.Event()

        def unblock_reader() -> None:
            # if skopeo ends without ever opening the FIFO, our open() below would wait forever: open it
            # for writing (and close it) once our reader waits in open(), so that it sees an empty stream
            proc.wait()
            while not opened.is_set():
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                    return
                except OSError:  # ENXIO: no reader yet
                    opened.wait(0.01)

        watcher = threading.Thread(target=unblock_reader, name="skopeo-wait", daemon=True)
        watcher.start()
        scan_error: InvalidInputError | None = None
        try:
            with open(fifo, "rb") as stream:
                opened.set()
                reader = _EndSeen(stream)  # type: ignore[arg-type]
                try:
                    result = consume(reader)  # type: ignore[arg-type]
                except InvalidInputError as exc:
                    if not reader.ended:  # skopeo still writes: the archive itself is bad
                        raise
                    scan_error = exc  # skopeo cut the stream short: its own failure says why
        except BaseException:
            proc.kill()
            raise
        finally:
            code = proc.wait()
            watcher.join()
        out.seek(0)
        _skopeo_outcome(src, dst, code, out.read(), log)
        if scan_error is not None:
            raise scan_error
    return result


class _EndSeen(io.RawIOBase):
    """Remembers whether the stream it reads reached its end."""

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self.ended = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = self._src.read(size)
        self.ended = not data
        return data


def _user_policy() -> str:
    return str(Path.home() / ".config" / "containers" / "policy.json")
