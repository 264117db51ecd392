"""`diff`: read two image archives as root filesystems (one streaming pass each, both at once) and compare
them. Returns an `image_diff.DiffResult`; never prints, never exits."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ossr_images.errors import InvalidInputError
from ossr_images.images.image_diff import DiffResult, compare_rootfs
from ossr_images.images.image_info import Progress
from ossr_images.images.rootfs import RootFS, read_rootfs


class _Stopped(Exception):
    """Raised in one reader when the other has failed."""


def run_diff(a: Path | str, b: Path | str, *, progress: Progress | None = None) -> DiffResult:
    """Compare the image archives `a` and `b` (Docker or OCI; plain, gzip or zstd). `progress(n)` is
    called with the raw bytes read from both files. Raises InvalidInputError for a missing file or one
    that is not an image archive, naming it.

    The two archives are read on two threads: hashing and decompression release the GIL, so a second
    CPU takes half of that work (the tar headers are parsed in Python, one thread at a time).
    """
    paths = [Path(a), Path(b)]
    for path in paths:
        if not path.is_file():
            raise InvalidInputError(
                f"{path} is not an image archive file" + ("" if path.exists() else " (it does not exist)"),
                hint="Give two image archives: `docker save` output or OCI archives (.tar, .tar.gz, .tar.zst).",
            )
    lock = threading.Lock()
    failed = threading.Event()

    def report(n: int) -> None:
        if failed.is_set():
            raise _Stopped  # the other archive failed: stop reading this one
        if progress is not None:
            with lock:
                progress(n)

    def read(path: Path) -> RootFS:
        try:
            return read_rootfs(path, progress=report)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="diff-read") as pool:
        futures = [pool.submit(read, path) for path in paths]
        errors = [f.exception() for f in futures]
    real = [e for e in errors if e is not None and not isinstance(e, _Stopped)]
    if real:
        raise real[0]
    fs_a, fs_b = (f.result() for f in futures)
    return compare_rootfs(fs_a, fs_b)
