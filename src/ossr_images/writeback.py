"""Start writing a file's dirty pages to disk early, so the ``fsync`` before a rename finds little left to do.

Used by the download and export writers: every few tens of MiB they call :func:`start_writeback` on the range
just written. Linux only (``sync_file_range`` with ``SYNC_FILE_RANGE_WRITE``, which does not wait); elsewhere,
or when the call fails, it does nothing and the final ``fsync`` does all of the work, as before.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes of ``fd`` from ``offset`` to disk, without waiting."""
    func = _sync_file_range()
    if func is not None and length > 0:
        func(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # an error only means no head start


@functools.lru_cache(maxsize=1)
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        func = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError, TypeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func
