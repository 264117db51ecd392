"""7: `ossr-images serve` as a registry. The same image, in the same run:

- warm pull: `docker pull` from serve (archive verified and cached) vs `docker pull` from a local CNCF
  `docker-registry` the image was pushed to (goal >= 0.9x);
- cold pull: `docker pull` from serve with an empty cache (the archive is on the stand-in) vs
  `ossr-images fetch` + a warm pull;
- serve's peak RSS over all of it (goal: flat, < 100 MB, whatever the image size).

Before each pull the image is removed from the engine (`docker rmi` by ID), so every pull transfers and
extracts all layers.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .harness import Row, Run, Skip, run
from .services import StandIn, _proc_status

OSSR = [sys.executable, "-m", "ossr_images"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise Skip(f"{url} did not answer")


class _Proc:
    """A background server process with its log in a file."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._fh, stderr=self._fh, env=env)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._fh.close()


def _start_serve(api_url: str, cache: Path, log: Path) -> tuple[_Proc, str]:
    p = _Proc([*OSSR, "serve", "--port", "0", "--zenodo-url", api_url, "--cache", str(cache)], log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = re.search(r"Listening on http://([0-9.]+:\d+)", log.read_text(errors="replace"))
        if m:
            return p, m.group(1)
        time.sleep(0.05)
    p.stop()
    raise Skip("serve did not start: " + log.read_text(errors="replace")[-500:])


def _rmi(image_id: str) -> None:
    subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True)


def _pull(ref: str, image_id: str) -> Run:
    _rmi(image_id)
    os.sync()
    r = run(["docker", "pull", "-q", ref]).check()
    got = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True)
    if got.stdout.strip() != image_id:
        raise RuntimeError(f"{ref} pulled image {got.stdout.strip()}, expected {image_id}")
    return r


CLIENTS = 16


def _concurrent_gets(host: str, rid: str, serve: _Proc) -> tuple[Run, int | None]:
    """CLIENTS concurrent `curl` GETs of the image's largest blob (to /dev/null), timed together; serve's
    VmHWM afterwards."""
    manifest = requests.get(
        f"http://{host}/v2/records/{rid}/manifests/latest",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=60,
    ).json()
    layer = max(manifest["layers"], key=lambda lay: lay["size"])
    url = f"http://{host}/v2/records/{rid}/blobs/{layer['digest']}"
    script = " ".join(f"curl -sf -o /dev/null {url} &" for _ in range(CLIENTS)) + " wait"
    r = run(script, shell=True).check()
    return r, _proc_status(serve.proc.pid).get("VmHWM")


def bench_serve(ctx) -> None:  # type: ignore[no-untyped-def]
    """docker pull from serve (warm, cold) vs a local docker-registry, and serve's peak RSS."""
    from .cases import _json_out, _need_ossr, _record_id, _row, archive, fresh_env, publish_argv

    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        raise Skip("no Docker engine (DOCKER_HOST)")
    if not shutil.which("docker-registry"):
        raise Skip("docker-registry is not installed (the CNCF registry baseline)")
    _need_ossr("serve")
    size = ctx.size
    arc = archive(ctx, size)
    image_id = arc["image_id"]
    work = ctx.workdir / "serve-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # the baseline: a local CNCF registry holding the same image
    port = _free_port()
    (work / "registry.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {work / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    registry = _Proc(["docker-registry", "serve", str(work / "registry.yml")], work / "registry.log")
    servers: list[_Proc] = [registry]
    try:
        _wait_http(f"http://127.0.0.1:{port}/v2/")
        reg_ref = f"127.0.0.1:{port}/bench/serve:1"
        with open(arc["path"], "rb") as fh:
            subprocess.run(["docker", "load", "-q"], stdin=fh, check=True, capture_output=True)
        subprocess.run(["docker", "tag", image_id, reg_ref], check=True)
        subprocess.run(["docker", "push", "-q", reg_ref], check=True, capture_output=True)
        with StandIn(work / "zenodo", log=work / "zenodo.log") as s:
            env = fresh_env(ctx, s, "serve")
            rid = _record_id(_json_out(run(publish_argv(ctx, arc["path"]), env=env, cwd=ctx.workdir).check()))
            serve, host = _start_serve(s.api_url, work / "cache", work / "serve.log")
            servers.append(serve)
            ref = f"{host}/records/{rid}:latest"
            cold = _pull(ref, image_id)
            fetch = run(
                [*OSSR, "fetch", rid, "-d", str(work / "fetched"), "--only", "image"], env=env
            ).check()
            shutil.rmtree(work / "fetched", ignore_errors=True)
            warm: list[Run] = []
            base: list[Run] = []
            for i in range(ctx.repeat):
                order = [(warm, ref), (base, reg_ref)] if i % 2 == 0 else [(base, reg_ref), (warm, ref)]
                for runs, r in order:
                    runs.append(_pull(r, image_id))
            rss = _proc_status(serve.proc.pid).get("VmHWM")
            many, many_rss = _concurrent_gets(host, rid, serve)
        b = ctx.add(_row("serve", "docker pull from docker-registry", size, base, note="baseline"))
        w = ctx.add(_row("serve", "docker pull from ossr-images serve (warm)", size, warm))
        w.ratio, w.ratio_of = b.seconds / w.seconds, "registry"
        w.note = "cached, verified archive; layers by byte range, sha256 checked while sent (goal >= 0.9x)"
        c = ctx.add(_row("serve", "docker pull from ossr-images serve (cold)", size, [cold]))
        composite = fetch.seconds + min(x.seconds for x in warm)
        c.ratio, c.ratio_of = composite / cold.seconds, "fetch+pull"
        c.note = (
            f"empty cache: fetch from the stand-in (md5, sha256, provenance) then pull; "
            f"ossr-images fetch alone {fetch.seconds:.2f}s, + warm pull = {composite:.2f}s"
        )
        m = ctx.add(
            _row("serve", f"{CLIENTS} concurrent curl GETs of the layer blob", size * CLIENTS, [many])
        )
        m.note = "total bytes sent by serve, each blob's sha256 checked while sent"
        ctx.add(
            Row(
                bench="serve",
                tool=f"ossr-images serve (server process, {CLIENTS} concurrent GETs)",
                size=size,
                maxrss_kib=many_rss,
                note="peak RSS (VmHWM) after the concurrent GETs: goal < 100 MB",
            )
        )
        ctx.add(
            Row(
                bench="serve",
                tool="ossr-images serve (server process)",
                size=size,
                maxrss_kib=rss,
                note="peak RSS (VmHWM) over cold + warm pulls: goal flat, < 100 MB",
            )
        )
    finally:
        for p in servers:
            p.stop()
        _rmi(image_id)
        shutil.rmtree(work, ignore_errors=True)
