"""Two `ossr-images publish` processes for the same release at the same time on one machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.helpers.clients import client_for

from conftest import TEST_TOKEN

from .conftest import Project, Recorder


class SlowUploads(Recorder):
    """Every bucket PUT (legacy) or draft file content PUT (native) takes a second, so that the runs overlap."""

    def before(self, request) -> bool:
        super().before(request)
        if request.route in ("bucket_put", "rdm_draft_file_put"):
            time.sleep(1.0)
        return False


def test_two_concurrent_runs_make_one_record(standin, project: Project):
    standin.faults = SlowUploads()
    image = project.image()
    env = {**os.environ, "OSSR_IMAGES_ZENODO_URL": standin.api_url, "ZENODO_TOKEN": TEST_TOKEN}
    args = [
        sys.executable,
        "-m",
        "ossr_images",
        "publish",
        str(image),
        "--codemeta",
        str(project.codemeta),
        "--repo",
        str(project.path),
        "--json",
    ]
    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # the first run is uploading by now
    second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    out1, err1 = first.communicate(timeout=120)

    assert first.returncode == 0, err1
    assert second.returncode == 1, second.stderr
    assert "another ossr-images publish" in second.stderr
    assert "Hint:" in second.stderr
    with client_for(standin) as c:
        deps = list(c.list_depositions(all_versions=True))
    assert [d.state for d in deps] == ["done"]

    # once the first is done, the same command reports the record and succeeds
    third = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0, third.stderr
    assert "already published" in third.stderr.lower()
