"""`ossr-images search` against the local stand-in: image records only, every page, their provenance."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from conftest import TEST_TOKEN
from fetch.native_records import add_to_community
from fetch.records import COMMIT, REPO, image_files, make_client, publish_record, upload_all, zenodo_metadata
from ossr_images.cli import main


def test_search_follows_pages_to_the_end_and_lists_only_images(standin, tmp_path: Path, monkeypatch) -> None:
    with make_client(standin.api_url, TEST_TOKEN) as client:
        files = image_files(tmp_path / "src")
        for i in range(27):  # more than one anonymous page (25)
            publish_record(client, files, title=f"Image number {i:02d}", version=f"1.{i}.0")
        publish_record(
            client, {"notes.txt": b"not an image\n"}, title="Unrelated dataset", keywords=["physics"]
        )

    monkeypatch.delenv("ZENODO_TOKEN", raising=False)  # anonymous: pages of 25
    result = CliRunner().invoke(main, ["search", "--zenodo-url", standin.api_url, "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    titles = sorted(r["title"] for r in doc["records"])
    assert titles == [f"Image number {i:02d}" for i in range(27)]
    assert doc["total"] == 27
    for r in doc["records"]:
        assert r["source"] == {"repository": REPO, "commit": COMMIT}
        # Zenodo's DOIs are <prefix>/zenodo.<id>, a plain InvenioRDM's <prefix>/<id>
        zenodo = "zenodo." if standin.backend == "legacy" else ""
        assert r["doi"] == f"10.5072/{zenodo}{r['record_id']}" and r["version"].startswith("1.")
        assert r["image_file"] == "example-1.0.0.tar" and r["size"] > 0
    detailed = [r for r in doc["records"] if r["details_from"] == "metadata-file"]
    assert len(detailed) == 20 and all(r["format"] == "docker-archive" for r in detailed)

    human = CliRunner().invoke(main, ["search", "Image", "--zenodo-url", standin.api_url])
    assert human.exit_code == 0, human.stderr
    lines = human.stdout.strip().splitlines()
    assert len(lines) == 27 and all(f"{REPO} at {COMMIT}" in line for line in lines)


def test_search_by_text_and_community(standin, tmp_path: Path, monkeypatch) -> None:
    with make_client(standin.api_url, TEST_TOKEN) as client:
        files = image_files(tmp_path / "src")
        publish_record(client, files, title="Gammapy analysis image")
        if standin.backend == "legacy":  # the deposit API: communities in the metadata
            meta = zenodo_metadata(title="Escape image", version="2.0", repository=REPO, commit=COMMIT)
            meta["communities"] = [{"identifier": "escape2020"}]
            dep = client.create_deposition(meta)
            upload_all(client, dep, files)
            client.publish(dep.id)
        else:  # the native API: an inclusion request for the published record, accepted by the curator
            record = publish_record(client, files, title="Escape image", version="2.0")
            add_to_community(standin, record.id, "escape2020")

    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    runner = CliRunner()
    by_text = runner.invoke(main, ["-v", "search", "gammapy", "--zenodo-url", standin.api_url, "--json"])
    assert by_text.exit_code == 0, by_text.stderr
    assert [r["title"] for r in json.loads(by_text.stdout)["records"]] == ["Gammapy analysis image"]
    assert TEST_TOKEN not in by_text.stdout + by_text.stderr

    by_community = runner.invoke(
        main, ["search", "--community", "escape2020", "--zenodo-url", standin.api_url, "--json"]
    )
    assert by_community.exit_code == 0, by_community.stderr
    doc = json.loads(by_community.stdout)
    assert [r["title"] for r in doc["records"]] == ["Escape image"]
    assert doc["api"] == standin.backend


def test_search_with_no_hits_says_so(standin, monkeypatch) -> None:
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    result = CliRunner().invoke(
        main, ["search", "nothing-matches-this", "--zenodo-url", standin.api_url, "--json"]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["records"] == []
