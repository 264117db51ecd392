"""The seven benchmarks. Each measures ossr-images and its baseline in the same run, on the same machine and
the same files, and appends `Row`s to the context; a missing tool raises `Skip` with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import datagen
from .harness import CommandFailed, Row, Run, Skip, median, run
from .services import StandIn, env_with_token

OSSR = [sys.executable, "-m", "ossr_images"]
HERE = Path(__file__).resolve().parent


@dataclass
class Ctx:
    """What every benchmark shares: the work folder, the sizes, results and a cache of generated inputs."""

    workdir: Path
    size: int
    sizes: list[int]
    repeat: int
    smoke: bool
    donodo_venv: Path
    install_donodo: bool
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)
    strict_engine: bool = False

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row


# ---------------------------------------------------------------- helpers


def _ossr_has(command: str) -> bool:
    proc = subprocess.run([*OSSR, command, "--help"], capture_output=True, text=True)
    return proc.returncode == 0


def _need_ossr(command: str) -> None:
    if not _ossr_has(command):
        raise Skip(f"`ossr-images {command}` is not available yet")


def _json_out(r: Run) -> dict:
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError as exc:
        raise CommandFailed(f"not JSON on stdout of {r.argv}: {r.stdout[:500]!r}") from exc


def _find(doc: Any, *keys: str) -> Any:
    """The first value found under any of `keys`, searching nested dicts breadth first."""
    todo = [doc]
    while todo:
        d = todo.pop(0)
        if isinstance(d, dict):
            for k in keys:
                if d.get(k) not in (None, ""):
                    return d[k]
            todo.extend(v for v in d.values() if isinstance(v, dict))
    return None


def _record_id(doc: dict) -> str:
    rid = _find(doc, "record_id", "recid", "id")
    if rid is None:
        doi = _find(doc, "doi")
        if doi:
            rid = str(doi).rsplit(".", 1)[-1]
    if rid is None:
        raise CommandFailed(f"no record id in publish output: {json.dumps(doc)[:500]}")
    return str(rid)


def fresh_env(ctx: Ctx, s: StandIn, name: str) -> dict[str, str]:
    """The env for one ossr-images run: the stand-in's URL and token, and an empty cache folder, so a
    repeated run pays for everything again (no remembered hashes or drafts)."""
    env = env_with_token(s.token, s.api_url)
    cache = ctx.workdir / f"cache-{name}"
    _rm(cache)
    env["OSSR_IMAGES_CACHE_DIR"] = str(cache)
    return env


def _sync() -> None:
    """Flush dirty pages so one timed step does not pay for the previous step's writes."""
    os.sync()


def _header_file(ctx: Ctx, token: str) -> Path:
    """A curl header file, so the token is not on a command line."""
    p = ctx.workdir / "curl-auth-header"
    p.write_text(f"Authorization: Bearer {token}\n")
    p.chmod(0o600)
    return p


def _rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def archive(ctx: Ctx, size: int) -> dict:
    """The synthetic docker archive of `size` bytes (made once per size, kept until cleanup)."""
    key = f"archive-{size}"
    if key not in ctx.cache:
        path = ctx.workdir / f"ossr-bench-{size}.tar"
        ctx.cache[key] = datagen.write_big_docker_archive(path, size)
    return ctx.cache[key]


def codemeta(ctx: Ctx) -> Path:
    p = ctx.workdir / "codemeta.json"
    if not p.exists():
        datagen.write_codemeta(p)
    return p


def publish_argv(ctx: Ctx, image: str) -> list[str]:
    return [
        *OSSR,
        "publish",
        image,
        "--codemeta",
        str(codemeta(ctx)),
        "--commit",
        datagen.COMMIT,
        "--no-community",
        "--yes",
        "--json",
    ]


# ---------------------------------------------------------------- 1 + 2: upload and download


def _timed(s: StandIn, r_fn: Any) -> Run:
    """Run `r_fn()` and attach the stand-in's CPU seconds spent meanwhile (as `server_cpu`)."""
    c0 = s.cpu_seconds()
    r = r_fn()
    r.server_cpu = s.cpu_seconds() - c0
    return r


