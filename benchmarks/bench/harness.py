"""Timing and memory of subprocesses, sizes, and the result table.

Every measured command runs as a child process; `os.wait4` gives that child's own peak RSS (ru_maxrss)
and CPU time, so one run's figures never mix with another's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 10**6, "mb": 10**6, "mib": 1 << 20}
UNITS.update({"g": 10**9, "gb": 10**9, "gib": 1 << 30, "t": 10**12, "tb": 10**12, "tib": 1 << 40})


class Skip(Exception):
    """A benchmark (or one of its tools) cannot run here; the message says why."""


class CommandFailed(RuntimeError):
    """A measured command exited non-zero."""


def parse_size(text: str) -> int:
    """'2GiB' -> 2147483648, '256MiB', '500MB', '4096' (bytes)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 256MiB, 1GiB, 500MB)")
    return int(float(m.group(1)) * UNITS[m.group(2).lower()])


def fmt_size(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return f"{int(n)} B"


def fmt_rate(nbytes: float, seconds: float) -> str:
    return "-" if not seconds else f"{nbytes / seconds / 1e6:.0f} MB/s"


@dataclass
class Run:
    """One finished command."""

    argv: list[str] | str
    seconds: float
    returncode: int
    maxrss_kib: int
    user: float
    sys: float
    stdout: str
    stderr: str
    server_cpu: float | None = None  # CPU seconds the stand-in spent during this run, when measured

    def check(self) -> Run:
        if self.returncode != 0:
            cmd = self.argv if isinstance(self.argv, str) else shlex.join(self.argv)
            raise CommandFailed(f"exit {self.returncode}: {cmd}\n{self.stderr.strip()[-3000:]}")
        return self


TIME = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)


def run(
    argv: list[str] | str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    shell: bool = False,
    keep_output: bool = True,
) -> Run:
    """Run a command to completion; time it (wall) and read its own peak RSS and CPU time.

    The child is started through GNU time when present: a child forked from this Python process would
    report at least this process's RSS as its peak (Linux counts the pre-exec image), a child of the small
    `time` process does not. Without GNU time, os.wait4's rusage is used. Output goes to temporary files
    (never a pipe that the parent must drain while the child runs).
    """
    cmd = argv if not shell else ["bash", "-o", "pipefail", "-c", argv]
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile() as tf,
    ):
        if TIME:
            cmd = [TIME, "-q", "-o", tf.name, "-f", "%M %U %S", *cmd]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out if keep_output else subprocess.DEVNULL,
            stderr=err,
            env=env,
            cwd=cwd,
        )
        _pid, status, ru = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        maxrss, user, sys_ = ru.ru_maxrss, ru.ru_utime, ru.ru_stime
        if TIME:
            lines = [x for x in Path(tf.name).read_text().splitlines() if x.strip()]
            try:
                m, u, s_ = lines[-1].split()
                maxrss, user, sys_ = int(m), float(u), float(s_)
            except (IndexError, ValueError):
                pass
        out.seek(0)
        err.seek(0)
        return Run(
            argv=argv,
            seconds=seconds,
            returncode=proc.returncode,
            maxrss_kib=maxrss,
            user=user,
            sys=sys_,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def drop_page_cache_hint(path: Path) -> None:
    """Advise the kernel that `path` will be read soon (keeps the comparison about CPU, not the disk)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass


@dataclass
class Row:
    """One line of the result table: one tool in one benchmark at one size."""

    bench: str
    tool: str
    size: int
    seconds: float | None = None
    runs: list[float] = field(default_factory=list)
    maxrss_kib: int | None = None
    cpu: float | None = None
    server_cpu: float | None = None
    out_size: int | None = None
    ratio: float | None = None  # vs the benchmark's baseline (throughput ratio, >1 is better)
    ratio_of: str | None = None
    note: str = ""

    @property
    def mbps(self) -> float | None:
        return self.size / self.seconds / 1e6 if self.seconds else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mb_per_s"] = self.mbps
        return d


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(rows: list[Row]) -> str:
    """A markdown table of the rows."""
    head = [
        "bench",
        "tool",
        "size",
        "time (s)",
        "MB/s",
        "ratio",
        "peak RSS",
        "CPU (s)",
        "server CPU (s)",
        "output",
        "note",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r.bench,
            r.tool,
            fmt_size(r.size),
            "-" if r.seconds is None else f"{r.seconds:.2f}",
            "-" if r.mbps is None else f"{r.mbps:.0f}",
            "-" if r.ratio is None else f"{r.ratio:.2f}x {r.ratio_of or ''}".strip(),
            "-" if r.maxrss_kib is None else f"{r.maxrss_kib / 1024:.0f} MiB",
            "-" if r.cpu is None else f"{r.cpu:.1f}",
            "-" if r.server_cpu is None else f"{r.server_cpu:.1f}",
            fmt_size(r.out_size),
            r.note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
