"""Credentials out of everything shown: a URL's user:password and token-like query parameters are replaced
by ``***`` before a URL or a text holding URLs is printed, logged, put in an error or a JSON document."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_PARAMS = frozenset({"access_token", "token", "api_key", "apikey"})
MASK = "***"

# scheme://<userinfo>@ : everything between "//" and the last "@" of the authority
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s'\"<>]*@")
_SECRET_QUERY = re.compile(r"(?i)([?&;](?:access_token|token|api_key|apikey)=)[^&#\s'\"<>]*")


def has_userinfo(url: str) -> bool:
    """True when the URL's authority holds a user name or password (``https://user:pw@host/``)."""
    try:
        netloc = urlsplit(url.strip()).netloc
    except ValueError:
        netloc = ""
    return "@" in netloc or bool(_USERINFO.search(url))


def redact_url(url: str | None) -> str | None:
    """The URL with its userinfo and any token-like query parameter replaced by ``***``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(query, True)]
        query = urlencode(pairs, safe="*:/")
    if netloc == parts.netloc and query == parts.query:
        return redact_text(url)  # nothing the parser sees, but a URL nested in the text may hold some
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str) -> str:
    """Free text (a message, a log line) with the userinfo and token parameters of every URL in it masked."""
    if "@" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, text)


def redact_document(doc: Any) -> Any:
    """A JSON-like document with :func:`redact_text` applied to every string in it (keys too)."""
    if isinstance(doc, str):
        return redact_text(doc)
    if isinstance(doc, dict):
        return {redact_document(k): redact_document(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [redact_document(v) for v in doc]
    return doc
