"""Fixtures for `ossr-images serve`: real images built with the Docker engine (FROM scratch with a static
busybox; a multi-layer one), published to the stand-in with their image metadata file, and `serve` running
as a subprocess on a free port (stopped with SIGTERM)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_TOKEN
from fetch.records import COMMIT, REPO, make_client, publish_new_version, publish_record
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, build_image_record, dump_image_record
from ossr_images.standin.faults import Faults, RequestInfo

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
LABELS = {"org.opencontainers.image.source": REPO, "org.opencontainers.image.revision": COMMIT}


@dataclass
class BuiltImage:
    """An image built with the engine and saved with `docker save` (optionally compressed)."""

    ref: str
    archive: Path
    image_id: str
    message: str  # what `docker run` of it prints


@pytest.fixture(scope="session")
def built_images(docker_engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BuiltImage]]:
    """`hello` (FROM scratch + busybox, one layer) and `layers` (three layers), saved plain and zstd."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    root = tmp_path_factory.mktemp("serve-images")
    tag = uuid.uuid4().hex[:10]
    images: dict[str, BuiltImage] = {}
    specs = {
        "hello": ('CMD ["/bin/busybox", "echo", "hello from serve"]\n', "hello from serve"),
        "layers": (
            "COPY a.txt /data/a.txt\nCOPY b.txt /data/b.txt\n"
            'CMD ["/bin/busybox", "cat", "/data/a.txt", "/data/b.txt"]\n',
            "layer a\nlayer b",
        ),
    }
    refs = []
    for name, (tail, message) in specs.items():
        ctx = root / name
        ctx.mkdir()
        shutil.copy(BUSYBOX, ctx / "busybox")
        (ctx / "a.txt").write_text("layer a\n")
        (ctx / "b.txt").write_text("layer b\n")
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY busybox /bin/busybox\n" + tail)
        ref = f"ossr-serve-test/{name}:{tag}"
        refs.append(ref)
        docker_engine.build(ctx, tag=ref, labels=LABELS)
        archive = root / f"{name}.tar"
        with open(archive, "wb") as fh:
            for chunk in docker_engine.save_stream(ref):
                fh.write(chunk)
        images[name] = BuiltImage(ref, archive, docker_engine.image_id(ref), message)
    zst = root / "layers.tar.zst"
    subprocess.run(["zstd", "-q", "-3", str(images["layers"].archive), "-o", str(zst)], check=True)
    images["layers-zstd"] = BuiltImage(
        images["layers"].ref, zst, images["layers"].image_id, images["layers"].message
    )
    yield images
    for ref in refs:
        docker_engine.remove(ref, force=True)


def record_files(
    archive: Path, *, version: str = "1.0.0", claim_commit: str | None = None
) -> dict[str, bytes | Path]:
    """The files of an image record for `archive`: the archive and its image metadata file naming REPO at
    COMMIT, or at `claim_commit` (labels recorded in the file included), which the archive's own labels then
    contradict, as in a record whose image was swapped."""
    from ossr_images.images.inspect import inspect_image

    info = inspect_image(archive)
    data_md5 = hashlib.md5()  # noqa: S324 - Zenodo's checksum
    with open(archive, "rb") as fh:
        while chunk := fh.read(1 << 20):
            data_md5.update(chunk)
    labels = dict(info.labels)
    if claim_commit:
        labels["org.opencontainers.image.revision"] = claim_commit
    doc = build_image_record(
        repository=REPO,
        commit=claim_commit or COMMIT,
        version=version,
        file_name=archive.name,
        size=archive.stat().st_size,
        sha256=info.sha256,
        md5=data_md5.hexdigest(),
        image_format=info.format,
        compression=info.compression,
        image_id=info.image_id,
        manifest_digest=info.manifest_digest,
        labels=labels,
        repo_tags=info.repo_tags,
    )
    return {archive.name: archive, IMAGE_RECORD_KEY: dump_image_record(doc)}


@pytest.fixture
def client(standin):
    with make_client(standin.api_url, TEST_TOKEN) as c:
        yield c


