"""`ossr-images publish` end to end against the local stand-in over real HTTP."""

from __future__ import annotations

import hashlib
import itertools
import json
import re

import pytest
from click.testing import CliRunner
from tests.helpers.clients import backend_of, client_class, client_for

from conftest import GUEST_TOKEN, TEST_TOKEN
from ossr_images.cli import main
from ossr_images.metadata.image_record import IMAGE_KEYWORD, IMAGE_RECORD_KEY, ImageRecord
from ossr_images.standin.faults import Faults, RequestInfo
from ossr_images.zenodo.models import Deposition

from .conftest import Project, Recorder


def run(*args: str, input: str | None = None):
    runner = CliRunner()
    return runner.invoke(main, list(args), input=input, catch_exceptions=False)


def depositions(standin) -> list[Deposition]:
    return list(client_for(standin).list_depositions(all_versions=True))


def doi_for(standin, record_id: str) -> str:
    """The DOI the stand-in mints: Zenodo's form, or a plain InvenioRDM instance's {prefix}/{id}."""
    return f"10.5072/zenodo.{record_id}" if backend_of(standin) == "legacy" else f"10.5072/{record_id}"


def uploaded_key(path: str) -> str:
    """The file key of an upload's path: a bucket PUT (legacy) or a draft file's content PUT (native)."""
    return path.removesuffix("/content").rsplit("/", 1)[-1]


def related(rec) -> set[tuple[str, str]]:
    """(identifier, relation) of a record, the relation in lower case (the native API's ids)."""
    return {(r.identifier, r.relation.lower()) for r in rec.related}


