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
