"""The stand-in's socket-free body helpers (`standin.bodies`) on in-memory streams."""

from __future__ import annotations

import hashlib
import io
from email.message import Message
from pathlib import Path

import pytest

from ossr_images.standin.bodies import Body, parse_range, receive_to_file
from ossr_images.standin.faults import DropResponse
from ossr_images.standin.store import ApiError


def _body(raw: bytes, **headers: str) -> Body:
    msg = Message()
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return Body(io.BytesIO(raw), msg)


def test_json_bodies() -> None:
    assert _body(b'{"a": 1}', Content_Type="application/json", Content_Length="8").json() == {"a": 1}
    assert _body(b"", Content_Length="0").json() is None
    with pytest.raises(ApiError) as wrong_type:
        _body(b'{"a": 1}', Content_Type="text/plain", Content_Length="8").json()
    assert wrong_type.value.status == 415
    with pytest.raises(ApiError) as broken:
        _body(b"{nope", Content_Type="application/json", Content_Length="5").json()
    assert broken.value.status == 400
    chunked = _body(
        b'4\r\n{"a"\r\n4\r\n: 2}\r\n0\r\n\r\n', Content_Type="application/json", Transfer_Encoding="chunked"
    )
    assert chunked.json() == {"a": 2} and chunked.done


def test_finish_drains_small_bodies_and_closes_for_others() -> None:
    small = _body(b"x" * 100, Content_Length="100")
    assert small.finish() is False and small.rfile.read() == b""
    assert _body(b"", Transfer_Encoding="chunked").finish() is True
    assert _body(b"x" * 10, Content_Length="100").finish() is True  # cut: the connection cannot be reused


def test_receive_to_file_hashes_and_cuts(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    body = _body(data, Content_Length=str(len(data)))
    size, md5 = receive_to_file(body.fixed(len(data)), tmp_path / "a.part", None)
    assert (size, md5) == (len(data), hashlib.md5(data).hexdigest())  # noqa: S324
    assert (tmp_path / "a.part").read_bytes() == data
    with pytest.raises(DropResponse):
        receive_to_file(_body(data).fixed(len(data)), tmp_path / "b.part", 1000)
    assert (tmp_path / "b.part").read_bytes() == data[:1000]


@pytest.mark.parametrize(
    "header,expected",
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=90-", (90, 99)),
        ("bytes=-5", (95, 99)),
        ("bytes=100-", None),
        ("items=0-1", None),
    ],
)
def test_parse_range(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected
