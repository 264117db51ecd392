"""Which Zenodo server to talk to, and with which token.

Production (``https://zenodo.org/api``), the sandbox (``https://sandbox.zenodo.org/api``) or any
Zenodo-compatible API base (``--zenodo-url`` / ``OSSR_IMAGES_ZENODO_URL``, e.g. the local stand-in).

A token goes only where the user meant it to go: ``--token-file`` for whichever server is chosen, else
``ZENODO_TOKEN`` for zenodo.org only, ``ZENODO_SANDBOX_TOKEN`` for sandbox.zenodo.org only, and
``OSSR_IMAGES_TOKEN`` for any other server. A loopback server (the local stand-in) also takes
``ZENODO_TOKEN`` or ``ZENODO_SANDBOX_TOKEN``. So a production token is never sent to another host because an
environment variable pointed elsewhere. The token is never shown by ``repr``, never sent over plain http to a
host other than loopback unless explicitly allowed, and a server URL holding ``user:password@`` is refused.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ossr_images.errors import InvalidInputError
from ossr_images.redact import has_userinfo, redact_url

PRODUCTION_API = "https://zenodo.org/api"
SANDBOX_API = "https://sandbox.zenodo.org/api"
PRODUCTION_HOST = "zenodo.org"
SANDBOX_HOST = "sandbox.zenodo.org"
PRODUCTION_DOI_PREFIX = "10.5281"
SANDBOX_DOI_PREFIX = "10.5072"
TOKEN_ENV = "ZENODO_TOKEN"
SANDBOX_TOKEN_ENV = "ZENODO_SANDBOX_TOKEN"
OTHER_TOKEN_ENV = "OSSR_IMAGES_TOKEN"
URL_ENV = "OSSR_IMAGES_ZENODO_URL"
API_ENV = "OSSR_IMAGES_API"
API_CHOICES = ("auto", "legacy", "rdm")


@dataclass(frozen=True)
class Target:
    """A Zenodo server: ``name`` is "zenodo", "sandbox" or "custom"; ``api_url`` has no trailing slash."""

    name: str
    api_url: str
    token: str | None = field(default=None, repr=False, compare=False)
    doi_prefix: str | None = None
    allow_insecure_http: bool = False
    api: str = "auto"

    def __repr__(self) -> str:
        token = "set" if self.token else "none"
        return (
            f"Target(name={self.name!r}, api_url={self.api_url!r}, token=<{token}>, "
            f"doi_prefix={self.doi_prefix!r}, api={self.api!r})"
        )

    __str__ = __repr__

    @property
    def html_url(self) -> str:
        """The web base of the server (the API base without its trailing ``/api``)."""
        return self.api_url[: -len("/api")] if self.api_url.endswith("/api") else self.api_url

    @property
    def host(self) -> str:
        """The API's host name."""
        return urlsplit(self.api_url).hostname or ""

    def record_html_url(self, record_id: str | int) -> str:
        """The record's web page on this server."""
        return f"{self.html_url}/records/{record_id}"

    def check_token_transport(self, url: str | None = None) -> None:
        """Raise :class:`InvalidInputError` if the token would travel over plain http to a non-loopback host."""
        check_token_transport(url or self.api_url, self.allow_insecure_http)


def is_loopback_host(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_brackets(netloc: str) -> None:
    """ValueError unless brackets in a host hold an IPv6 address (Python 3.10's urlsplit does not check)."""
    host = netloc.rsplit("@", 1)[-1]
    if "[" not in host and "]" not in host:
        return
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::\d*)?", host)
    if not match:
        raise ValueError(f"invalid bracketed host {host!r}")
    ipaddress.IPv6Address(match.group(1))


def check_token_transport(url: str, allow_insecure_http: bool = False) -> None:
    """Refuse sending a token over plain http to a host other than loopback (unless explicitly allowed)."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        raise InvalidInputError(f"Not a usable URL: {redact_url(url)!r}", "Check the server URL.") from None
    if parts.scheme == "https" or allow_insecure_http:
        return
    if parts.scheme == "http" and is_loopback_host(hostname):
        return
    raise InvalidInputError(
        f"Refusing to send the Zenodo token over plain {parts.scheme or 'unknown-scheme'} to {hostname}: "
        f"{redact_url(url)}",
        "Use an https:// URL, or pass --allow-insecure-http if you really trust the network.",
    )


def reject_userinfo(url: str, what: str) -> None:
    """Refuse (:class:`InvalidInputError`) a URL holding ``user:password@``: credentials belong in the token.
    The message shows the URL with the credentials masked."""
    if has_userinfo(url):
        raise InvalidInputError(
            f"{what} holds a user name or password: {redact_url(url.strip())}",
            "Remove the 'user:password@' part: ossr-images sends only a token, in the Authorization header. "
            "Put the token in a --token-file or the environment (ZENODO_TOKEN for zenodo.org, "
            "ZENODO_SANDBOX_TOKEN for sandbox.zenodo.org, OSSR_IMAGES_TOKEN for any other server).",
        )


def normalize_api_url(url: str) -> str:
    """``https://host/api/`` -> ``https://host/api``; a bare server URL gets ``/api`` appended."""
    text = url.strip()
    reject_userinfo(text, "the Zenodo API URL")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
        check_brackets(parts.netloc)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"Not a usable Zenodo API URL: {redact_url(url)!r}",
            "Give the API base with its scheme, e.g. https://zenodo.org/api or http://127.0.0.1:8765/api.",
        )
    if parts.query or parts.fragment:
        raise InvalidInputError(
            f"The Zenodo API URL must not carry a query or fragment: {redact_url(url)!r}",
            "Give only the API base, e.g. http://127.0.0.1:8765/api; a token goes in a --token-file or the "
            "environment (ZENODO_TOKEN, ZENODO_SANDBOX_TOKEN, OSSR_IMAGES_TOKEN).",
        )
    path = parts.path.rstrip("/")
    if not path:
        path = "/api"
    return f"{parts.scheme}://{parts.netloc}{path}"


