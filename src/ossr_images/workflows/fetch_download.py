"""The download step of fetch: one fetch into a folder at a time (`folder_lock`), files already there checked
(identical: kept; different: replaced only with --force), the rest downloaded a few at a time on worker
threads into `DIR/<key>.part` (resumed, verified, then renamed), with one progress total fed by all of them.
Every worker returns a `FetchedFile`; nothing is shared between threads but the progress sink and the queue."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout

from ossr_images.atomic import PART_SUFFIX, atomic_path
from ossr_images.errors import IntegrityError, InvalidInputError, OssrError, RemoteError
from ossr_images.metadata.image_record import IMAGE_RECORD_KEY
from ossr_images.workflows.fetch_plan import FetchPlan, check_verifiable
from ossr_images.workflows.fetch_records import LOCK_NAME, FetchedFile
from ossr_images.workflows.fetch_remote import DownloadJob, download
from ossr_images.workflows.journal import cache_dir, short_hash
from ossr_images.zenodo.protocol import RepositoryClient
from ossr_images.zenodo.transfer import hash_file

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("ossr_images.fetch")

Notify = Callable[[str], None]


class ProgressSink(Protocol):
    def __call__(self, nbytes: int) -> None: ...


ProgressFactory = Callable[[int, str], ProgressSink]
"""(total bytes, description) -> a callable sink; the CLI passes `cli.progress.Progress`."""


def place_files(
    client: RepositoryClient, plan: FetchPlan, progress_factory: ProgressFactory | None, say: Notify
) -> tuple[FetchedFile, ...]:
    """Put the selected files of `plan` into its folder (the caller holds `folder_lock`): check files already
    there, move the image metadata file (verified in scratch) into place, download the rest in parallel.
    Returns every file of the record in its order (`path` None for those not selected)."""
    staged = plan.metadata
    others = [f for f in plan.selected if not (staged is not None and f.key == IMAGE_RECORD_KEY)]
    # before anything is written
    check_verifiable(plan.record.id, others, plan.expected_sha256, plan.options.allow_unverified, say)
    done: dict[str, FetchedFile] = {}
    todo: list[DownloadJob] = []
    for f in plan.selected:  # every file already there is checked before anything is written
        job = DownloadJob(f.key, f.url, plan.directory / f.key, f.size, f.md5, plan.expected_sha256(f.key))
        kept = _existing(plan, job, say)
        if kept is not None:
            done[f.key] = kept
        else:
            todo.append(job)
    meta = next((j for j in todo if staged is not None and j.key == IMAGE_RECORD_KEY), None)
    if meta is not None and staged is not None:  # verified in scratch already: copied into place
        with atomic_path(meta.dest, part=meta.dest.with_name(meta.key + PART_SUFFIX)) as part:
            shutil.copyfile(staged.path, part)
        done[meta.key] = replace(staged.fetched, path=meta.dest, downloaded=True)
        todo.remove(meta)
    done.update(download_all(client, todo, plan.options.max_workers, progress_factory))
    return tuple(
        done.get(f.key) or FetchedFile(key=f.key, path=None, size=f.size, md5=f.md5)
        for f in plan.record.files
    )


def _existing(plan: FetchPlan, job: DownloadJob, say: Notify) -> FetchedFile | None:
    """A file already at `job.dest`: identical to the record's -> kept (returned); different -> refused
    (InvalidInputError) unless --force; none (or to be replaced) -> None."""
    path = job.dest
    _unlink_if_symlink(path.with_name(job.key + PART_SUFFIX))
    if not (path.is_symlink() or path.exists()):
        return None
    staged = plan.metadata if job.key == IMAGE_RECORD_KEY else None
    expected_sha = job.sha256
    if staged is not None:
        with open(staged.path, "rb") as fh:
            expected_sha = hash_file(fh)[2]
    if path.is_symlink() or not path.is_file():
        raise InvalidInputError(
            f"{path} exists and is not a regular file", "Remove it, or fetch into another folder with -d DIR."
        )
    same = identical(job, expected_sha)
    if same is not None:
        say(f"{path}: already there and identical, kept")
        if staged is not None:  # as verified as the scratch copy
            checked = tuple(staged.fetched.checked)
            return replace(same, checked=checked, verified=bool(checked))
        return same
    if not plan.options.force:
        comparable = job.md5 or expected_sha
        differs = "differs from" if comparable else "cannot be compared (no checksum) with"
        raise InvalidInputError(
            f"{path} already exists and {differs} {job.key} in record {plan.record.id}",
            "Run again with --force to replace it, or fetch into another folder with -d DIR.",
        )
    return None


def identical(job: DownloadJob, expected_sha256: str | None) -> FetchedFile | None:
    """The file at `job.dest` when its size and md5 (and sha256 when known) equal the record's, else None."""
    path = job.dest
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if job.size is not None and size != job.size:
        return None
    if not job.md5 and not expected_sha256:
        return None  # nothing to compare with: download again
    with open(path, "rb") as fh:
        _size, md5, sha = hash_file(fh)  # one read, the two hashes on two threads
    if job.md5 and md5 != job.md5:
        return None
    if expected_sha256 and sha != expected_sha256.lower().removeprefix("sha256:"):
        return None
    checked = tuple(name for name, expected in (("md5", job.md5), ("sha256", expected_sha256)) if expected)
    return FetchedFile(job.key, path, job.size, job.md5, sha, True, False, checked)