LIB_UPLOAD = """
import os, sys
from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.target import resolve_target
client = ZenodoClient(resolve_target(zenodo_url=os.environ["OSSR_IMAGES_ZENODO_URL"]))
dep = client.create_deposition()
path = sys.argv[1]
with open(path, "rb") as fh:
    res = client.upload_file(dep.bucket_url, os.path.basename(path), fh, os.path.getsize(path))
client.delete_deposition(dep.id)
print(res.md5, res.sha256)
"""

LIB_DOWNLOAD = """
import os, sys
from pathlib import Path
from ossr_images.zenodo.client import ZenodoClient
from ossr_images.zenodo.target import resolve_target
client = ZenodoClient(resolve_target(zenodo_url=os.environ["OSSR_IMAGES_ZENODO_URL"]))
res = client.download_file(sys.argv[1], Path(sys.argv[2]), size=int(sys.argv[3]))
print(res.md5, res.sha256)
"""


def _transfer_round(ctx: Ctx, size: int, i: int, out: dict[str, list[Run]], stand_rss: list[int]) -> None:
    """One round on a fresh stand-in: curl -T, publish, curl -o, fetch (order alternates by round)."""
    arc = archive(ctx, size)
    path = Path(arc["path"])
    data = ctx.workdir / f"standin-{i}"
    with StandIn(data, log=ctx.workdir / f"standin-{i}.log") as s:
        env = fresh_env(ctx, s, f"transfer-{i}")
        hdr = _header_file(ctx, s.token)

        def curl_up() -> None:
            dep = s.create_deposition()
            bucket = dep["links"]["bucket"]
            _sync()
            argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-H", f"@{hdr}", "-T", str(path)]
            out["curl -T"].append(_timed(s, lambda: run([*argv, f"{bucket}/{path.name}"]).check()))
            s.delete_deposition(dep["id"])

        def publish() -> str:
            _sync()
            r = _timed(s, lambda: run(publish_argv(ctx, str(path)), env=env, cwd=ctx.workdir).check())
            out["ossr-images publish"].append(r)
            return _record_id(_json_out(r))

        def lib_up() -> None:
            _sync()
            argv = [sys.executable, "-c", LIB_UPLOAD, str(path)]
            out["client.upload_file"].append(_timed(s, lambda: run(argv, env=env).check()))

        if i % 2 == 0:
            curl_up()
            lib_up()
            rid = publish()
        else:
            rid = publish()
            lib_up()
            curl_up()
        url, entry = s.file_url(rid, path.name)

        def curl_down() -> None:
            dest = ctx.workdir / "curl-download.tar"
            _sync()
            argv = ["curl", "-sS", "--fail", "-H", f"@{hdr}", "-o", str(dest), url]
            out["curl -o"].append(_timed(s, lambda: run(argv).check()))
            if dest.stat().st_size != arc["size"]:
                raise CommandFailed(f"curl downloaded {dest.stat().st_size} bytes, expected {arc['size']}")
            _rm(dest)

        def fetch() -> None:
            dest = ctx.workdir / "fetch-out"
            _rm(dest)
            _sync()
            argv = [*OSSR, "fetch", rid, "-d", str(dest), "--only", "image", "--json"]
            fenv = fresh_env(ctx, s, f"fetch-{i}")
            out["ossr-images fetch"].append(_timed(s, lambda: run(argv, env=fenv, cwd=ctx.workdir).check()))
            got = dest / path.name
            if not got.exists() or got.stat().st_size != arc["size"]:
                raise CommandFailed(f"fetch did not write {got} with {arc['size']} bytes")
            _rm(dest)

        def lib_down() -> None:
            dest = ctx.workdir / "lib-download.tar"
            _sync()
            argv = [sys.executable, "-c", LIB_DOWNLOAD, url, str(dest), str(arc["size"])]
            out["client.download_file"].append(_timed(s, lambda: run(argv, env=env).check()))
            _rm(dest)

        if i % 2 == 0:
            curl_down()
            lib_down()
            fetch()
        else:
            fetch()
            lib_down()
            curl_down()
        stand_rss.append(s.rss().get("VmHWM", 0))
    _rm(data)


def transfers(ctx: Ctx, size: int, repeat: int) -> tuple[dict[str, list[Run]], list[int]]:
    key = f"transfers-{size}-{repeat}"
    if key not in ctx.cache:
        _need_ossr("local-zenodo")
        _need_ossr("publish")
        _need_ossr("fetch")
        if not shutil.which("curl"):
            raise Skip("curl is not installed")
        out: dict[str, list[Run]] = {k: [] for k in ("curl -T", "ossr-images publish", "curl -o")}
        out["ossr-images fetch"] = []
        out["client.upload_file"] = []
        out["client.download_file"] = []
        stand_rss: list[int] = []
        for i in range(repeat):
            _transfer_round(ctx, size, i, out, stand_rss)
        ctx.cache[key] = (out, stand_rss)
    return ctx.cache[key]


