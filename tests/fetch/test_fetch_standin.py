"""`ossr-images fetch` against the local Zenodo stand-in over real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import TEST_TOKEN
from fetch.records import (
    COMMIT,
    REPO,
    CuttingProxy,
    hostile_handler,
    image_files,
    publish_new_version,
    publish_record,
    serve,
)
from ossr_images.cli import main
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY
from ossr_images.zenodo.models import Record


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result


def image_key(record: Record) -> str:
    return next(f.key for f in record.files if f.key.startswith("example-"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remote_sha256(files: dict[str, Any], key: str) -> str:
    content = files[key]
    data = content.read_bytes() if isinstance(content, Path) else content
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------ identifier forms


@pytest.mark.parametrize("form", ["doi", "doi-prefixed", "doi-url", "record-url", "api-url", "id"])
def test_each_identifier_form(form: str, zenodo_env, image_record, tmp_path: Path) -> None:
    rid = str(image_record.id)
    doi = image_record.doi
    host = zenodo_env.api_url.removesuffix("/api")
    text = {
        "doi": doi,
        "doi-prefixed": f"doi:{doi}",
        "doi-url": f"https://doi.org/{doi}",
        "record-url": f"{host}/records/{rid}",
        "api-url": f"{zenodo_env.api_url}/records/{rid}",
        "id": rid,
    }[form]
    out = tmp_path / "out"
    result = run("fetch", text, "-d", str(out), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    doc = json.loads(result.stdout)
    assert doc["record_id"] == rid and doc["doi"] == doi and doc["api"] == zenodo_env.backend
    assert doc["source"]["repository"] == REPO and doc["source"]["commit"] == COMMIT
    keys = {f["key"] for f in doc["files"]}
    assert keys == {image_key(image_record), IMAGE_RECORD_KEY, "codemeta.json"}
    assert all(f["verified"] for f in doc["files"])
    for f in doc["files"]:
        assert Path(f["path"]) == out / f["key"] and sha256(out / f["key"]) == f["sha256"]
    assert doc["image"]["format"] == "docker-archive" and doc["image"]["id"].startswith("sha256:")
    assert doc["image"]["labels"]["org.opencontainers.image.revision"] == COMMIT
    assert doc["loaded"] is None
    assert sorted(p.name for p in out.iterdir()) == sorted(keys)  # no lock file in the user's folder


def test_record_url_on_another_host_is_read_there_without_the_token(
    standin, image_record, tmp_path, monkeypatch
):
    monkeypatch.delenv("OSSR_IMAGES_ZENODO_URL", raising=False)
    monkeypatch.setenv("ZENODO_TOKEN", TEST_TOKEN)
    url = f"{standin.api_url.removesuffix('/api')}/records/{image_record.id}"
    result = run("-v", "fetch", url, "-d", str(tmp_path / "o"))
    assert result.exit_code == 0, result.stderr
    assert f"built from {REPO} at {COMMIT}" in result.stdout
    assert TEST_TOKEN not in result.stdout + result.stderr


def test_default_folder_is_zenodo_record_id(zenodo_env, image_record, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("fetch", str(image_record.id))
    assert result.exit_code == 0, result.stderr
    folder = tmp_path / f"zenodo-{image_record.id}"
    assert (folder / IMAGE_RECORD_KEY).is_file() and (folder / image_key(image_record)).is_file()
    assert f"built from {REPO} at {COMMIT}" in result.stdout


def test_concept_gives_the_latest_version_and_says_so(zenodo_env, client, tmp_path: Path) -> None:
    v1 = publish_record(client, image_files(tmp_path / "v1", version="1.0.0"))
    v2 = publish_new_version(client, v1, image_files(tmp_path / "v2", version="2.0.0"), version="2.0.0")
    assert v2.conceptrecid == v1.conceptrecid and v2.id != v1.id
    for text in (v1.conceptdoi, str(v1.conceptrecid)):
        result = run("fetch", text, "-d", str(tmp_path / f"c{len(text)}"), "--json")
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["record_id"] == str(v2.id) and doc["doi"] == v2.doi
        assert doc["conceptdoi"] == v1.conceptdoi
        assert "latest version" in result.stderr
        assert any(f["key"] == "example-2.0.0.tar" for f in doc["files"])
    # an exact version DOI gives that version, even when it is not the latest
    result = run("fetch", v1.doi, "-d", str(tmp_path / "exact"), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["record_id"] == str(v1.id) and "latest version" not in result.stderr
    assert any(f["key"] == "example-1.0.0.tar" for f in doc["files"])


def test_restricted_files_are_a_clear_error_before_anything_is_written(
    standin, client, tmp_path, monkeypatch
):
    """A record whose files are restricted: anonymous fetch stops at once, saying why and whose token helps."""
    meta_files = image_files(tmp_path / "src")
    record = publish_record(client, meta_files, access_right="restricted")
    assert record.files_access == "restricted" or record.access_right == "restricted"
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    out = tmp_path / "out"
    result = run("fetch", str(record.id), "--zenodo-url", standin.api_url, "-d", str(out), "--json")
    assert result.exit_code == 4, result.stdout
    error = json.loads(result.stdout)["error"]
    assert f"record {record.id}" in error["message"] and "restricted" in error["message"]
    assert "without a token" in error["message"] and "token" in error["hint"]
    assert not out.exists()


# ------------------------------------------------------------------------------------------ downloads


def test_several_files_download_in_parallel(zenodo_env, client, tmp_path: Path) -> None:
    from ossr_images.workflows.fetch import FetchOptions, fetch
    from ossr_images.zenodo.target import Target

    files = image_files(tmp_path / "src")
    for i in range(6):
        files[f"data-{i}.bin"] = os.urandom(200_000 + i)
    record = publish_record(client, files)

    active = 0
    peak = 0
    calls = 0
    lock = threading.Lock()
    first_three = threading.Barrier(3, timeout=60)  # passes only if three downloads run at the same time
    real = client.download_file

    def tracking(url: str, dest: Path, *args: Any, **kwargs: Any) -> Any:
        nonlocal active, peak, calls
        if Path(dest).parent != tmp_path / "out":  # the image metadata file, read alone first
            return real(url, dest, *args, **kwargs)
        with lock:
            active += 1
            calls += 1
            peak = max(peak, active)
            wait = calls <= 3
        try:
            if wait:
                first_three.wait()
            return real(url, dest, *args, **kwargs)
        finally:
            with lock:
                active -= 1

    client.download_file = tracking  # type: ignore[method-assign]
    totals: list[int] = []
    seen: list[int] = []

    def factory(total: int, description: str) -> Any:
        totals.append(total)
        return seen.append

    result = fetch(
        str(record.id),
        Target("custom", zenodo_env.api_url, None),
        FetchOptions(dest=tmp_path / "out"),
        client=client,
        progress_factory=factory,
    )
    assert peak == 3  # three at once (the barrier), never more: not one after the other, not all 8
    assert len([f for f in result.files if f.verified]) == 9
    for key in files:
        assert sha256(tmp_path / "out" / key) == remote_sha256(files, key)
    assert sum(seen) == totals[0] == sum(f.size or 0 for f in record.files if f.key != IMAGE_RECORD_KEY)


def test_download_cut_mid_file_is_resumed_in_the_same_run(standin, client, tmp_path: Path) -> None:
    files = image_files(tmp_path / "src", payload=os.urandom(12_000_000))
    record = publish_record(client, files)
    key = image_key(record)
    size = next(f.size for f in record.files if f.key == key)
    proxy = CuttingProxy(standin.api_url.removesuffix("/api"), cut_after=5_000_000, cuts=2)
    with serve(proxy.handler()) as base:
        proxy.base = base
        result = run(
            "fetch", str(record.id), "--zenodo-url", f"{base}/api", "-d", str(tmp_path / "out"), "--json"
        )
    assert result.exit_code == 0, result.stderr
    image_path = f"/api/records/{record.id}/files/{key}/content"
    assert proxy.cut_paths()[image_path] == 2  # the connection was dropped twice mid-file
    ranges = [r for p, r, _ in proxy.requests if p == image_path]
    assert len(ranges) == 3 and ranges[0] is None
    starts = [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:]]
    assert 0 < starts[0] < starts[1] < size  # resumed with Range from where it stopped, not restarted
    out = tmp_path / "out" / key
    assert sha256(out) == remote_sha256(files, key)
    assert not (tmp_path / "out" / f"{key}.part").exists()


def _blob_of(standin, record_id: Any, key: str) -> Path:
    state = json.loads((Path(standin.data_dir) / "state.json").read_text())

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("key") == key and node.get("blob"):
                return node["blob"]
            for v in node.values():
                found = walk(v)
                if found:
                    return found
        elif isinstance(node, list):
            for v in node:
                found = walk(v)
                if found:
                    return found
        return None

    blob = walk(state["records"][standin.store_key(record_id)])
    assert blob, "blob not found in the stand-in's state"
    return Path(standin.data_dir) / "blobs" / blob


def test_file_corrupted_on_the_server_is_an_integrity_failure(zenodo_env, image_record, tmp_path) -> None:
    key = image_key(image_record)
    blob = _blob_of(zenodo_env, image_record.id, key)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    blob.write_bytes(bytes(data))
    out = tmp_path / "out"
    result = run("fetch", str(image_record.id), "-d", str(out))
    assert result.exit_code == 3, result.stderr
    assert "md5" in result.stderr and "Hint:" in result.stderr
    assert not (out / key).exists() and not (out / f"{key}.part").exists()


def test_hostile_key_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    record = {
        "id": 1,
        "doi": "10.5072/zenodo.1",
        "files": [
            {"key": "codemeta.json", "size": 6, "checksum": "md5:" + "0" * 32,
             "links": {"self": "http://127.0.0.1:1/api/records/1/files/codemeta.json/content"}},
            {"key": "../../x", "size": 6, "checksum": "md5:" + "0" * 32,
             "links": {"self": "http://127.0.0.1:1/api/records/1/files/x/content"}},
        ],
    }  # fmt: skip
    served: list[str] = []
    work = tmp_path / "work"
    work.mkdir()
    with serve(hostile_handler(record, served)) as base:
        result = run("fetch", "1", "--zenodo-url", f"{base}/api", "-d", str(work / "a" / "b"))
    assert result.exit_code == 3, result.stderr
    assert "'../../x'" in result.stderr and "Hint:" in result.stderr
    assert served == ["/api/records/1"]  # no file was even downloaded
    assert list(work.iterdir()) == [] and not (tmp_path / "x").exists()


def test_record_without_image_metadata_file(zenodo_env, client, tmp_path: Path) -> None:
    files = {"data.csv": b"a,b\n1,2\n", "README.md": b"# other tool\n", "results.tar": b"not an image" * 100}
    record = publish_record(client, files, keywords=["physics"])
    result = run("fetch", record.doi, "-d", str(tmp_path / "o"), "--json")
    assert result.exit_code == 0, result.stderr
    assert "provenance could not be checked" in result.stderr
    doc = json.loads(result.stdout)
    assert {f["key"] for f in doc["files"]} == set(files) and all(f["verified"] for f in doc["files"])
    assert (
        doc["image"] is None
        and doc["loaded"] is None
        and "results.tar is not a container image" in result.stderr
    )
    assert (tmp_path / "o" / "data.csv").read_bytes() == files["data.csv"]


# ------------------------------------------------------------------------------------- existing files


def test_existing_files_identical_kept_different_refused_without_force(zenodo_env, image_record, tmp_path):
    out = tmp_path / "out"
    assert run("fetch", str(image_record.id), "-d", str(out)).exit_code == 0
    key = image_key(image_record)
    before = (out / key).stat().st_mtime_ns
    again = run("fetch", str(image_record.id), "-d", str(out))
    assert again.exit_code == 0 and "already there and identical" in again.stderr
    assert (out / key).stat().st_mtime_ns == before  # not downloaded again

    (out / "codemeta.json").write_text("{}")
    refused = run("fetch", str(image_record.id), "-d", str(out))
    assert refused.exit_code == 1 and "--force" in refused.stderr
    assert (out / "codemeta.json").read_text() == "{}"
    forced = run("fetch", str(image_record.id), "-d", str(out), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads((out / "codemeta.json").read_text())["name"] == "example"


def test_two_fetches_into_one_folder_at_once(zenodo_env, client, tmp_path: Path) -> None:
    files = image_files(tmp_path / "src", payload=os.urandom(2_000_000))
    record = publish_record(client, files)
    out = tmp_path / "shared"
    codes: list[int] = []

    def one() -> None:
        codes.append(run("fetch", str(record.id), "-d", str(out)).exit_code)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [0, 0, 0]
    for key in files:
        assert sha256(out / key) == remote_sha256(files, key)
    assert not list(out.glob("*.part"))


# ---------------------------------------------------------------------------------------- provenance


def test_labels_disagreeing_with_the_metadata_file_fail_with_both_values(zenodo_env, client, tmp_path):
    other = "0" * 40
    files = image_files(tmp_path / "src", label_commit=other)
    record = publish_record(client, files)
    out = tmp_path / "o"
    result = run("fetch", str(record.id), "-d", str(out))
    assert result.exit_code == 3
    assert other in result.stderr and COMMIT in result.stderr and "labels" in result.stderr
    # nothing under a final name: the verified files are moved aside, and the error says where
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{k}.unverified-provenance" for k in files)
    assert str(out / f"{image_key(record)}.unverified-provenance") in result.stderr
    assert "--force" in result.stderr
    for key in files:
        assert sha256(out / f"{key}.unverified-provenance") == remote_sha256(files, key)

    # a second run (files moved aside already) fails the same way, and --json says where the files are
    again = run("fetch", str(record.id), "-d", str(out), "--json")
    assert again.exit_code == 3
    doc = json.loads(again.stdout)
    details = doc["error"]["details"]
    assert doc["ok"] is False and doc["exit_status"] == 3 and details["disagreements"]
    assert {f["key"] for f in details["files"]} == set(files)
    assert not any(f["final_name"] for f in details["files"])
    assert all(Path(f["path"]).name == f["key"] + ".unverified-provenance" for f in details["files"])
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{k}.unverified-provenance" for k in files)


def test_provenance_disagreement_with_force_keeps_the_files_in_place_and_says_so(
    zenodo_env, client, tmp_path
):
    files = image_files(tmp_path / "src", label_commit="0" * 40)
    record = publish_record(client, files)
    out = tmp_path / "o"
    result = run("fetch", str(record.id), "-d", str(out), "--force", "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert all(f["final_name"] for f in doc["error"]["details"]["files"])
    assert (
        "Do not use them" in doc["error"]["hint"] and str(out / image_key(record)) in doc["error"]["message"]
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(files)


def test_a_metadata_file_disagreeing_with_itself_is_refused_before_anything_is_written(
    zenodo_env, client, tmp_path
):
    files = image_files(tmp_path / "src")
    label = f'"org.opencontainers.image.revision": "{COMMIT}"'
    bad = label.replace(COMMIT, "0" * 40)
    files[IMAGE_RECORD_KEY] = files[IMAGE_RECORD_KEY].replace(label.encode(), bad.encode())
    record = publish_record(client, files)
    out = tmp_path / "o"
    result = run("fetch", str(record.id), "-d", str(out), "--only", "metadata")
    assert result.exit_code == 3, result.stderr
    assert "0" * 40 in result.stderr and COMMIT in result.stderr
    assert not out.exists()


def test_zenodo_source_link_disagreeing_fails_with_both_values(zenodo_env, client, tmp_path):
    record = publish_record(client, image_files(tmp_path / "src"), repository="https://github.com/evil/fork")
    result = run("fetch", str(record.id), "-d", str(tmp_path / "o"))
    assert result.exit_code == 3
    assert "https://github.com/evil/fork" in result.stderr and REPO in result.stderr


def test_only_image_and_only_metadata(zenodo_env, image_record, tmp_path: Path) -> None:
    key = image_key(image_record)
    result = run("fetch", str(image_record.id), "-d", str(tmp_path / "img"), "--only", "image", "--json")
    assert result.exit_code == 0, result.stderr
    assert [f["key"] for f in json.loads(result.stdout)["files"]] == [key]
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == [key]

    result = run("fetch", str(image_record.id), "-d", str(tmp_path / "meta"), "--only", "metadata", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {f["key"] for f in doc["files"]} == {IMAGE_RECORD_KEY, "codemeta.json"}
    assert doc["source"]["commit"] == COMMIT and not (tmp_path / "meta" / key).exists()


def test_source_is_cloned_at_the_recorded_commit(zenodo_env, client, tmp_path: Path) -> None:
    import subprocess

    repo = tmp_path / "upstream"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / "Dockerfile").write_text("FROM scratch\n")
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "one"], check=True)
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    (repo / "later.txt").write_text("later\n")
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "two"], check=True)

    record = publish_record(client, image_files(tmp_path / "src", commit=commit), commit=commit)
    # no network here: git itself maps the recorded GitHub URL to the local repository
    env = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{repo.as_uri()}.insteadOf",
        "GIT_CONFIG_VALUE_0": REPO,
    }
    result = run(
        "fetch",
        str(record.id),
        "-d",
        str(tmp_path / "o"),
        "--source",
        str(tmp_path / "src-co"),
        "--json",
        env=env,
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["source"] == {
        "repository": REPO,
        "commit": commit,
        "checkout": str(tmp_path / "src-co"),
        "verified": True,
    }
    head = subprocess.run(
        ["git", "-C", str(tmp_path / "src-co"), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    assert head.stdout.strip() == commit and not (tmp_path / "src-co" / "later.txt").exists()

    again = run(
        "fetch", str(record.id), "-d", str(tmp_path / "o"), "--source", str(tmp_path / "src-co"), env=env
    )
    assert again.exit_code == 0, again.stderr  # the same checkout is accepted as it is
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    busy = run(
        "fetch", str(record.id), "-d", str(tmp_path / "o"), "--source", str(tmp_path / "other"), env=env
    )
    assert busy.exit_code == 1 and "not empty" in busy.stderr


def test_token_never_in_output(zenodo_env, image_record, tmp_path: Path) -> None:
    for args in (["-v", "-v", "fetch", str(image_record.id), "-d", str(tmp_path / "a"), "--json"],
                 ["-v", "fetch", "999999", "-d", str(tmp_path / "b")]):  # fmt: skip
        result = run(*args)
        assert TEST_TOKEN not in result.stdout + result.stderr
    assert result.exit_code == 4 and "999999" in result.stderr  # the failing one said what failed


def test_part_file_from_an_earlier_run_is_resumed_or_replaced(standin, client, tmp_path: Path) -> None:
    files = image_files(tmp_path / "src", payload=os.urandom(9_000_000))
    record = publish_record(client, files)
    key = image_key(record)
    data = files[key].read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{key}.part").write_bytes(data[:4_194_304])  # a good prefix: resumed with Range
    proxy = CuttingProxy(standin.api_url.removesuffix("/api"), cut_after=0, cuts=0)
    with serve(proxy.handler()) as base:
        proxy.base = base
        result = run("fetch", str(record.id), "--zenodo-url", f"{base}/api", "-d", str(out))
    assert result.exit_code == 0, result.stderr
    assert [r for p, r, _ in proxy.requests if p.endswith(f"/{key}/content")] == ["bytes=4194304-"]
    assert (out / key).read_bytes() == data

    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / f"{key}.part").write_bytes(os.urandom(1000))  # not a prefix of this file: replaced
    result = run("fetch", str(record.id), "--zenodo-url", standin.api_url, "-d", str(stale))
    assert result.exit_code == 0, result.stderr
    assert (stale / key).read_bytes() == data and not (stale / f"{key}.part").exists()


def test_parallel_fetch_processes_into_one_folder(zenodo_env, client, tmp_path: Path) -> None:
    import subprocess
    import sys

    files = image_files(tmp_path / "src", payload=os.urandom(3_000_000))
    record = publish_record(client, files)
    out = tmp_path / "shared"
    cmd = [sys.executable, "-m", "ossr_images", "-q", "fetch", str(record.id), "-d", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [code for _, _, code in results] == [0, 0, 0, 0], [err for _, err, _ in results]
    for key in files:
        assert sha256(out / key) == remote_sha256(files, key)
    assert sorted(p.name for p in out.iterdir()) == sorted(files)


def test_a_refused_token_does_not_stop_fetching_a_public_record(tmp_path: Path, monkeypatch) -> None:
    """Real Zenodo answers 401 to a stale token even on public records (the stand-in does not check tokens
    there), so this server does: with a token 401, without one the record."""
    import http.server

    body = b"public bytes\n"
    seen: list[tuple[str, bool]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            authorized = "Authorization" in self.headers
            seen.append((self.path, authorized))
            base = f"http://{self.headers['Host']}"
            if authorized:
                status, data, ctype = 401, b'{"status": 401, "message": "Invalid token."}', "application/json"
            elif self.path.endswith("/content"):
                status, data, ctype = 200, body, "application/octet-stream"
            else:
                record = {"id": 7, "doi": "10.5072/zenodo.7", "conceptdoi": "10.5072/zenodo.6", "metadata": {}, "files": [
                    {"key": "a.txt", "size": len(body), "checksum": "md5:" + hashlib.md5(body).hexdigest(),  # noqa: S324
                     "links": {"self": f"{base}/api/records/7/files/a.txt/content"}}]}  # fmt: skip
                status, data, ctype = 200, json.dumps(record).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    monkeypatch.setenv("ZENODO_TOKEN", "stale-token-value-0123456789")
    with serve(Handler) as base:
        result = run("fetch", "7", "--zenodo-url", f"{base}/api", "-d", str(tmp_path / "o"), "--json")
    assert result.exit_code == 0, result.stderr
    assert "refused the token" in result.stderr and "stale-token-value" not in result.stdout + result.stderr
    assert (tmp_path / "o" / "a.txt").read_bytes() == body
    assert seen[0] == ("/api/records/7", True) and all(not auth for _, auth in seen[1:])


def test_load_docker_without_an_engine_fails_before_downloading(
    zenodo_env, image_record, tmp_path, monkeypatch
):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    out = tmp_path / "o"
    result = run("fetch", str(image_record.id), "-d", str(out), "--load", "docker")
    assert result.exit_code == 4, result.stderr
    assert "no-such-docker.sock" in result.stderr and "Hint:" in result.stderr
    assert not out.exists() or not list(out.iterdir())


def test_image_from_another_tool_is_read_but_provenance_unchecked(zenodo_env, client, tmp_path: Path) -> None:
    files = image_files(tmp_path / "src", compression="gzip")
    del files[IMAGE_RECORD_KEY]  # e.g. a record made by donodo: an image, no image metadata file
    record = publish_record(client, files, keywords=["docker"])
    result = run("fetch", str(record.id), "-d", str(tmp_path / "o"), "--json")
    assert result.exit_code == 0, result.stderr
    assert "provenance could not be checked" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["image"]["format"] == "docker-archive" and doc["image"]["id"].startswith("sha256:")
    # the source named by the Zenodo record is reported, marked as not verified in the human output
    assert doc["source"] == {"repository": REPO, "commit": COMMIT, "checkout": None, "verified": False}
    human = run("fetch", str(record.id), "-d", str(tmp_path / "o"))
    assert "from the Zenodo record only; not verified" in human.stdout


def test_interrupted_fetch_exits_130_and_the_next_run_resumes(standin, client, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    files = image_files(tmp_path / "src", payload=os.urandom(20_000_000))
    record = publish_record(client, files)
    key = image_key(record)
    out = tmp_path / "out"
    proxy = CuttingProxy(standin.api_url.removesuffix("/api"), cut_after=0, cuts=0, slow=0.02)
    with serve(proxy.handler()) as base:
        proxy.base = base
        cmd = [
            sys.executable,
            "-m",
            "ossr_images",
            "fetch",
            str(record.id),
            "--zenodo-url",
            f"{base}/api",
            "-d",
            str(out),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        part = out / f"{key}.part"
        deadline = time.monotonic() + 30
        while (not part.exists() or part.stat().st_size < 4_194_304) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Interrupted" in err and part.exists() and not (out / key).exists()
        kept = part.stat().st_size
        assert 4_194_304 <= kept < 20_000_000
        proxy.slow = 0.0
        again = run("fetch", str(record.id), "--zenodo-url", f"{base}/api", "-d", str(out))
    assert again.exit_code == 0, again.stderr
    image_requests = [r for p, r, _ in proxy.requests if p.endswith(f"/{key}/content")]
    assert image_requests[-1] == f"bytes={kept}-"  # resumed where the interrupted run stopped
    assert sha256(out / key) == remote_sha256(files, key)


def test_a_download_folder_that_is_a_file_is_a_clear_error(zenodo_env, image_record, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = run("fetch", str(image_record.id), "-d", str(not_a_folder))
    assert result.exit_code == 2 and "is a file" in result.stderr  # click's own check
    result = run("fetch", str(image_record.id), "-d", str(not_a_folder / "sub"))
    assert result.exit_code == 1, result.stderr
    assert f"cannot write {not_a_folder / 'sub'}" in result.stderr and "Hint:" in result.stderr


def test_source_link_from_another_tool_is_not_run_or_trusted_blindly(
    zenodo_env, client, tmp_path: Path
) -> None:
    files = {"data.csv": b"a\n"}
    tag = publish_record(client, files, keywords=["x"], repository=REPO, commit="v1.0")
    result = run("fetch", str(tag.id), "-d", str(tmp_path / "a"), "--source", str(tmp_path / "sa"))
    assert result.exit_code == 1 and "needs a commit id" in result.stderr

    marker = tmp_path / "pwned"
    evil = f"ext::sh -c touch% {marker}"
    try:
        record = publish_record(client, files, keywords=["x"], repository=evil, commit="a" * 40)
    except Exception as exc:  # noqa: BLE001 - a server that refuses such a link is fine too
        pytest.skip(f"the stand-in refuses such a related identifier: {exc}")
    result = run("fetch", str(record.id), "-d", str(tmp_path / "b"), "--source", str(tmp_path / "sb"))
    assert result.exit_code == 4 and "Hint:" in result.stderr
    assert not marker.exists()  # git's ext:: transport was not allowed to run a command
