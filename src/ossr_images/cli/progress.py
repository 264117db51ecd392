"""Progress display for long transfers: a tqdm bar (bytes, rate, ETA) on a terminal, plain periodic lines
otherwise (CI logs), nothing with -q or --json. Lower layers only call `update(nbytes)`."""

from __future__ import annotations

import sys
import time
from types import TracebackType

import click


class Progress:
    """Callable progress sink: `progress(n)` adds n bytes done."""

    def __init__(self, total: int | None, description: str, *, enabled: bool = True) -> None:
        self.total = total
        self.description = description
        self.done = 0
        self._bar = None
        self._plain = False
        self._last_line = 0.0
        self._start = time.monotonic()
        if not enabled:
            return
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=description,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                dynamic_ncols=True,
                leave=True,
            )
        else:
            self._plain = True

    def __call__(self, nbytes: int) -> None:
        self.update(nbytes)

    def update(self, nbytes: int) -> None:
        self.done += nbytes
        if self._bar is not None:
            self._bar.update(nbytes)
        elif self._plain:
            now = time.monotonic()
            if now - self._last_line >= 5.0 or (self.total and self.done >= self.total):
                self._last_line = now
                self._print_line(now)

    def _print_line(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-6)
        rate = self.done / elapsed
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            click.echo(
                f"{self.description}: {_fmt(self.done)} / {_fmt(self.total)} ({pct:.0f}%), "
                f"{_fmt(rate)}/s, ETA {eta:.0f}s",
                err=True,
            )
        else:
            click.echo(f"{self.description}: {_fmt(self.done)}, {_fmt(rate)}/s", err=True)

    def reset(self) -> None:
        """Start again from zero (a retried transfer)."""
        self.done = 0
        if self._bar is not None:
            self._bar.reset(total=self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _fmt(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"
