"""One exception family for the whole tool.

Every error carries the exit status the CLI must use (listed in README.md) and a hint that says what to do.
Lower layers raise these; only the CLI turns them into output and an exit status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTEGRITY = 3
EXIT_REMOTE = 4
EXIT_INTERRUPTED = 130


class OssrError(Exception):
    """Base class: a message (what is wrong, and where), a hint (what to do) and an exit status."""

    exit_code: int = EXIT_INVALID
    default_hint: str = "Run the command again with -v for details."

    def __init__(self, message: str, hint: str | None = None, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "exit_code": self.exit_code,
            "details": self.details,
        }


class InvalidInputError(OssrError):
    """Metadata, source link, labels or arguments that parse but make no sense (exit 1)."""

    exit_code = EXIT_INVALID
    default_hint = "Fix the input named above and run the command again."


class IntegrityError(OssrError):
    """A checksum, digest or provenance disagreement found in bytes or records (exit 3)."""

    exit_code = EXIT_INTEGRITY
    default_hint = "Do not use these bytes; run the command again to re-transfer, or report the record."


class RemoteError(OssrError):
    """Zenodo or a container engine refused or failed after retries (exit 4)."""

    exit_code = EXIT_REMOTE
    default_hint = "Check the service is reachable and run the command again; it continues where it stopped."


class EngineUnavailableError(RemoteError):
    """No Docker engine or Apptainer binary could be reached (exit 4)."""


@dataclass
class Problem:
    """One finding of a validation: where (JSON pointer), how bad, what, and what to do."""

    path: str
    severity: str  # "error" or "warning"
    message: str
    hint: str = ""
    source: str = field(default="", compare=False)  # which file or object the pointer refers to

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "severity": self.severity, "message": self.message, "hint": self.hint}


class HasProblems:
    """Mixin for results holding `problems`: the errors and the warnings among them."""

    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]
