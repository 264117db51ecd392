"""How a run ends, decided in one place: the exit status, `Error:`/`Hint:` lines on stderr and, with `--json`
anywhere on the command line, exactly one JSON document on stdout for every exit status (0, 1, 2 usage
error, 3, 4, 130 Ctrl-C, an unexpected exception): `{"ok", "exit_status", ...the command's result...,
"error": {"type", "message", "hint", "details"}}` ("error" only on failure).

With `--json`, whatever a command (or click's --help) would print on stdout goes to stderr while it runs, so
that the document is the only thing on stdout. Every message is passed through `redact` first.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from ossr_images.errors import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    InvalidInputError,
    OssrError,
    RemoteError,
)
from ossr_images.redact import redact_document, redact_text

log = logging.getLogger("ossr_images")

INTERRUPTED_HINT = "Run the same command again: it continues where it stopped."
BUG_HINT = (
    "This is a bug in ossr-images: run the command again with -vv to see where it happened, and report it "
    "with that output."
)


@dataclass
class Failure:
    """What went wrong, as shown: `type` names the kind of error (the exception class, "UsageError",
    "Interrupted" or "InternalError")."""

    type: str
    message: str
    hint: str
    exit_status: int
    details: Any = None
    click_error: click.ClickException | None = None  # shown by click itself (usage and all)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "hint": self.hint, "details": self.details}


class _Run:
    """The state of the current run: the result document a command handed over with `emit_json`."""

    document: dict[str, Any] | None = None


def set_result(document: Any) -> None:
    """Keep the command's result: printed once, at the end of the run, with "ok" and "exit_status"."""
    _Run.document = document if isinstance(document, dict) else {"result": document}


def wants_json(argv: Sequence[str]) -> bool:
    """True when `--json` is on the command line (before a `--` that ends the options)."""
    args = list(argv)
    if "--" in args:
        args = args[: args.index("--")]
    return "--json" in args


def run(group: click.Group, args: Sequence[str] | None, prog_name: str | None, **extra: Any) -> NoReturn:
    """Run `group` as a program: every way it can end becomes one exit status (and, with --json, one JSON
    document on stdout)."""
    argv = list(sys.argv[1:] if args is None else args)
    as_json = wants_json(argv)
    _Run.document = None
    failure: Failure | None = None
    status = EXIT_OK
    try:
        redirect = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
        with redirect:
            returned = click.Group.main(group, argv, prog_name, standalone_mode=False, **extra)
        status = returned if isinstance(returned, int) else EXIT_OK  # ctx.exit(n) returns n
    except BaseException as exc:  # noqa: BLE001 - every way out is turned into a status here
        failure, status = _failure(exc)
    if status != EXIT_OK and failure is None:
        failure = _failure_from_status(status)
    _report(failure, status, as_json)
    sys.exit(status)


def _failure(exc: BaseException) -> tuple[Failure | None, int]:
    """The failure (None: nothing to say) and the exit status for an exception that ended the run."""
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_INVALID)
        return None, code
    if isinstance(exc, click.exceptions.Exit):
        return None, exc.exit_code
    if isinstance(exc, KeyboardInterrupt) or (
        isinstance(exc, click.Abort) and isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt)
    ):
        return Failure("Interrupted", "interrupted (Ctrl-C)", INTERRUPTED_HINT, EXIT_INTERRUPTED), (
            EXIT_INTERRUPTED
        )
    if isinstance(exc, click.Abort):
        return Failure("Aborted", "aborted: no answer to a question", "Answer it, or pass --yes.", 1), 1
    if isinstance(exc, click.ClickException):
        return _click_failure(exc), exc.exit_code
    if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
        return None, EXIT_INVALID  # stdout was closed (`| head`): nothing can be shown
    if isinstance(exc, OSError):
        exc = error_from_oserror(exc)
    if isinstance(exc, OssrError):
        details = exc.details
        return Failure(type(exc).__name__, exc.message, exc.hint, exc.exit_code, details), exc.exit_code
    log.debug("unexpected error", exc_info=exc)
    text = str(exc) or "no message"
    return Failure("InternalError", f"unexpected {type(exc).__name__}: {text}", BUG_HINT, EXIT_INVALID), (
        EXIT_INVALID
    )


