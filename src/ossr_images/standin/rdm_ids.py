"""Record ids as a plain InvenioRDM instance shows them (``"4d0ns-ntd89"``), at the edges of the stand-in.

The store keys depositions and concepts by integers (Zenodo's recids). On the ``rdm`` surface every id in a
JSON body, link, DOI and HTML page is shown as invenio's ``xxxxx-xxxxx`` (RR ``RDM_RECORDS_PERSISTENT_IDS``:
base32-lib ``generate(length=10, split_every=5, checksum=True)``, Crockford's alphabet in lower case, the last
two characters a mod-97 checksum) and every route argument is read back. Here the id is not random but
derived from the integer, reversibly: the integer is scrambled by an odd multiplier modulo 2**40 (so ids of
consecutive records look unrelated and do not sort in creation order, as on a real instance), then the
checksum digits are appended (``n * 100 + 98 - n * 100 % 97``, as base32-lib does), and the value is written in
10 base32 characters. A text that does not decode (shape, alphabet or checksum) is no record:
"The persistent identifier does not exist." (404), as InvenioRDM answers.
"""

from __future__ import annotations

import re
from typing import Any

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case (no i, l, o, u)
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_SHAPE = re.compile(r"^[0-9a-z]{5}-[0-9a-z]{5}$")
_BITS = 40
_MOD = 1 << _BITS
_MULT = 0x9E3779B97F & (_MOD - 1) | 1  # odd: a bijection modulo 2**40
_INVERSE = pow(_MULT, -1, _MOD)
_OFFSET = 0x5DEECE66D
NOT_FOUND = "The persistent identifier does not exist."
RECORD_ROUTE = re.compile(r"^\^/(?:api/)?records?/")  # route patterns whose ``id`` is a record id


def _checksum(number: int) -> int:
    return 98 - (number * 100) % 97


def encode(number: int) -> str:
    """The plain-instance id of a store integer: ``xxxxx-xxxxx``."""
    if not 0 <= number < _MOD:
        raise ValueError(f"record number out of range: {number}")
    mixed = (number * _MULT + _OFFSET) % _MOD
    value = mixed * 100 + _checksum(mixed)
    chars = []
    for _ in range(10):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    text = "".join(reversed(chars))
    return f"{text[:5]}-{text[5:]}"


def decode(text: str) -> int | None:
    """The store integer of a plain-instance id, or None when ``text`` is not one (shape, checksum)."""
    text = text.strip().lower()
    if not _SHAPE.match(text):
        return None
    value = 0
    for c in text.replace("-", ""):
        if c not in _VALUE:
            return None
        value = value * 32 + _VALUE[c]
    mixed, check = divmod(value, 100)
    if mixed >= _MOD or check != _checksum(mixed):
        return None
    return (mixed - _OFFSET) * _INVERSE % _MOD


def shown(store: Any, rec_id: Any) -> str:
    """An id of the store as the server shows it: ``xxxxx-xxxxx`` on a plain instance, digits on Zenodo."""
    if getattr(store, "plain_ids", False):
        return encode(int(rec_id))
    return str(rec_id)


def internal(text: str) -> str | None:
    """The store key of a plain-instance id given in a path, None when it is none."""
    number = decode(text)
    return None if number is None else str(number)


def route_args(pattern: str, args: dict[str, str]) -> dict[str, str] | None:
    """The arguments of a record route (``/api/records/<id>…``, ``/records/<id>…``) with the plain id read
    back as the store's key (None when it does not decode: answer 404 `NOT_FOUND`); other routes' arguments
    as they are."""
    if "id" not in args or not RECORD_ROUTE.match(pattern):
        return args
    key = internal(args["id"])
    return None if key is None else {**args, "id": key}
