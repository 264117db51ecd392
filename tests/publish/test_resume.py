"""Re-run safety: a run that dies at any step is continued by the next run with the same arguments, and
exactly one record results (from the same machine, and from a fresh machine without the local journal)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.helpers.clients import backend_of, client_class, client_for, target_for

from ossr_images.errors import IntegrityError, InvalidInputError, RemoteError
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY
from ossr_images.standin.faults import DropResponse
from ossr_images.workflows import publish as wf
from ossr_images.workflows.journal import release_lock
from ossr_images.workflows.publish_options import PublishOptions

from .conftest import Project, Recorder


class Crash(BaseException):
    """The process dies here (like SIGKILL): nothing in ossr-images may catch it."""


def deps(standin) -> list[dict]:
    with client_for(standin) as c:
        return list(c.list_depositions(all_versions=True))


def do_publish(standin, project: Project, image: Path, **kw):
    options = PublishOptions(codemeta=project.codemeta, repo_dir=project.path, **kw)
    return wf.publish(image, options, target=target_for(standin))


def crash_after(monkeypatch, standin, method: str, nth: int = 1) -> list[int]:
    """Make the backend's client.<method> raise Crash right after its nth call took effect on the server."""
    cls = client_class(standin)
    original = getattr(cls, method)
    calls = [0]

    def wrapper(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == nth:
            raise Crash(f"crash after {method} #{nth}")
        return result

    monkeypatch.setattr(cls, method, wrapper)
    return calls


def crash_mid_upload(monkeypatch, standin) -> None:
    """Die while the image bytes are on their way (after the first chunk went out)."""
    cls = client_class(standin)
    original = cls.upload_file

    def wrapper(self, bucket_url, key, fileobj, size, *, progress=None):
        if key.endswith(".tar.zst"):

            def dying(n: int) -> None:
                raise Crash("crash mid-upload")

            return original(self, bucket_url, key, fileobj, size, progress=dying)
        return original(self, bucket_url, key, fileobj, size, progress=progress)

    monkeypatch.setattr(cls, "upload_file", wrapper)


FIRST_RECORD_STEPS = [
    ("create_deposition", 1),
    ("list_files", 1),
    ("upload_file", 1),  # after the image
    ("upload_file", 2),  # after codemeta.json
    ("upload_file", 3),  # after the image metadata file
    ("update_deposition", 1),
    ("publish", 1),
    ("get_record", 1),  # reading the published record back
    ("mid-upload", 0),
]


def _assert_one_published(standin, project: Project, image: Path, result) -> None:
    all_deps = deps(standin)
    assert len(all_deps) == 1, [(d.id, d.state) for d in all_deps]
    assert all_deps[0].state == "done"
    assert result.state == "published"
    assert result.record_id == str(all_deps[0].record_id)
    keys = sorted(f.key for f in result.files)
    assert keys == sorted([image.name, "codemeta.json", IMAGE_RECORD_KEY])


@pytest.mark.parametrize("fresh_machine", [False, True], ids=["same-machine", "fresh-machine"])
@pytest.mark.parametrize("step", FIRST_RECORD_STEPS, ids=[f"{m}#{n}" for m, n in FIRST_RECORD_STEPS])
def test_crash_then_rerun_gives_exactly_one_record(
    step, fresh_machine, standin, project: Project, monkeypatch, _isolated: Path
):
    image = project.image()
    method, nth = step
    with monkeypatch.context() as m:
        if method == "mid-upload":
            crash_mid_upload(m, standin)
        else:
            crash_after(m, standin, method, nth)
        with pytest.raises(Crash):
            do_publish(standin, project, image)
    if fresh_machine:
        shutil.rmtree(_isolated, ignore_errors=True)  # no journal, no cached hashes
    result = do_publish(standin, project, image)
    _assert_one_published(standin, project, image, result)
    # and a third run changes nothing
    again = do_publish(standin, project, image)
    assert again.already_published and again.doi == result.doi
    assert len(deps(standin)) == 1


NEW_VERSION_STEPS = [
    ("new_version", 1),
    ("update_deposition", 1),  # the marker put into the new draft
    ("delete_file", 1),  # removing the previous version's image
    ("upload_file", 1),
    ("upload_file", 3),
    ("publish", 1),
]


@pytest.mark.parametrize("fresh_machine", [False, True], ids=["same-machine", "fresh-machine"])
@pytest.mark.parametrize("step", NEW_VERSION_STEPS, ids=[f"{m}#{n}" for m, n in NEW_VERSION_STEPS])
def test_crash_during_new_version_then_rerun(
    step, fresh_machine, standin, project: Project, monkeypatch, _isolated: Path
):
    first = do_publish(standin, project, project.image())
    project.release("1.1.0")
    image2 = project.image()
    method, nth = step
    with monkeypatch.context() as m:
        crash_after(m, standin, method, nth)
        with pytest.raises(Crash):
            do_publish(standin, project, image2)
    if fresh_machine:
        shutil.rmtree(_isolated, ignore_errors=True)
    second = do_publish(standin, project, image2)
    assert second.state == "published"
    assert second.conceptdoi == first.conceptdoi and second.doi != first.doi
    all_deps = deps(standin)
    assert sorted(d.state for d in all_deps) == ["done", "done"], [(d.id, d.state) for d in all_deps]
    assert sorted(f.key for f in second.files) == sorted([image2.name, "codemeta.json", IMAGE_RECORD_KEY])


def publishing(request) -> bool:
    """The publish action (legacy), the native publish, or the submission to a community that publishes the
    draft at once (the tests' stand-in lets the owner include records in escape2020 directly)."""
    legacy = request.route == "dep_action" and request.path.endswith("/publish")
    return legacy or request.route in ("rdm_publish", "rdm_submit_review")


class DropPublishAnswer(Recorder):
    """The publish goes through on the server but its answer is lost (the connection is closed)."""

    def __init__(self, times: int = 1) -> None:
        super().__init__()
        self.times = times

    def after(self, request, status, body):
        if publishing(request) and self.times > 0:
            self.times -= 1
            raise DropResponse()
        return None


def test_publish_whose_answer_is_lost_is_recognised(standin, project: Project):
    plan = DropPublishAnswer()
    standin.faults = plan
    image = project.image()
    result = do_publish(standin, project, image)
    assert plan.times == 0, "the fault was not triggered"
    _assert_one_published(standin, project, image, result)


class GatewayTimeoutOnPublish(Recorder):
    """Publish succeeds on the server, then a proxy answers 504 (zenodo#2131)."""

    def after(self, request, status, body):
        if publishing(request) and status == 202:
            return 504, {"status": 504, "message": "Gateway Time-out"}
        return None


def test_publish_504_that_succeeded(standin, project: Project):
    standin.faults = GatewayTimeoutOnPublish()
    image = project.image()
    result = do_publish(standin, project, image)
    _assert_one_published(standin, project, image, result)


class WrongMd5(Recorder):
    """The bucket (legacy) or the commit (native) answers a wrong md5 for the image (a damaged upload)."""

    def __init__(self) -> None:
        super().__init__()
        self.active = True

    def after(self, request, status, body):
        image = request.path.endswith(".tar.zst") or request.path.endswith(".tar.zst/commit")
        if self.active and request.route in ("bucket_put", "rdm_draft_file_commit") and image:
            return status, {**body, "checksum": "md5:" + "0" * 32}
        return None


def test_wrong_md5_means_no_publish_and_exit_3_then_rerun(standin, project: Project):
    plan = WrongMd5()
    standin.faults = plan
    image = project.image()
    with pytest.raises(IntegrityError) as info:
        do_publish(standin, project, image)
    assert info.value.exit_code == 3
    assert "md5" in info.value.message
    assert [d.state for d in deps(standin)] == ["unsubmitted"], "nothing may be published"
    assert not any(m == "POST" and p.endswith("/publish") for m, p in plan.requests)
    plan.active = False
    result = do_publish(standin, project, image)
    _assert_one_published(standin, project, image, result)


def test_deleted_draft_means_starting_afresh(standin, project: Project):
    image = project.image()
    draft = do_publish(standin, project, image, draft=True)
    assert draft.state == "draft"
    with client_for(standin) as c:
        c.delete_deposition(draft.deposition_id)
    assert deps(standin) == []
    result = do_publish(standin, project, image)
    _assert_one_published(standin, project, image, result)
    assert result.deposition_id != draft.deposition_id


def test_same_commit_different_image_is_refused(standin, project: Project):
    do_publish(standin, project, project.image())
    rebuilt = project.image(name="hello-rebuilt.tar.zst", payload=b"different bytes\n")
    with pytest.raises(InvalidInputError) as info:
        do_publish(standin, project, rebuilt)
    assert "already published" in info.value.message and "--new-version-of" in info.value.hint
    assert len(deps(standin)) == 1


def test_source_code_record_is_never_taken_as_previous_version(standin, project: Project):
    """A published record of the source code itself (no image keyword), whose DOI codemeta's identifier
    holds, is not made a new version of: the image gets its own record."""
    with client_for(standin) as c:
        src = c.create_deposition(
            metadata={
                "upload_type": "software",
                "title": "hello-publish source",
                "creators": [{"name": "Lovelace, Ada"}],
                "description": "source code",
                "publication_date": "2026-01-01",
                "keywords": ["test"],
                "related_identifiers": [
                    {
                        "identifier": project.repository,
                        "relation": "isSupplementTo",
                        "resource_type": "software",
                    }
                ],
            }
        )
        import io

        c.upload_file(src.bucket_url, "source.zip", io.BytesIO(b"zip"), 3)
        published = c.publish(src.id)
    project.release("1.0.1", identifier=f"https://doi.org/{published.doi}")
    result = do_publish(standin, project, project.image())
    assert result.new_version_of is None
    assert result.conceptdoi != published.conceptdoi


def test_new_version_of_a_non_image_record_is_refused(standin, project: Project):
    with client_for(standin) as c:
        src = c.create_deposition(
            metadata={
                "upload_type": "software",
                "title": "some other record",
                "creators": [{"name": "Lovelace, Ada"}],
                "publication_date": "2026-01-01",
            }
        )
        import io

        c.upload_file(src.bucket_url, "data.txt", io.BytesIO(b"abc"), 3)
        published = c.publish(src.id)
    # a plain InvenioRDM DOI ({prefix}/{id}) does not name its record for the client: the id is given there
    ref = published.doi if backend_of(standin) == "legacy" else str(published.record_ref)
    with pytest.raises(InvalidInputError) as info:
        do_publish(standin, project, project.image(), new_version_of=ref)
    assert "not an ossr-images image record" in info.value.message


def test_lock_held_by_another_run(standin, project: Project, _isolated: Path):
    image = project.image()
    plan = wf.prepare(image, codemeta=project.codemeta, repo_dir=project.path)
    with release_lock(plan.release_marker, standin.api_url, what="x"):
        with pytest.raises(InvalidInputError) as info:
            do_publish(standin, project, image)
    assert "another ossr-images publish" in info.value.message
    assert deps(standin) == []
    # once the other run is gone, the release publishes normally
    result = do_publish(standin, project, image)
    _assert_one_published(standin, project, image, result)


def test_remote_error_leaves_a_resumable_draft(standin, project: Project, monkeypatch):
    """A remote failure (exit 4) mid-way is reported, and the next run continues."""
    image = project.image()
    with monkeypatch.context() as m:

        def failing(self, *a, **k):
            raise RemoteError("Zenodo answered 500", "try again")

        m.setattr(client_class(standin), "update_deposition", failing)
        with pytest.raises(RemoteError):
            do_publish(standin, project, image)
    result = do_publish(standin, project, image)
    assert result.resumed
    _assert_one_published(standin, project, image, result)


@pytest.mark.parametrize("fresh_machine", [False, True], ids=["same-machine", "fresh-machine"])
def test_uploaded_image_is_not_sent_again(fresh_machine, standin, project: Project, monkeypatch, _isolated):
    image = project.image()
    rec = Recorder()
    standin.faults = rec
    with monkeypatch.context() as m:
        crash_after(m, standin, "upload_file", 2)  # the image and codemeta.json are up
        with pytest.raises(Crash):
            do_publish(standin, project, image)
    if fresh_machine:
        shutil.rmtree(_isolated, ignore_errors=True)
    result = do_publish(standin, project, image)
    assert result.resumed
    _assert_one_published(standin, project, image, result)
    puts = [
        p.removesuffix("/content").rsplit("/", 1)[-1]
        for m, p in rec.requests
        if m == "PUT" and "/files/" in p
    ]
    assert puts.count(image.name) == 1
    assert puts.count("codemeta.json") == 1
    assert puts.count(IMAGE_RECORD_KEY) == 1
