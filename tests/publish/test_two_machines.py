"""Two publish runs of one release on two machines (separate caches, so the local lock does not reach): the
re-check after creating the draft and before publishing keeps the release to a single record."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.helpers.clients import backend_of, client_for, target_for

from ossr_images.errors import RemoteError
from ossr_images.workflows import publish as wf
from ossr_images.workflows import publish_discovery as pd
from ossr_images.workflows.publish_options import PublishOptions
from ossr_images.zenodo.models import Deposition

from .conftest import Project, Recorder

LISTS = ("dep_list", "rdm_user_records")  # the owner's depositions: deposit API, native API
CREATES = {"legacy": "/api/deposit/depositions", "rdm": "/api/records"}


def all_deps(standin) -> list[Deposition]:
    with client_for(standin) as c:
        return list(c.list_depositions(all_versions=True))


def run_publish(standin, project: Project, image: Path, cache: Path, notify=None):
    options = PublishOptions(codemeta=project.codemeta, repo_dir=project.path, cache_root=cache)
    return wf.publish(image, options, target=target_for(standin), notify=notify)


class ListTogether(Recorder):
    """The first two deposition lists are answered only once both have been computed: both runs look for the
    release before either has created it (held after the listing, so that the first run's create cannot reach
    the server before the second list is made)."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=30)
        self.held = 0
        self.lock = threading.Lock()

    def after(self, request, status, body):
        if request.route in LISTS:
            with self.lock:
                self.held += 1
                hold = self.held <= 2
            if hold:
                self.barrier.wait()
        return None


def test_two_machines_at_once_make_one_record(standin, project: Project, tmp_path: Path) -> None:
    faults = ListTogether()
    standin.faults = faults
    image = project.image()
    results: dict[int, object] = {}

    def machine(i: int) -> None:
        try:
            results[i] = run_publish(standin, project, image, tmp_path / f"machine-{i}")
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=machine, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert faults.held >= 2  # both really listed before either created
    creates = CREATES[backend_of(standin)]
    assert sum(1 for m, p in faults.requests if m == "POST" and p == creates) == 2
    assert all(isinstance(r, wf.PublishResult) for r in results.values()), results
    deps = all_deps(standin)
    assert [d.state for d in deps] == ["done"], [(d.id, d.state) for d in deps]
    dois = {r.doi for r in results.values()}  # type: ignore[union-attr]
    assert dois == {deps[0].doi}
    # the loser deleted its own draft and reported the winner's record
    assert sorted(r.already_published for r in results.values()) == [False, True]  # type: ignore[union-attr]


class RivalAfterLookup(Recorder):
    """Right after the first deposition list is answered, another machine creates a draft of the same release
    (it did not show in that list: a lagging search index or a near tie)."""

    def __init__(self, standin, metadata: dict) -> None:
        super().__init__()
        self.standin = standin
        self.metadata = metadata
        self.rival_id: int | str | None = None

    def after(self, request, status, body):
        if request.route in LISTS and self.rival_id is None:
            with client_for(self.standin) as c:
                self.rival_id = c.create_deposition(metadata=self.metadata).id
        return None


def test_a_lower_rival_draft_makes_the_run_step_aside(
    standin, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = project.image()
    plan = wf.prepare(image, codemeta=project.codemeta, repo_dir=project.path)
    faults = RivalAfterLookup(standin, plan.zenodo_metadata)
    standin.faults = faults
    monkeypatch.setattr(pd, "RIVAL_WAIT_SECONDS", 1.0)
    monkeypatch.setattr(pd, "RIVAL_POLL_SECONDS", (0.2,))
    said: list[str] = []
    with pytest.raises(RemoteError) as err:
        run_publish(standin, project, image, tmp_path / "machine-b", notify=said.append)
    assert err.value.exit_code == 4
    assert "another run is publishing this release" in err.value.message
    assert "Re-run later" in err.value.hint
    assert any("steps aside" in line for line in said), said
    # this run's own draft is gone; the rival's (the lowest id) is untouched
    deps = all_deps(standin)
    assert [(d.id, d.state) for d in deps] == [(faults.rival_id, "unsubmitted")]

    # no other run is working on it: a re-run continues the rival's draft and publishes it, once
    standin.faults = Recorder()
    result = run_publish(standin, project, image, tmp_path / "machine-b")
    assert result.state == "published" and result.resumed
    assert result.deposition_id == faults.rival_id
    assert [(d.id, d.state) for d in all_deps(standin)] == [(faults.rival_id, "done")]
