"""`diff`: read two image archives as root filesystems (one streaming pass each) and compare them.
Returns an `image_diff.DiffResult`; never prints, never exits."""

from __future__ import annotations

from pathlib import Path

from ossr_images.errors import InvalidInputError
from ossr_images.images.image_diff import DiffResult, compare_rootfs
from ossr_images.images.inspect import Progress
from ossr_images.images.rootfs import read_rootfs


def run_diff(a: Path | str, b: Path | str, *, progress: Progress | None = None) -> DiffResult:
    """Compare the image archives `a` and `b` (Docker or OCI; plain, gzip or zstd). `progress(n)` is
    called with the raw bytes read from both files. Raises InvalidInputError for a missing file or one
    that is not an image archive, naming it."""
    paths = [Path(a), Path(b)]
    for path in paths:
        if not path.is_file():
            raise InvalidInputError(
                f"{path} is not an image archive file" + ("" if path.exists() else " (it does not exist)"),
                hint="Give two image archives: `docker save` output or OCI archives (.tar, .tar.gz, .tar.zst).",
            )
    fs_a = read_rootfs(paths[0], progress=progress)
    fs_b = read_rootfs(paths[1], progress=progress)
    return compare_rootfs(fs_a, fs_b)
