"""`ossr-images publish` through injected faults, at every step, driving the real CLI against the stand-in
behind the fault proxy.

For each (fault, step): the first run either completes or stops cleanly (exit 3/4, one Error line, one Hint
line); a re-run with the same arguments completes; then, on the stand-in itself: exactly one deposition
(no duplicate draft or record), published, whose three files are the local bytes (md5 from the record and a
sha256 of the downloaded image), and a third run changes nothing remote."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests
from tests.conftest import TEST_TOKEN
from tests.helpers.faults import PUBLISH_STEPS, Fault, fault_cases, inject
from tests.reliability.conftest import (
    Project,
    assert_clean_failure,
    depositions,
    lost_remote,
    report,
    run_cli,
)
from tests.reliability.faultproxy import FaultProxy

UPLOADS = ("upload-image", "upload-codemeta", "upload-metadata-file")
KEY_STEPS = ("create", "upload-image", "set-metadata", "publish")
FAULTS = [
    Fault("503-once", tuple(PUBLISH_STEPS)),
    Fault("504-after-done", tuple(PUBLISH_STEPS)),
    Fault("reset-after-done", tuple(PUBLISH_STEPS)),
    Fault("reset-before", ("find", "create", "upload-image", "publish")),
    Fault("500-once", KEY_STEPS),
    Fault("429-retry-after", ("find", "create", "upload-image", "publish")),
    Fault("slow-answer", KEY_STEPS),
    Fault("502-exhausting", ("create", "upload-image", "publish")),
    Fault("403-once", ("upload-image", "upload-codemeta")),
    Fault("413-once", ("upload-image",)),
    Fault("upload-reset-midway", UPLOADS),
    Fault("wrong-md5", UPLOADS),
    Fault("bytes-damaged-on-the-way", UPLOADS),
]


def _md5(path) -> str:  # type: ignore[no-untyped-def]
    return hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324


def check_one_good_record(standin, project: Project) -> dict:
    """The ground truth on the stand-in: one deposition, published, holding exactly the local bytes."""
    deps = depositions(standin)
    assert len(deps) == 1, (
        f"expected exactly one deposition, found {[(d['id'], d.get('state')) for d in deps]}"
    )
    dep = deps[0]
    assert dep.get("submitted") is True and dep.get("state") == "done", dep
    files = {f["filename"]: f for f in dep["files"]}
    assert set(files) == {project.image_path.name, "codemeta.json", "ossr-image-metadata.json"}, files
    assert files[project.image_path.name]["checksum"].removeprefix("md5:") == _md5(project.image_path)
    assert files["codemeta.json"]["checksum"].removeprefix("md5:") == _md5(project.codemeta)
    # the bytes themselves, read back from the published record
    url = f"{standin.api_url}/records/{dep['id']}/files/{project.image_path.name}/content"
    resp = requests.get(url, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=10)
    resp.raise_for_status()
    assert (
        hashlib.sha256(resp.content).hexdigest()
        == hashlib.sha256(project.image_path.read_bytes()).hexdigest()
    )
    raw = requests.get(
        f"{standin.api_url}/records/{dep['id']}/files/ossr-image-metadata.json/content", timeout=10
    ).content
    assert hashlib.md5(raw).hexdigest() == files["ossr-image-metadata.json"]["checksum"].removeprefix("md5:")  # noqa: S324
    from ossr_images.metadata.image_record import ImageRecord, validate_image_record

    meta = json.loads(raw)
    assert [p for p in validate_image_record(meta) if p.severity == "error"] == []
    view = ImageRecord.from_bytes(raw)
    assert view.commit == project.commit
    assert (view.sha256 or "").removeprefix("sha256:") == hashlib.sha256(resp.content).hexdigest()
    return dep


@pytest.mark.parametrize("fault,step", fault_cases(FAULTS))
def test_publish_survives(fault: Fault, step: str, env: FaultProxy, standin, project: Project) -> None:
    inject(env, fault.name, PUBLISH_STEPS[step])

    first = run_cli(*project.publish_args(), json_out=True)
    assert env.faults_acted() >= 1, f"the fault {fault.name}@{step} never acted:\n{first.explain()}"
    reruns = 0
    final = first
    if first.exit_code != 0:
        assert_clean_failure(first)
        assert first.json.get("exit_status") == first.exit_code  # --json: the error as one document
        env.clear()
        final = run_cli(*project.publish_args(), json_out=True)
        reruns = 1
    assert final.exit_code == 0, final.explain()
    assert final.exception is None
    doc = final.json
    lost = lost_remote(standin, doc["record_id"], project.release_bytes())
    assert doc["state"] == "published"
    dep = check_one_good_record(standin, project)
    assert doc["record_id"] == str(dep["id"])

    # running it again changes nothing remote and reports the same record (checked where the fault could
    # have left something behind: a re-run was needed, or the server acted without the client knowing)
    if reruns or fault.name.endswith("after-done") or step in ("publish", "read-back"):
        env.clear()
        env.log.clear()
        again = run_cli(*project.publish_args(), json_out=True)
        assert again.exit_code == 0, again.explain()
        assert again.json["doi"] == doc["doi"]
        writes = [(e.method, e.path) for e in env.log if e.method != "GET"]
        assert writes == [], f"an already published release made writes: {writes}"
        assert len(depositions(standin)) == 1
    report(
        command="publish",
        fault=fault.name,
        step=step,
        first_exit=first.exit_code,
        completed_first=first.exit_code == 0,
        reruns=reruns,
        data_lost=lost,
    )
    assert lost == 0


@pytest.mark.parametrize("flags", [["-q"], ["-q", "--json"], ["-vv"]], ids=["quiet", "quiet-json", "verbose"])
def test_a_stop_always_says_why_and_what_to_do(flags: list[str], env: FaultProxy, project: Project) -> None:
    """-q silences progress, never the cause and the hint; -vv adds detail, still one Error and one Hint."""
    env.status(502, "POST", PUBLISH_STEPS["create"][1], count=50)
    args = [flags[0], *project.publish_args(), *flags[1:]]
    run = run_cli(*args)
    assert_clean_failure(run, (4,))
    if "-q" in flags and "--json" not in flags:
        assert [line for line in run.stderr.splitlines() if line.strip()] == [
            line for line in run.stderr.splitlines() if line.startswith(("Error: ", "Hint: "))
        ], run.explain()
    if "--json" in flags:
        assert run.json["exit_status"] == 4 and run.json["error"]["hint"]
