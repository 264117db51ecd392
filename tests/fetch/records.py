"""Helpers for fetch and search tests: publish image records on the stand-in through the Zenodo client (so
these tests do not depend on `publish`), a proxy that cuts downloads, and a hostile server."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from ossr_images.images.synth import write_docker_archive
from ossr_images.metadata.image_record import (
    IMAGE_KEYWORD,
    IMAGE_RECORD_KEY,
    build_image_record,
    dump_image_record,
)
from ossr_images.zenodo.client import RetryPolicy, ZenodoClient
from ossr_images.zenodo.models import Deposition, Record
from ossr_images.zenodo.target import Target

REPO = "https://github.com/escape2020/example-image"
COMMIT = "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_REVISION = "org.opencontainers.image.revision"


def make_client(api_url: str, token: str | None) -> ZenodoClient:
    """A client for the stand-in with short retry waits, of the test's backend (OSSR_IMAGES_API, which the
    `api_backend` fixture sets; legacy otherwise): the legacy ZenodoClient, or the rdm backend's client that
    makes its test records through the native routes (`fetch.native_records`)."""
    retry = RetryPolicy(max_attempts=4, backoff_base=0.05, backoff_max=0.2)
    if os.environ.get("OSSR_IMAGES_API") == "rdm":
        from fetch.native_records import NativeTestClient

        target = Target("custom", api_url, token, None, False, "rdm")
        return NativeTestClient(target, retry=retry, read_timeout=20, transfer_timeout=20)  # type: ignore[return-value]
    return ZenodoClient(Target("custom", api_url, token), retry=retry, read_timeout=20, transfer_timeout=20)


def zenodo_metadata(
    *,
    title: str,
    version: str,
    repository: str,
    commit: str,
    keywords: list[str] | None = None,
    access_right: str = "open",
) -> dict[str, Any]:
    extra = {"access_conditions": "Ask the owner."} if access_right == "restricted" else {}
    return extra | {
        "title": title,
        "upload_type": "software",
        "description": f"Container image of {title}",
        "creators": [{"name": "Doe, Jane", "affiliation": "ESCAPE"}],
        "version": version,
        "access_right": access_right,
        "license": "MIT",
        "keywords": [IMAGE_KEYWORD] if keywords is None else keywords,
        "related_identifiers": [
            {
                "identifier": f"{repository}/tree/{commit}",
                "relation": "isDerivedFrom",
                "resource_type": "software",
            }
        ],
    }


def image_files(
    workdir: Path,
    *,
    version: str = "1.0.0",
    repository: str = REPO,
    commit: str = COMMIT,
    label_repository: str | None = None,
    label_commit: str | None = None,
    compression: str = "none",
    payload: bytes = b"",
) -> dict[str, bytes | Path]:
    """The files of an image record: a synthetic docker archive whose labels name `label_*` (default: the
    source), its image metadata file naming `repository`/`commit`, and a codemeta.json."""
    workdir.mkdir(parents=True, exist_ok=True)
    suffix = {"none": ".tar", "gzip": ".tar.gz", "zstd": ".tar.zst"}[compression]
    image = workdir / f"example-{version}{suffix}"
    labels = {
        LABEL_SOURCE: label_repository or repository,
        LABEL_REVISION: label_commit or commit,
        "org.opencontainers.image.version": version,
    }
    content = {"hello.txt": f"hello from {version}\n".encode(), "pad.bin": payload}
    info = write_docker_archive(
        image, labels=labels, tag=f"example/image:{version}", files=content, compression=compression
    )
    data = image.read_bytes()
    recorded_labels = {**labels, LABEL_SOURCE: repository, LABEL_REVISION: commit}
    doc = build_image_record(
        repository=repository,
        commit=commit,
        version=version,
        file_name=image.name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),  # noqa: S324
        image_format=info.format,
        compression=info.compression,
        image_id=info.image_id,
        manifest_digest=info.manifest_digest,
        labels=recorded_labels,
        repo_tags=info.repo_tags,
    )
    codemeta = {
        "@context": "https://w3id.org/codemeta/3.0",
        "@type": "SoftwareSourceCode",
        "name": "example",
        "version": version,
    }
    return {
        image.name: image,
        IMAGE_RECORD_KEY: dump_image_record(doc),
        "codemeta.json": json.dumps(codemeta).encode(),
    }


def upload_all(client: ZenodoClient, deposition: Deposition, files: dict[str, bytes | Path]) -> None:
    bucket = deposition.bucket_url
    for key, content in files.items():
        if isinstance(content, Path):
            with open(content, "rb") as fh:
                client.upload_file(bucket, key, fh, content.stat().st_size)
        else:
            client.upload_file(bucket, key, io.BytesIO(content), len(content))


def publish_record(
    client: ZenodoClient,
    files: dict[str, bytes | Path],
    *,
    title: str = "Example image",
    version: str = "1.0.0",
    repository: str = REPO,
    commit: str = COMMIT,
    keywords: list[str] | None = None,
    access_right: str = "open",
) -> Record:
    """Create, fill and publish a deposition; return the published record (records API)."""
    meta = zenodo_metadata(
        title=title,
        version=version,
        repository=repository,
        commit=commit,
        keywords=keywords,
        access_right=access_right,
    )
    dep = client.create_deposition(meta)
    upload_all(client, dep, files)
    published = client.publish(dep.id)
    return client.get_record(published.id)


def publish_new_version(
    client: ZenodoClient, record: Record, files: dict[str, bytes | Path], *, version: str
) -> Record:
    """A new version of `record` whose files (same keys replaced, others removed) are `files`."""
    draft = client.new_version(record.id)
    for entry in client.list_files(draft.id):
        client.delete_file(draft.id, entry.id)
    meta = zenodo_metadata(title="Example image", version=version, repository=REPO, commit=COMMIT)
    draft = client.update_deposition(draft.id, meta)
    upload_all(client, draft, files)
    published = client.publish(draft.id)
    return client.get_record(published.id)


# ------------------------------------------------------------------------------- servers for edge cases


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connections the tests cut on purpose


@contextmanager
def serve(handler_cls: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run a handler on a free loopback port; yields its base URL."""
    server = _Server(("127.0.0.1", 0), handler_cls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class CuttingProxy:
    """A loopback HTTP proxy in front of the stand-in. JSON answers are passed on with the stand-in's base
    URL replaced by the proxy's (so download links go through the proxy); the first `cuts` answers for each
    file content URL are cut after `cut_after` bytes: headers announce the full length, then the connection
    is closed, as a dropped network connection would."""

    def __init__(self, upstream: str, *, cut_after: int, cuts: int = 1, slow: float = 0.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.cut_after = cut_after
        self.cuts = cuts
        self.slow = slow  # seconds of pause per 64 KiB of file content (a slow network)
        self.requests: list[tuple[str, str | None, int]] = []  # (path, Range header, status)
        self._cut_count: dict[str, int] = {}
        self._lock = threading.Lock()
        self.base = ""

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() in ("range", "authorization", "accept")
                }
                resp = requests.get(
                    proxy.upstream + self.path,
                    headers=headers,
                    stream=True,
                    allow_redirects=False,
                    timeout=20,
                )
                with proxy._lock:
                    proxy.requests.append((self.path.split("?")[0], headers.get("Range"), resp.status_code))
                ctype = resp.headers.get("Content-Type", "")
                if "json" in ctype:
                    body = resp.content.replace(proxy.upstream.encode(), proxy.base.encode())
                    self._answer(resp, body)
                    return
                path = self.path.split("?")[0]
                cut = False
                with proxy._lock:
                    if path.endswith("/content") and resp.status_code in (200, 206):
                        done = proxy._cut_count.get(path, 0)
                        if done < proxy.cuts:
                            proxy._cut_count[path] = done + 1
                            cut = True
                if not cut and proxy.slow and path.endswith("/content"):
                    self._answer_slowly(resp)
                    return
                if not cut:
                    self._answer(resp, resp.content)
                    return
                self.send_response(resp.status_code)
                for k in ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges"):
                    if k in resp.headers:
                        self.send_header(k, resp.headers[k])
                self.end_headers()
                sent = 0
                for chunk in resp.iter_content(8192):
                    room = proxy.cut_after - sent
                    if room <= 0:
                        break
                    self.wfile.write(chunk[:room])
                    sent += min(len(chunk), room)
                self.wfile.flush()
                resp.close()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _answer_slowly(self, resp: requests.Response) -> None:
                self.send_response(resp.status_code)
                for k in ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges"):
                    if k in resp.headers:
                        self.send_header(k, resp.headers[k])
                self.end_headers()
                try:
                    for chunk in resp.iter_content(65536):
                        self.wfile.write(chunk)
                        time.sleep(proxy.slow)
                except OSError:
                    pass  # the client went away

            def _answer(self, resp: requests.Response, body: bytes) -> None:
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() in (
                        "content-type",
                        "content-range",
                        "accept-ranges",
                        "location",
                        "retry-after",
                    ):
                        self.send_header(k, v.replace(proxy.upstream, proxy.base))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def cut_paths(self) -> dict[str, int]:
        return dict(self._cut_count)


def hostile_handler(record: dict[str, Any], served: list[str]) -> type[http.server.BaseHTTPRequestHandler]:
    """A server that answers every record request with `record` and any file content with some bytes,
    noting each path it served in `served`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            served.append(self.path)
            if "/content" in self.path:
                body = b"owned\n"
                ctype = "application/octet-stream"
            else:
                body = json.dumps(record).encode()
                ctype = "application/json"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