def _row(bench: str, tool: str, size: int, runs: list[Run], **kw: Any) -> Row:
    secs = [r.seconds for r in runs]
    return Row(
        bench=bench,
        tool=tool,
        size=size,
        seconds=median(secs),
        runs=[round(x, 3) for x in secs],
        maxrss_kib=max(r.maxrss_kib for r in runs),
        cpu=median([r.user + r.sys for r in runs]),
        server_cpu=median([r.server_cpu for r in runs])
        if all(r.server_cpu is not None for r in runs)
        else None,
        **kw,
    )


def _floors(ctx: Ctx, size: int) -> dict[str, Row]:
    """Disk floors for the same file: read it (`cat > /dev/null`), copy it (`dd`, page cache) and copy it
    with fsync (`dd conv=fsync`: the stand-in fsyncs an upload, fetch fsyncs a download)."""
    key = f"floors-{size}"
    if key not in ctx.cache:
        path = Path(archive(ctx, size)["path"])
        reads, copies, synced = [], [], []
        dest = ctx.workdir / "dd-copy"
        for _ in range(ctx.repeat):
            reads.append(run(f"cat {path} > /dev/null", shell=True).check())
            _sync()
            copies.append(run(["dd", f"if={path}", f"of={dest}", "bs=4M", "status=none"]).check())
            _rm(dest)
            _sync()
            synced.append(
                run(["dd", f"if={path}", f"of={dest}", "bs=4M", "conv=fsync", "status=none"]).check()
            )
            _rm(dest)
        ctx.cache[key] = {
            "read": _row("disk", "cat file > /dev/null", size, reads, note="read floor (page cache)"),
            "copy": _row("disk", "dd bs=4M", size, copies, note="copy floor (page cache, no fsync)"),
            "fsync": _row("disk", "dd bs=4M conv=fsync", size, synced, note="copy + fsync floor"),
        }
    return ctx.cache[key]


def bench_upload(ctx: Ctx) -> None:
    """1: `ossr-images publish` of an image-sized archive vs `curl -T` to the same stand-in bucket."""
    size = ctx.size
    out, stand_rss = transfers(ctx, size, ctx.repeat)
    base = ctx.add(_row("upload", "curl -T (bucket PUT)", size, out["curl -T"], note="baseline"))
    pub = ctx.add(_row("upload", "ossr-images publish", size, out["ossr-images publish"]))
    pub.ratio, pub.ratio_of = base.seconds / pub.seconds, "curl"
    pub.note = "whole publish: checks, upload, verify, publish (goal >= 0.9x curl)"
    lib = ctx.add(
        _row("upload", "ZenodoClient.upload_file (library, no CLI)", size, out["client.upload_file"])
    )
    lib.ratio, lib.ratio_of = base.seconds / lib.seconds, "curl"
    lib.note = "the transfer alone: one PUT, md5+sha256 on the way (Python start included)"
    floor = ctx.add(_floors(ctx, size)["fsync"])
    if not ctx.smoke and floor.seconds and base.seconds > floor.seconds:
        ctx.notes.append(
            f"upload: the stand-in takes {base.seconds:.2f}s for curl's PUT vs {floor.seconds:.2f}s for a "
            f"fsynced disk copy: it is slower than the disk (server CPU {base.server_cpu or 0:.1f}s per PUT: "
            "Python socket reads + md5, which Zenodo computes too, + fsync)"
        )
    ctx.cache["standin_rss"] = max(stand_rss + [ctx.cache.get("standin_rss", 0)])


