"""A new version of an image record, through the faults Zenodo is known for on that path: 500 on
``newversion`` (zenodo-rdm#1440), 500 and transient 403 on deleting carried-over files (zenodo#2561, #2502),
lost answers. After the run (and a re-run when it stopped cleanly): exactly two published records in one
concept, no draft left, the new one holding exactly the new image, its CodeMeta and its metadata file, the old
one unchanged."""

from __future__ import annotations

import hashlib

import pytest
import requests
from tests.conftest import TEST_TOKEN
from tests.helpers.faults import NEW_VERSION_STEPS, inject
from tests.reliability.conftest import (
    Project,
    assert_clean_failure,
    depositions,
    lost_remote,
    report,
    run_cli,
)
from tests.reliability.faultproxy import FaultProxy

CASES = [
    ("500-once", "newversion"),
    ("504-after-done", "newversion"),
    ("reset-after-done", "newversion"),
    ("503-once", "newversion"),
    ("500-once", "delete-old-image"),
    ("403-once", "delete-old-image"),
    ("504-after-done", "delete-old-image"),
    ("502-exhausting", "delete-old-image"),
    ("503-once", "read-previous"),
    ("504-after-done", "draft-metadata"),
    ("503-once", "list-files"),
    ("reset-after-done", "upload-image"),
    ("504-after-done", "publish"),
    ("503-once", "find"),
]


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324


@pytest.mark.parametrize("fault,step", CASES, ids=[f"{f}@{s}" for f, s in CASES])
def test_new_version_survives(fault: str, step: str, env: FaultProxy, standin, project: Project) -> None:
    first_pub = run_cli(*project.publish_args(), json_out=True)
    assert first_pub.exit_code == 0, first_pub.explain()
    old_image = project.image_path
    old_md5 = _md5(old_image.read_bytes())
    project.release("1.1.0")
    new_md5 = _md5(project.image_path.read_bytes())

    inject(env, fault, NEW_VERSION_STEPS[step])
    first = run_cli(*project.publish_args(), json_out=True)
    assert env.faults_fired() >= 1, f"{fault}@{step} never fired\n{first.explain()}"
    reruns = 0
    if first.exit_code != 0:
        assert_clean_failure(first)
        env.clear()
        again = run_cli(*project.publish_args(), json_out=True)
        assert again.exit_code == 0, again.explain()
        reruns = 1
        final = again
    else:
        final = first
    assert final.json["state"] == "published"
    lost = lost_remote(standin, final.json["record_id"], project.release_bytes())

    deps = depositions(standin)
    states = [(d["id"], d.get("state"), d.get("conceptrecid")) for d in deps]
    assert len(deps) == 2 and all(d.get("state") == "done" for d in deps), states
    assert len({d.get("conceptrecid") for d in deps}) == 1, states
    new = next(d for d in deps if str(d["id"]) == final.json["record_id"])
    old = next(d for d in deps if d is not new)
    new_files = {f["filename"]: f["checksum"].removeprefix("md5:") for f in new["files"]}
    old_files = {f["filename"]: f["checksum"].removeprefix("md5:") for f in old["files"]}
    assert set(new_files) == {project.image_path.name, "codemeta.json", "ossr-image-metadata.json"}, new_files
    assert new_files[project.image_path.name] == new_md5
    assert old_files[old_image.name] == old_md5 and old_image.name not in new_files
    content = requests.get(
        f"{standin.api_url}/records/{new['id']}/files/{project.image_path.name}/content",
        headers={"Authorization": f"Bearer {TEST_TOKEN}"},
        timeout=10,
    ).content
    assert _md5(content) == new_md5
    report(
        command="publish new version",
        fault=fault,
        step=step,
        first_exit=first.exit_code,
        completed_first=first.exit_code == 0,
        reruns=reruns,
        data_lost=lost,
    )
    assert lost == 0
