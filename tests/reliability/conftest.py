"""Fixtures for the reliability tests: the stand-in behind the fault proxy, a real git project with a CodeMeta
file and a small labelled image archive, a CLI runner with short client timeouts and backoff, and helpers
that count drafts and records on the stand-in (the ground truth for "no duplicate, nothing lost")."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from tests.conftest import TEST_TOKEN
from tests.helpers.project import GitProject, codemeta_doc, isolate
from tests.reliability.faultproxy import REPORT_ROWS, SLEEPS, FaultProxy

REPOSITORY = "https://github.com/escape2020/ossr-images-reliability-test"

# Short client timeouts and backoff, so that a fault costs a second, not minutes. The client has no env knob
# for these, so the in-process CLI runs get them by wrapping ZenodoClient.__init__.
FAST = {"connect_timeout": 2.0, "read_timeout": 2.0, "transfer_timeout": 2.0}


MAX_RETRY_AFTER = 2.0


def guarded_sleep(seconds: float) -> None:
    """The retry policy's sleep in tests: records the wait asked for, sleeps at most 3 s of it."""
    SLEEPS.append(seconds)
    time.sleep(min(seconds, 3.0))


def fast_retry():  # type: ignore[no-untyped-def]
    from ossr_images.zenodo.client import RetryPolicy

    return RetryPolicy(
        max_attempts=4,
        max_elapsed=20.0,
        backoff_base=0.05,
        backoff_max=0.3,
        max_retry_after=MAX_RETRY_AFTER,
        sleep=guarded_sleep,
    )


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Own cache folder (journal), no CI variables of the machine, fast client timeouts and retries."""
    cache = isolate(tmp_path, monkeypatch)
    monkeypatch.delenv("ZENODO_SANDBOX_TOKEN", raising=False)
    from ossr_images.zenodo import client as client_mod

    original = client_mod.ZenodoClient.__init__

    def fast_init(self, target, **kwargs):  # type: ignore[no-untyped-def]
        for key, value in FAST.items():
            kwargs.setdefault(key, value)
        kwargs.setdefault("retry", fast_retry())
        original(self, target, **kwargs)

    monkeypatch.setattr(client_mod.ZenodoClient, "__init__", fast_init)
    return cache


@dataclass
class Project(GitProject):
    """A git checkout with codemeta.json and an image archive labelled with its HEAD."""

    image_path: Path | None = None
    version: str = "1.0.0"

    def release(self, version: str, payload_size: int = 200_000) -> Path:
        """Commit codemeta.json for `version`, write its image (about `payload_size` bytes); return the image."""
        self.version = version
        doc = codemeta_doc(
            version,
            name="hello-reliability",
            description="A tiny project whose image is published through injected faults.",
            repository=self.repository,
        )
        self.commit_release(doc, version)
        payload = os.urandom(payload_size)  # incompressible: the upload is really that big
        self.image_path = self.write_image(
            self.images / f"hello-{version}.tar",
            version=version,
            tag=f"hello-reliability:{version}",
            files={"app/blob.bin": payload, "app/VERSION": version.encode()},
        )
        return self.image_path

    def release_bytes(self) -> dict[str, bytes]:
        """The files of the current release as they must be on its record: image and codemeta.json."""
        assert self.image_path is not None
        return {
            self.image_path.name: self.image_path.read_bytes(),
            "codemeta.json": self.codemeta.read_bytes(),
        }

    def publish_args(self, *extra: str) -> list[str]:
        assert self.image_path is not None
        return [
            "publish",
            str(self.image_path),
            "--codemeta",
            str(self.codemeta),
            "--repo",
            str(self.path),
            "--yes",
            *extra,
        ]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project.create(tmp_path, REPOSITORY)
    proj.release("1.0.0")
    return proj


@pytest.fixture
def proxy(standin):
    with FaultProxy(standin.api_url) as p:
        yield p


@pytest.fixture
def env(proxy, monkeypatch: pytest.MonkeyPatch):
    """The CLI pointed at the proxy (in front of the stand-in) with the test token."""
    monkeypatch.setenv("OSSR_IMAGES_ZENODO_URL", proxy.api_url)
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    return proxy


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None
    args: list[str] = field(default_factory=list)

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)

    def explain(self) -> str:
        return f"args={self.args}\nexit={self.exit_code}\nstdout={self.stdout[-3000:]}\nstderr={self.stderr[-3000:]}"


def run_cli(*args: str, json_out: bool = False) -> Run:
    """Run the real CLI in-process (click's runner), stdout and stderr kept apart."""
    from ossr_images.cli import main

    argv = list(args)
    if json_out:
        argv.append("--json")
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 always keeps them apart
        runner = CliRunner()
    result = runner.invoke(main, argv, catch_exceptions=True)
    exc = result.exception if not isinstance(result.exception, SystemExit) else None
    return Run(result.exit_code, result.stdout, result.stderr, exc, argv)


def depositions(standin) -> list[dict]:
    """Every deposition (drafts and published, all versions) the test token owns, read from the stand-in."""
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    out: list[dict] = []
    page = 1
    while True:
        resp = requests.get(
            standin.api_url + "/deposit/depositions",
            params={"page": page, "size": 100, "all_versions": "true"},
            headers=headers,
            timeout=10,
        )
        resp.raise_for_status()
        batch = resp.json()
        out += batch
        if len(batch) < 100:
            return out
        page += 1


def published(standin) -> list[dict]:
    return [d for d in depositions(standin) if d.get("submitted") or d.get("state") == "done"]


def drafts(standin) -> list[dict]:
    return [d for d in depositions(standin) if not (d.get("submitted") or d.get("state") == "done")]


def lost_local(folder: Path, expected_md5: dict[str, str]) -> int:
    """Measured data loss after a fetch: the record's files missing from `folder` or not byte for byte."""
    lost = 0
    for key, md5 in expected_md5.items():
        path = folder / key
        if not path.is_file() or hashlib.md5(path.read_bytes()).hexdigest() != md5:  # noqa: S324
            lost += 1
    return lost


def lost_remote(standin, record_id: str | int, local: dict[str, bytes]) -> int:
    """Measured data loss after a publish: the release's files (name -> local bytes) that the published
    record `record_id` does not serve back byte for byte."""
    lost = 0
    for name, data in local.items():
        url = f"{standin.api_url}/records/{record_id}/files/{name}/content"
        resp = requests.get(url, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=10)
        if resp.status_code != 200 or hashlib.sha256(resp.content).digest() != hashlib.sha256(data).digest():
            lost += 1
    return lost


REPORT_ENV = "OSSR_RELIABILITY_REPORT"


def report(**row: object) -> None:
    """Record one result row for the summary table printed at the end of the run (and append it as a JSON
    line to $OSSR_RELIABILITY_REPORT when set)."""
    REPORT_ROWS.append(row)
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def assert_clean_failure(run: Run, allowed: tuple[int, ...] = (3, 4)) -> None:
    """A stop is clean: an allowed exit status, no traceback, one 'Error:' line and one 'Hint:' line."""
    assert run.exception is None, f"an exception escaped: {run.exception!r}\n{run.explain()}"
    assert run.exit_code in allowed, run.explain()
    lines = run.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    hints = [line for line in lines if line.startswith("Hint: ")]
    assert len(errors) == 1 and len(hints) == 1, run.explain()
    assert "Traceback" not in run.stderr, run.explain()


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """The issue's table: per command and fault, steps tried, runs that completed at once, re-runs needed,
    data lost (measured: files not byte for byte where they belong; the tests fail on any loss)."""
    if not REPORT_ROWS:
        return
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for row in REPORT_ROWS:
        groups.setdefault((str(row["command"]), str(row["fault"])), []).append(row)
    tr = terminalreporter
    tr.section("reliability: faults tried x steps")
    tr.write_line(
        f"{'command':<20} {'fault':<26} {'steps':>5} {'completed':>9} {'re-runs':>7} {'lost':>4}  steps"
    )
    totals = [0, 0, 0, 0]
    for (command, fault), rows in sorted(groups.items()):
        done = sum(1 for r in rows if r["completed_first"])
        reruns = sum(int(r["reruns"]) for r in rows)  # type: ignore[call-overload]
        lost = sum(int(r["data_lost"]) for r in rows)  # type: ignore[call-overload]
        steps = ", ".join(str(r["step"]) for r in rows)
        tr.write_line(f"{command:<20} {fault:<26} {len(rows):>5} {done:>9} {reruns:>7} {lost:>4}  {steps}")
        totals = [totals[0] + len(rows), totals[1] + done, totals[2] + reruns, totals[3] + lost]
    tr.write_line(f"{'total':<47} {totals[0]:>5} {totals[1]:>9} {totals[2]:>7} {totals[3]:>4}")