def bench_download(ctx: Ctx) -> None:
    """2: `ossr-images fetch` vs `curl -o` of the same file URL."""
    size = ctx.size
    out, _ = transfers(ctx, size, ctx.repeat)
    base = ctx.add(_row("download", "curl -o", size, out["curl -o"], note="baseline"))
    fet = ctx.add(_row("download", "ossr-images fetch --only image", size, out["ossr-images fetch"]))
    fet.ratio, fet.ratio_of = base.seconds / fet.seconds, "curl"
    fet.note = "resolve, download, verify md5+sha256 (goal >= 0.9x curl)"
    lib = ctx.add(
        _row("download", "ZenodoClient.download_file (library, no CLI)", size, out["client.download_file"])
    )
    lib.ratio, lib.ratio_of = base.seconds / lib.seconds, "curl"
    lib.note = "the transfer alone: one GET, md5+sha256 on the way, fsync, rename (Python start included)"
    floors = _floors(ctx, size)
    ctx.add(floors["read"])
    copy = ctx.add(floors["copy"])
    if not ctx.smoke and copy.seconds and base.seconds > copy.seconds:
        ctx.notes.append(
            f"download: curl -o from the stand-in takes {base.seconds:.2f}s vs {copy.seconds:.2f}s for a local "
            f"copy (server CPU {base.server_cpu or 0:.1f}s: the stand-in sends with sendfile); fetch also "
            "fsyncs the file, curl does not"
        )


# ---------------------------------------------------------------- 3: memory


def bench_memory(ctx: Ctx) -> None:
    """3: peak RSS of publish and fetch (and of the stand-in) at several sizes, one round each."""
    for size in ctx.sizes:
        reuse = f"transfers-{size}-{ctx.repeat}"
        out, stand_rss = ctx.cache[reuse] if reuse in ctx.cache else transfers(ctx, size, 1)
        for tool, key in (
            ("ossr-images publish", "ossr-images publish"),
            ("ossr-images fetch", "ossr-images fetch"),
        ):
            r = ctx.add(_row("memory", tool, size, out[key]))
            r.note = "peak RSS goal: flat, < 100 MB"
        curl = ctx.add(_row("memory", "curl -T", size, out["curl -T"]))
        curl.note = "reference"
        ctx.add(
            Row(
                bench="memory",
                tool="stand-in (local-zenodo)",
                size=size,
                maxrss_kib=max(stand_rss),
                note="server VmHWM over the round",
            )
        )
        if size != ctx.size:  # free the disk (the main size is reused by other benchmarks)
            _rm(Path(archive(ctx, size)["path"]))
            ctx.cache.pop(f"archive-{size}", None)
            ctx.cache.pop(f"transfers-{size}-1", None)


# ---------------------------------------------------------------- 4: hashing


HASH_1T = """
import hashlib, sys
md5, sha = hashlib.md5(), hashlib.sha256()
with open(sys.argv[1], "rb", buffering=0) as fh:
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while n := fh.readinto(buf):
        md5.update(view[:n]); sha.update(view[:n])
print(md5.hexdigest(), sha.hexdigest())
"""

HASH_2T = """
import hashlib, sys, threading, queue
md5, sha = hashlib.md5(), hashlib.sha256()
qs = [queue.Queue(8), queue.Queue(8)]
def work(h, q):
    while (b := q.get()) is not None:
        h.update(b)
ts = [threading.Thread(target=work, args=(h, q)) for h, q in zip((md5, sha), qs)]
for t in ts: t.start()
with open(sys.argv[1], "rb", buffering=0) as fh:
    while b := fh.read(1 << 20):
        for q in qs: q.put(b)
for q in qs: q.put(None)
for t in ts: t.join()
print(md5.hexdigest(), sha.hexdigest())
"""


def bench_hashing(ctx: Ctx) -> None:
    """4: single-pass md5+sha256 of the file vs publish and fetch times (goal <= 1.1x max(curl, hash))."""
    size = ctx.size
    path = Path(archive(ctx, size)["path"])
    variants: dict[str, list[Run]] = {
        "python md5+sha256, 1 thread, one read": [],
        "python md5 || sha256, 2 threads, one read": [],
        "md5sum": [],
        "sha256sum": [],
        "md5sum & sha256sum (2 reads, parallel)": [],
    }
    for _ in range(ctx.repeat):
        variants["python md5+sha256, 1 thread, one read"].append(
            run([sys.executable, "-c", HASH_1T, str(path)]).check()
        )
        variants["python md5 || sha256, 2 threads, one read"].append(
            run([sys.executable, "-c", HASH_2T, str(path)]).check()
        )
        variants["md5sum"].append(run(["md5sum", str(path)]).check())
        variants["sha256sum"].append(run(["sha256sum", str(path)]).check())
        variants["md5sum & sha256sum (2 reads, parallel)"].append(
            run(f"md5sum {path} & sha256sum {path}; wait", shell=True).check()
        )
    hrows = {k: ctx.add(_row("hashing", k, size, v)) for k, v in variants.items()}
    one_pass = min(hrows[k].seconds for k in list(variants)[:2])
    try:
        out, _ = transfers(ctx, size, ctx.repeat)
    except Skip as why:
        ctx.notes.append(f"hashing: publish/fetch comparison skipped: {why}")
        return
    for tool, curl_key, key in (
        ("ossr-images publish", "curl -T", "ossr-images publish"),
        ("ossr-images fetch", "curl -o", "ossr-images fetch"),
    ):
        curl_s = median([r.seconds for r in out[curl_key]])
        floor = max(curl_s, one_pass)
        r = ctx.add(_row("hashing", tool, size, out[key]))
        r.ratio, r.ratio_of = floor / r.seconds, "max(curl,hash)"
        r.note = f"floor {floor:.2f}s = max({curl_key} {curl_s:.2f}s, one-pass hash {one_pass:.2f}s); goal >= 0.91x"


