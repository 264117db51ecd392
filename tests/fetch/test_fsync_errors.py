"""Issue 12, claim 4 (client side): an error while making a downloaded file durable (fsync) is a failure: the
`.part` stays, the final name is not written, and the error names the file.

A disk that fails fsync cannot be made on demand, so the real `ossr-images` process gets an `os.fsync` that
raises EIO for the image's `.part` (planted with sitecustomize); everything else is real: the stand-in over
HTTP, the download, the rename logic, the CLI's error boundary."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TEST_TOKEN
from tests.fetch.records import image_files, make_client, publish_record
from tests.helpers.console import run_console

PLANT = """
import errno, os
_real_fsync = os.fsync
def _failing_fsync(fd):
    try:
        name = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        name = ""
    if name.endswith(".part") and "example-" in os.path.basename(name):
        raise OSError(errno.EIO, "Input/output error")
    return _real_fsync(fd)
os.fsync = _failing_fsync
"""


def test_fsync_error_keeps_the_part_and_names_it(standin, tmp_path: Path) -> None:
    files = image_files(tmp_path / "src")
    image = next(k for k in files if k.startswith("example-"))
    with make_client(standin.api_url, TEST_TOKEN) as client:
        record = publish_record(client, files)
    plant = tmp_path / "plant"
    plant.mkdir()
    (plant / "sitecustomize.py").write_text(PLANT)
    out = tmp_path / "out"
    env = {"OSSR_IMAGES_ZENODO_URL": standin.api_url, "ZENODO_TOKEN": TEST_TOKEN, "PYTHONPATH": str(plant)}
    r = run_console("fetch", str(record.id), "-d", str(out), "--json", env=env)
    assert r.returncode == 1, r.explain()
    part = out / f"{image}.part"
    doc = r.json()
    assert str(part) in doc["error"]["message"] and "Input/output error" in doc["error"]["message"]
    assert part.is_file(), "the .part must stay (the next run checks and resumes it)"
    assert not (out / image).exists(), "a file whose fsync failed was given its final name"
    assert "Traceback" not in r.stderr

    # the next run, on a healthy disk, finishes from the part and verifies the file
    env.pop("PYTHONPATH")
    again = run_console("fetch", str(record.id), "-d", str(out), "--json", env=env)
    assert again.returncode == 0, again.explain()
    assert (out / image).read_bytes() == Path(files[image]).read_bytes() and not part.exists()
