"""9: the native upload path (InvenioRDM's records API, `--api rdm`) against the same work done with curl.

On a stand-in serving only the native API (`local-zenodo --api-surface rdm`, a plain InvenioRDM instance), one
file goes in the way the API asks: register the key (`POST .../draft/files`), stream the content (`PUT
.../files/{key}/content`), commit (`POST .../commit`). The baseline does these three calls with curl; ossr-images
is measured as a whole publish (`--api rdm`) and as `RdmClient.upload_file` alone, so the rows read like the
legacy `upload` ones. Then both libraries upload to one stand-in with the Zenodo surface (it serves both APIs),
order alternating: the last row is the native upload's time against the legacy one's on the same server.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from .cases import (
    LIB_UPLOAD,
    Ctx,
    _header_file,
    _json_out,
    _need_ossr,
    _record_id,
    _rm,
    _row,
    _sync,
    _timed,
    archive,
    fresh_env,
    publish_argv,
)
from .harness import CommandFailed, Run, Skip, run
from .services import StandIn

NATIVE = "application/vnd.inveniordm.v1+json"

LIB_UPLOAD_RDM = """
import os, sys
from ossr_images.zenodo.rdm_client import RdmClient
from ossr_images.zenodo.target import resolve_target
client = RdmClient(resolve_target(zenodo_url=os.environ["OSSR_IMAGES_ZENODO_URL"], api="rdm"))
dep = client.create_deposition()
path = sys.argv[1]
with open(path, "rb") as fh:
    res = client.upload_file(dep.bucket_url, os.path.basename(path), fh, os.path.getsize(path))
client.delete_deposition(dep.id)
print(res.md5, res.sha256)
"""


def _draft(s: StandIn) -> dict[str, Any]:
    r = s._session().post(f"{s.api_url}/records", json={}, headers={"Accept": NATIVE})
    r.raise_for_status()
    return r.json()


def _curl_three_calls(ctx: Ctx, s: StandIn, path: Path, out: list[Run]) -> None:
    """register + content PUT + commit with curl (one shell script, so the three calls are timed together)."""
    draft = _draft(s)
    files = f"{s.api_url}/records/{draft['id']}/draft/files"
    hdr = _header_file(ctx, s.token)
    body = json.dumps([{"key": path.name, "size": path.stat().st_size}])
    script = (
        f"set -e; curl -sS --fail -o /dev/null -H @{hdr} -H 'Content-Type: application/json' -d '{body}' {files} && "
        f"curl -sS --fail -o /dev/null -H @{hdr} -H 'Content-Type: application/octet-stream' -T {path} "
        f"{files}/{path.name}/content && "
        f"curl -sS --fail -o /dev/null -H @{hdr} -X POST {files}/{path.name}/commit"
    )
    _sync()
    out.append(_timed(s, lambda: run(script, shell=True).check()))
    s._session().delete(f"{s.api_url}/records/{draft['id']}/draft")


def _round(ctx: Ctx, size: int, i: int, out: dict[str, list[Run]]) -> None:
    path = Path(archive(ctx, size)["path"])
    data = ctx.workdir / f"standin-rdm-{i}"
    with StandIn(data, log=ctx.workdir / f"standin-rdm-{i}.log", api_surface="rdm") as s:
        env = fresh_env(ctx, s, f"rdm-{i}")
        env["OSSR_IMAGES_API"] = "rdm"

        def curl() -> None:
            _curl_three_calls(ctx, s, path, out["curl"])

        def publish() -> None:
            _sync()
            r = _timed(s, lambda: run(publish_argv(ctx, str(path)), env=env, cwd=ctx.workdir).check())
            doc = _json_out(r)
            if doc.get("api") not in (None, "rdm"):
                raise CommandFailed(f"publish used the {doc.get('api')} API, not rdm")
            _record_id(doc)
            out["publish"].append(r)

        def lib() -> None:
            _sync()
            argv = [sys.executable, "-c", LIB_UPLOAD_RDM, str(path)]
            out["lib"].append(_timed(s, lambda: run(argv, env=env).check()))

        steps = [curl, lib, publish] if i % 2 == 0 else [publish, lib, curl]
        for step in steps:
            step()
    _rm(data)


def _same_server_round(ctx: Ctx, size: int, i: int, out: dict[str, list[Run]]) -> None:
    """Both libraries on one stand-in with the Zenodo surface (which serves both APIs), order alternating:
    the native upload's cost next to the legacy one's, with no other difference than the protocol."""
    path = Path(archive(ctx, size)["path"])
    data = ctx.workdir / f"standin-both-{i}"
    with StandIn(data, log=ctx.workdir / f"standin-both-{i}.log") as s:
        env = fresh_env(ctx, s, f"both-{i}")

        def lib(script: str, key: str) -> None:
            _sync()
            argv = [sys.executable, "-c", script, str(path)]
            out[key].append(_timed(s, lambda: run(argv, env=env).check()))

        pair = [(LIB_UPLOAD, "legacy"), (LIB_UPLOAD_RDM, "native")]
        for script, key in pair if i % 2 == 0 else pair[::-1]:
            lib(script, key)
    _rm(data)


def bench_upload_rdm(ctx: Ctx) -> None:
    """9: `ossr-images publish --api rdm` and `RdmClient.upload_file` vs curl's register + PUT + commit."""
    _need_ossr("local-zenodo")
    _need_ossr("publish")
    if not shutil.which("curl"):
        raise Skip("curl is not installed")
    size = ctx.size
    out: dict[str, list[Run]] = {"curl": [], "publish": [], "lib": []}
    for i in range(ctx.repeat):
        _round(ctx, size, i, out)
    note = "baseline: POST register, PUT content, POST commit"
    base = ctx.add(_row("upload-rdm", "curl (native API: 3 calls)", size, out["curl"], note=note))
    pub = ctx.add(_row("upload-rdm", "ossr-images publish --api rdm", size, out["publish"]))
    pub.ratio, pub.ratio_of = base.seconds / pub.seconds, "curl"
    pub.note = "whole publish on the native API: checks, upload, commit check, publish (goal >= 0.9x curl)"
    lib = ctx.add(_row("upload-rdm", "RdmClient.upload_file (library, no CLI)", size, out["lib"]))
    lib.ratio, lib.ratio_of = base.seconds / lib.seconds, "curl"
    lib.note = "register + streamed content with md5+sha256 + commit, checked (Python start included)"
    both: dict[str, list[Run]] = {"legacy": [], "native": []}
    for i in range(ctx.repeat):
        _same_server_round(ctx, size, i, both)
    legacy = ctx.add(_row("upload-rdm", "ZenodoClient.upload_file (Zenodo surface)", size, both["legacy"]))
    legacy.note = "the legacy library upload on a stand-in serving both APIs (reference for the next row)"
    native = ctx.add(_row("upload-rdm", "RdmClient.upload_file (same stand-in)", size, both["native"]))
    native.ratio, native.ratio_of = legacy.seconds / native.seconds, "legacy"
    native.note = "native vs legacy library upload on one server, order alternating (goal ~1x)"


__all__ = ["bench_upload_rdm"]
