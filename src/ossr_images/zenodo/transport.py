"""The one HTTP layer under the client, the upload and the download: session, headers, retries, JSON, logging.

:class:`Transport` owns the ``requests.Session`` and its user agent; :meth:`Transport.auth_headers` is the one
place that builds the ``Authorization`` header (only for the API's own host, after the transport check);
:func:`classify` is the retry policy (an answer or an error -> "retry after N s" or "give up"), used by
:meth:`Transport.send` and by the download's resume loop; :meth:`Transport.decode` and :func:`shaped` turn a
body into JSON of a checked shape; :meth:`Transport.log_exchange` logs every request without a token.

Retries: 429 waits for ``Retry-After`` / ``X-RateLimit-Reset``; 502/503/504, connection errors and truncated
answers back off exponentially with jitter, bounded in attempts and time. A :class:`Request` that is not
``idempotent`` (a POST that changes state) is repeated only after its ``check`` shows that it did not take
effect (and when the check shows it did, the check's result is returned). urllib3's ``Retry`` cannot express
that check, which is why the policy is our own.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from ossr_images import __version__
from ossr_images.zenodo.errors import ZenodoError, error_from_response, safe_url
from ossr_images.zenodo.target import Target, check_token_transport

log = logging.getLogger("ossr_images.zenodo")

USER_AGENT = f"ossr-images/{__version__} (+https://github.com/escape2020/ossr-images)"
RETRY_STATUSES = frozenset({502, 503, 504})
SAFE_CONNECT_ERRORS = (requests.exceptions.ConnectTimeout,)  # nothing reached the server: safe to repeat
NETWORK_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
TLS_HINT = (
    "TLS verification stays on. Check the server URL; behind a proxy or with a private certificate authority, "
    "point REQUESTS_CA_BUNDLE at its CA certificate."
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
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if wait is None:
            reset = response.headers.get("X-RateLimit-Reset")
            try:
                wait = max(0.0, float(reset) - time.time()) if reset else None
            except ValueError:
                wait = None
        if wait is None:
            wait = self.backoff(attempt)
        return max(0.0, wait)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date); None when absent or unreadable."""
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
class Verdict:
    """What to do after a failed attempt: ``wait`` seconds then retry (None: give up); ``ambiguous`` when
    the request may have taken effect although no good answer came back."""

    wait: float | None
    ambiguous: bool = False


def classify(
    policy: RetryPolicy,
    attempt: int,
    *,
    idempotent: bool,
    response: requests.Response | None = None,
    error: BaseException | None = None,
) -> Verdict:
    """The retry policy for one failed attempt (an answer not expected, or a network error)."""
    if response is not None:
        if response.status_code == 429:
            wait = policy.rate_limit_wait(response, attempt)
            return Verdict(wait if wait <= policy.max_retry_after else None)
        if response.status_code in RETRY_STATUSES:
            return Verdict(policy.backoff(attempt), ambiguous=not idempotent)
        return Verdict(None)
    if isinstance(error, NETWORK_ERRORS):
        return Verdict(
            policy.backoff(attempt), ambiguous=not idempotent and not isinstance(error, SAFE_CONNECT_ERRORS)
        )
    return Verdict(None)


@dataclass(frozen=True)
class Request:
    """One HTTP request as :meth:`Transport.send` sends it (again, when the policy allows).

    ``body`` makes a fresh body for each attempt (a stream cannot be sent twice); ``check`` proves whether a
    request that is not ``idempotent`` took effect after an ambiguous failure (its result, not None, is then
    returned instead of a response); ``transfer`` selects the transfer read timeout and lifts the time bound
    (an upload of gigabytes may take longer than the policy's ``max_elapsed``).
    """

    method: str
    url: str
    idempotent: bool
    expected: tuple[int, ...] = (200,)
    json_body: Any = None
    params: Mapping[str, Any] | None = None
    body: Callable[[], Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[], Any] | None = None
    transfer: bool = False


