"""`diff` on real `docker save` archives from the shared Docker 20.10 engine (legacy builder)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ossr_images.cli import main
from ossr_images.images.rootfs import read_rootfs
from ossr_images.workflows.diff import run_diff

BUSYBOX = shutil.which("busybox")
DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
ENV GREETING=hello
COPY app /app
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /out && echo built > /out/stamp"]
"""

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def builds(docker_engine, tmp_path_factory):
    """Three legacy-builder builds (--no-cache): the context twice, then with one more file; each saved."""
    import docker

    if not BUSYBOX:
        pytest.skip("busybox is not installed (apt-get install busybox-static)")
    work = tmp_path_factory.mktemp("diff-docker")
    context = work / "ctx"
    (context / "app").mkdir(parents=True)
    shutil.copy(BUSYBOX, context / "busybox")
    (context / "app" / "hello.txt").write_text("hello\n")
    (context / "Dockerfile").write_text(DOCKERFILE)
    client = docker.from_env()
    tags = [f"ossr-images-test-diff-{os.getpid()}:{n}" for n in ("first", "second", "extra")]
    out: dict[str, Path] = {}
    try:
        for tag in tags:
            if tag.endswith(":extra"):
                (context / "app" / "extra.txt").write_text("not in the other builds\n")
            for _ in client.api.build(
                path=str(context), tag=tag, nocache=True, rm=True, forcerm=True, decode=True
            ):
                pass
            out[tag.rsplit(":", 1)[1]] = _save(docker_engine, tag, work / f"{tag.rsplit(':', 1)[1]}.tar")
        out["first-again"] = _save(docker_engine, tags[0], work / "first-again.tar")
        yield out
    finally:
        for tag in tags:
            try:
                client.images.remove(tag, force=True)
            except docker.errors.DockerException:
                pass


def _save(engine, tag: str, path: Path) -> Path:
    with open(path, "wb") as fh:
        for chunk in engine.save_stream(tag):
            fh.write(chunk)
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_same_image_saved_twice_is_identical(builds) -> None:
    code, out = _run("diff", str(builds["first"]), str(builds["first-again"]), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "identical" and doc["reason"] == "same image config digest"


def test_two_no_cache_builds_are_same_content_with_mtimes_ignored(builds) -> None:
    """What Docker 20.10's legacy builder really gives for one Dockerfile built twice: another image ID and
    no common layer (directories it creates, and files a RUN writes, get the build time as mtime), but the
    same files, modes, owners and contents."""
    a, b = read_rootfs(builds["first"]), read_rootfs(builds["second"])
    assert a.info.image_id != b.info.image_id
    assert not set(a.diff_ids) & set(b.diff_ids)
    result = run_diff(builds["first"], builds["second"])
    assert result.verdict == "same-content" and result.differences == []
    tree_b = dict(b.walk())
    mtimes = sum(1 for path, entry in a.walk() if entry.mtime != tree_b[path].mtime)
    assert result.ignored == {"mtime": mtimes, "layer_boundary": 0}
    assert mtimes >= 1
    code, out = _run("diff", str(builds["first"]), str(builds["second"]))
    assert code == 0 and out.startswith("Verdict: same-content")


def test_a_build_with_an_extra_file_differs_naming_it_and_its_copy(builds) -> None:
    code, out = _run("diff", str(builds["first"]), str(builds["extra"]), "--json")
    doc = json.loads(out)
    assert code == 3 and doc["verdict"] == "differs"
    (added,) = [d for d in doc["differences"] if d["change"] == "added"]
    assert added["path"] == "/app/extra.txt"
    assert added["layer"]["index"] == 1 and added["instruction"].startswith("COPY dir:")
    assert added["instruction"].endswith("in /app")
    assert added["a"] is None and added["b"]["size"] == len("not in the other builds\n")
    assert {d["change"] for d in doc["differences"]} == {"added"}
