"""The local Zenodo stand-in: a threaded HTTP server speaking Zenodo's deposit, files and records APIs.

Start it in-process (``LocalZenodo(data_dir, tokens=[...]).start()``, port 0 picks a free port; ``.api_url``
tells where) or from the command line (``ossr-images local-zenodo``). Uploads stream to disk (md5 computed on
the way, renamed into place when complete); downloads use ``sendfile`` and honour Range; the state persists in
the data folder and is rewritten atomically. ``.faults`` (see :mod:`ossr_images.standin.faults`) is consulted
on every request so that tests can inject failures.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
from pathlib import Path

from ossr_images.standin.faults import Faults
from ossr_images.standin.handler import Handler, _RateWindow, _Server, parse_range, redact
from ossr_images.standin.store import Store

log = logging.getLogger("ossr_images.standin")

__all__ = ["Handler", "LocalZenodo", "parse_range", "redact"]


class LocalZenodo:
    """A local Zenodo-compatible server (see the module docstring).

    ``data_dir`` None makes a temporary folder (removed by :meth:`stop` when ``cleanup`` is true); ``tokens``
    None makes one random token; ``rate_limit`` (requests per minute per client) turns on 429 answers.
    ``api_surface`` "zenodo" serves the legacy deposit API and the native records API over one store (as
    zenodo.org); "rdm" behaves like a plain InvenioRDM instance (no deposit API, native JSON by default,
    ids like "4d0ns-ntd89" and DOIs ``{prefix}/{id}``: :mod:`ossr_images.standin.rdm_ids`).
    Users: every token of ``tokens`` is user 1, the owner of the communities the stand-in seeds (escape2020,
    zenodo); ``guest_tokens`` (a list that may grow while serving) are user 2, a member of no community, whose
    community submissions wait for a curator (see :mod:`ossr_images.standin.memberships`).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: list[str] | tuple[str, ...] | None = None,
        doi_prefix: str = "10.5072",
        quota_bytes: int = 50_000_000_000,
        max_files: int = 100,
        rate_limit: int | None = None,
        cleanup: bool | None = None,
        api_surface: str = "zenodo",
        guest_tokens: list[str] | tuple[str, ...] = (),
    ) -> None:
        if api_surface not in ("zenodo", "rdm"):
            raise ValueError(f"api_surface must be 'zenodo' or 'rdm', not {api_surface!r}")
        self.api_surface = api_surface
        self._temp = data_dir is None
        self.data_dir = (
            Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="local-zenodo-"))
        )
        self.cleanup = self._temp if cleanup is None else cleanup
        self.host = host
        self.port = port
        self.tokens = list(tokens) if tokens else [secrets.token_urlsafe(24)]
        self.guest_tokens = list(guest_tokens)
        self.doi_prefix = doi_prefix
        self.quota_bytes = quota_bytes
        self.max_files = max_files
        self.rate_limit = rate_limit
        self.faults: Faults = Faults()
        self.rates = _RateWindow()
        self.store: Store | None = None  # type: ignore[assignment]
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def bytes_received(self) -> int:
        """File bytes uploaded since the start, through either API (files-import and newversion add none)."""
        return self.store.bytes_received if self.store is not None else 0

    def curate(self, request_id: str, action: str) -> dict:
        """Act as the system on a review or inclusion request: "accept" (publishes a submitted draft and adds
        the community), "decline", "cancel" or "expire" (the system's own action: the request and the draft
        become ``expired``); the request as the API then shows it."""
        from ossr_images.standin import memberships, reviews

        assert self.store is not None, "start the stand-in first"
        done = reviews.act(self.store, request_id, action, memberships.SYSTEM)
        return reviews.view(self.store, done, self.base_url, memberships.SYSTEM)

    def store_key(self, record_id: int | str) -> str:
        """The store's key of a record id as the API shows it (a plain instance's ``xxxxx-xxxxx`` read back;
        Zenodo's digits as they are), for tests that look into the state."""
        from ossr_images.standin import rdm_ids

        if self.store is not None and self.store.plain_ids:
            key = rdm_ids.internal(str(record_id))
            if key is None:
                raise KeyError(f"not a record id of this stand-in: {record_id!r}")
            return key
        return str(record_id)

    def valid_token(self, token: str) -> bool:
        """True if ``token`` is one the server accepts (constant-time comparison)."""
        return self.user_of(token) is not None

    def user_of(self, token: str) -> int | None:
        """The user a token belongs to: 1 for ``tokens``, 2 for ``guest_tokens``, None for any other."""
        for user, known in ((1, self.tokens), (2, self.guest_tokens)):
            if any(hmac.compare_digest(token.encode(), t.encode()) for t in list(known)):
                return user
        return None

    @property
    def url_host(self) -> str:
        """The host as it goes in a URL (loopback for a wildcard address, brackets for IPv6)."""
        host = self.host
        if host in ("0.0.0.0", "", "::"):  # noqa: S104 - only to build a URL
            host = "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def base_url(self) -> str:
        """The web base, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{self.url_host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:8765/api``."""
        return f"{self.base_url}/api"

    def bind(self) -> LocalZenodo:
        """Open the state and bind the socket (without serving yet)."""
        if self._httpd is not None:
            return self
        self.store = Store(self.data_dir, doi_prefix=self.doi_prefix, quota_bytes=self.quota_bytes,
                           max_files=self.max_files)  # fmt: skip
        if self.api_surface == "rdm":
            self.store.doi_format = "{prefix}/{id}"  # RR config.py DATACITE_FORMAT
            self.store.plain_ids = True  # ids shown as "xxxxx-xxxxx" (standin.rdm_ids)
        server_class = _Server
        if ":" in self.host:
            server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        try:
            self._httpd = server_class((self.host, self.port), Handler)
        except BaseException:
            self.store.close()
            self.store = None
            raise
        self._httpd.app = self
        self.port = self._httpd.server_address[1]
        return self

    def start(self) -> LocalZenodo:
        """Serve on a background thread; returns self (``.api_url`` is then final)."""
        self.bind()
        assert self._httpd is not None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="local-zenodo", daemon=True
        )
        self._thread.start()
        log.info("local Zenodo serving %s (data %s)", self.api_url, self.data_dir)
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until :meth:`shutdown` is called from another thread."""
        self.bind()
        assert self._httpd is not None
        self._httpd.serve_forever(poll_interval=0.1)

    def shutdown(self) -> None:
        """Make :meth:`serve_forever` return (call from another thread or a signal handler)."""
        if self._httpd is not None:
            self._httpd.shutdown()

    def stop(self) -> None:
        """Stop serving and close the socket (and remove a temporary data folder when ``cleanup``)."""
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join(timeout=10)
            self._httpd.server_close()
            self._httpd = None
            self._thread = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.cleanup:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalZenodo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalZenodo(api_url={self.api_url!r}, data_dir={str(self.data_dir)!r}, tokens=<{len(self.tokens)}>)"