class Transport:
    """The session, headers, retry policy, JSON decoding and logging for one :class:`Target`.

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
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        self.session.trust_env = True
        self._api_netloc = urlsplit(self.api_url).netloc.lower()

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def url(self, path: str) -> str:
        """An absolute URL for an API path such as ``/deposit/depositions``."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.api_url}/{path.lstrip('/')}"

    def on_api_host(self, url: str) -> bool:
        """True when ``url`` is on the API's own host (the only one the token goes to)."""
        try:
            return urlsplit(url).netloc.lower() == self._api_netloc
        except ValueError:
            return False

    def auth_headers(self, url: str) -> dict[str, str]:
        """``Authorization: Bearer`` for a URL on the API's host (checked for a safe transport), else none."""
        token = self.target.token
        if not token or not self.on_api_host(url):
            return {}
        check_token_transport(url, self.target.allow_insecure_http)
        return {"Authorization": f"Bearer {token}"}

    def log_exchange(
        self, method: str, url: str, resp: requests.Response | None, t0: float, note: str = ""
    ) -> None:
        """One line per request on ``ossr_images.zenodo`` (headers at DEBUG), never with a token."""
        status = resp.status_code if resp is not None else "no answer"
        log.info("%s %s -> %s (%.2fs)%s", method, safe_url(url), status, time.monotonic() - t0, note)
        if resp is not None and log.isEnabledFor(logging.DEBUG):
            sent = {
                k: ("Bearer ***" if k.lower() == "authorization" else v)
                for k, v in resp.request.headers.items()
            }
            log.debug("request headers: %s", sent)
            log.debug("response headers: %s", dict(resp.headers))

    def open(self, url: str, *, headers: Mapping[str, str], note: str = "") -> requests.Response:
        """One streamed GET of a file, no retry (the download resumes itself): the auth header added, the
        transfer timeout, TLS failures as a clean error; network errors are raised as they are."""
        method = "GET"
        t0 = time.monotonic()
        try:
            resp = self.session.request(
                method,
                url,
                headers={**headers, **self.auth_headers(url)},
                timeout=(self.connect_timeout, self.transfer_timeout),
                stream=True,
            )
        except requests.exceptions.SSLError as exc:
            self.log_exchange(method, url, None, t0, " [SSLError]")
            raise tls_error(exc, method, url) from None
        except NETWORK_ERRORS as exc:
            self.log_exchange(method, url, None, t0, f" [{type(exc).__name__}]")
            raise
        self.log_exchange(method, url, resp, t0, note)
        return resp

    def send(self, request: Request) -> requests.Response | Any:
        """Send with retries. Returns the response (status in ``expected``) or, when ``check`` proved that an
        ambiguous attempt took effect, whatever ``check`` returned."""
        policy = self.retry
        method, url = request.method, request.url
        bound = None if request.transfer else policy.max_elapsed
        spent = 0.0  # time in requests plus time asked to sleep (works with an injected sleep)
        ambiguous = False
        attempt = 0
        while True:
            attempt += 1
            t0 = time.monotonic()
            outcome = self._attempt(request, attempt)
            if isinstance(outcome, requests.Response):
                return outcome
            last_error, verdict = outcome
            ambiguous = ambiguous or verdict.ambiguous
            retry_wait = verdict.wait
            if ambiguous and request.check is not None:
                outcome = self._run_check(request.check, method, url)
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
        if attempt > 1:
            last_error.message += f" (after {attempt} attempts)"
            last_error.args = (last_error.message,)
        if ambiguous and request.check is None:
            last_error.hint = (
                f"The {method} may or may not have taken effect on Zenodo. Check your uploads on the web "
                "page of the server, then run the command again."
            )
        raise last_error

    def _attempt(self, request: Request, attempt: int) -> requests.Response | tuple[ZenodoError, Verdict]:
        """One try: the expected response, or the error it makes and the policy's verdict on it."""
        method, url = request.method, request.url
        kwargs: dict[str, Any] = {}
        if request.json_body is not None:
            kwargs["json"] = request.json_body
        if request.body is not None:
            kwargs["data"] = request.body()
        read_timeout = self.transfer_timeout if request.transfer else self.read_timeout
        t0 = time.monotonic()
        try:
            resp = self.session.request(
                method,
                url,
                params=request.params,
                headers={**request.headers, **self.auth_headers(url)},
                timeout=(self.connect_timeout, read_timeout),
                **kwargs,
            )
        except requests.exceptions.SSLError as exc:
            self.log_exchange(method, url, None, t0, " [SSLError]")
            raise tls_error(exc, method, url) from None
        except NETWORK_ERRORS as exc:
            self.log_exchange(method, url, None, t0, f" [{type(exc).__name__}]")
            error = ZenodoError(
                f"No complete answer from {safe_url(url)} to {method}: {describe_network_error(exc)}",
                status=None,
                url=url,
                method=method,
            )
            return error, classify(self.retry, attempt, idempotent=request.idempotent, error=exc)
        self.log_exchange(method, url, resp, t0)
        if resp.status_code in request.expected:
            return resp
        error = error_from_response(
            resp.status_code, content_or_empty(resp), resp.headers.get("Content-Type"), url=url, method=method
        )
        verdict = classify(self.retry, attempt, idempotent=request.idempotent, response=resp)
        resp.close()
        return error, verdict

    def _run_check(self, check: Callable[[], Any], method: str, url: str) -> Any:
        try:
            outcome = check()
        except ZenodoError as exc:
            log.info("check after %s %s failed: %s", method, safe_url(url), exc.message)
            return None
        if outcome is not None:
            log.info("%s %s took effect despite the failed answer", method, safe_url(url))
        return outcome

    def decode(self, resp: requests.Response, method: str, url: str) -> Any:
        """The JSON body of ``resp`` (a body that is not JSON is a clean :class:`ZenodoError`)."""
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

    def request_json(self, request: Request) -> Any:
        """Send and decode: parsed JSON (None for an empty body). A body that is not JSON is asked for once
        more when the request is idempotent."""
        for attempt in (1, 2):
            result = self.send(request)
            if not isinstance(result, requests.Response):
                return result
            if not result.content:
                return None
            try:
                return self.decode(result, request.method, request.url)
            except ZenodoError:
                if attempt == 2 or not request.idempotent:
                    raise
                log.info("answer to %s %s was not JSON; asking again", request.method, safe_url(request.url))
        raise AssertionError("unreachable")


