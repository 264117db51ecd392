"""Local state that makes `publish` cheap and safe to run again on the same machine.

Everything lives under the user's cache folder (``$OSSR_IMAGES_CACHE_DIR``, else
``$XDG_CACHE_HOME/ossr-images``, else ``~/.cache/ossr-images``), never in the work tree, so that it can never
make a git checkout dirty. It is only an accelerator: the truth is the marker keyword in the Zenodo draft,
which a fresh CI machine finds by listing the token owner's depositions.

- ``hashes/<h>.json``: md5 + sha256 of a local file, keyed by its real path and valid while its size, mtime
  and inode are unchanged (avoids re-reading a multi-GB image on a re-run);
- ``publish/<h>.json``: per release and server, the id of the deposition the last run worked on (found again
  even before Zenodo's search index shows a just-created draft);
- ``locks/<h>.lock``: one publish per release at a time on this machine (``filelock``).
- ``fetch-locks/<h>.lock``: one fetch into a download folder at a time, where the folder itself cannot be
  flocked (``workflows/fetch.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ossr_images.atomic import atomic_write
from ossr_images.errors import InvalidInputError

CACHE_ENV = "OSSR_IMAGES_CACHE_DIR"


def cache_dir() -> Path:
    """The ossr-images cache folder (not created)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ossr-images"


def short_hash(text: str, length: int = 16) -> str:
    """A short, stable hex digest of `text` (used in markers and file names)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _write_json_atomic(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, text=True, mode=0o600) as fh:
        json.dump(doc, fh, indent=2)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


class Journal:
    """The local state of one release (repository + commit) on one server."""

    def __init__(self, release: str, api_url: str, root: Path | None = None) -> None:
        self.root = root or cache_dir()
        self.release = release
        self.api_url = api_url
        self.path = self.root / "publish" / f"{short_hash(api_url + '|' + release, 24)}.json"

    def load(self) -> dict[str, Any]:
        """The saved state ({} when none or unreadable)."""
        doc = _read_json(self.path)
        if doc.get("release") != self.release or doc.get("api_url") != self.api_url:
            return {}
        return doc

    def save(self, **updates: Any) -> None:
        """Merge `updates` into the saved state (atomically; a failure to write is not fatal)."""
        doc = self.load()
        doc.update(updates, release=self.release, api_url=self.api_url)
        with contextlib.suppress(OSError):
            _write_json_atomic(self.path, doc)

    def clear(self) -> None:
        """Forget this release (e.g. its draft was deleted on the server)."""
        with contextlib.suppress(OSError):
            self.path.unlink()

    @property
    def deposition_id(self) -> int | str | None:
        """The draft id saved, as the server gave it (an int on the deposit API, a string on the native one)."""
        value = self.load().get("deposition_id")
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
            return None
        return value


def _fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def cached_hashes(path: Path, root: Path | None = None) -> tuple[str, str] | None:
    """(md5, sha256) of `path` from the cache, if the file is unchanged since they were recorded."""
    fp = _fingerprint(path)
    doc = _read_json((root or cache_dir()) / "hashes" / f"{short_hash(fp['path'], 24)}.json")
    if all(doc.get(k) == v for k, v in fp.items()) and doc.get("md5") and doc.get("sha256"):
        return str(doc["md5"]), str(doc["sha256"])
    return None


def remember_hashes(path: Path, md5: str, sha256: str, root: Path | None = None) -> None:
    """Record the hashes of `path` (best effort)."""
    fp = _fingerprint(path)
    with contextlib.suppress(OSError):
        _write_json_atomic(
            (root or cache_dir()) / "hashes" / f"{short_hash(fp['path'], 24)}.json",
            {**fp, "md5": md5, "sha256": sha256},
        )


def file_hashes(
    path: Path,
    *,
    progress: Callable[[int], None] | None = None,
    root: Path | None = None,
) -> tuple[str, str]:
    """(md5, sha256) of a local file: from the cache when unchanged, else one streaming pass (then cached)."""
    hit = cached_hashes(path, root)
    if hit:
        return hit
    from ossr_images.zenodo.transfer import hash_file

    with open(path, "rb") as fh:
        _n, md5, sha = hash_file(fh, progress=progress)
    remember_hashes(path, md5, sha, root)
    return md5, sha


@contextlib.contextmanager
def release_lock(release: str, api_url: str, *, what: str, root: Path | None = None) -> Iterator[Path]:
    """Hold the machine-wide lock of one release on one server, or raise `InvalidInputError` saying that
    another run holds it (and which process)."""
    from filelock import FileLock, Timeout

    base = (root or cache_dir()) / "locks"
    base.mkdir(parents=True, exist_ok=True)
    name = short_hash(api_url + "|" + release, 24)
    lock_path = base / f"{name}.lock"
    owner_path = base / f"{name}.owner"
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        owner = _read_json(owner_path)
        who = f" (process {owner.get('pid')}, started {owner.get('since')})" if owner.get("pid") else ""
        raise InvalidInputError(
            f"another ossr-images publish of {what} to {api_url} is running on this machine{who}; "
            "this run stopped so that only one record is made",
            f"Wait for the other run to finish, then run this command again (it will report the record). "
            f"Lock file: {lock_path}",
        ) from None
    try:
        import datetime

        with contextlib.suppress(OSError):
            _write_json_atomic(
                owner_path,
                {"pid": os.getpid(), "since": datetime.datetime.now(datetime.timezone.utc).isoformat()},
            )
        yield lock_path
    finally:
        with contextlib.suppress(OSError):
            owner_path.unlink()
        lock.release()
