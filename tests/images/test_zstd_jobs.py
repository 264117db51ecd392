"""Multi-threaded zstd works in bounded jobs (ZSTD_JOB_SIZE): the output still decompresses to the input,
and the peak memory of a threaded compression stays far below what zstd's default job size takes
(about 125 MiB for 2 threads at level 3, measured by benchmarks/)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import zstandard

from ossr_images.images.compression import ZSTD_JOB_SIZE, compress_stream

PEAK = """
import os, sys
from ossr_images.images.compression import compress_stream
with open(sys.argv[1], "rb") as src, open(os.devnull, "wb") as dst:
    compress_stream(src, dst, "zstd", threads=2)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]))
"""


def test_threaded_zstd_round_trip_across_several_jobs() -> None:
    data = os.urandom(3 * ZSTD_JOB_SIZE + 12345) + b"ossr-images " * (ZSTD_JOB_SIZE // 4)
    out = io.BytesIO()
    assert compress_stream(io.BytesIO(data), out, "zstd", threads=2) == len(data)
    assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(out.getvalue())).read() == data


def test_threaded_zstd_peak_memory_is_bounded(tmp_path: Path) -> None:
    src = tmp_path / "random.bin"
    with open(src, "wb") as fh:
        for _ in range(24):
            fh.write(os.urandom(4 << 20))  # 96 MiB, incompressible: zstd keeps every job buffer full
    # a child of its own, read from /proc (VmHWM belongs to the child's own memory, unlike ru_maxrss
    # which also counts the parent's pages before exec)
    proc = subprocess.run([sys.executable, "-c", PEAK, str(src)], capture_output=True, text=True, check=True)
    peak_mib = int(proc.stdout.strip()) / 1024
    assert peak_mib < 100, f"threaded zstd peaked at {peak_mib:.0f} MiB"