def publish_args(project: Project, image, *extra: str) -> list[str]:
    return ["publish", str(image), "--codemeta", str(project.codemeta), "--repo", str(project.path), *extra]


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_first_publish_json_document(zenodo_env, project: Project, recorder: Recorder):
    image = project.image()
    res = run(*publish_args(project, image, "--json"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == {
        "ok", "exit_status", "doi", "conceptdoi", "record_id", "record_url", "state", "files", "source", "api",
        "review",
    }  # fmt: skip
    assert doc["ok"] is True and doc["exit_status"] == 0
    assert doc["state"] == "published" and doc["api"] == backend_of(zenodo_env)
    assert doc["doi"] == doi_for(zenodo_env, doc["record_id"])
    assert doc["conceptdoi"].startswith("10.5072/")
    assert doc["record_url"].endswith(f"/records/{doc['record_id']}")
    assert doc["source"] == {"repository": project.repository, "commit": project.commit}
    keys = [f["key"] for f in doc["files"]]
    assert keys == [image.name, "codemeta.json", IMAGE_RECORD_KEY]
    img = doc["files"][0]
    assert img["size"] == image.stat().st_size
    assert img["sha256"] == sha256_of(image)
    assert img["md5"] == hashlib.md5(image.read_bytes()).hexdigest()
    assert all(set(f) == {"key", "size", "md5", "sha256"} for f in doc["files"])

    # the record on the server: metadata and the image metadata file
    client = client_for(zenodo_env)
    rec = client.get_record(doc["record_id"])
    assert IMAGE_KEYWORD in rec.keywords
    assert rec.version == "1.0.0"
    assert (f"{project.repository}/tree/{project.commit}", "isderivedfrom") in related(rec)
    entry = rec.file(IMAGE_RECORD_KEY)
    dest = zenodo_env.data_dir / "fetched.json"
    client.download_file(entry.url, dest)
    record = ImageRecord.from_bytes(dest.read_bytes())
    assert (record.repository, record.commit, record.sha256) == (
        project.repository,
        project.commit,
        img["sha256"],
    )
    assert record.file_name == image.name and record.compression == "zstd"
    # the image went up exactly once, and everything only after the local checks
    puts = [p for m, p in recorder.requests if m == "PUT" and uploaded_key(p) == image.name]
    assert len(puts) == 1
    assert len(depositions(zenodo_env)) == 1


def test_human_output_and_rerun_changes_nothing(zenodo_env, project: Project, recorder: Recorder):
    image = project.image()
    first = run(*publish_args(project, image))
    assert first.exit_code == 0, first.output
    assert "DOI:" in first.stdout and "Concept DOI:" in first.stdout and "Record:" in first.stdout
    before = len(recorder.writes())
    again = run(*publish_args(project, image, "--json"))
    assert again.exit_code == 0, again.output
    assert "already published" in again.stderr.lower()
    doc = json.loads(again.stdout)
    assert doc["state"] == "published"
    assert doc["doi"] in first.stdout
    assert doc["files"][0] == {
        "key": image.name,
        "size": image.stat().st_size,
        "md5": hashlib.md5(image.read_bytes()).hexdigest(),
        "sha256": sha256_of(image),
    }
    assert len(recorder.writes()) == before, "a re-run of a published release must not write anything"
    assert len(depositions(zenodo_env)) == 1


def test_new_commit_makes_a_new_version(zenodo_env, project: Project):
    first = json.loads(run(*publish_args(project, project.image(), "--json")).stdout)
    project.release("1.1.0")
    image2 = project.image()
    res = run(*publish_args(project, image2, "--json"))
    assert res.exit_code == 0, res.output
    second = json.loads(res.stdout)
    assert second["doi"] != first["doi"]
    assert second["conceptdoi"] == first["conceptdoi"]
    assert [f["key"] for f in second["files"]] == [image2.name, "codemeta.json", IMAGE_RECORD_KEY]
    assert "new version" in res.stderr.lower()
    rec = client_for(zenodo_env).get_record(second["record_id"])
    assert rec.version == "1.1.0"
    assert {f.key for f in rec.files} == {image2.name, "codemeta.json", IMAGE_RECORD_KEY}


def test_published_record_carries_grant_and_contributors(zenodo_env, project: Project):
    ec = {
        "@type": "Organization",
        "@id": "https://doi.org/10.13039/501100000780",
        "name": "European Commission",
    }
    project.release(
        "1.2.0",
        contributor=[
            {"@type": "Person", "givenName": "Ada", "familyName": "Lovelace"},  # the maintainer: listed once
            {"@type": "Person", "givenName": "Alan", "familyName": "Turing", "affiliation": "NPL"},
        ],
        copyrightHolder={"@type": "Organization", "name": "Analytical Engines"},
        funder=ec,
        funding={"@type": "Grant", "identifier": "824064", "funder": {"@id": ec["@id"]}},
    )
    res = run(*publish_args(project, project.image(), "--json"))
    assert res.exit_code == 0, res.output
    meta = client_for(zenodo_env).get_record(json.loads(res.stdout)["record_id"]).raw["metadata"]
    if backend_of(zenodo_env) == "rdm":
        # the native schema: the EC's ROR id and the award; contributors with their role ids
        assert [(f["funder"]["id"], f["award"]["id"]) for f in meta["funding"]] == [
            ("00k4n6c32", "00k4n6c32::824064")
        ]
        people = [(c["person_or_org"], c["role"]["id"]) for c in meta["contributors"]]
        assert [(p["type"], p.get("family_name") or p.get("name"), role) for p, role in people] == [
            ("personal", "Lovelace", "contactperson"),
            ("organizational", "Analytical Engines", "rightsholder"),
            ("organizational", "European Commission", "sponsor"),
            ("personal", "Turing", "other"),
        ]
        return
    # a record shows its grants in zenodo.org's read shape (code, internal_id = the deposit's grant id, funder)
    assert [(g["internal_id"], g["code"], g["funder"]["name"]) for g in meta["grants"]] == [
        ("10.13039/501100000780::824064", "824064", "European Commission")
    ]
    assert meta["contributors"] == [
        {"name": "Lovelace, Ada", "type": "ContactPerson"},
        {"name": "Analytical Engines", "type": "RightsHolder"},
        {"name": "European Commission", "type": "Sponsor"},
        {"name": "Turing, Alan", "affiliation": "NPL", "type": "Other"},
    ]


def test_explicit_new_version_of(zenodo_env, project: Project):
    first = json.loads(run(*publish_args(project, project.image(), "--json")).stdout)
    project.release("2.0.0")
    # the concept DOI on both backends: a plain InvenioRDM DOI ({prefix}/{id}) is found by a search
    res = run(*publish_args(project, project.image(), "--new-version-of", first["conceptdoi"], "--json"))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["conceptdoi"] == first["conceptdoi"]


def test_new_version_outside_the_community_asks_for_inclusion(zenodo_env, project: Project, monkeypatch):
    """Both backends alike: a new version of a record in no community, published for escape2020 by a user who
    cannot include directly, leaves an inclusion request (the deposit API makes it at publish, the native
    one is asked with POST /records/{id}/communities); publish reports it as "review", a re-run finds it."""
    monkeypatch.setenv("ZENODO_TOKEN", GUEST_TOKEN)
    first = json.loads(run(*publish_args(project, project.image(), "--no-community", "--json")).stdout)
    project.release("2.0.0")
    image = project.image()
    res = run(*publish_args(project, image, "--json"))
    assert res.exit_code == 0, res.output
    second = json.loads(res.stdout)
    assert second["state"] == "published" and second["conceptdoi"] == first["conceptdoi"]
    review = second["review"]
    assert review["status"] == "submitted" and review["url"]
    again = run(*publish_args(project, image, "--json"))
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["review"] == review
    inclusions = [
        r for r in zenodo_env.store.state["requests"].values() if r["type"] == "community-inclusion"
    ]
    assert [r["id"] for r in inclusions] == [review["id"]]


class NoRequestRoutes(Faults):
    """A server without the native inclusion routes (``/records/{id}/requests`` and ``/communities`` answer 404
    as an unknown route does): what publish would meet if zenodo.org's deposit side lacked them."""

    def before(self, request: RequestInfo) -> bool:
        if re.search(r"/records/[^/]+/(requests|communities)/?$", request.path):
            request.send_json(
                404, {"status": 404, "message": "The requested URL was not found on the server."}
            )
            return True
        return False


def test_a_failed_inclusion_request_is_a_warning_and_a_rerun_asks_again(
    zenodo_env, project: Project, monkeypatch
):
    monkeypatch.setenv("ZENODO_TOKEN", GUEST_TOKEN)
    first = json.loads(run(*publish_args(project, project.image(), "--no-community", "--json")).stdout)
    project.release("2.0.0")
    image = project.image()
    zenodo_env.faults = NoRequestRoutes()
    res = run(*publish_args(project, image, "--json"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["state"] == "published" and doc["conceptdoi"] == first["conceptdoi"]
    assert (
        "could not ask the community escape2020" in res.stderr and "run the same publish again" in res.stderr
    )
    zenodo_env.faults = Faults()
    again = run(*publish_args(project, image, "--json"))
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["review"]["status"] == "submitted"


def test_draft_then_publish_continues_the_same_deposition(zenodo_env, project: Project, recorder: Recorder):
    image = project.image()
    res = run(*publish_args(project, image, "--draft", "--json"))
    assert res.exit_code == 0, res.output
    draft = json.loads(res.stdout)
    assert draft["state"] == "draft"
    assert draft["doi"]  # the DOI reserved for the draft
    deps = depositions(zenodo_env)
    assert len(deps) == 1 and deps[0].state == "unsubmitted"

    res = run(*publish_args(project, image, "--json"))
    assert res.exit_code == 0, res.output
    published = json.loads(res.stdout)
    assert published["state"] == "published"
    assert published["record_id"] == draft["record_id"]
    puts = [p for m, p in recorder.requests if m == "PUT" and uploaded_key(p) == image.name]
    assert len(puts) == 1, "the image already in the draft must not be sent again"
    assert len(depositions(zenodo_env)) == 1


def test_dry_run_sends_nothing(zenodo_env, project: Project, recorder: Recorder):
    image = project.image()
    res = run(*publish_args(project, image, "--dry-run", "--json"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["state"] == "dry-run"
    assert doc["doi"] is None and doc["record_id"] is None and doc["conceptdoi"] is None
    assert doc["files"][0]["sha256"] == sha256_of(image)
    assert recorder.requests == []


def test_dry_run_needs_no_token(standin, project: Project, recorder: Recorder, monkeypatch):
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    monkeypatch.setenv("OSSR_IMAGES_ZENODO_URL", standin.api_url)
    res = run(*publish_args(project, project.image(), "--dry-run"))
    assert res.exit_code == 0, res.output
    assert "codemeta.json" in res.stdout and "Zenodo metadata" in res.stdout
    assert recorder.requests == []


def _refusal_cases():
    def wrong_revision(p: Project):
        return p.image(labels={"org.opencontainers.image.revision": "f" * 40}), []

    def wrong_source(p: Project):
        return p.image(labels={"org.opencontainers.image.source": "https://github.com/other/repo"}), []

    def dirty_tree(p: Project):
        image = p.image()
        (p.path / "README.md").write_text("changed\n")
        return image, []

    def bad_codemeta(p: Project):
        image = p.image()
        p.codemeta.write_text("{not json")
        return image, []

    def missing_image(p: Project):
        return p.images / "nope.tar.zst", []

    def not_an_image(p: Project):
        junk = p.images / "junk.tar"
        junk.write_bytes(b"this is not an archive" * 100)
        return junk, []

    def unknown_commit(p: Project):
        return p.image(), ["--commit", "0" * 40]

    def both_community_flags(p: Project):
        return p.image(), ["--community", "x", "--no-community"]

    return {
        "wrong-revision-label": (wrong_revision, 1),
        "wrong-source-label": (wrong_source, 1),
        "dirty-tree": (dirty_tree, 1),
        "bad-codemeta": (bad_codemeta, 1),
        "missing-image": (missing_image, 1),
        "not-an-image": (not_an_image, 1),
        "unknown-commit": (unknown_commit, 1),
        "community-flags": (both_community_flags, 2),
    }


@pytest.mark.parametrize("case", list(_refusal_cases()))
def test_local_refusals_happen_before_any_request(case, zenodo_env, project: Project, recorder: Recorder):
    make, status = _refusal_cases()[case]
    image, extra = make(project)
    res = run(*publish_args(project, image, *extra))
    assert res.exit_code == status, res.output
    if status == 1:
        assert "Error:" in res.stderr and "Hint:" in res.stderr
    assert recorder.requests == [], f"{case}: the stand-in saw {recorder.requests}"


def test_quota_precheck_before_any_request(zenodo_env, project: Project, recorder: Recorder, monkeypatch):
    from ossr_images.workflows import publish_plan

    monkeypatch.setattr(publish_plan, "QUOTA_BYTES", 1000)
    res = run(*publish_args(project, project.image()))
    assert res.exit_code == 1
    assert "quota" in res.stderr
    assert recorder.requests == []


def test_missing_token_exit_1_with_hint(standin, project: Project, recorder: Recorder, monkeypatch):
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    monkeypatch.setenv("OSSR_IMAGES_ZENODO_URL", standin.api_url)
    res = run(*publish_args(project, project.image()))
    assert res.exit_code == 1
    assert "ZENODO_TOKEN" in res.stderr and "Hint:" in res.stderr
    assert recorder.requests == []


def test_wrong_token_exit_4_and_never_shown(standin, project: Project, monkeypatch):
    secret = "wrong-token-do-not-print-0123456789"
    monkeypatch.setenv("ZENODO_TOKEN", secret)
    monkeypatch.setenv("OSSR_IMAGES_ZENODO_URL", standin.api_url)
    res = run("-v", *publish_args(project, project.image(), "--json"))
    assert res.exit_code == 4, res.output
    assert "Hint:" in res.stderr
    assert secret not in res.stdout and secret not in res.stderr
    assert json.loads(res.stdout)["exit_status"] == 4


def test_confirmation_prompt_on_production(zenodo_env, project: Project, recorder: Recorder, monkeypatch):
    from ossr_images.cli import publish_cmd

    monkeypatch.setattr(publish_cmd, "_interactive", lambda: True)
    monkeypatch.setattr(publish_cmd, "_is_production", lambda target: True)
    image = project.image()
    res = run(*publish_args(project, image), input="n\n")
    assert res.exit_code == 1
    assert "permanent" in res.stderr and "cancelled" in res.stderr
    assert recorder.writes() == [], "nothing may be written before the answer"

    res = run(*publish_args(project, image), input="y\n")
    assert res.exit_code == 0, res.output
    assert "DOI:" in res.stdout
    assert len(depositions(zenodo_env)) == 1


def test_no_prompt_with_yes_or_when_not_interactive(zenodo_env, project: Project, monkeypatch):
    from ossr_images.cli import publish_cmd

    monkeypatch.setattr(publish_cmd, "_is_production", lambda target: True)
    # CliRunner's stdin is not a terminal: no prompt, even without --yes (CI)
    res = run(*publish_args(project, project.image()))
    assert res.exit_code == 0, res.output
    assert "Continue?" not in res.stderr
    monkeypatch.setattr(publish_cmd, "_interactive", lambda: True)
    project.release("1.0.1")
    res = run(*publish_args(project, project.image(), "--yes"))
    assert res.exit_code == 0, res.output
    assert "Continue?" not in res.stderr


def test_gzip_and_plain_archives_are_uploaded_byte_for_byte(zenodo_env, project: Project):
    for compression in ("gzip", "none"):
        image = project.image(compression=compression)
        res = run(*publish_args(project, image, "--json"))
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["files"][0]["key"] == image.name
        assert doc["files"][0]["sha256"] == sha256_of(image)
        project.release(f"1.0.{2 if compression == 'gzip' else 3}")


def test_same_bytes_under_another_name_is_the_same_release(zenodo_env, project: Project, recorder: Recorder):
    image = project.image()
    first = json.loads(run(*publish_args(project, image, "--json")).stdout)
    copy = image.with_name("renamed.tar.zst")
    copy.write_bytes(image.read_bytes())
    writes = len(recorder.writes())
    res = run(*publish_args(project, copy, "--json"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["doi"] == first["doi"]
    assert doc["files"][0]["key"] == image.name  # the record as archived
    assert len(recorder.writes()) == writes


def test_sif_with_commit_option_and_no_checkout(zenodo_env, tmp_path):
    """A .sif (built by Apptainer) published with --commit and a CodeMeta file outside any git checkout."""
    import shutil
    from pathlib import Path

    from .conftest import codemeta_doc

    sif = tmp_path / "hello.sif"
    shutil.copyfile(Path(__file__).resolve().parents[1] / "data" / "hello.sif", sif)
    cm = tmp_path / "codemeta.json"
    cm.write_text(
        json.dumps(codemeta_doc("1.0.0", codeRepository="https://github.com/escape2020/ossr-images-example"))
    )
    commit = "0123456789abcdef0123456789abcdef01234567"
    res = run("publish", str(sif), "--codemeta", str(cm), "--commit", commit, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["source"] == {
        "repository": "https://github.com/escape2020/ossr-images-example",
        "commit": commit,
    }
    client = client_for(zenodo_env)
    rec = client.get_record(doc["record_id"])
    client.download_file(rec.file(IMAGE_RECORD_KEY).url, tmp_path / "r.json")
    record = ImageRecord.from_bytes((tmp_path / "r.json").read_bytes())
    assert record.format == "sif" and record.compression == "none"
    assert (record.engine, record.engine_version) == ("apptainer", "1.4.5")
    assert record.run_command == "apptainer run hello.sif"
    assert record.sha256 == sha256_of(sif)


def test_check_limits_units():
    from ossr_images.errors import InvalidInputError
    from ossr_images.workflows.publish import check_limits

    check_limits([("image.tar", 48_000_000_000), ("codemeta.json", 1000)])  # under 50 GB: no error
    check_limits([(f"f{i}", 1) for i in range(99)])  # 99 files + the image metadata file: Zenodo's 100
    with pytest.raises(InvalidInputError) as info:
        check_limits([("image.tar", 50_000_000_000), ("codemeta.json", 1000)])
    assert info.value.message == (
        "the record would hold 50.00 GB, over Zenodo's 50 GB per-record quota (largest file: image.tar)"
    )
    assert "zstd" in info.value.hint and "150 GB" in info.value.hint
    with pytest.raises(InvalidInputError) as info:
        check_limits([(f"f{i}", 1) for i in range(100)])
    assert info.value.message == "the record would hold 101 files, over Zenodo's limit of 100"
    assert info.value.exit_code == 1  # invalid input, refused before anything remote


@pytest.mark.parametrize(
    "options,production",
    [
        ({}, True),  # no option: zenodo.org
        ({"zenodo_url": "https://zenodo.org"}, True),
        ({"zenodo_url": "https://zenodo.org/api/"}, True),
        ({"sandbox": True}, False),
        ({"zenodo_url": "https://sandbox.zenodo.org/api"}, False),
        ({"default_server": "sandbox"}, False),  # e.g. a 10.5072 DOI
        ({"zenodo_url": "http://127.0.0.1:8080/api"}, False),  # the local stand-in
        ({"zenodo_url": "https://zenodo.example.org/api"}, False),
    ],
)
def test_only_zenodo_org_is_production(options: dict, production: bool, monkeypatch) -> None:
    """The confirmation prompt guards zenodo.org and nothing else: `_is_production` on real targets."""
    from ossr_images.cli.publish_cmd import _is_production
    from ossr_images.zenodo.target import resolve_target

    for name in ("ZENODO_TOKEN", "ZENODO_SANDBOX_TOKEN", "OSSR_IMAGES_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert _is_production(resolve_target(**options)) is production


def test_interrupt_exits_130_and_rerun_continues(zenodo_env, project: Project, monkeypatch):
    image = project.image()
    with monkeypatch.context() as m:

        def interrupted(self, *a, **k):
            raise KeyboardInterrupt

        m.setattr(client_class(zenodo_env), "update_deposition", interrupted)
        res = run(*publish_args(project, image))
    assert res.exit_code == 130
    assert "continues where it stopped" in res.stderr
    assert [d.state for d in depositions(zenodo_env)] == ["unsubmitted"]
    res = run(*publish_args(project, image, "--json"))
    assert res.exit_code == 0, res.output
    assert "Continuing the draft" in res.stderr
    assert [d.state for d in depositions(zenodo_env)] == ["done"]


def test_communities_options(zenodo_env, project: Project):
    if backend_of(zenodo_env) == "rdm":
        # a community is a review request there (tests/publish/test_publish_rdm.py): one the server does not
        # know is a clean error before anything is written
        res = run(*publish_args(project, project.image(), "--community", "cta", "--json"))
        assert res.exit_code == 4, res.output
        assert "community 'cta' does not exist" in json.loads(res.stdout)["error"]["message"]
        assert depositions(zenodo_env) == []
    res = run(*publish_args(project, project.image(), "--no-community", "--json"))
    assert res.exit_code == 0, res.output
    rec = client_for(zenodo_env).get_record(json.loads(res.stdout)["record_id"])
    assert not rec.raw["metadata"].get("communities")
    assert not rec.raw.get("parent", {}).get("communities")
    if backend_of(zenodo_env) == "rdm":
        return  # new versions keep the parent's communities on the native API
    project.release("1.0.5")
    res = run(
        *publish_args(project, project.image(), "--community", "cta", "--community", "escape2020", "--json")
    )
    assert res.exit_code == 0, res.output
    deps = {d.record_id: d for d in depositions(zenodo_env)}
    dep = deps[int(json.loads(res.stdout)["record_id"])]
    dep = client_for(zenodo_env).request_json("GET", f"/deposit/depositions/{dep.id}")  # its JSON
    assert [c["identifier"] for c in dep["metadata"]["communities"]] == ["cta", "escape2020"]


def test_token_file(standin, project: Project, tmp_path, monkeypatch):
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(TEST_TOKEN + "\n")
    res = run(
        *publish_args(
            project, project.image(), "--zenodo-url", standin.api_url, "--token-file", str(token_file)
        )
    )
    assert res.exit_code == 0, res.output
    assert TEST_TOKEN not in res.stdout + res.stderr


def test_steps_happen_in_the_documented_order(zenodo_env, project: Project, recorder: Recorder):
    image = project.image()
    res = run(*publish_args(project, image))
    assert res.exit_code == 0, res.output

    def step(method: str, path: str) -> str | None:  # the deposit API's routes, or the native API's
        if method == "POST" and re.fullmatch(r"/api/(deposit/depositions|records)/?", path):
            return "create"
        if method == "PUT" and (path.startswith("/api/files/") or path.endswith("/content")):
            return "upload:" + uploaded_key(path)
        if method == "PUT" and re.fullmatch(r"/api/(deposit/depositions/\d+|records/[^/]+/draft)", path):
            return "metadata"
        if method == "POST" and path.endswith(("/actions/publish", "/actions/submit-review")):
            return "publish"
        if method == "GET" and re.fullmatch(r"/api/records/[^/]+", path):
            return "read-back"
        return None

    # consecutive repeats collapsed: the native client reads the record once more after publishing
    steps = [k for k, _ in itertools.groupby(s for s in (step(m, p) for m, p in recorder.requests) if s)]
    assert steps == [
        "create",
        f"upload:{image.name}",
        "upload:codemeta.json",
        f"upload:{IMAGE_RECORD_KEY}",
        "metadata",
        "publish",
        "read-back",
    ]
    # before any write: the lookup of depositions an earlier run of this release may have left
    lists = {"legacy": "/api/deposit/depositions", "rdm": "/api/user/records"}[backend_of(zenodo_env)]
    assert recorder.requests[0] == ("GET", lists)
