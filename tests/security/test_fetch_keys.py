"""File keys of a record become file names: a property test of the fetch key check (hypothesis), and a lone
surrogate (valid in JSON, not encodable as a file name) through the real CLI."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.reliability.conftest import Project, assert_clean_failure, run_cli
from tests.reliability.faultproxy import FaultProxy
from tests.security.test_hostile_server import RECORD, _edit_image_entry, _set_key

from ossr_images.errors import OssrError

_tricky = st.sampled_from(
    [
        "..",
        ".",
        "/",
        "\\",
        "\x00",
        ":",
        "C:",
        "~",
        "$HOME",
        "%2e%2e",
        "\u2215",
        "\uff0f",
        "\u202e",
        " ",
        "\t",
    ]
)
keys = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(_tricky, st.text(max_size=5)), max_size=8).map("".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys)
@example("\u2215etc\u2215passwd")
@example("CON.tar")
@example("x" * 250)
def test_an_accepted_key_is_a_plain_file_name_inside_the_folder(key: str) -> None:
    from ossr_images.workflows.fetch_records import check_file_keys, unsafe_key_reason

    try:
        reason = unsafe_key_reason(key)
    except OssrError:
        return
    if reason is not None:
        with pytest.raises(OssrError):
            check_file_keys([key])
        return
    check_file_keys([key])
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "dest"
        base.mkdir()
        target = base / key
        assert os.path.normpath(target).startswith(str(base) + os.sep)
        assert target.parent == base
        target.write_bytes(b"x")  # the name really works as a file name, in that folder
        assert os.listdir(base) == [key]
        assert sorted(os.listdir(folder)) == ["dest"]


# a lone surrogate (valid JSON '\\ud800') used to escape as UnicodeEncodeError; fixed in fetch_records.py


@pytest.mark.parametrize("key", ["\ud800.tar", "a\udcff"])
def test_lone_surrogate_key_is_refused(key: str) -> None:
    from ossr_images.workflows.fetch_records import check_file_keys

    with pytest.raises(OssrError):
        check_file_keys([key])


def test_lone_surrogate_key_through_the_cli(env: FaultProxy, project: Project, tmp_path: Path) -> None:
    published = run_cli(*project.publish_args(), json_out=True)
    assert published.exit_code == 0, published.explain()
    surrogate = json.loads('"\\ud800.tar"')
    env.rewrite(_edit_image_entry(_set_key(surrogate)), "GET", RECORD, count=10)
    r = run_cli("fetch", published.json["doi"], "-d", str(tmp_path / "out"), json_out=True)
    assert_clean_failure(r, (3,))