# ---------------------------------------------------------------- 5: export


def _docker_env() -> dict[str, str]:
    return dict(os.environ)


def _need_docker(ctx: Ctx) -> None:
    if not shutil.which("docker"):
        raise Skip("no docker client on PATH")
    proc = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True)
    if proc.returncode != 0:
        msg = f"no Docker engine at DOCKER_HOST={os.environ.get('DOCKER_HOST', '(unset)')}"
        if ctx.strict_engine:
            raise CommandFailed(msg + " (CI has one: this must not be skipped)")
        raise Skip(msg)


def bench_image(ctx: Ctx) -> str:
    """The real engine image (busybox + real files + random bytes), built once at --size."""
    _need_docker(ctx)
    tag = "ossr-bench/export:1.0.0"
    if "image" not in ctx.cache:
        datagen.build_docker_image(ctx.workdir, tag, ctx.size)
        ctx.cache["image"] = tag
    return tag


DONODO_SAVE_GZIP = """
import gzip, shutil, subprocess, sys, tempfile
# donodo 0.5 ZenodoImageDeposition.put_image: docker save -> gzip.GzipFile (level 9) into a temp file
with subprocess.Popen(["docker", "save", sys.argv[1]], stdout=subprocess.PIPE) as p:
    with tempfile.TemporaryFile(dir=sys.argv[2]) as tmpfp:
        with gzip.GzipFile(mode="wb", fileobj=tmpfp) as gzfp:
            shutil.copyfileobj(p.stdout, gzfp)
        print(tmpfp.tell())
sys.exit(p.returncode)
"""


