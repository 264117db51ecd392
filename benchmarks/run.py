#!/usr/bin/env python3
"""ossr-images benchmarks, side by side with curl, md5sum/sha256sum, gzip, zstd and donodo 0.5.

    python benchmarks/run.py [--size 1GiB] [--sizes 256MiB,1GiB,4GiB] [--only upload,download,...] [--smoke]

Prints a markdown table and writes it, with the raw figures as JSON, to --out (default
benchmarks/results/). Every figure is a ratio between tools measured in the same run on the same machine;
nothing here asserts a timing. `--smoke` runs every benchmark at a few MiB (CI): a benchmark whose tool
is missing prints "skipped: <why>"; a command that fails makes the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench.cases import BENCHES, Ctx  # noqa: E402
from bench.harness import CommandFailed, Skip, fmt_size, parse_size, table  # noqa: E402


def _cmd(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr).strip() else "-"
    except (OSError, subprocess.TimeoutExpired):
        return "-"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    mem = "-"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = "-"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    disk = shutil.disk_usage(tempfile.gettempdir())
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "disk_free": fmt_size(disk.free),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": _cmd(["docker", "version", "-f", "client {{.Client.Version}}, engine {{.Server.Version}}"]),
        "curl": _cmd(["curl", "--version"]),
        "zstd": _cmd(["zstd", "--version"]),
        "gzip": _cmd(["gzip", "--version"]),
        "ossr-images": _cmd([sys.executable, "-m", "ossr_images", "--version"]),
        "commit": _cmd(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"])
        + (
            " (+ uncommitted changes)"
            if _cmd(["git", "-C", str(HERE.parent), "status", "--porcelain", "src"]) != "-"
            else ""
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1GiB", help="image size for upload/download/hashing/export/e2e")
    ap.add_argument("--sizes", default="256MiB,1GiB,4GiB", help="sizes for the memory benchmark")
    ap.add_argument("--only", default=",".join(BENCHES), help=f"comma list of: {','.join(BENCHES)}")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the median is reported")
    ap.add_argument("--smoke", action="store_true", help="every benchmark at a few MiB, once (CI)")
    ap.add_argument("--workdir", type=Path, help="where generated files go (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for results .md and .json")
    ap.add_argument("--donodo-venv", type=Path, default=HERE / ".venv", help="venv holding donodo 0.5")
    ap.add_argument("--keep", action="store_true", help="keep the work folder and the engine image")
    args = ap.parse_args(argv)

    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = [x for x in only if x not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}")
    if args.smoke:
        size, sizes, repeat = 4 << 20, [2 << 20, 8 << 20], 1
    else:
        size, sizes, repeat = (
            parse_size(args.size),
            [parse_size(x) for x in args.sizes.split(",")],
            args.repeat,
        )

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ossr-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    ctx = Ctx(
        workdir=workdir,
        size=size,
        sizes=sizes,
        repeat=repeat,
        smoke=args.smoke,
        donodo_venv=args.donodo_venv,
        install_donodo=not args.smoke,
        strict_engine=ci or os.environ.get("OSSR_IMAGES_STRICT_SKIPS") == "1",
    )
    info = machine()
    print(
        f"# ossr-images benchmarks: size {fmt_size(size)}, memory sizes {[fmt_size(s) for s in sizes]}, "
        f"{repeat} run(s) each, work folder {workdir}",
        flush=True,
    )
    status: dict[str, str] = {}
    failed = False
    t_all = time.perf_counter()
    try:
        for name in only:
            t0 = time.perf_counter()
            load0 = os.getloadavg()[0]
            print(f"-- {name} ...", flush=True)
            try:
                BENCHES[name](ctx)
                status[name] = (
                    f"ok ({time.perf_counter() - t0:.0f} s; load average {load0:.1f} before, "
                    f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs)"
                )
            except Skip as why:
                status[name] = f"skipped: {why}"
            except (CommandFailed, RuntimeError, OSError) as exc:
                failed = True
                status[name] = f"FAILED: {exc}"
                traceback.print_exc()
            print(f"   {name}: {status[name]}", flush=True)
    finally:
        if not args.keep:
            if "image" in ctx.cache:
                subprocess.run(["docker", "rmi", "-f", ctx.cache["image"]], capture_output=True)
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                for pattern in ("ossr-bench-*.tar", "curl-auth-header"):
                    for p in workdir.glob(pattern):
                        p.unlink(missing_ok=True)

    md = [
        f"## Results ({'smoke, ' if args.smoke else ''}size {fmt_size(size)}, {info['date']})",
        "",
        table(ctx.rows),
        "",
        *(f"- {k}: {v}" for k, v in status.items()),
        *(f"- note: {n}" for n in ctx.notes),
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        f"Command: python benchmarks/run.py {' '.join(argv if argv is not None else sys.argv[1:])}",
        f"Total time: {time.perf_counter() - t_all:.0f} s",
    ]
    text = "\n".join(md)
    print()
    print(text)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = "smoke" if args.smoke else f"results-{fmt_size(size).replace(' ', '')}"
        (args.out / f"{stem}.md").write_text(text + "\n")
        doc = {
            "machine": info,
            "status": status,
            "notes": ctx.notes,
            "rows": [r.to_dict() for r in ctx.rows],
            "size": size,
            "sizes": sizes,
            "repeat": repeat,
            "argv": sys.argv[1:],
        }
        (args.out / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    except OSError as exc:
        print(f"(could not write results to {args.out}: {exc})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
