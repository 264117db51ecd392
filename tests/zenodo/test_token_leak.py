"""The token never shows: every log line (DEBUG, client, server, urllib3), exception message, hint, details and
repr of a full run, failures included, is scanned for it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from tests.helpers.logs import LineCollector, collecting

from ossr_images.standin.faults import Faults
from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.errors import ZenodoError, ZenodoIntegrityError
from ossr_images.zenodo.target import Target

from .conftest import METADATA, TOKEN, fast_retry


@pytest.fixture
def collected():
    with collecting(LineCollector(), "ossr_images", "urllib3") as handler:
        yield handler


def test_token_never_leaks(standin, collected: LineCollector, tmp_path: Path) -> None:
    texts: list[str] = []

    def record_error(exc: Exception) -> None:
        texts.extend([str(exc), repr(exc), getattr(exc, "hint", ""), json.dumps(exc.to_dict(), default=str)])

    client = ZenodoClient(Target("custom", standin.api_url, TOKEN, "10.5072"), retry=fast_retry())
    texts += [repr(client), repr(client.target), str(client.target)]
    dep = client.create_deposition(METADATA)
    up = client.upload_file(dep["links"]["bucket"], "image.tar", io.BytesIO(b"x" * 5000), 5000)
    pub = client.publish(dep["id"])
    rec = client.get_record(pub["conceptrecid"])
    client.download_file(rec["files"][0]["links"]["self"], tmp_path / "image.tar", size=up.size, md5=up.md5)
    list(client.search_records("image"))
    list(client.list_depositions())
    draft = client.new_version(pub["id"])
    texts.append(json.dumps([dep, pub, rec, draft]))

    # failures: 400, 404, 403 (wrong token), 401 (none), integrity, network
    for call in (
        lambda: client.publish(client.create_deposition({"title": "x"})["id"]),
        lambda: client.get_record(424242),
        lambda: client.update_deposition(pub["id"], METADATA),
    ):
        with pytest.raises(ZenodoError) as info:
            call()
        record_error(info.value)

    class WrongMd5(Faults):
        def after(self, request, status, body):
            return (
                (status, {**body, "checksum": "md5:" + "f" * 32}) if request.route == "bucket_put" else None
            )

    standin.faults = WrongMd5()
    with pytest.raises(ZenodoIntegrityError) as integrity:
        client.upload_file(draft["links"]["bucket"], "again.tar", io.BytesIO(b"y"), 1)
    record_error(integrity.value)
    standin.faults = Faults()

    for token in (TOKEN + "-wrong", None):
        other = ZenodoClient(Target("custom", standin.api_url, token, None), retry=fast_retry())
        with pytest.raises(ZenodoError) as info:
            other.get_deposition(dep["id"])
        record_error(info.value)

    gone = ZenodoClient(Target("custom", "http://127.0.0.1:9/api", TOKEN, None), retry=fast_retry())
    with pytest.raises(ZenodoError) as info:
        gone.get_record(1)
    record_error(info.value)

    assert collected.lines, "nothing was logged: the scan would prove nothing"
    assert any("Bearer ***" in line for line in collected.lines)  # DEBUG shows headers, redacted
    assert any("/api/deposit/depositions" in line for line in collected.lines)
    everything = "\n".join(collected.lines + texts)
    assert TOKEN not in everything