def bench_export(ctx: Ctx) -> None:
    """5: `ossr-images export docker-daemon:` vs docker save | gzip, | zstd -T0, and donodo's save+gzip."""
    tag = bench_image(ctx)
    _need_ossr("export")
    wd = ctx.workdir
    size = int(
        subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Size}}", tag], capture_output=True, text=True
        ).stdout.strip()
        or 0
    )
    variants: list[tuple[str, str | list[str], Path | None]] = [
        ("docker save (no compression)", f"docker save {tag} > {wd}/x-save.tar", wd / "x-save.tar"),
        ("docker save | gzip", f"docker save {tag} | gzip > {wd}/x-save.tar.gz", wd / "x-save.tar.gz"),
        (
            "docker save | zstd -T0",
            f"docker save {tag} | zstd -q -T0 > {wd}/x-save.tar.zst",
            wd / "x-save.tar.zst",
        ),
        (
            "donodo 0.5 path (save, python gzip -9 to temp file)",
            [sys.executable, "-c", DONODO_SAVE_GZIP, tag, str(wd)],
            None,
        ),
        (
            "ossr-images export --compress zstd",
            [*OSSR, "export", f"docker-daemon:{tag}", "-o", str(wd / "x-ossr.tar.zst"), "--compress", "zstd"],
            wd / "x-ossr.tar.zst",
        ),
    ]
    results: dict[str, Row] = {}
    runnable = []
    for name, cmd, out in variants:
        tool = next((t for t in ("gzip", "zstd") if f"| {t}" in name), None)
        if tool and not shutil.which(tool):
            ctx.add(Row(bench="export", tool=name, size=size, note=f"skipped: no {tool} on PATH"))
            continue
        runnable.append((name, cmd, out))
    runs: dict[str, list[Run]] = {name: [] for name, _, _ in runnable}
    out_sizes: dict[str, int] = {}
    # rounds, in alternating order: load from other work on the machine then hits every tool alike
    for i in range(ctx.repeat):
        for name, cmd, out in runnable if i % 2 == 0 else runnable[::-1]:
            if out is not None:
                _rm(out)
            _sync()
            r = run(cmd, shell=isinstance(cmd, str)).check()
            runs[name].append(r)
            out_sizes[name] = (
                out.stat().st_size if out is not None else int(r.stdout.strip().splitlines()[-1])
            )
            if out is not None:
                _rm(out)
    for name, _, _ in runnable:
        results[name] = ctx.add(_row("export", name, size, runs[name], out_size=out_sizes[name]))
    gz = results.get("docker save | gzip")
    zs = results.get("docker save | zstd -T0")
    save = results["docker save (no compression)"]
    ossr = results["ossr-images export --compress zstd"]
    dn = results["donodo 0.5 path (save, python gzip -9 to temp file)"]
    dn.note = f"ossr-images is {dn.seconds / ossr.seconds:.1f}x faster"
    if gz is None:
        ctx.notes.append("export: no gzip on PATH, so no ratios against docker save | gzip")
        return
    for row in results.values():
        row.ratio, row.ratio_of = gz.seconds / row.seconds, "speed vs gzip"
    vs_zstd = f"{zs.seconds / ossr.seconds:.2f}x zstd -T0 speed; " if zs is not None else ""
    ossr.note = (
        f"{vs_zstd}size {ossr.out_size / gz.out_size:.2f}x gzip's "
        "(goals: >= 5x gzip, >= 0.91x zstd, size <= gzip); "
        f"docker save alone caps the speed-up vs gzip at {gz.seconds / save.seconds:.1f}x"
    )


# ---------------------------------------------------------------- 6: end to end


def donodo_python(ctx: Ctx) -> Path:
    """The python of a venv with donodo 0.5 (installed there when allowed)."""
    py = ctx.donodo_venv / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "import donodo"], capture_output=True).returncode == 0
    if ok:
        return py
    if not ctx.install_donodo:
        raise Skip(f"donodo 0.5 is not installed in {ctx.donodo_venv} (a full run installs it there)")
    subprocess.run([sys.executable, "-m", "venv", str(ctx.donodo_venv)], check=True)
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "donodo==0.5"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise Skip(f"pip install donodo==0.5 failed: {proc.stderr.strip()[-500:]}")
    return py


def bench_e2e(ctx: Ctx) -> None:
    """6: a local Docker image to a published DOI: ossr-images vs donodo 0.5, each on a fresh stand-in."""
    tag = bench_image(ctx)
    _need_ossr("local-zenodo")
    _need_ossr("publish")
    size = int(
        subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Size}}", tag], capture_output=True, text=True
        ).stdout.strip()
        or 0
    )
    rounds: dict[str, list[Run]] = {
        "ossr-images publish docker-daemon:": [],
        "ossr-images export + publish": [],
    }
    donodo_runs: list[Run] = []
    donodo_skip = None
    try:
        dpy = donodo_python(ctx)
    except Skip as why:
        dpy, donodo_skip = None, str(why)
    for i in range(ctx.repeat):
        for name in rounds:
            data = ctx.workdir / f"e2e-{i}"
            with StandIn(data, log=ctx.workdir / f"e2e-{i}.log") as s:
                env = fresh_env(ctx, s, f"e2e-{i}")
                _sync()
                if name.endswith("docker-daemon:"):
                    r = run(publish_argv(ctx, f"docker-daemon:{tag}"), env=env, cwd=ctx.workdir).check()
                else:
                    out = ctx.workdir / "e2e-image.tar.zst"
                    exp = [*OSSR, "export", f"docker-daemon:{tag}", "-o", str(out), "--compress", "zstd"]
                    r1 = run(exp, env=env).check()
                    r2 = run(publish_argv(ctx, str(out)), env=env, cwd=ctx.workdir).check()
                    _rm(out)
                    r = Run(
                        argv="export && publish",
                        seconds=r1.seconds + r2.seconds,
                        returncode=0,
                        maxrss_kib=max(r1.maxrss_kib, r2.maxrss_kib),
                        user=r1.user + r2.user,
                        sys=r1.sys + r2.sys,
                        stdout=r2.stdout,
                        stderr=r2.stderr,
                    )
                if not _find(_json_out(r), "doi"):
                    raise CommandFailed(f"{name}: no DOI in the output")
                rounds[name].append(r)
            _rm(data)
        if dpy is not None:
            data = ctx.workdir / f"e2e-donodo-{i}"
            with StandIn(data, log=ctx.workdir / f"e2e-donodo-{i}.log") as s:
                env = env_with_token(s.token, s.api_url)
                env["DONODO_BASE_URL"] = s.api_url
                env["TMPDIR"] = str(ctx.workdir)
                _sync()
                r = run([str(dpy), str(HERE / "donodo_shim.py"), "push", tag, "--auto-publish"], env=env)
                if r.returncode != 0:
                    donodo_skip = f"donodo push failed against the stand-in: {r.stderr.strip()[-600:]}"
                    dpy = None
                else:
                    donodo_runs.append(r)
            _rm(data)
    rows = {name: ctx.add(_row("e2e", name, size, runs)) for name, runs in rounds.items()}
    if donodo_runs:
        base = ctx.add(_row("e2e", "donodo 0.5 push --auto-publish", size, donodo_runs, note="baseline"))
        for row in rows.values():
            row.ratio, row.ratio_of = base.seconds / row.seconds, "speed vs donodo"
    else:
        ctx.add(
            Row(bench="e2e", tool="donodo 0.5 push --auto-publish", size=size, note=f"skipped: {donodo_skip}")
        )
    for row in rows.values():
        row.note = "with provenance checks + md5/sha256 verification (donodo has neither)"


