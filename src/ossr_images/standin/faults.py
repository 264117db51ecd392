"""The fault hook of the stand-in: one object consulted at fixed points of every request.

The default :class:`Faults` does nothing. Reliability tests subclass it (or set attributes on an instance) and
assign it to ``LocalZenodo.faults``; the server calls:

- :meth:`Faults.before` first: return True after writing a response (e.g. a 503 or a 429) to skip the normal
  handling, or sleep in it to make the answer slow;
- :meth:`Faults.upload_cut` before a bucket PUT body is read: a byte count after which the server drops the
  connection (the upload then fails like a reset);
- :meth:`Faults.after` with the JSON answer about to be sent: return a changed ``(status, body)`` (e.g. a wrong
  md5), or ``None`` to keep it; raise :class:`DropResponse` to close the connection without answering after the
  action took effect (a publish whose answer is lost);
- :meth:`Faults.download_cut` before a file is served: a byte count after which the server stops sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DropResponse(Exception):
    """Raised by a fault hook: close the connection without sending the answer."""


@dataclass
class RequestInfo:
    """What a fault hook may look at: the method, the path (no query string), the route name, the query
    parameters (without ``access_token``) and the handler (to write a response in :meth:`Faults.before`)."""

    method: str
    path: str
    route: str
    params: dict[str, str] = field(default_factory=dict)
    handler: Any = None

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Write a JSON response (for :meth:`Faults.before`)."""
        self.handler.send_json(status, body, headers=headers)


class Faults:
    """No faults: the base class of fault plans."""

    def before(self, request: RequestInfo) -> bool:
        """Called first; return True after writing a response to skip the normal handling."""
        return False

    def upload_cut(self, request: RequestInfo, size: int | None) -> int | None:
        """Bytes of a bucket PUT body after which to drop the connection (None: no cut)."""
        return None

    def after(self, request: RequestInfo, status: int, body: Any) -> tuple[int, Any] | None:
        """A changed ``(status, body)`` for the answer, None to keep it; raise DropResponse to lose it."""
        return None

    def download_cut(self, request: RequestInfo, size: int) -> int | None:
        """Bytes of a file download after which to stop sending (None: no cut)."""
        return None