def _read_token_file(path: str | os.PathLike[str]) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            f"Cannot read the token file {path}: {exc.strerror or exc}",
            "Give a readable file holding only the token (--token-file).",
        ) from None
    token = text.strip()
    if not token or any(c.isspace() for c in token):
        raise InvalidInputError(
            f"The token file {path} is empty or holds more than one word",
            "Put only the personal access token in the file.",
        )
    return token


def resolve_target(
    *,
    sandbox: bool = False,
    zenodo_url: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    allow_insecure_http: bool = False,
    require_token: bool = False,
    default_server: str | None = None,
    api: str = "auto",
) -> Target:
    """Choose the server and token from the target options (and the environment).

    ``default_server`` ("zenodo" or "sandbox", e.g. from a DOI's prefix) applies only when neither ``sandbox``
    nor ``zenodo_url`` is given. ``require_token`` makes a missing token an :class:`InvalidInputError`.
    ``api`` is "legacy" (Zenodo's deposit API), "rdm" (InvenioRDM's records API) or "auto" (decided when a
    client is opened: see :func:`ossr_images.zenodo.backends.choose_api`).
    """
    if api not in API_CHOICES:
        raise InvalidInputError(
            f"Unknown API {api!r} (from --api or {API_ENV})",
            f"Use one of: {', '.join(API_CHOICES)}.",
        )
    if sandbox and zenodo_url:
        raise InvalidInputError(
            f"Both --sandbox and --zenodo-url ({redact_url(zenodo_url)}) were given",
            "Use one of them (OSSR_IMAGES_ZENODO_URL also sets --zenodo-url; unset it to use --sandbox).",
        )
    if zenodo_url:
        api_url = normalize_api_url(zenodo_url)
        if api_url == PRODUCTION_API:
            name, prefix = "zenodo", PRODUCTION_DOI_PREFIX
        elif api_url == SANDBOX_API:
            name, prefix = "sandbox", SANDBOX_DOI_PREFIX
        else:
            name, prefix = "custom", None
    elif sandbox or default_server == "sandbox":
        name, api_url, prefix = "sandbox", SANDBOX_API, SANDBOX_DOI_PREFIX
    else:
        name, api_url, prefix = "zenodo", PRODUCTION_API, PRODUCTION_DOI_PREFIX

    sources = token_variables(api_url)
    if token_file is not None:
        token: str | None = _read_token_file(token_file)
    else:
        token = next((v for v in (_env(n) for n in sources) if v), None)
    if require_token and not token:
        raise InvalidInputError(_no_token_message(api_url, sources), _no_token_hint(name, sources))
    target = Target(name, api_url, token, prefix, allow_insecure_http, api)
    if token:
        target.check_token_transport()
    return target


def token_variables(api_url: str) -> tuple[str, ...]:
    """The environment variables whose token may be sent to ``api_url``, in the order they are tried:
    ZENODO_TOKEN for zenodo.org, ZENODO_SANDBOX_TOKEN for sandbox.zenodo.org, OSSR_IMAGES_TOKEN for any
    other host, and for a loopback host (the local stand-in) all three."""
    host = (urlsplit(api_url).hostname or "").lower()
    if host == PRODUCTION_HOST:
        return (TOKEN_ENV,)
    if host == SANDBOX_HOST:
        return (SANDBOX_TOKEN_ENV,)
    if is_loopback_host(host):
        return (OTHER_TOKEN_ENV, TOKEN_ENV, SANDBOX_TOKEN_ENV)
    return (OTHER_TOKEN_ENV,)


def _env(name: str) -> str | None:
    return (os.environ.get(name) or "").strip() or None


def _no_token_message(api_url: str, sources: tuple[str, ...]) -> str:
    names = " or ".join(sources)
    message = f"No Zenodo token for {api_url}: {names} {'is' if len(sources) == 1 else 'are'} not set"
    ignored = [n for n in (TOKEN_ENV, SANDBOX_TOKEN_ENV) if n not in sources and _env(n)]
    if ignored:
        which = " and ".join(ignored)
        message += f" ({which} {'is' if len(ignored) == 1 else 'are'} set, but only sent to its own server)"
    return message + " and no --token-file was given"


def _no_token_hint(name: str, sources: tuple[str, ...]) -> str:
    server = {"zenodo": "zenodo.org", "sandbox": "sandbox.zenodo.org"}.get(name, "this server")
    return (
        f"Create a personal access token (scopes deposit:write, deposit:actions) on {server} and put it in "
        f"{sources[0]} or in a file given with --token-file."
    )