def bench_diff(ctx: Ctx) -> None:
    """7: `ossr-images diff` of two images of --size with 100k files (1000 with --smoke), same files but other
    mtimes (the whole comparison runs: verdict same-content), vs `sha256sum` of both archives."""
    _need_ossr("diff")
    nfiles = 1000 if ctx.smoke else 100_000
    paths = []
    for name, mtime in (("a", 1_700_000_000), ("b", 1_800_000_000)):
        path = ctx.workdir / f"diff-{name}.tar"
        datagen.write_many_files_archive(path, ctx.size, nfiles, mtime=mtime)
        paths.append(path)
    total = sum(p.stat().st_size for p in paths)
    diff_runs: list[Run] = []
    sha_runs: list[Run] = []
    try:
        for _ in range(ctx.repeat):
            _sync()
            sha_runs.append(run(["sha256sum", *map(str, paths)]).check())
            r = run([*OSSR, "diff", *map(str, paths), "--json"])
            if r.returncode != 0:
                raise CommandFailed(f"ossr-images diff exited {r.returncode}: {r.stderr.strip()[-2000:]}")
            doc = _json_out(r)
            if doc.get("verdict") != "same-content" or doc["a"]["paths"] < nfiles:
                raise CommandFailed(f"diff: unexpected result {json.dumps(doc)[:500]}")
            diff_runs.append(r)
    finally:
        for p in paths:
            _rm(p)
    base = ctx.add(_row("diff", "sha256sum A B", total, sha_runs, note="baseline"))
    row = ctx.add(_row("diff", f"ossr-images diff A B ({nfiles} files each)", total, diff_runs))
    row.ratio, row.ratio_of = base.seconds / row.seconds, "speed vs sha256sum"
    row.note = (
        f"goal: time <= 1.5x sha256sum ({row.seconds / base.seconds:.2f}x here), peak RSS < 150 MB "
        f"({row.maxrss_kib / 1024:.0f} MiB here)"
    )


def bench_serve(ctx: Ctx) -> None:
    """8: docker pull from `ossr-images serve` vs a local docker-registry (see serve_case.py)."""
    from .serve_case import bench_serve as run_serve_bench

    run_serve_bench(ctx)


def bench_upload_rdm(ctx: Ctx) -> None:
    """9: the native upload path (see rdm_case)."""
    from .rdm_case import bench_upload_rdm as run_rdm_bench

    run_rdm_bench(ctx)


BENCHES = {
    "upload": bench_upload,
    "download": bench_download,
    "memory": bench_memory,
    "hashing": bench_hashing,
    "export": bench_export,
    "e2e": bench_e2e,
    "diff": bench_diff,
    "serve": bench_serve,
    "upload-rdm": bench_upload_rdm,
}
