"""The Docker engine, through the Docker SDK (low-level API client): build with labels and a streamed
build log, save as a stream, load from a (decompressing) stream, image ids and labels.

Every SDK or connection failure becomes an OssrError: `EngineUnavailableError` when no engine answers
(naming DOCKER_HOST or the socket tried), `RemoteError` when the engine refuses, `InvalidInputError` for
an image that does not exist.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ossr_images.errors import EngineUnavailableError, InvalidInputError, RemoteError

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
CONNECT_TIMEOUT = 10
LONG_TIMEOUT = 3600  # saves and loads of GB images
CHUNK = 1 << 20

START_HINT = (
    "Start a Docker engine (e.g. `sudo systemctl start docker`, or Docker Desktop), or point DOCKER_HOST at "
    "a running one (e.g. DOCKER_HOST=unix:///run/user/$UID/docker.sock for rootless Docker); check with "
    "`docker version`."
)


def _where(base_url: str | None) -> str:
    if base_url:
        return base_url
    env = os.environ.get("DOCKER_HOST")
    if env:
        return f"{env} (from DOCKER_HOST)"
    return f"{DEFAULT_SOCKET} (DOCKER_HOST is not set)"


class DockerEngine:
    """A connected Docker engine. Create it with `DockerEngine.connect()`."""

    def __init__(self, api: Any, where: str) -> None:
        self.api = api  # docker.APIClient
        self.where = where
        self._version: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------ connection
    @classmethod
    def connect(cls, base_url: str | None = None) -> DockerEngine:
        """Connect to the engine of `base_url`, else DOCKER_HOST, else the default socket, and ping it."""
        import docker
        from docker.errors import DockerException

        where = _where(base_url)
        try:
            kwargs: dict[str, Any] = {}
            if base_url:
                kwargs["base_url"] = base_url
                probe = docker.APIClient(base_url=base_url, timeout=CONNECT_TIMEOUT, version="auto")
            else:
                probe = docker.from_env(timeout=CONNECT_TIMEOUT).api
            probe.ping()
            version = probe.api_version
            probe.close()
            if base_url:
                api = docker.APIClient(base_url=base_url, timeout=LONG_TIMEOUT, version=version)
            else:
                api = docker.from_env(timeout=LONG_TIMEOUT, version=version).api
        except (DockerException, OSError) as exc:
            raise EngineUnavailableError(
                f"no Docker engine answers at {where}: {_short(exc)}", hint=START_HINT
            ) from exc
        except Exception as exc:  # requests' connection errors and the like
            raise EngineUnavailableError(
                f"no Docker engine answers at {where}: {_short(exc)}", hint=START_HINT
            ) from exc
        return cls(api, where)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from docker.errors import APIError, DockerException, ImageNotFound, NotFound

        try:
            return fn(*args, **kwargs)
        except (ImageNotFound, NotFound) as exc:
            raise InvalidInputError(
                f"{what}: the Docker engine at {self.where} has no such image ({_short(exc)})",
                hint="Check the name with `docker images`, or build the image first.",
            ) from exc
        except APIError as exc:
            raise RemoteError(
                f"{what}: the Docker engine at {self.where} refused: {_short(exc)}",
                hint="Read the engine's message above; check `docker info` and the engine's log.",
            ) from exc
        except (DockerException, OSError) as exc:
            raise EngineUnavailableError(
                f"{what}: lost the Docker engine at {self.where}: {_short(exc)}", hint=START_HINT
            ) from exc

    # ------------------------------------------------------------------------------------ facts
    @property
    def version(self) -> str:
        """The engine's version, e.g. "20.10.24+dfsg1"."""
        if self._version is None:
            self._version = self._call("docker version", self.api.version)
        return str(self._version.get("Version", "unknown"))

    @property
    def api_version(self) -> str:
        return str(self.api.api_version)

    def inspect(self, ref: str) -> dict[str, Any]:
        """`docker image inspect REF` as a dict."""
        return self._call(f"inspect image {ref}", self.api.inspect_image, ref)

    def image_id(self, ref: str) -> str:
        """The image ID ("sha256:<hex>", the config digest) of `ref`."""
        return str(self.inspect(ref)["Id"])

    def labels(self, ref: str) -> dict[str, str]:
        """The labels of image `ref`."""
        config = self.inspect(ref).get("Config") or {}
        return dict(config.get("Labels") or {})

    def remove(self, ref: str, *, force: bool = False) -> None:
        """Remove image `ref` (no error when it is already gone)."""
        from docker.errors import ImageNotFound, NotFound

        try:
            self.api.remove_image(ref, force=force)
        except (ImageNotFound, NotFound):
            return
        except Exception as exc:
            raise RemoteError(
                f"cannot remove image {ref} from the Docker engine at {self.where}: {_short(exc)}",
                hint="Remove it by hand with `docker rmi`.",
            ) from exc

    # ------------------------------------------------------------------------------------ build
    def build(
        self,
        context: Path | str,
        *,
        dockerfile: str | None = None,
        tag: str | None = None,
        labels: dict[str, str] | None = None,
        buildargs: dict[str, str] | None = None,
        log: Callable[[str], None] | None = None,
        pull: bool = False,
        target: str | None = None,
        platform: str | None = None,
        nocache: bool = False,
    ) -> str:
        """Build the image of `context` (a directory) and return its image ID.

        `labels` are added to the image (they override labels of the same key set by the Dockerfile);
        every line of the build log is passed to `log`. A failed step raises RemoteError with the
        engine's message.
        """
        context = Path(context)
        if not context.is_dir():
            raise InvalidInputError(
                f"build context {context} is not a directory", hint="Give the directory with the Dockerfile."
            )
        stream = self._call(
            "docker build",
            self.api.build,
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            labels=labels or None,
            buildargs=buildargs or None,
            rm=True,
            forcerm=True,
            pull=pull,
            nocache=nocache,
            decode=True,
            **({"target": target} if target else {}),
            **({"platform": platform} if platform else {}),
        )
        image_id: str | None = None
        last_lines: list[str] = []

        def consume(items: Iterable[dict[str, Any]]) -> None:
            nonlocal image_id
            for item in items:
                if "error" in item:
                    detail = item.get("errorDetail", {}).get("message") or item["error"]
                    tail = "".join(last_lines[-5:]).strip()
                    raise RemoteError(
                        f"docker build of {context} failed: {detail.strip()}",
                        hint="Fix the Dockerfile step above (the build log shows it) and build again."
                        + (f" Last lines: {tail}" if tail and not log else ""),
                    )
                text = item.get("stream")
                if text:
                    last_lines.append(text)
                    del last_lines[:-20]
                    if log:
                        for line in text.splitlines():
                            log(line)
                    m = re.search(r"Successfully built ([0-9a-f]{12,64})", text)
                    if m and image_id is None:
                        image_id = m.group(1)
                aux = item.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = aux["ID"]

        self._call("docker build", consume, stream)
        if tag:
            return self.image_id(tag)
        if image_id is None:
            raise RemoteError(
                f"docker build of {context} ended without reporting an image ID",
                hint="Build again with -t TAG, and check the engine's log.",
            )
        return self.image_id(image_id)

    # ------------------------------------------------------------------------------------ save / load
    def save_stream(self, ref: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """`docker save REF` as a stream of chunks (nothing held in memory)."""
        self.inspect(ref)  # a clear error for a missing image before streaming starts
        chunks = self._call(f"docker save {ref}", self.api.get_image, ref, chunk_size=chunk_size)
        return self._guarded(f"docker save {ref}", chunks)

    def _guarded(self, what: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
        it = iter(chunks)
        while True:
            try:
                chunk = self._call(what, next, it)
            except StopIteration:
                return
            yield chunk

    def load(
        self, fileobj: BinaryIO | Iterable[bytes], *, log: Callable[[str], None] | None = None
    ) -> list[str]:
        """`docker load` from a file object or an iterable of chunks; returns the loaded image IDs."""
        body: Any = fileobj
        if hasattr(fileobj, "read"):
            body = _iter_file(fileobj)  # type: ignore[arg-type]

        def run() -> list[str]:
            refs: list[str] = []
            for item in self.api.load_image(body):
                if "error" in item:
                    detail = item.get("errorDetail", {}).get("message") or item["error"]
                    raise RemoteError(
                        f"docker load failed: {str(detail).strip()}",
                        hint="Check the archive with `ossr-images inspect FILE`; Docker before 25 cannot load "
                        "a pure OCI archive (no manifest.json).",
                    )
                text = str(item.get("stream") or "")
                if log and text.strip():
                    log(text.strip())
                for line in text.splitlines():
                    m = re.match(r"Loaded image ID: (sha256:[0-9a-f]{64})", line.strip())
                    if m:
                        refs.append(m.group(1))
                        continue
                    m = re.match(r"Loaded image: (\S+)", line.strip())
                    if m:
                        refs.append(m.group(1))
            return refs

        from docker.errors import APIError

        try:
            refs = self._call("docker load", run)
        except RemoteError:
            raise
        except APIError as exc:  # pragma: no cover - _call maps it
            raise RemoteError(f"docker load failed: {_short(exc)}") from exc
        ids: list[str] = []
        for ref in refs:
            image_id = ref if ref.startswith("sha256:") else self.image_id(ref)
            if image_id not in ids:
                ids.append(image_id)
        return ids

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> DockerEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _iter_file(fh: BinaryIO) -> Iterator[bytes]:
    while chunk := fh.read(CHUNK):
        yield chunk


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 400 else text[:400] + "…"
