"""Write a file so that its final name only ever holds complete, durable bytes.

The bytes go to a temporary name beside the final one (``<final>.part`` when the caller names it, e.g. to
resume a download; else a unique ``.<name>.<random>.part``), are made durable with ``fsync`` (an error is
raised, naming the file) and only then renamed to the final name. On any error the temporary file is removed
(or kept, when the caller resumes from it) and nothing appears under the final name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

PART_SUFFIX = ".part"


def fsync_file(path: Path) -> None:
    """Make the bytes of the file at `path` durable; an error is raised as OSError naming `path`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        os.fsync(fd)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        os.close(fd)


def commit(part: Path, final: Path) -> None:
    """fsync `part`, then rename it to `final` (atomically replacing what was there). On an error `part`
    stays where it is (the caller decides whether to keep or remove it) and `final` is untouched."""
    fsync_file(part)
    os.replace(part, final)


def temporary_name(final: Path) -> Path:
    """A unique temporary name in the folder of `final`: ``.<name>.<random>.part``."""
    return final.with_name(f".{final.name}.{secrets.token_hex(6)}{PART_SUFFIX}")


@contextlib.contextmanager
def atomic_path(
    final: Path, *, part: Path | None = None, keep_part: bool = False, mode: int = 0o666
) -> Iterator[Path]:
    """Yield a temporary path beside `final` (created empty with `mode`, less the umask) for the caller to
    fill; when the block ends normally it is fsynced and renamed to `final`. On an error in the block or in
    the fsync, the temporary file is removed (kept with `keep_part`, e.g. a download that is resumed) and
    the error is raised; `final` is never touched then. `part` chooses the temporary name (it is truncated)."""
    final = Path(final)
    temp = Path(part) if part is not None else temporary_name(final)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_EXCL if part is None else 0)
    os.close(os.open(temp, flags, mode))
    try:
        yield temp
        commit(temp, final)
    except BaseException:
        if not keep_part:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise


@contextlib.contextmanager
def atomic_write(
    final: Path, *, text: bool = False, encoding: str = "utf-8", mode: int = 0o666
) -> Iterator[IO[Any]]:
    """Yield a file open for writing (binary, or `text` in `encoding`) at a temporary name beside `final`;
    the file appears under `final` only complete and fsynced (see `atomic_path`)."""
    with atomic_path(final, mode=mode) as temp:
        with open(temp, "w" if text else "wb", encoding=encoding if text else None) as fh:
            yield fh


__all__ = ["PART_SUFFIX", "atomic_path", "atomic_write", "commit", "fsync_file", "temporary_name"]
