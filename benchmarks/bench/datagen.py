"""Benchmark inputs made on the fly: incompressible files, image-sized `docker save` archives written in one
streaming pass, a CodeMeta file that matches their labels, and a real image built in the Docker engine.

Nothing here holds a whole image in memory: the big layer is written 4 MiB at a time.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

CHUNK = 4 << 20
BLOCK = 512

# The provenance every benchmark image carries; the CodeMeta file written below agrees with it.
REPOSITORY = "https://github.com/escape2020/ossr-images-benchmark"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
VERSION = "1.0.0"


def provenance_labels(version: str = VERSION) -> dict[str, str]:
    """The OCI labels of a benchmark image (source, revision, version, licence, title, created)."""
    return {
        "org.opencontainers.image.source": REPOSITORY,
        "org.opencontainers.image.revision": COMMIT,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.licenses": "MIT",
        "org.opencontainers.image.title": "ossr-images benchmark image",
        "org.opencontainers.image.created": "2026-11-27T00:00:00Z",
    }


def write_codemeta(path: Path, version: str = VERSION) -> Path:
    """A CodeMeta file whose repository and version match `provenance_labels`."""
    doc = {
        "@context": "https://w3id.org/codemeta/3.0",
        "@type": "SoftwareSourceCode",
        "name": "ossr-images benchmark image",
        "description": "A synthetic image used to benchmark ossr-images against curl, gzip, zstd and donodo.",
        "version": version,
        "license": "https://spdx.org/licenses/MIT",
        "codeRepository": REPOSITORY,
        "author": [
            {"@type": "Person", "givenName": "Bench", "familyName": "Marker", "affiliation": "ESCAPE"}
        ],
        "keywords": ["benchmark"],
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def write_random(path: Path, size: int) -> Path:
    """`size` bytes of os.urandom (incompressible), written in 4 MiB chunks."""
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(CHUNK, left)
            fh.write(os.urandom(n))
            left -= n
    return path


def _pad(n: int) -> int:
    return (-n) % BLOCK


def _header(name: str, size: int, *, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.mode = 0o755 if directory else 0o644
    info.mtime = 0
    if directory:
        info.type = tarfile.DIRTYPE
    # GNU format stores sizes >= 8 GiB in base-256, and the 512-byte header never grows
    return info.tobuf(format=tarfile.GNU_FORMAT)


class _HashingWriter:
    def __init__(self, fh: io.BufferedWriter) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.n = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.sha.update(data)
        self.n += len(data)


def write_big_docker_archive(
    out: Path, size: int, *, tag: str = "ossr-bench/upload:1.0.0", labels: dict[str, str] | None = None
) -> dict:
    """A valid `docker save` archive of about `size` bytes, one layer holding `size` random bytes.

    One pass: the layer member's header is written with a placeholder name, the layer streams through
    sha256, then the header is rewritten with the real digest (a tar header has a fixed size). Returns
    {"path", "size", "image_id", "layer_digest"}; the image ID is what `docker load` reports.
    """
    labels = provenance_labels() if labels is None else labels
    payload = max(size - 16 * 1024, 1024)  # leave room for headers and the small JSON members
    layer_size = BLOCK + payload + _pad(payload) + 2 * BLOCK  # inner header + data + end-of-archive
    placeholder = "blobs/sha256/" + "0" * 64
    with open(out, "wb") as fh:
        fh.write(_header("blobs/", 0, directory=True))
        fh.write(_header("blobs/sha256/", 0, directory=True))
        layer_header_at = fh.tell()
        fh.write(_header(placeholder, layer_size))
        w = _HashingWriter(fh)
        w.write(_header("data/random.bin", payload))
        left = payload
        while left:
            n = min(CHUNK, left)
            w.write(os.urandom(n))
            left -= n
        w.write(b"\0" * (_pad(payload) + 2 * BLOCK))
        assert w.n == layer_size
        layer_hex = w.sha.hexdigest()
        fh.write(b"\0" * _pad(layer_size))
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": labels.get("org.opencontainers.image.created", "2026-11-27T00:00:00Z"),
            "config": {"Cmd": ["/bin/sh"], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]},
            "history": [{"created_by": "ossr-images benchmark: random layer"}],
        }
        config_bytes = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
        config_hex = hashlib.sha256(config_bytes).hexdigest()
        repo, _, t = tag.rpartition(":")
        members = {
            f"blobs/sha256/{config_hex}": config_bytes,
            "manifest.json": json.dumps(
                [
                    {
                        "Config": f"blobs/sha256/{config_hex}",
                        "RepoTags": [tag],
                        "Layers": [f"blobs/sha256/{layer_hex}"],
                    }
                ]
            ).encode(),
            "repositories": json.dumps({repo: {t: layer_hex}}).encode(),
        }
        for name, data in members.items():
            fh.write(_header(name, len(data)))
            fh.write(data + b"\0" * _pad(len(data)))
        fh.write(b"\0" * (2 * BLOCK))
        fh.seek(layer_header_at)
        fh.write(_header(f"blobs/sha256/{layer_hex}", layer_size))
    return {
        "path": str(out),
        "size": out.stat().st_size,
        "image_id": f"sha256:{config_hex}",
        "layer_digest": f"sha256:{layer_hex}",
    }


def _write_real_files_tar(out: Path, size: int, roots: tuple[str, ...] = ("/usr/lib", "/usr/share")) -> int:
    """A tar of real files from the system (compressible like a real image), cut at about `size` bytes."""
    written = 0
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        while written < size:
            before = written
            for root in roots:
                for dirpath, _dirs, files in os.walk(root):
                    for name in sorted(files):
                        p = os.path.join(dirpath, name)
                        if os.path.islink(p) or not os.path.isfile(p):
                            continue
                        try:
                            st = os.stat(p)
                            if st.st_size > size - written:
                                continue
                            tar.add(p, arcname=f"{written}{p}", recursive=False)
                        except OSError:
                            continue
                        written += st.st_size + BLOCK
                        if written >= size - 4096:
                            return written
            if written == before:  # nothing fits any more
                return written
    return written


def build_docker_image(
    workdir: Path, tag: str, size: int, *, labels: dict[str, str] | None = None, env: dict | None = None
) -> str:
    """Build a real image FROM scratch in the engine of DOCKER_HOST: busybox, half real system files (a tar
    of /usr/lib and /usr/share, compressible like real software), half random bytes. Returns the image ID."""
    labels = provenance_labels() if labels is None else labels
    ctx = workdir / f"ctx-{tag.replace('/', '_').replace(':', '_')}"
    if ctx.exists():
        shutil.rmtree(ctx)
    (ctx / "payload").mkdir(parents=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, ctx / "busybox")
    real = size // 2
    _write_real_files_tar(ctx / "payload" / "system-files.tar", real)
    write_random(ctx / "payload" / "random.bin", max(size - real, 1024))
    lines = ["FROM scratch", "COPY busybox /bin/busybox", "COPY payload /payload"]
    lines += [f"LABEL {k}={json.dumps(v)}" for k, v in labels.items()]
    lines.append('CMD ["/bin/busybox", "sh"]')
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("DOCKER_BUILDKIT", "0")
    proc = subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(ctx)],
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(ctx, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"docker build of {tag} failed: {proc.stderr.strip()[-2000:]}")
    out = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", tag], env=run_env, capture_output=True, text=True
    )
    return out.stdout.strip()


def _seeded(seed: int, n: int) -> bytes:
    """`n` pseudo-random bytes that depend only on `seed` (the same file in two archives)."""
    import random

    return random.Random(seed).randbytes(n)


def write_many_files_archive(
    out: Path, size: int, nfiles: int, *, mtime: int = 1_700_000_000, changed: frozenset[int] = frozenset()
) -> dict:
    """A legacy `docker save` archive of about `size` bytes, one layer: `nfiles` small files (half the size,
    1000 per directory) and four large ones (the other half). Files are the same in every archive made with
    the same size and count (only `mtime` and the files numbered in `changed` differ), so two such
    archives diff as same-content (or differ in exactly `changed`). Streamed: never all in memory."""
    layer_path = out.with_name(out.name + ".layer")
    small_total = max(size // 2 - nfiles * 2 * BLOCK, nfiles)  # minus headers and padding
    avg = max(small_total // max(nfiles, 1), 1)
    big = max((size - small_total) // 4, 1)
    with open(layer_path, "wb") as raw:
        w = _HashingWriter(raw)  # type: ignore[arg-type]

        def add(
            name: str, data: bytes | None, length: int = 0, seed: int = 0, *, directory: bool = False
        ) -> None:
            n = len(data) if data is not None else length
            info = tarfile.TarInfo(name)
            info.size = 0 if directory else n
            info.mode = 0o755 if directory else 0o644
            info.mtime = mtime
            if directory:
                info.type = tarfile.DIRTYPE
            w.write(info.tobuf(format=tarfile.GNU_FORMAT))
            if data is not None:
                w.write(data)
            elif not directory:
                left, part = n, 0
                while left:
                    k = min(CHUNK, left)
                    w.write(_seeded(seed * 100_000 + part, k))
                    left -= k
                    part += 1
            if not directory:
                w.write(b"\0" * _pad(n))

        add("data", None, directory=True)
        for i in range(nfiles):
            if i % 1000 == 0:
                add(f"data/d{i // 1000:04d}", None, directory=True)
            length = (i * 7919) % (2 * avg) if avg > 1 else 1
            add(f"data/d{i // 1000:04d}/f{i:07d}", _seeded(i + (10**9 if i in changed else 0), length))
        add("opt", None, directory=True)
        for j in range(4):
            add(f"opt/big{j}.bin", None, big, seed=10**7 + j)
        w.write(b"\0" * (2 * BLOCK))
        layer_hex = w.sha.hexdigest()
        layer_size = w.n
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-11-27T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Labels": {"mtime": str(mtime)}},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]},
        "history": [{"created_by": "/bin/sh -c #(nop) COPY dir:many-files in / "}],
    }
    config_bytes = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    manifest = [
        {"Config": f"{config_hex}.json", "RepoTags": ["ossr-bench/diff:1"], "Layers": ["l1/layer.tar"]}
    ]
    with open(out, "wb") as fh, open(layer_path, "rb") as layer:
        fh.write(_header("l1/layer.tar", layer_size))
        shutil.copyfileobj(layer, fh, CHUNK)
        fh.write(b"\0" * _pad(layer_size))
        for name, data in (
            (f"{config_hex}.json", config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            fh.write(_header(name, len(data)))
            fh.write(data + b"\0" * _pad(len(data)))
        fh.write(b"\0" * (2 * BLOCK))
    layer_path.unlink()
    return {
        "path": str(out),
        "size": out.stat().st_size,
        "image_id": f"sha256:{config_hex}",
        "files": nfiles + 4,
    }
