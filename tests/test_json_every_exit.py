"""Issue 12, claim 2: with --json, every exit status prints exactly one JSON document on stdout, with "ok",
"exit_status" and, on failure, "error": {"message", "hint", ...}. Each status is produced for real through the
installed console script: 0, 1, 2 (usage), 3, 4, 130 (SIGINT to a running fetch) and an unexpected
exception."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from tests.conftest import TEST_TOKEN
from tests.fetch.records import image_files, make_client, publish_record
from tests.helpers.console import Ran, run_console, start_console
from tests.helpers.standin_faults import HeldDownload, NoChecksum

DATA = Path(__file__).parent / "data"


def _check(r: Ran, status: int) -> dict:
    assert r.returncode == status, r.explain()
    doc = r.json()  # exactly one document: json.loads refuses anything before or after it
    assert isinstance(doc, dict), r.explain()
    assert doc["ok"] is (status == 0) and doc["exit_status"] == status, r.explain()
    if status == 0:
        assert "error" not in doc
    else:
        error = doc["error"]
        assert error["message"] and error["hint"] and error["type"], r.explain()
        assert "Traceback" not in r.stderr, r.explain()
    return doc


@pytest.fixture
def record(standin, tmp_path: Path) -> dict:
    with make_client(standin.api_url, TEST_TOKEN) as client:
        return publish_record(client, image_files(tmp_path / "src"))


def _env(standin) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"OSSR_IMAGES_ZENODO_URL": standin.api_url, "ZENODO_TOKEN": TEST_TOKEN}


def test_0_success(tmp_path: Path) -> None:
    doc = _check(run_console("inspect", str(DATA / "hello.sif"), "--json"), 0)
    assert doc["format"] == "sif"


def test_0_help_with_json_keeps_stdout_for_the_document() -> None:
    r = run_console("fetch", "--help", "--json")
    _check(r, 0)
    assert "Usage:" in r.stderr


def test_1_invalid_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not an archive" * 100)
    doc = _check(run_console("inspect", str(bad), "--json"), 1)
    assert doc["error"]["type"] == "InvalidInputError"


@pytest.mark.parametrize(
    "args",
    [
        ["fetch", "--json"],
        ["fetch", "1", "--no-such-option", "--json"],
        ["fetch", "1", "--only", "x", "--json"],
    ],
    ids=["missing-argument", "unknown-option", "bad-choice"],
)
def test_2_usage_error(args: list[str]) -> None:
    doc = _check(run_console(*args), 2)
    assert doc["error"]["type"] == "UsageError" and "--help" in doc["error"]["hint"]


def test_3_integrity(standin, record: dict, tmp_path: Path) -> None:
    standin.faults = NoChecksum()
    doc = _check(
        run_console("fetch", str(record.id), "-d", str(tmp_path / "o"), "--json", env=_env(standin)), 3
    )
    assert doc["error"]["type"] == "IntegrityError"


def test_4_remote(standin, tmp_path: Path) -> None:
    doc = _check(run_console("fetch", "999999", "-d", str(tmp_path / "o"), "--json", env=_env(standin)), 4)
    assert "999999" in doc["error"]["message"]


def test_130_interrupted_by_sigint(standin, record: dict, tmp_path: Path) -> None:
    """A real fetch process, its image download held by the server, gets SIGINT (what Ctrl-C sends)."""
    held = HeldDownload("example-")
    standin.faults = held
    proc = start_console("fetch", str(record.id), "-d", str(tmp_path / "o"), "--json", env=_env(standin))
    try:
        assert held.arrived.wait(60), "the image download never started"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # pragma: no cover - a hang is the failure
        proc.kill()
        raise
    finally:
        held.release()
    doc = _check(Ran(list(map(str, proc.args)), proc.returncode, stdout, stderr), 130)
    assert doc["error"]["type"] == "Interrupted"


def test_unexpected_exception(tmp_path: Path) -> None:
    """A bug (here: inspect_image raising a RuntimeError, planted through sitecustomize in the real
    process) still ends with one JSON document, exit status 1 and no traceback."""
    plant = tmp_path / "plant"
    plant.mkdir()
    (plant / "sitecustomize.py").write_text(
        "import ossr_images.images.inspect as m\n"
        "def broken(*a, **k):\n"
        "    raise RuntimeError('planted bug')\n"
        "m.inspect_image = broken\n"
    )
    r = run_console("inspect", str(DATA / "hello.sif"), "--json", env={"PYTHONPATH": str(plant)})
    doc = _check(r, 1)
    assert doc["error"]["type"] == "InternalError" and "planted bug" in doc["error"]["message"]
    assert "-vv" in doc["error"]["hint"]
