"""A thin, careful client for Zenodo's REST API (deposit API to publish, records API to read).

One ``requests.Session``; the token travels only in ``Authorization: Bearer`` and only to the target's own
host (requests drops the header on redirects to another host); ``-v`` logs every request on the logger
``ossr_images.zenodo`` with no token in it.

Retries (:class:`RetryPolicy`): 429 waits for ``Retry-After`` / ``X-RateLimit-Reset``; 502/503/504, connection
errors and truncated answers back off exponentially with jitter, bounded in attempts and time. Only requests
that are safe to repeat are repeated as they are (GET, PUT of metadata, a bucket PUT of the same key, DELETE);
a POST that changes state (create, publish, edit, discard, newversion) is repeated only after a check shows it
did not take effect (and when the check shows it did, its result is returned). urllib3's ``Retry`` cannot
express that check, which is why the policy is our own.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests

from ossr_images import __version__
from ossr_images.zenodo.errors import ZenodoError, error_from_response, safe_url
from ossr_images.zenodo.target import Target, check_token_transport
from ossr_images.zenodo.transfer import DEFAULT_CHUNK, Progress
from ossr_images.zenodo.upload import UploadResult, upload_file

log = logging.getLogger("ossr_images.zenodo")

USER_AGENT = f"ossr-images/{__version__} (+https://github.com/escape2020/ossr-images)"
RETRY_STATUSES = frozenset({502, 503, 504})
SEARCH_WINDOW = 10_000  # Zenodo answers 400 beyond page * size = 10000
_SAFE_CONNECT_ERRORS = (requests.exceptions.ConnectTimeout,)
_NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass
class RetryPolicy:
    """How often and how long to retry.

    ``max_attempts`` counts the first try; ``max_elapsed`` (seconds, None = no bound) stops retrying once that
    much time has passed since the first try; backoff is ``backoff_base * 2**(attempt-1)`` capped at
    ``backoff_max``, times a random factor in [1 - jitter, 1]; a 429's ``Retry-After`` is honoured up to
    ``max_retry_after`` seconds. ``sleep`` is injectable for tests.
    """

    max_attempts: int = 5
    max_elapsed: float | None = 900.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    jitter: float = 0.5
    max_retry_after: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = min(self.backoff_max, self.backoff_base * (2 ** max(0, attempt - 1)))
        return delay * (1.0 - self.jitter * random.random())  # noqa: S311 - jitter, not crypto

    def rate_limit_wait(self, response: requests.Response, attempt: int) -> float:
        """Seconds a 429 asks us to wait (Retry-After, else X-RateLimit-Reset, else the backoff)."""
        wait = _parse_retry_after(response.headers.get("Retry-After"))
        if wait is None:
            reset = response.headers.get("X-RateLimit-Reset")
            try:
                wait = max(0.0, float(reset) - time.time()) if reset else None
            except ValueError:
                wait = None
        if wait is None:
            wait = self.backoff(attempt)
        return max(0.0, wait)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class DownloadResult:
    """A file downloaded, verified (md5 when one was given, size when one was given) and renamed into place."""

    path: Path
    size: int
    md5: str
    sha256: str


class ZenodoClient:
    """Zenodo's deposit and records APIs for one :class:`Target`.

    ``read_timeout`` applies to API calls; ``transfer_timeout`` is the read timeout for uploads and downloads
    (Zenodo may take minutes to answer after the last byte of a multi-GB upload).
    """

    def __init__(
        self,
        target: Target,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        transfer_timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        chunk_size: int = DEFAULT_CHUNK,
        session: requests.Session | None = None,
    ) -> None:
        if target.token:
            target.check_token_transport()
        self.target = target
        self.api_url = target.api_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.transfer_timeout = transfer_timeout
        self.retry = retry or RetryPolicy()
        self.chunk_size = chunk_size
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        self.session.trust_env = True
        self._api_netloc = urlsplit(self.api_url).netloc.lower()

    # ------------------------------------------------------------------ plumbing
    def __enter__(self) -> ZenodoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __repr__(self) -> str:
        return f"ZenodoClient({self.target!r})"

    def url(self, path: str) -> str:
        """An absolute URL for an API path such as ``/deposit/depositions``."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.api_url}/{path.lstrip('/')}"

    def _auth_headers(self, url: str) -> dict[str, str]:
        token = self.target.token
        try:
            netloc = urlsplit(url).netloc.lower()
        except ValueError:
            return {}
        if not token or netloc != self._api_netloc:
            return {}
        check_token_transport(url, self.target.allow_insecure_http)
        return {"Authorization": f"Bearer {token}"}

    def _auth_free_host(self, url: str) -> bool:
        """True when ``url`` is not on the API's host (or cannot be parsed)."""
        try:
            return urlsplit(url).netloc.lower() != self._api_netloc
        except ValueError:
            return True

    def _log_response(
        self, method: str, url: str, resp: requests.Response | None, t0: float, note: str = ""
    ) -> None:
        status = resp.status_code if resp is not None else "no answer"
        log.info("%s %s -> %s (%.2fs)%s", method, safe_url(url), status, time.monotonic() - t0, note)
        if resp is not None and log.isEnabledFor(logging.DEBUG):
            sent = {
                k: ("Bearer ***" if k.lower() == "authorization" else v)
                for k, v in resp.request.headers.items()
            }
            log.debug("request headers: %s", sent)
            log.debug("response headers: %s", dict(resp.headers))

    def _send(
        self,
        method: str,
        url: str,
        *,
        expected: tuple[int, ...] = (200,),
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        body_factory: Callable[[], Any] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool,
        check: Callable[[], Any] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = True,
        stream: bool = False,
        max_elapsed: float | None | str = "policy",
    ) -> requests.Response | Any:
        """Send with retries. Returns the response (status in ``expected``) or, when ``check`` proved that an
        ambiguous attempt took effect, whatever ``check`` returned."""
        policy = self.retry
        bound = policy.max_elapsed if max_elapsed == "policy" else max_elapsed
        spent = 0.0  # time in requests plus time asked to sleep (works with an injected sleep)
        ambiguous = False
        attempt = 0
        last_error: ZenodoError | None = None
        while True:
            attempt += 1
            req_headers = dict(headers or {})
            req_headers.update(self._auth_headers(url))
            kwargs: dict[str, Any] = {}
            if json_body is not None:
                kwargs["json"] = json_body
            if body_factory is not None:
                kwargs["data"] = body_factory()
            t0 = time.monotonic()
            resp: requests.Response | None = None
            retry_wait: float | None = None
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    headers=req_headers,
                    timeout=(self.connect_timeout, timeout or self.read_timeout),
                    allow_redirects=allow_redirects,
                    stream=stream,
                    **kwargs,
                )
            except requests.exceptions.SSLError as exc:
                self._log_response(method, url, None, t0, " [SSLError]")
                raise ZenodoError(
                    f"Cannot talk to {safe_url(url)} securely: {_describe_tls_error(exc)}",
                    TLS_HINT,
                    status=None,
                    url=url,
                    method=method,
                ) from None
            except _NETWORK_ERRORS as exc:
                self._log_response(method, url, None, t0, f" [{type(exc).__name__}]")
                last_error = ZenodoError(
                    f"No complete answer from {safe_url(url)} to {method}: {_describe_network_error(exc)}",
                    status=None,
                    url=url,
                    method=method,
                )
                if not idempotent and not isinstance(exc, _SAFE_CONNECT_ERRORS):
                    ambiguous = True
                retry_wait = policy.backoff(attempt)
            else:
                self._log_response(method, url, resp, t0)
                if resp.status_code in expected:
                    return resp
                body = _read_some(resp) if stream else _content_or_empty(resp)
                last_error = error_from_response(
                    resp.status_code, body, resp.headers.get("Content-Type"), url=url, method=method
                )
                if resp.status_code == 429:
                    retry_wait = policy.rate_limit_wait(resp, attempt)
                    if retry_wait > policy.max_retry_after:
                        retry_wait = None
                elif resp.status_code in RETRY_STATUSES:
                    if not idempotent:
                        ambiguous = True
                    retry_wait = policy.backoff(attempt)
                resp.close()
            if ambiguous and check is not None:
                outcome = self._run_check(check, method, url)
                if outcome is not None:
                    return outcome
            elif ambiguous:
                retry_wait = None  # cannot know whether it took effect: do not repeat blindly
            if retry_wait is None or attempt >= policy.max_attempts:
                break
            spent += time.monotonic() - t0
            if bound is not None and spent + retry_wait > bound:
                break
            log.info(
                "retrying %s %s in %.1fs (attempt %d of %d)",
                method,
                safe_url(url),
                retry_wait,
                attempt + 1,
                policy.max_attempts,
            )
            policy.sleep(retry_wait)
            spent += retry_wait
        assert last_error is not None
        if attempt > 1:
            last_error.message += f" (after {attempt} attempts)"
            last_error.args = (last_error.message,)
        if ambiguous and check is None:
            last_error.hint = (
                f"The {method} may or may not have taken effect on Zenodo. Check your uploads on the web "
                "page of the server, then run the command again."
            )
        raise last_error

    def _run_check(self, check: Callable[[], Any], method: str, url: str) -> Any:
        try:
            outcome = check()
        except ZenodoError as exc:
            log.info("check after %s %s failed: %s", method, safe_url(url), exc.message)
            return None
        if outcome is not None:
            log.info("%s %s took effect despite the failed answer", method, safe_url(url))
        return outcome

    def _json(self, resp: requests.Response, method: str, url: str) -> Any:
        try:
            return resp.json()
        except (ValueError, RecursionError):
            raise ZenodoError(
                f"Zenodo answered {resp.status_code} to {method} {safe_url(url)} with a body that is not JSON "
                f"({resp.headers.get('Content-Type') or 'no content type'}, {len(resp.content)} bytes)",
                "The answer was cut or came from a proxy; run the command again.",
                status=resp.status_code,
                url=url,
                method=method,
            ) from None

    def _shaped(
        self, value: Any, method: str, path: str, kind: type = dict, needs: tuple[str, ...] = ()
    ) -> Any:
        """``value`` if it is a ``kind`` (with the keys ``needs``); else a clean error (no KeyError later)."""
        ok = isinstance(value, kind) and all(
            isinstance(value, dict) and value.get(k) not in (None, "") for k in needs
        )
        if ok:
            return value
        what = "an object" if kind is dict else "a list"
        if needs:
            what += " with " + ", ".join(repr(k) for k in needs)
        got = "null" if value is None else type(value).__name__
        raise ZenodoError(
            f"Zenodo answered {method} {safe_url(self.url(path))} with JSON of the wrong shape ({got} where "
            f"{what} was expected)",
            "The server does not behave like Zenodo (or a proxy changed the answer): check the server URL "
            "(--sandbox / --zenodo-url) and run the command again.",
            status=None,
            url=self.url(path),
            method=method,
        )

    def request_json(
        self,
        method: str,
        path: str,
        *,
        expected: tuple[int, ...] = (200,),
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        idempotent: bool | None = None,
        check: Callable[[], Any] | None = None,
    ) -> Any:
        """One API call returning parsed JSON (None for an empty body). ``path`` is relative to the API base
        or absolute. GET/PUT/DELETE are retried; other methods only through ``check``."""
        url = self.url(path)
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE")
        for attempt in (1, 2):
            result = self._send(
                method,
                url,
                expected=expected,
                json_body=json_body,
                params=params,
                idempotent=idempotent,
                check=check,
            )
            if not isinstance(result, requests.Response):
                return result
            if not result.content:
                return None
            try:
                return self._json(result, method, url)
            except ZenodoError:
                if attempt == 2 or not idempotent:
                    raise
                log.info("answer to %s %s was not JSON; asking again", method, safe_url(url))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ deposit API
    def create_deposition(self, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create a draft (201). If the answer is lost, looks for the draft before creating another."""
        body: dict[str, Any] = {"metadata": metadata} if metadata else {}
        started = time.time()
        title = (metadata or {}).get("title") or ""

        def check() -> dict[str, Any] | None:
            for dep in self.list_depositions(status="draft", max_pages=1):
                if (
                    isinstance(dep, dict)
                    and (dep.get("title") or "") == title
                    and not dep.get("files")
                    and _created_after(dep, started)
                ):
                    return dep
            return None

        dep = self.request_json("POST", "/deposit/depositions", expected=(201,), json_body=body, check=check)
        self._shaped(dep, "POST", "/deposit/depositions", needs=("id", "links"))
        self._shaped(dep["links"], "POST", "/deposit/depositions", needs=("bucket",))
        return dep

    def get_deposition(self, deposition_id: int | str) -> dict[str, Any]:
        """The deposition (draft or published) as the deposit API shows it."""
        path = f"/deposit/depositions/{deposition_id}"
        return self._shaped(self.request_json("GET", path), "GET", path, needs=("id",))

    def list_depositions(
        self,
        q: str | None = None,
        status: str | None = None,
        all_versions: bool = False,
        *,
        sort: str = "mostrecent",
        size: int = 100,
        max_pages: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """All of the token owner's depositions (drafts and published), every page."""
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "size": size, "sort": sort}
            if q:
                params["q"] = q
            if status:
                params["status"] = status
            if all_versions:
                params["all_versions"] = "true"
            items = self.request_json("GET", "/deposit/depositions", params=params)
            if not isinstance(items, list):
                raise ZenodoError(
                    f"Zenodo answered the deposition list with a {type(items).__name__}, not a list",
                    status=200,
                    url=self.url("/deposit/depositions"),
                    method="GET",
                )
            for item in items:  # each entry a deposition, or a clean error (no TypeError later)
                self._shaped(item, "GET", "/deposit/depositions", needs=("id",))
            yield from items
            if len(items) < size or (max_pages is not None and page >= max_pages):
                return
            page += 1

    def update_deposition(self, deposition_id: int | str, metadata: dict[str, Any]) -> dict[str, Any]:
        """Replace the draft's metadata (PUT; Zenodo checks completeness only at publish)."""
        path = f"/deposit/depositions/{deposition_id}"
        answer = self.request_json("PUT", path, json_body={"metadata": metadata})
        return self._shaped(answer, "PUT", path, needs=("id",))

    def delete_deposition(self, deposition_id: int | str) -> None:
        """Delete an unpublished draft (204)."""
        url = self.url(f"/deposit/depositions/{deposition_id}")

        def check() -> bool | None:
            try:
                self.get_deposition(deposition_id)
            except ZenodoError as exc:
                if exc.status in (404, 410):
                    return True
                raise
            return None

        self._send("DELETE", url, expected=(201, 202, 204), idempotent=False, check=check)

    def _action(
        self, deposition_id: int | str, action: str, expected: tuple[int, ...], done: Callable[[dict], bool]
    ):
        def check() -> dict[str, Any] | None:
            dep = self.get_deposition(deposition_id)
            return dep if done(dep) else None

        path = f"/deposit/depositions/{deposition_id}/actions/{action}"
        answer = self.request_json("POST", path, expected=expected, check=check)
        if answer is None and action == "discard":
            return None  # 204 with an empty body
        return self._shaped(answer, "POST", path, needs=("id",))

    def publish(self, deposition_id: int | str) -> dict[str, Any]:
        """Publish the draft (202); a lost answer is checked (state "done") before any repeat."""
        return self._action(deposition_id, "publish", (202, 200, 201), lambda d: d.get("state") == "done")

    def edit(self, deposition_id: int | str) -> dict[str, Any]:
        """Unlock a published record's metadata for editing (201)."""
        return self._action(deposition_id, "edit", (201, 200), lambda d: d.get("state") == "inprogress")

    def discard(self, deposition_id: int | str) -> dict[str, Any] | None:
        """Discard the changes of an edit (204, empty body on Zenodo-RDM)."""
        return self._action(
            deposition_id, "discard", (204, 201, 200), lambda d: d.get("state") != "inprogress"
        )

    def new_version(self, deposition_id: int | str) -> dict[str, Any]:
        """The draft of a new version of the published record ``deposition_id``.

        An existing next-version draft (``links.latest_draft`` of the record) is returned as it is, without a
        POST; otherwise ``newversion`` is posted and its draft returned (older servers answered with the
        original record: then ``links.latest_draft`` is followed). The new draft holds the previous files.
        """
        existing = self._latest_draft_of(deposition_id)
        if existing is not None:
            return existing

        def check() -> dict[str, Any] | None:
            return self._latest_draft_of(deposition_id)

        result = self.request_json(
            "POST",
            f"/deposit/depositions/{deposition_id}/actions/newversion",
            expected=(201, 200),
            check=check,
        )
        path = f"/deposit/depositions/{deposition_id}/actions/newversion"
        result = self._shaped(result, "POST", path, needs=("id",))
        if str(result.get("id")) == str(deposition_id):
            latest = _links(result).get("latest_draft")
            if isinstance(latest, str) and latest:
                return self._shaped(self.request_json("GET", latest), "GET", latest, needs=("id",))
        return result

    def _latest_draft_of(self, deposition_id: int | str) -> dict[str, Any] | None:
        dep = self.get_deposition(deposition_id)
        latest = _links(dep).get("latest_draft")
        if (
            not isinstance(latest, str)
            or not latest
            or latest.rstrip("/").rsplit("/", 1)[-1] == str(deposition_id)
        ):
            return None
        draft = self.request_json("GET", latest)
        if isinstance(draft, dict) and draft.get("state") != "done" and not draft.get("submitted"):
            return draft
        return None

    def list_files(self, deposition_id: int | str) -> list[dict[str, Any]]:
        """The draft's files as the deposit API lists them (``filename``, ``filesize``, ``checksum``, ``id``)."""
        path = f"/deposit/depositions/{deposition_id}/files"
        files = self._shaped(self.request_json("GET", path), "GET", path, kind=list)
        for entry in files:  # each entry a file object, or a clean error (no AttributeError later)
            self._shaped(entry, "GET", path)
        return files

    def delete_file(self, deposition_id: int | str, file_id: str) -> None:
        """Delete one file of a draft (204); a 404 after a lost answer counts as done."""
        url = self.url(f"/deposit/depositions/{deposition_id}/files/{file_id}")

        def check() -> bool | None:
            files = self.list_files(deposition_id)
            return True if all(str(f.get("id")) != str(file_id) for f in files) else None

        self._send("DELETE", url, expected=(204, 200, 201), idempotent=False, check=check)

    def upload_file(
        self,
        bucket_url: str,
        key: str,
        fileobj: BinaryIO,
        size: int,
        *,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Stream ``size`` bytes of ``fileobj`` to ``<bucket_url>/<key>`` in one PUT with Content-Length.

        md5 and sha256 are computed while the bytes go out; Zenodo's returned ``md5:`` checksum and size must
        match (else :class:`ZenodoIntegrityError`). A failed PUT is repeated from the start when ``fileobj``
        can seek (a PUT of the same key replaces the file). See :mod:`ossr_images.zenodo.upload`.
        """
        return upload_file(self, bucket_url, key, fileobj, size, progress=progress)

    # ------------------------------------------------------------------ records API
    def get_record(self, record_id: int | str) -> dict[str, Any]:
        """A published record (``GET /records/<id>``); a concept id is redirected to its latest version, so
        the returned ``id`` may differ from ``record_id``."""
        path = f"/records/{record_id}"
        return self._shaped(self.request_json("GET", path), "GET", path, needs=("id",))

    def search_records(
        self,
        q: str | None = None,
        communities: str | list[str] | tuple[str, ...] | None = None,
        all_versions: bool = False,
        *,
        sort: str | None = None,
        size: int | None = None,
        max_results: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Published records matching ``q`` (Zenodo query syntax), every page followed to the end."""
        page_size = size or (100 if self.target.token else 25)
        params: dict[str, Any] = {"size": page_size, "page": 1}
        if q:
            params["q"] = q
        if communities:
            params["communities"] = communities if isinstance(communities, str) else ",".join(communities)
        if all_versions:
            params["all_versions"] = "true"
        if sort:
            params["sort"] = sort
        url: str | None = self.url("/records")
        seen = 0
        page_params: dict[str, Any] | None = params
        while url:
            doc = self._shaped(self.request_json("GET", url, params=page_params), "GET", url, needs=("hits",))
            hits_doc = self._shaped(doc["hits"], "GET", url)
            hits = self._shaped(hits_doc.get("hits") or [], "GET", url, kind=list)
            total = _total(hits_doc.get("total"))
            for hit in hits:
                if not isinstance(hit, dict):
                    self._shaped(hit, "GET", url)
                yield hit
                seen += 1
                if max_results is not None and seen >= max_results:
                    return
            if not hits or (total is not None and seen >= total):
                return
            if seen + page_size > SEARCH_WINDOW:
                log.warning(
                    "Zenodo serves at most the first %d results of a search; %s more were not read: narrow the query",
                    SEARCH_WINDOW,
                    "some" if total is None else total - seen,
                )
                return
            next_url = _links(doc).get("next")
            if not isinstance(next_url, str) or self._auth_free_host(next_url):
                next_url = None
            if next_url:
                url, page_params = next_url, None
            else:
                params["page"] = int(params["page"]) + 1
                page_params = params

    def download_file(
        self,
        url: str,
        dest: Path,
        *,
        size: int | None = None,
        md5: str | None = None,
        progress: Progress | None = None,
        sha256: str | None = None,
    ) -> DownloadResult:
        """Stream ``url`` into ``dest.part`` (resuming from an existing part with Range), verify size and md5
        (and ``sha256`` when given), then rename to ``dest``. A mismatch deletes the part and raises
        :class:`ZenodoIntegrityError`. A body that ends early without an error is resumed too. The machinery
        is in :mod:`ossr_images.zenodo.download`."""
        from ossr_images.zenodo.download import download_file  # it imports this module's helpers

        return download_file(self, url, dest, size=size, md5=md5, sha256=sha256, progress=progress)


def _links(doc: Any) -> dict[str, Any]:
    links = doc.get("links") if isinstance(doc, dict) else None
    return links if isinstance(links, dict) else {}


def _content_or_empty(resp: requests.Response) -> bytes:
    try:
        return resp.content or b""
    except _NETWORK_ERRORS + (requests.exceptions.RequestException,):
        return b""


def _read_some(resp: requests.Response, limit: int = 65536) -> bytes:
    try:
        return resp.raw.read(limit, decode_content=True) or b""
    except Exception:  # noqa: BLE001 - an error body we cannot read is reported without it
        return b""


def _total(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("value")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _created_after(dep: dict[str, Any], started: float, slack: float = 600.0) -> bool:
    created = dep.get("created")
    if not created:
        return False
    try:
        from datetime import datetime

        when = datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    return when >= started - slack


def _describe_tls_error(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"certificate verify failed:?\s*([^(\]'\"]*)", text)
    if match:
        reason = match.group(1).strip(" ,.") or "unknown reason"
        return f"the server's TLS certificate could not be verified ({reason})"
    match = re.search(r"\[SSL: ([A-Z_]+)\]", text)
    return f"the TLS handshake failed ({match.group(1).lower() if match else type(exc).__name__})"


TLS_HINT = (
    "TLS verification stays on. Check the server URL; behind a proxy or with a private certificate authority, "
    "point REQUESTS_CA_BUNDLE at its CA certificate."
)


def _describe_network_error(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return _describe_tls_error(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "the connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "the server did not answer in time"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    if "Connection refused" in text:
        return "the connection was refused"
    if "reset" in text.lower():
        return "the connection was reset"
    return text.split(":")[-1].strip(" )'\"") or type(exc).__name__


__all__ = [
    "USER_AGENT",
    "DownloadResult",
    "RetryPolicy",
    "UploadResult",
    "ZenodoClient",
]
