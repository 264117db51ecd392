"""The `docker-registry` (CNCF distribution) pull-through cache of examples/serve in front of `serve`,
pulled through by docker: the image ID is the archived one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from serve.conftest import run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "serve" / "registry-pull-through.yml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.docker
def test_docker_pulls_through_a_docker_registry_cache(built_images, publish, serve, tmp_path: Path) -> None:
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    image = built_images["layers"]
    record = publish(image.archive)
    port = _free_port()
    config = (
        EXAMPLE.read_text()
        .replace("/var/lib/ossr-pull-through", str(tmp_path / "store"))
        .replace("http://127.0.0.1:5000", serve.url)
        .replace("127.0.0.1:5001", f"127.0.0.1:{port}")
    )
    (tmp_path / "config.yml").write_text(config)
    log = open(tmp_path / "registry.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(tmp_path / "config.yml")], stdout=log, stderr=log
    )
    try:
        for _ in range(80):
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        ref = f"127.0.0.1:{port}/doi/{record.doi}:latest"
        pulled = run(["docker", "pull", ref])
        assert pulled.returncode == 0, pulled.stderr + (tmp_path / "registry.log").read_text()[-2000:]
        serve.images.append(ref)
        ident = run(["docker", "image", "inspect", "--format", "{{.Id}}", ref]).stdout.strip()
        assert ident == image.image_id
        res = run(["docker", "run", "--rm", "--network", "none", ref])
        assert res.stdout.split() == ["layer", "a", "layer", "b"], res.stderr
        assert f"/v2/doi/{record.doi}/manifests/latest" in serve.log()  # it went through serve
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