class Publisher:
    """Publishes image records on the stand-in: `publisher(archive, version=...)` for an archive (its image
    metadata file is made here), `publisher.raw(files)` for ready files; `after=` makes a new version."""

    def __init__(self, client: Any, standin: Any) -> None:
        self.client = client
        self.standin = standin

    def __call__(
        self,
        archive: Path,
        *,
        version: str = "1.0.0",
        claim_commit: str | None = None,
        zenodo_commit: str | None = None,
        after: dict | None = None,
    ) -> dict[str, Any]:
        files = record_files(archive, version=version, claim_commit=claim_commit)
        return self.raw(files, after=after, version=version, commit=zenodo_commit or claim_commit or COMMIT)

    def raw(
        self,
        files: dict[str, bytes | Path],
        *,
        after: dict | None = None,
        version: str = "1.0.0",
        commit: str = COMMIT,
        repository: str = REPO,
    ) -> dict[str, Any]:
        if after is not None:
            return publish_new_version(self.client, after, files, version=version)
        return publish_record(self.client, files, version=version, commit=commit, repository=repository)


@pytest.fixture
def publish(client, standin) -> Publisher:
    return Publisher(client, standin)


class CountingFaults(Faults):
    """Counts the requests of each route on the stand-in (file contents by path)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: list[str] = []

    def before(self, request: RequestInfo) -> bool:
        with self.lock:
            self.paths.append(request.path)
        return False

    def count(self, pattern: str) -> int:
        with self.lock:
            return sum(1 for p in self.paths if re.search(pattern, p))


@pytest.fixture
def counting(standin) -> CountingFaults:
    faults = CountingFaults()
    standin.faults = faults
    return faults


@dataclass
class ServeProcess:
    """`ossr-images serve` in a subprocess."""

    proc: subprocess.Popen
    host: str  # 127.0.0.1:PORT
    cache: Path
    log_path: Path
    images: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_serve(
    api_url: str, cache: Path, log_path: Path, *extra: str, env: dict[str, str] | None = None
) -> ServeProcess:
    cmd = [
        sys.executable,
        "-m",
        "ossr_images",
        "serve",
        "--port",
        "0",
        "--zenodo-url",
        api_url,
        "--cache",
        str(cache),
        *extra,
    ]
    log_fh = open(log_path, "wb")  # noqa: SIM115 - closed when the process ends
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log_fh, env={**os.environ, **(env or {})})
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        m = re.search(r"Listening on http://([0-9.]+:\d+)", text)
        if m:
            return ServeProcess(proc, m.group(1), cache, log_path)
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {text}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not start: " + log_path.read_text(errors="replace"))


def stop_serve(server: ServeProcess) -> int:
    server.proc.send_signal(signal.SIGTERM)
    try:
        return server.proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        raise


@pytest.fixture
def serve(standin, tmp_path: Path, docker_engine_optional) -> Iterator[ServeProcess]:
    """serve against the stand-in, with the test token in its environment (it must never show it)."""
    server = start_serve(
        standin.api_url, tmp_path / "serve-cache", tmp_path / "serve.log", env={"ZENODO_TOKEN": TEST_TOKEN}
    )
    yield server
    try:
        code = stop_serve(server)
        # uvicorn finishes the requests in flight, then ends by the signal it received (as a shell expects)
        assert code in (0, -signal.SIGTERM), server.log()
        assert "Finished server process" in server.log()
        assert TEST_TOKEN not in server.log()
    finally:
        if docker_engine_optional is not None:
            for ref in server.images:
                docker_engine_optional.remove(ref, force=True)


@pytest.fixture
def docker_engine_optional():
    if not os.environ.get("DOCKER_HOST"):
        return None
    from ossr_images.images.docker_engine import DockerEngine

    return DockerEngine.connect()


def run(cmd: list[str], timeout: int = 180, **kw: Any) -> subprocess.CompletedProcess:
    """Run a client command; output captured as text."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def json_of(data: bytes) -> Any:
    return json.load(io.BytesIO(data))
