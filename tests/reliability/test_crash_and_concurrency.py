"""Runs that die (SIGKILL at each step of publish), two or more publish runs of one release at once, and
many fetches of one record into one folder at once. Real subprocesses (`python -m ossr_images`) against the
stand-in behind the fault proxy; the ground truth is read from the stand-in."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import TEST_TOKEN
from tests.reliability.conftest import Project, depositions, report, run_cli
from tests.reliability.faultproxy import FaultProxy, LogEntry
from tests.reliability.test_publish_faults import STEPS, check_one_good_record


def _env(proxy: FaultProxy, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI_"))}
    env.pop("CI", None)
    env.update(
        {
            "OSSR_IMAGES_ZENODO_URL": proxy.api_url,
            "ZENODO_TOKEN": TEST_TOKEN,
            "OSSR_IMAGES_CACHE_DIR": str(cache),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ossr_images", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(proxy: FaultProxy, predicate: Callable[[LogEntry], bool], timeout: float = 60.0) -> LogEntry:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in list(proxy.log):
            if predicate(entry):
                return entry
        time.sleep(0.05)
    raise AssertionError(f"the awaited request never came: {[(e.method, e.path) for e in proxy.log]}")


# (name, step whose request is held, how it is held): the process is killed while the request is held
CRASHES = [
    ("after-create", "create", "after"),
    ("mid-upload-image", "upload-image", "stall"),
    ("after-image-uploaded", "upload-codemeta", "after"),
    ("after-all-uploads", "upload-metadata-file", "after"),
    ("after-set-metadata", "set-metadata", "after"),
    ("after-publish-done", "publish", "after"),
    ("during-read-back", "read-back", "after"),
]


@pytest.mark.parametrize("name,step,hold", CRASHES, ids=[c[0] for c in CRASHES])
def test_publish_killed_at_each_step_then_rerun(
    name: str, step: str, hold: str, env: FaultProxy, standin, project: Project, _isolated: Path
) -> None:
    method, path, skip = STEPS[step]
    if hold == "stall":
        env.stall_upload(after_bytes=100_000, seconds=20, method=method, path=path)
    else:
        env.delay(20, method, path, skip=skip)
    proc = _spawn(project.publish_args("--json"), _env(env, _isolated))
    try:
        import re

        def held(e: LogEntry) -> bool:
            if e.method != method or not re.search(path, e.path):
                return False
            if hold == "stall":
                return e.upstream_status == 0
            return e.upstream_status is not None  # forwarded: the server did it

        _wait_for(env, held)
        time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    env.clear()
    rerun = run_cli(*project.publish_args(), json_out=True)
    assert rerun.exit_code == 0, rerun.explain()
    assert rerun.json["state"] == "published"
    check_one_good_record(standin, project)
    report(
        command="publish",
        fault="SIGKILL",
        step=name,
        first_exit=-9,
        completed_first=False,
        reruns=1,
        data_lost=0,
    )


def test_concurrent_publish_runs_of_one_release(
    env: FaultProxy, standin, project: Project, _isolated: Path
) -> None:
    """Four runs of one release started at once on one machine: one record; every other run either reports
    that record (exit 0) or says why it stopped (one Error and one Hint line)."""
    env.delay(0.8, "PUT", STEPS["upload-image"][1], count=10)  # keep the first run busy
    procs = [_spawn(project.publish_args("--json"), _env(env, _isolated)) for _ in range(4)]
    outs = [p.communicate(timeout=180) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes.count(0) >= 1, list(zip(codes, [o[1] for o in outs], strict=True))
    for code, (_out, err) in zip(codes, outs, strict=True):
        if code != 0:
            lines = err.splitlines()
            assert sum(line.startswith("Error: ") for line in lines) == 1, err
            assert sum(line.startswith("Hint: ") for line in lines) == 1, err
            assert "Traceback" not in err
    check_one_good_record(standin, project)
    env.clear()
    again = run_cli(*project.publish_args(), json_out=True)
    assert again.exit_code == 0 and "already published" in again.stderr.lower(), again.explain()
    assert len(depositions(standin)) == 1


@pytest.mark.xfail(
    strict=False,
    reason="KNOWN LIMITATION (publish): the lock is per machine; two machines racing on one release can both "
    "create a deposition (seen: two published records, or one run failing on the draft the other deleted)",
)
def test_concurrent_publish_from_two_machines(
    env: FaultProxy, standin, project: Project, tmp_path: Path
) -> None:
    """Two CI machines (no shared cache, so no shared lock) publish one release at once. Beyond what the issue
    asks (one machine), but it is what a re-triggered CI pipeline does: the runs may not make two records."""
    env.delay(0.8, "PUT", STEPS["upload-image"][1], count=10)
    procs = [_spawn(project.publish_args("--json"), _env(env, tmp_path / f"machine-{i}")) for i in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    codes = [p.returncode for p in procs]
    deps = depositions(standin)
    published = [d for d in deps if d.get("state") == "done"]
    assert len(published) == 1, (codes, [o[1][-800:] for o in outs])
    assert len(deps) == 1, [(d["id"], d.get("state")) for d in deps]
    assert codes.count(0) >= 1, [o[1][-800:] for o in outs]


def test_many_parallel_fetches_into_one_folder(env: FaultProxy, project: Project, tmp_path: Path) -> None:
    """Six fetches of one record into one folder at once: no corruption; each run succeeds or says why it
    stopped; afterwards one more fetch finds every file identical and keeps it."""
    published = run_cli(*project.publish_args(), json_out=True)
    assert published.exit_code == 0, published.explain()
    record = published.json
    env.delay(0.5, "GET", r"/content$", count=6)  # make the downloads overlap
    out = tmp_path / "shared"
    procs = [
        _spawn(["fetch", record["doi"], "-d", str(out), "--json"], _env(env, tmp_path / f"c{i}"))
        for i in range(6)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes.count(0) >= 1, list(zip(codes, [o[1][-500:] for o in outs], strict=True))
    for code, (_o, err) in zip(codes, outs, strict=True):
        assert code in (0, 1, 3, 4), err
        if code != 0:
            assert sum(line.startswith("Error: ") for line in err.splitlines()) == 1, err
            assert "Traceback" not in err
    expected = {f["key"]: f["md5"] for f in record["files"]}
    for key, md5 in expected.items():
        assert hashlib.md5((out / key).read_bytes()).hexdigest() == md5  # noqa: S324
    leftovers = [p.name for p in out.iterdir() if p.name not in expected and not p.name.startswith(".")]
    assert leftovers == [], leftovers
    env.clear()
    final = run_cli("fetch", record["doi"], "-d", str(out), json_out=True)
    assert final.exit_code == 0, final.explain()
    assert all(f["verified"] for f in final.json["files"])
    report(
        command="fetch",
        fault="6 parallel fetches",
        step="one folder",
        first_exit=0,
        completed_first=True,
        reruns=0,
        data_lost=0,
    )