def shaped(value: Any, method: str, url: str, kind: type = dict, needs: tuple[str, ...] = ()) -> Any:
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
        f"Zenodo answered {method} {safe_url(url)} with JSON of the wrong shape ({got} where "
        f"{what} was expected)",
        "The server does not behave like Zenodo (or a proxy changed the answer): check the server URL "
        "(--sandbox / --zenodo-url) and run the command again.",
        status=None,
        url=url,
        method=method,
    )


def content_or_empty(resp: requests.Response) -> bytes:
    """The body of an error answer, or nothing when it cannot be read."""
    try:
        return resp.content or b""
    except NETWORK_ERRORS + (requests.exceptions.RequestException,):
        return b""


def read_some(resp: requests.Response, limit: int = 65536) -> bytes:
    """At most ``limit`` bytes of a streamed error answer (a download's), or nothing."""
    try:
        return resp.raw.read(limit, decode_content=True) or b""
    except Exception:  # noqa: BLE001 - an error body we cannot read is reported without it
        return b""


def tls_error(exc: BaseException, method: str, url: str) -> ZenodoError:
    """A failed TLS handshake or certificate check as a clean error (never retried)."""
    return ZenodoError(
        f"Cannot talk to {safe_url(url)} securely: {describe_tls_error(exc)}",
        TLS_HINT,
        status=None,
        url=url,
        method=method,
    )


def describe_tls_error(exc: BaseException) -> str:
    """A short reason for a TLS failure (the certificate check's, or the handshake's alert)."""
    text = str(exc)
    match = re.search(r"certificate verify failed:?\s*([^(\]'\"]*)", text)
    if match:
        reason = match.group(1).strip(" ,.") or "unknown reason"
        return f"the server's TLS certificate could not be verified ({reason})"
    match = re.search(r"\[SSL: ([A-Z_]+)\]", text)
    return f"the TLS handshake failed ({match.group(1).lower() if match else type(exc).__name__})"


def describe_network_error(exc: BaseException) -> str:
    """A short reason for a network error (timed out, refused, reset, cut off)."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return describe_tls_error(exc)
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
