"""`ossr-images local-zenodo`: a local Zenodo-compatible server for offline rehearsal and tests."""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from types import FrameType

import click


def _check_prefix(value: str) -> str:
    if not re.fullmatch(r"10\.\d{4,9}", value):
        raise click.BadParameter(f"{value!r} is not a DOI prefix such as 10.5072")
    return value


@click.command("local-zenodo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port)."
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, writable=True),
    help="Folder holding the server's state and files (default: a new temporary folder, printed).",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    metavar="T",
    help="A token the server accepts (repeatable; default: one random token, printed).",
)
@click.option(
    "--guest-token",
    "guest_tokens",
    multiple=True,
    metavar="T",
    help="A token of a second user, a member of no community: its community submissions wait for a curator "
    "(the --token user owns the escape2020 and zenodo communities). Repeatable.",
)
@click.option(
    "--doi-prefix",
    default="10.5072",
    show_default=True,
    callback=lambda _c, _p, v: _check_prefix(v),
    help="Prefix of the DOIs it mints.",
)
@click.option(
    "--api-surface",
    type=click.Choice(["zenodo", "rdm"]),
    default="zenodo",
    show_default=True,
    help="zenodo: deposit API and InvenioRDM records API over one store, as zenodo.org; rdm: a plain "
    "InvenioRDM instance (no deposit API, native JSON for application/json, record ids like 4d0ns-ntd89).",
)
@click.option("--quota", "quota_bytes", type=int, default=50_000_000_000, show_default=True, hidden=True)
@click.option("--max-files", type=int, default=100, show_default=True, hidden=True)
@click.option(
    "--rate-limit", type=int, default=None, hidden=True, help="Requests per minute per client (429 above)."
)
def local_zenodo(
    host: str, port: int, data_dir: str | None, tokens: tuple[str, ...], guest_tokens: tuple[str, ...],
    doi_prefix: str, api_surface: str, **limits: int | None,
) -> None:  # fmt: skip
    """Serve a local Zenodo-compatible API (deposit, files and records) until Ctrl-C.

    Prints `API <url>`, `TOKEN <token>` (one line per token), `GUEST_TOKEN <token>` (one per --guest-token)
    and `DATA <folder>` first on stdout; requests are
    logged on stderr (tokens never). Use it with `--zenodo-url <url>` and ZENODO_TOKEN=<token>.
    """
    from ossr_images.errors import RemoteError
    from ossr_images.standin.server import LocalZenodo

    log = logging.getLogger("ossr_images.standin")
    root = click.get_current_context().find_root().obj or {}
    if not root.get("quiet") and log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)  # the request log is what this command is for

    server = LocalZenodo(data_dir, host=host, port=port, tokens=list(tokens) or None, doi_prefix=doi_prefix,
                         quota_bytes=limits["quota_bytes"], max_files=limits["max_files"],
                         rate_limit=limits["rate_limit"], cleanup=False, api_surface=api_surface,
                         guest_tokens=guest_tokens)  # fmt: skip
    try:
        server.bind()
    except OSError as exc:
        raise RemoteError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}",
            "Choose another --port (0 picks a free one) or stop the program using this one.",
        ) from None
    from ossr_images.zenodo.target import is_loopback_host

    if not is_loopback_host(host):
        log.warning("listening on %s: tokens and files travel in plain http on this network", host)
    lines = [f"API {server.api_url}"] + [f"TOKEN {t}" for t in server.tokens]
    lines += [f"GUEST_TOKEN {t}" for t in server.guest_tokens] + [f"DATA {server.data_dir}"]
    click.echo("\n".join(lines))
    sys.stdout.flush()

    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    click.echo("local Zenodo stopped", err=True)