def _click_failure(exc: click.ClickException) -> Failure:
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError):
        where = ctx.command_path if ctx is not None else "ossr-images"
        hint = f"See `{where} --help` for the usage."
        return Failure("UsageError", exc.format_message(), hint, exc.exit_code, click_error=exc)
    return Failure(
        type(exc).__name__, exc.format_message(), "Check the arguments.", exc.exit_code, click_error=exc
    )


def _failure_from_status(status: int) -> Failure:
    """A command ended with a failing status without an exception (`ctx.exit(n)`)."""
    return Failure(
        "Failed", f"the command ended with exit status {status}", "See the messages above.", status
    )


def error_from_oserror(exc: OSError) -> OssrError:
    """An OSError no lower layer turned into an OssrError: one line with the path, what the system said and
    what to do (a network error from requests becomes a RemoteError)."""
    import requests

    if isinstance(exc, requests.RequestException):
        return RemoteError(f"a network request failed: {redact_text(str(exc))}")
    what = exc.strerror or str(exc) or type(exc).__name__
    path = exc.filename
    if path is None:
        return InvalidInputError(f"a file operation failed: {what}", _os_hint(exc, None))
    where = str(path) if exc.filename2 is None else f"{path} -> {exc.filename2}"
    return InvalidInputError(f"{where}: {what}", _os_hint(exc, str(path)))


_HINTS = {
    errno.ENOSPC: "The disk holding it is full: free some space",
    errno.EDQUOT: "Your disk quota there is used up: free some space",
    errno.EACCES: "You may not write or read there: check its permissions, or choose another place",
    errno.EPERM: "The system does not allow this there: check its permissions, or choose another place",
    errno.EROFS: "It is on a read-only file system: choose a writable place",
    errno.ENOTDIR: "A part of that path is a file, not a folder: move the file away or choose another path",
    errno.EISDIR: "That path is a folder, not a file: give a file",
    errno.ENOENT: "That path (or a folder in it) does not exist: check it",
    errno.EIO: "The disk reported an input/output error: check the disk (dmesg) before trusting its files",
    errno.ENAMETOOLONG: "The path is too long: choose a shorter one",
}


def _os_hint(exc: OSError, path: str | None) -> str:
    hint = _HINTS.get(exc.errno or 0, "Check that path (permissions, free space)")
    hint += ", then run the same command again: it continues where it stopped."
    if path is not None and _in_cache(path):
        hint += (
            " That path is in the ossr-images cache folder: point OSSR_IMAGES_CACHE_DIR at a writable folder "
            "(default: $XDG_CACHE_HOME/ossr-images, else ~/.cache/ossr-images)."
        )
    return hint


def _in_cache(path: str) -> bool:
    import os

    from ossr_images.workflows.journal import cache_dir

    cache = os.path.abspath(cache_dir())
    return os.path.abspath(path) == cache or os.path.abspath(path).startswith(cache + os.sep)


def _report(failure: Failure | None, status: int, as_json: bool) -> None:
    if failure is not None:
        message, hint = redact_text(failure.message), redact_text(failure.hint)
        if failure.click_error is not None:
            failure.click_error.show()  # "Usage: ...", "Try ... for help.", "Error: ..." on stderr
        elif failure.type == "Interrupted":
            click.echo(f"Interrupted. {hint}", err=True)
        else:
            click.echo(f"Error: {message}", err=True)
            click.echo(f"Hint: {hint}", err=True)
    if not as_json:
        return
    document: dict[str, Any] = {"ok": status == EXIT_OK, "exit_status": status}
    for key, value in (_Run.document or {}).items():
        document.setdefault(key, value)
    if failure is not None:
        document["error"] = failure.to_dict()
    plain = json.loads(json.dumps(document, default=str))
    with contextlib.suppress(OSError):  # stdout closed: nothing more can be shown
        click.echo(json.dumps(redact_document(plain), indent=2))
