"""Every log line a test run writes, collected at DEBUG (the token-secrecy tests search them)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class LineCollector(logging.Handler):
    """Keeps each record as one formatted line in `lines`."""

    def __init__(self, fmt: str = "%(name)s %(levelname)s %(message)s") -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(fmt))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a broken record must not hide others
            self.lines.append(repr(record.__dict__))


@contextmanager
def collecting(handler: logging.Handler, *names: str) -> Iterator[logging.Handler]:
    """`handler` on the root logger and the loggers `names`, all at DEBUG; levels restored afterwards."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in names)]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for lg, level in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)
