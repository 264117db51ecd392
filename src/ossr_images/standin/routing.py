"""What a route of the stand-in sees and returns: the request context, the replies, and the route type.

A route is a plain function ``(Request) -> Reply | FileReply | HtmlReply``; errors are raised as `ApiError`.
The handler (`standin.handler`) owns the socket: it builds the `Request`, calls the route found in
`standin.routes.ROUTES`, and writes the reply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from ossr_images.standin.bodies import Body
from ossr_images.standin.faults import RequestInfo
from ossr_images.standin.store import ApiError, Store

UNAUTHORIZED = (
    "The server could not verify that you are authorized to access the URL requested. You either supplied the "
    "wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials "
    "required."
)
INTERNAL = (
    "The server encountered an internal error and was unable to complete your request. Either the server is "
    "overloaded or there is an error in the application."
)
URL_NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually please check your spelling "
    "and try again."
)
MISSING_FIELD = "Missing data for required field."


@dataclass
class Reply:
    """A JSON answer (``body`` None: no body, as for 204)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FileReply:
    """A stored file, served with Range and sendfile."""

    entry: dict[str, Any]
    blob: Path


@dataclass
class HtmlReply:
    """A minimal web page."""

    status: int
    title: str
    body: str


def redirect(location: str, status: int = 302) -> Reply:
    """A redirect answer with a small JSON body."""
    return Reply(
        status, {"status": status, "message": "Redirecting", "location": location}, {"Location": location}
    )


@dataclass
class Request:
    """One request as a route sees it: the matched path arguments, query parameters (without
    ``access_token``), headers, the token (header or query), the body reader and the serving app."""

    method: str
    path: str
    args: dict[str, str]
    params: dict[str, str]
    headers: Message
    token: str | None
    base: str  # e.g. http://127.0.0.1:8765, from the Host header
    app: Any  # the LocalZenodo serving
    body: Body
    info: RequestInfo
    close_connection: bool = False  # set by a route that answers before reading a body it cannot drain

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def api(self) -> str:
        return f"{self.base}/api"

    def authenticated(self) -> bool:
        """True if the request carries a valid token."""
        return self.token is not None and self.app.valid_token(self.token)

    def owner(self) -> int:
        """The owner id for the request's token; 401 without a token, 403 for a token that is not valid."""
        if self.token is None:
            raise ApiError(401, UNAUTHORIZED)
        user = self.app.user_of(self.token)
        if user is None:
            raise ApiError(403, "Permission denied.")
        return int(user)

    def user(self) -> int | None:
        """The user of a valid token, else None (anonymous: routes open to anyone decide themselves)."""
        return self.app.user_of(self.token) if self.token is not None else None


Answer = Reply | FileReply | HtmlReply
RouteFunction = Callable[[Request], Answer]


@dataclass(frozen=True)
class Route:
    """One line of the route table; ``name`` is what fault hooks see as ``RequestInfo.route``."""

    method: str
    pattern: re.Pattern[str]
    function: RouteFunction

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def is_legacy(self) -> bool:
        """A route of the legacy deposit or files (bucket) API, absent on a plain InvenioRDM instance."""
        return self.function.__module__.endswith(".deposit_routes")


def find(routes: list[Route], method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
    """The route for ``method`` and ``path`` with its path arguments, and the methods other routes of the
    same path allow (for a 405)."""
    allowed: list[str] = []
    for route in routes:
        found = route.pattern.match(path)
        if found:
            if route.method == method:
                return route, found.groupdict(), allowed
            allowed.append(route.method)
    return None, {}, allowed
