"""`ossr-images fetch` through injected faults at every request it makes, driving the real CLI against the
stand-in behind the fault proxy.

For each (fault, step): the first run completes or stops cleanly (exit 3/4, one Error line, one Hint line);
at no moment is a file under its final name different from the record's bytes (corrupt or partial bytes
only ever live in ``<key>.part``); a re-run completes with every file verified."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tests.helpers.faults import FETCH_STEPS, Fault, fault_cases, inject
from tests.reliability.conftest import Project, assert_clean_failure, lost_local, report, run_cli
from tests.reliability.faultproxy import FaultProxy

DOWNLOADS = ("get-metadata-file", "get-image", "get-codemeta")
FAULTS = [
    Fault("503-once", tuple(FETCH_STEPS)),
    Fault("reset-before", tuple(FETCH_STEPS)),
    Fault("429-retry-after", tuple(FETCH_STEPS)),
    Fault("500-once", ("resolve", "get-image")),
    Fault("slow-answer", ("resolve", "get-image")),
    Fault("502-exhausting", ("resolve", "get-image")),
    Fault("cut-mid-file", DOWNLOADS),
    Fault("cut-every-time", ("get-image",)),
    Fault("corrupt-bytes", DOWNLOADS),
]


@pytest.fixture
def record(env: FaultProxy, project: Project) -> dict:
    run = run_cli(*project.publish_args(), json_out=True)
    assert run.exit_code == 0, run.explain()
    env.log.clear()
    return run.json


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324


def corrupt_final_files(folder: Path, record: dict) -> list[str]:
    """Files under their final name whose bytes are not the record's (must always be empty)."""
    expected = {f["key"]: f["md5"] for f in record["files"]}
    bad = []
    if not folder.exists():
        return bad
    for path in folder.iterdir():
        if path.name.endswith(".part") or path.name.startswith(".") or not path.is_file():
            continue
        if path.name not in expected or _md5(path) != expected[path.name]:
            bad.append(path.name)
    return bad


@pytest.mark.parametrize("fault,step", fault_cases(FAULTS))
def test_fetch_survives(fault: Fault, step: str, env: FaultProxy, record: dict, tmp_path: Path) -> None:
    inject(env, fault.name, FETCH_STEPS[step])
    out = tmp_path / "fetched"
    args = ["fetch", record["doi"], "-d", str(out)]

    first = run_cli(*args, json_out=True)
    assert env.faults_acted() >= 1, f"the fault {fault.name}@{step} never acted:\n{first.explain()}"
    assert corrupt_final_files(out, record) == [], first.explain()
    reruns = 0
    final = first
    if first.exit_code != 0:
        assert_clean_failure(first)
        if fault.name == "corrupt-bytes":
            assert first.exit_code == 3, first.explain()
        env.clear()
        final = run_cli(*args, json_out=True)
        reruns = 1
        assert corrupt_final_files(out, record) == [], final.explain()
    lost = lost_local(out, {f["key"]: f["md5"] for f in record["files"]})
    assert final.exit_code == 0, final.explain()
    files = {f["key"]: f for f in final.json["files"]}
    assert set(files) == {f["key"] for f in record["files"]}
    assert all(f["verified"] for f in files.values()), files
    for f in record["files"]:
        assert _md5(out / f["key"]) == f["md5"]
    assert not list(out.glob("*.part")), list(out.iterdir())
    report(
        command="fetch",
        fault=fault.name,
        step=step,
        first_exit=first.exit_code,
        completed_first=first.exit_code == 0,
        reruns=reruns,
        data_lost=lost,
    )
    assert lost == 0


def test_big_download_cut_twice_is_resumed_with_range(
    env: FaultProxy, project: Project, tmp_path: Path
) -> None:
    """A 9 MB image cut at 5 MB and again 2 MB later: resumed from where it stopped (Range), not from zero.
    (The client writes every byte it has received before it resumes, so nothing is fetched twice.)"""
    project.release("1.1.0", payload_size=9_000_000)
    published = run_cli(*project.publish_args(), json_out=True)
    assert published.exit_code == 0, published.explain()
    image_path = r"^/api/records/\d+/files/hello-1\.1\.0\.tar/content$"
    env.cut_download(after_bytes=5_000_000, path=image_path)
    env.cut_download(after_bytes=2_000_000, path=image_path)
    out = tmp_path / "big"
    run = run_cli("fetch", published.json["doi"], "-d", str(out), json_out=True)
    assert run.exit_code == 0, run.explain()
    gets = env.requests("GET", image_path)
    ranges = [e.headers.get("range") for e in gets]
    assert len(gets) == 3 and ranges[0] is None, ranges
    starts = [int(r.removeprefix("bytes=").split("-")[0]) for r in ranges[1:]]
    assert starts == [5_000_000, 7_000_000], ranges
    assert _md5(out / project.image_path.name) == _md5(project.image_path)
    assert corrupt_final_files(out, published.json) == []


@pytest.mark.parametrize("header", ["Retry-After", "X-RateLimit-Reset"])
def test_download_rate_limit_wait_is_bounded(
    header: str, env: FaultProxy, record: dict, tmp_path: Path
) -> None:
    import time as _time

    from tests.reliability.conftest import MAX_RETRY_AFTER
    from tests.reliability.faultproxy import SLEEPS

    value = "3600" if header == "Retry-After" else str(int(_time.time()) + 3600)
    env.status(429, "GET", FETCH_STEPS["get-image"][1], headers={header: value})
    SLEEPS.clear()
    run = run_cli("fetch", record["doi"], "-d", str(tmp_path / "out"), json_out=True)
    assert max(SLEEPS, default=0.0) <= MAX_RETRY_AFTER + 0.01, f"asked to wait {max(SLEEPS)} s"
    if run.exit_code != 0:
        assert_clean_failure(run, (4,))