def download_all(
    client: RepositoryClient,
    jobs: Sequence[DownloadJob],
    max_workers: int,
    progress_factory: ProgressFactory | None,
) -> dict[str, FetchedFile]:
    """Download `jobs` on up to `max_workers` threads; one progress total. Returns the files by key; raises
    the most serious error of any worker (the others stop at their next chunk on Ctrl-C)."""
    if not jobs:
        return {}
    total = sum(j.size or 0 for j in jobs)
    sink = progress_factory(total, f"Downloading {len(jobs)} file(s)") if progress_factory else None
    shared = SharedProgress(sink)
    # Daemon threads, not a ThreadPoolExecutor: on Ctrl-C the run must end at once even when a worker is
    # blocked on a stalled server (an executor's threads are joined at exit, up to the transfer timeout).
    pending: queue.Queue[DownloadJob] = queue.Queue()
    for job in jobs:
        pending.put(job)
    results: queue.Queue[FetchedFile | BaseException] = queue.Queue()

    def work() -> None:
        while not shared.cancelled:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results.put(download(client, job, shared))
            except BaseException as exc:  # noqa: BLE001 - collected, the most serious is raised
                results.put(exc)

    workers = max(1, min(max_workers, len(jobs)))
    threads = [threading.Thread(target=work, name=f"ossr-fetch-{i}", daemon=True) for i in range(workers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
        answers = [results.get_nowait() for _ in range(results.qsize())]
        errors = [a for a in answers if isinstance(a, BaseException)]
        failures = [e for e in errors if isinstance(e, Exception)]
        if failures:
            raise most_serious(failures)
        if errors:  # only a KeyboardInterrupt from a cancelled worker
            raise errors[0]
        return {a.key: a for a in answers if isinstance(a, FetchedFile)}
    except KeyboardInterrupt:
        shared.cancel()  # workers stop at their next chunk; their .part files are resumed next time
        raise
    finally:
        close = getattr(sink, "close", None)
        if callable(close):
            close()


class SharedProgress:
    """One total progress sink fed by several download threads (the sink is not thread-safe itself)."""

    def __init__(self, sink: ProgressSink | None) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Make every download thread stop at its next chunk (Ctrl-C)."""
        self._cancelled.set()

    def __call__(self, n: int) -> None:
        if self._cancelled.is_set():
            raise KeyboardInterrupt
        if self._sink is not None and n:
            with self._lock:
                self._sink(n)


def most_serious(errors: Sequence[BaseException]) -> BaseException:
    """The error to report of several: an interrupt, then integrity, input, remote, any of ours, the first."""
    for kind in (KeyboardInterrupt, IntegrityError, InvalidInputError, RemoteError, OssrError):
        for exc in errors:
            if isinstance(exc, kind):
                return exc
    return errors[0]


# ---------------------------------------------------------------------------------------------- locking


@contextlib.contextmanager
def folder_lock(directory: Path, say: Notify) -> Iterator[None]:
    """One fetch into `directory` at a time, leaving no lock file in it: where the OS allows, an exclusive
    flock on the folder itself (so runs with different cache folders, or users, still exclude each other);
    else a lock file in the cache folder named by a hash of the folder's resolved path; else, when the cache
    is not writable, `DIR/.ossr-images.lock`."""
    if fcntl is not None:
        try:
            fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            log.debug("cannot open %s to lock it (%s); using a lock file", directory, exc)
        else:
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    say(f"Waiting for another ossr-images fetch into {directory} to finish...")
                    fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:  # e.g. a file system without flock on folders
                os.close(fd)
                log.debug("cannot flock %s (%s); using a lock file", directory, exc)
            else:
                try:
                    yield
                finally:
                    os.close(fd)  # releases the lock
                return
    with lock_file(directory, say):
        yield


@contextlib.contextmanager
def lock_file(directory: Path, say: Notify) -> Iterator[None]:
    """The lock of `folder_lock` as a file: in the cache folder, or in DIR when the cache is not writable."""
    resolved = directory.resolve()
    path = cache_dir() / "fetch-locks" / f"{short_hash(str(resolved), 24)}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
    except OSError as exc:
        log.debug("cache folder not writable (%s); locking %s with %s in it", exc, resolved, LOCK_NAME)
        path = resolved / LOCK_NAME
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"Waiting for another ossr-images fetch into {directory} to finish...")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _unlink_if_symlink(path: Path) -> None:
    if path.is_symlink():
        path.unlink()
