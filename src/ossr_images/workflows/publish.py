"""`ossr-images publish`: one image + its source's CodeMeta -> one verified Zenodo record. Safe to run again.

Order of steps (nothing remote happens before the local checks pass):
  1. local: validate CodeMeta, the source link and the image labels against both (`run_validate`);
     pre-check Zenodo's limits (50 GB per record, 100 files); build the Zenodo metadata (crosswalk) with
     the marker keywords below; with --dry-run also hash the image and stop here;
  2. find the release among the token owner's depositions (marker keyword, plus the local journal for a
     draft created a moment ago): already published -> report it and stop; a draft -> continue it;
  3. otherwise create the deposition, or a new version of the earlier image record (--new-version-of DOI,
     or the newest published record carrying IMAGE_KEYWORD and this repository's marker keyword);
  4. remove files that do not belong (carried over from the previous version, stale);
  5. upload the image (streamed; md5 + sha256 in that one pass), then codemeta.json, then the image metadata
     file (which carries the sha256); files already there with the right md5 are not sent again;
  6. verify every md5 in the draft's file list; PUT the metadata; publish unless --draft (a publish whose
     response was lost is recognised by reading the deposition back);
  7. read the record back and check its files and metadata.
Right after creating its draft and again right before publishing, a run checks that no other run (on another
machine, where the local lock does not reach) made a deposition of the same release; when one did, the lowest
deposition id (or the one already published) wins and this run steps aside (`publish_discovery`).

How a run finds its draft again: every deposition it makes carries the keywords
``ossr-images:container-image`` (IMAGE_KEYWORD), ``ossr-images:repo:<h(repository)>`` and
``ossr-images:release:<h(repository@commit)>`` (keywords are kept by Zenodo; unknown metadata keys are
silently dropped). A release is repository + commit + image sha256: the sha256 (or the image ID) is compared
with the image metadata file of a record carrying the release keyword.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ossr_images.errors import IntegrityError, InvalidInputError, OssrError, Problem, RemoteError
from ossr_images.metadata.image_record import (
    IMAGE_KEYWORD,
    IMAGE_RECORD_KEY,
    ImageRecord,
    dump_image_record,
    image_record_from,
)
from ossr_images.workflows import journal as jr
from ossr_images.workflows import publish_discovery as pd
from ossr_images.zenodo.models import Deposition, Record, RemoteFile

log = logging.getLogger("ossr_images.publish")

CODEMETA_KEY = "codemeta.json"
QUOTA_BYTES = 50_000_000_000  # Zenodo's default per-record quota (decimal GB)
MAX_FILES = 100  # Zenodo's per-record file count limit
RECORD_FILE_ALLOWANCE = 1_000_000  # bytes kept free for the image metadata file
RELEASE_PREFIX = "ossr-images:release:"
REPO_PREFIX = "ossr-images:repo:"
ENGINE_PREFIXES = ("docker-daemon:", "docker://")
READBACK_TRIES = 5
MAX_ROUNDS = 3  # lookups after stepping aside for another machine's run of the same release

ProgressFactory = Callable[[int | None, str], Callable[[int], None]]
Notify = Callable[[str], None]
Confirm = Callable[[str], bool]


# ----------------------------------------------------------------------------------------------- results


@dataclass
class PublishedFile:
    """One file of the record as verified: key, size, md5 (Zenodo's checksum) and sha256 (computed locally)."""

    key: str
    size: int
    md5: str | None
    sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "md5": self.md5, "sha256": self.sha256}


@dataclass
class PublishResult:
    """What `publish` did. `to_json()` is the `--json` document of the CLI contract."""

    state: str  # "published" | "draft" | "dry-run"
    repository: str
    commit: str
    doi: str | None = None
    conceptdoi: str | None = None
    record_id: str | None = None
    record_url: str | None = None
    deposition_id: int | None = None
    files: list[PublishedFile] = field(default_factory=list)
    already_published: bool = False
    resumed: bool = False
    new_version_of: str | None = None  # the record id of the previous version, when a new version was made
    matched_by: str | None = None  # how the previous version was found
    zenodo_metadata: dict[str, Any] = field(default_factory=dict)
    image_record: dict[str, Any] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """`{"doi", "conceptdoi", "record_id", "record_url", "state", "files", "source"}`, nulls when n/a."""
        return {
            "doi": self.doi,
            "conceptdoi": self.conceptdoi,
            "record_id": self.record_id,
            "record_url": self.record_url,
            "state": self.state,
            "files": [f.to_dict() for f in self.files],
            "source": {"repository": self.repository, "commit": self.commit},
        }


@dataclass
class PublishPlan:
    """Everything the local checks established; what the remote steps work from."""

    image_path: Path
    image_key: str
    image_info: Any  # images.inspect.ImageInfo
    codemeta: Any  # metadata.codemeta.CodeMeta
    codemeta_bytes: bytes
    source: Any  # metadata.source.SourceLink
    zenodo_metadata: dict[str, Any]
    release_marker: str
    repo_marker: str
    warnings: list[Problem]
    engine: str | None = None  # what made the image, when known (e.g. exported from the Docker engine)
    engine_version: str | None = None
    build: Any = None  # metadata.build_record.BuildRecord: how the image was built, when known

    def image_record(self, *, sha256: str, md5: str | None) -> dict[str, Any]:
        """The image metadata document for this image (once its sha256 is known)."""
        return image_record_from(
            self.image_info,
            source=self.source,
            codemeta=self.codemeta,
            file_name=self.image_key,
            sha256=sha256,
            md5=md5,
            engine=self.engine,
            engine_version=self.engine_version,
            build=self.build,
        )

    @property
    def repository(self) -> str:
        return str(self.source.repository)

    @property
    def commit(self) -> str:
        return str(self.source.commit)

    @property
    def image_size(self) -> int:
        return int(self.image_info.size)

    def summary(self, target_name: str | None = None) -> str:
        """A few human lines: what will be published where."""
        meta = self.zenodo_metadata
        lines = [
            f"Title:      {meta.get('title')}",
            f"Version:    {meta.get('version')}",
            f"Source:     {self.repository} @ {self.commit}",
            f"Image:      {self.image_key} ({self.image_size} bytes, {self.image_info.format}, "
            f"{self.image_info.compression})",
            f"Files:      {self.image_key}, {CODEMETA_KEY}, {IMAGE_RECORD_KEY}",
            f"Communities: {', '.join(c.get('identifier', '?') for c in meta.get('communities') or []) or '-'}",
        ]
        if target_name:
            lines.append(f"Server:     {target_name}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------- entry point


def publish(
    image: str | Path,
    *,
    codemeta: str | Path | None = None,
    repo_dir: str | Path | None = None,
    commit: str | None = None,
    allow_dirty: bool = False,
    target: Any = None,
    communities: Sequence[str] = ("escape2020",),
    new_version_of: str | None = None,
    draft: bool = False,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    progress: ProgressFactory | None = None,
    notify: Notify | None = None,
    client: Any = None,
    cache_root: Path | None = None,
    env: Mapping[str, str] | None = None,
    build: Any = None,
) -> PublishResult:
    """Publish `image` (a file, or `docker-daemon:NAME:TAG` / `docker://...`, exported on the fly) with the
    CodeMeta file of its source on the `target` Zenodo server (a `zenodo.target.Target` with a token).

    `confirm(summary)` is called once, after the local checks and before the first write on the server; a
    False answer stops with `InvalidInputError`. `progress(total, description)` returns a byte sink;
    `notify(line)` receives human progress lines; `env` replaces os.environ for the CI variables that may
    give the source link. `build` (a `BuildRecord`) becomes the image metadata file's `build` section.
    Raises the `OssrError` family; never prints.
    """
    say = notify or (lambda _m: None)
    with _materialize(image, progress, say) as materialized:
        plan = prepare(
            materialized.path,
            codemeta=codemeta,
            repo_dir=repo_dir,
            commit=commit,
            allow_dirty=allow_dirty,
            communities=communities,
            env=env,
            image_info=materialized.info,
        )
        plan.engine, plan.engine_version = materialized.engine, materialized.engine_version
        plan.build = build
        if dry_run:
            return _dry_run(plan, progress, say, cache_root)
        if target is None or not getattr(target, "token", None):
            raise InvalidInputError(
                "no Zenodo server and token to publish to",
                "Set ZENODO_TOKEN (or ZENODO_SANDBOX_TOKEN with --sandbox) or give --token-file.",
            )
        from ossr_images.zenodo.client import ZenodoClient

        # a client made here is closed here; a caller's client stays the caller's to close
        opened = ZenodoClient(target) if client is None else contextlib.nullcontext(client)
        what = f"{plan.repository}@{plan.commit[:12]}"
        with (
            opened as client,
            jr.release_lock(plan.release_marker, target.api_url, what=what, root=cache_root),
        ):
            run = _RemoteRun(
                plan,
                client=client,
                target=target,
                new_version_of=new_version_of,
                draft=draft,
                confirm=confirm,
                progress=progress,
                say=say,
                cache_root=cache_root,
            )
            return run.run()


# ---------------------------------------------------------------------------------------- local checks


def prepare(
    image_path: Path,
    *,
    codemeta: str | Path | None = None,
    repo_dir: str | Path | None = None,
    commit: str | None = None,
    allow_dirty: bool = False,
    communities: Sequence[str] = ("escape2020",),
    env: Mapping[str, str] | None = None,
    image_info: Any = None,
) -> PublishPlan:
    """Run every local check and build the Zenodo metadata; raises `InvalidInputError` listing problems.
    `image_info`: the ImageInfo of `image_path` when already known (an export described it while writing
    it), so that the file is not read again."""
    from ossr_images.workflows.validate import run_validate

    image_path = Path(image_path)
    if not image_path.is_file():
        raise InvalidInputError(
            f"the image file {image_path} does not exist or is not a file",
            "Give an image archive (.tar, .tar.zst, .tar.gz, .oci.tar) or a .sif file, or an engine "
            "reference such as docker-daemon:NAME:TAG.",
        )
    key = image_path.name
    if key in (CODEMETA_KEY, IMAGE_RECORD_KEY) or key.startswith("."):
        raise InvalidInputError(
            f"the image file name {key!r} cannot be used as a Zenodo file key",
            f"Rename the image file (it must not be {CODEMETA_KEY}, {IMAGE_RECORD_KEY} or a hidden name).",
        )
    codemeta_path = Path(codemeta) if codemeta else Path(repo_dir or ".") / "codemeta.json"
    result = run_validate(
        codemeta_path,
        image=image_path,
        repo_dir=Path(repo_dir) if repo_dir else None,
        commit=commit,
        allow_dirty=allow_dirty,
        strict=False,
        communities=tuple(communities),
        env=env,
        image_info=image_info,
    )
    errors = [p for p in result.problems if p.severity == "error"]
    if not result.valid or errors:
        raise _problems_error(errors or list(result.problems))
    warnings = [p for p in result.problems if p.severity != "error"]
    if result.codemeta is None or result.source is None:
        raise InvalidInputError(
            "the CodeMeta file or the source link could not be established",
            "Run `ossr-images validate` to see what is missing.",
        )
    info = result.image
    if info is None:
        from ossr_images.images.inspect import inspect_image

        info = inspect_image(image_path, sha256=False)
    try:
        codemeta_bytes = codemeta_path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read {codemeta_path}: {exc.strerror or exc}", "Give a readable --codemeta FILE."
        ) from None

    check_limits([(key, int(info.size)), (CODEMETA_KEY, len(codemeta_bytes))])

    source = result.source
    repo_norm = _normalize_repo(source.repository)
    release_marker = RELEASE_PREFIX + jr.short_hash(f"{repo_norm}@{str(source.commit).lower()}")
    repo_marker = REPO_PREFIX + jr.short_hash(repo_norm)
    zmeta = build_zenodo_metadata(
        result.codemeta,
        source,
        communities=communities,
        markers=(IMAGE_KEYWORD, repo_marker, release_marker),
    )
    return PublishPlan(
        image_path=image_path,
        image_key=key,
        image_info=info,
        codemeta=result.codemeta,
        codemeta_bytes=codemeta_bytes,
        source=source,
        zenodo_metadata=zmeta,
        release_marker=release_marker,
        repo_marker=repo_marker,
        warnings=warnings,
    )


def check_limits(files: Sequence[tuple[str, int]]) -> None:
    """Refuse, before anything remote, a record Zenodo would refuse: total size over the 50 GB quota (with
    room for the image metadata file) or more than 100 files."""
    total = sum(size for _k, size in files) + RECORD_FILE_ALLOWANCE
    count = len(files) + 1
    if total > QUOTA_BYTES:
        raise InvalidInputError(
            f"the record would hold {total / 1e9:.2f} GB, over Zenodo's {QUOTA_BYTES / 1e9:.0f} GB per-record "
            f"quota (largest file: {max(files, key=lambda f: f[1])[0]})",
            "Make the image smaller (zstd compression, fewer layers), or ask Zenodo support for a larger "
            "quota (up to 150 GB) before publishing.",
        )
    if count > MAX_FILES:
        raise InvalidInputError(
            f"the record would hold {count} files, over Zenodo's limit of {MAX_FILES}",
            "Publish fewer files per record.",
        )


def build_zenodo_metadata(
    codemeta: Any, source: Any, *, communities: Sequence[str], markers: Sequence[str]
) -> dict[str, Any]:
    """The deposit `metadata` dict: the crosswalk's, with the image title, the marker keywords and a note."""
    from ossr_images.metadata.crosswalk import to_zenodo_metadata

    zm = to_zenodo_metadata(codemeta, source, communities=tuple(communities), extra_keywords=tuple(markers))
    meta = dict(zm.to_deposit())
    keywords = list(meta.get("keywords") or [])
    for marker in markers:
        if marker not in keywords:
            keywords.append(marker)
    meta["keywords"] = keywords
    title = str(meta.get("title") or codemeta.name or "image")
    if "container image" not in title.lower():
        meta["title"] = f"{title}: container image"
    note = (
        f"Container image built from {source.repository} at commit {source.commit}, archived with "
        f"ossr-images. The file {IMAGE_RECORD_KEY} names the source and the image's sha256; "
        f"`ossr-images fetch <doi>` downloads and verifies it."
    )
    meta["notes"] = f"{meta['notes']}\n\n{note}" if meta.get("notes") else note
    if not communities:
        meta.pop("communities", None)
    return meta


def _problems_error(problems: list[Problem]) -> InvalidInputError:
    first = problems[0] if problems else None
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    where = f" at {first.path}" if first and first.path else ""
    message = f"local checks failed{where}: {first.message if first else 'unknown problem'}{more}"
    hint = (first.hint if first and first.hint else "") or "Fix the problems listed above."
    if len(problems) > 1:
        hint += " Run `ossr-images validate` to list every problem."
    return InvalidInputError(message, hint, details=[p.to_dict() for p in problems])


def _normalize_repo(url: str) -> str:
    from ossr_images.metadata.source import normalize_repo_url

    return normalize_repo_url(url).rstrip("/").lower()


def _same_repo(a: str, b: str) -> bool:
    return _normalize_repo(a) == _normalize_repo(b)


# -------------------------------------------------------------------------------------------- dry run


def _dry_run(
    plan: PublishPlan, progress: ProgressFactory | None, say: Notify, cache_root: Path | None
) -> PublishResult:
    say(f"Dry run: hashing {plan.image_key} locally; nothing is sent.")
    sink = progress(plan.image_size, f"Hashing {plan.image_key}") if progress else None
    try:
        md5, sha = jr.file_hashes(plan.image_path, progress=sink, root=cache_root)
    finally:
        _close(sink)
    record = plan.image_record(sha256=sha, md5=md5)
    record_bytes = dump_image_record(record)
    files = [
        PublishedFile(plan.image_key, plan.image_size, md5, sha),
        _local_file(CODEMETA_KEY, plan.codemeta_bytes),
        _local_file(IMAGE_RECORD_KEY, record_bytes),
    ]
    return PublishResult(
        state="dry-run",
        repository=plan.repository,
        commit=plan.commit,
        files=files,
        zenodo_metadata=plan.zenodo_metadata,
        image_record=record,
        warnings=plan.warnings,
    )


def _local_file(key: str, data: bytes) -> PublishedFile:
    return PublishedFile(key, len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())  # noqa: S324


def _close(sink: Any) -> None:
    close = getattr(sink, "close", None)
    if callable(close):
        close()


# ------------------------------------------------------------------------------------- engine references


@dataclass
class _Materialized:
    path: Path
    engine: str | None = None
    engine_version: str | None = None
    info: Any = None  # the ImageInfo of an export, described while it was written


@contextlib.contextmanager
def _materialize(image: str | Path, progress: ProgressFactory | None, say: Notify) -> Iterator[_Materialized]:
    """The image file: the argument itself, or a zstd docker archive exported from an engine reference
    (`docker-daemon:NAME:TAG` through the Docker engine, `docker://...` daemonless) into a temporary folder
    that is removed afterwards."""
    text = str(image)
    if not text.startswith(ENGINE_PREFIXES):
        yield _Materialized(Path(text))
        return
    from ossr_images.images.export import export_image

    engine = engine_name = engine_version = None
    if text.startswith("docker-daemon:"):
        from ossr_images.images.docker_engine import DockerEngine

        engine = DockerEngine.connect()
        engine_name, engine_version = "docker", engine.version
        ref = text.split(":", 1)[1]
    else:
        ref = text.split("//", 1)[1]
    last = ref.rsplit("/", 1)[-1]
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in last).strip("-.")
    with tempfile.TemporaryDirectory(prefix="ossr-images-export-") as tmp:
        out = Path(tmp) / f"{safe or 'image'}.tar.zst"
        say(f"Exporting {text} to a zstd-compressed docker archive.")
        sink = progress(None, f"Exporting {last}") if progress else None
        try:
            exported = export_image(
                text, out, fmt="docker-archive", compress="zstd", progress=sink, engine=engine
            )
        finally:
            _close(sink)
        yield _Materialized(out, engine_name, engine_version, exported.info)


# ------------------------------------------------------------------------------------------ remote run


@dataclass(frozen=True)
class _SteppedAside:
    """This run lost the re-check to another run's deposition of the same release (`winner`): returned by
    the steps that re-check, up to the round loop."""

    winner: Deposition


class _RemoteRun:
    """The remote half of one publish run (one deposition)."""

    def __init__(
        self,
        plan: PublishPlan,
        *,
        client: Any,
        target: Any,
        new_version_of: str | None,
        draft: bool,
        confirm: Confirm | None,
        progress: ProgressFactory | None,
        say: Notify,
        cache_root: Path | None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.target = target
        self.new_version_of = new_version_of
        self.draft = draft
        self.confirm = confirm
        self.progress = progress
        self.say = say
        self.cache_root = cache_root
        self.journal = jr.Journal(plan.release_marker, target.api_url, cache_root)
        self.md5: str | None = None
        self.sha256: str | None = None
        self.confirmed = False
        self.resumed = False
        self.previous: Deposition | None = None
        self.matched_by: str | None = None
        self.known_published: set[int] = set()  # published depositions of this release seen at the lookup
        self.winner_ids: set[int] = set()  # depositions of other runs this run stepped aside for

    # -- lookup ---------------------------------------------------------------------------------------

    def _list(self) -> list[Deposition]:
        deps = list(self.client.list_depositions(all_versions=True))
        known = {d.id for d in deps}
        for wid in sorted(self.winner_ids - known):  # the list may not show another run's deposition yet
            try:
                deps.append(self.client.get_deposition(wid))
            except RemoteError as exc:
                if getattr(exc, "status", None) not in (404, 410):
                    raise
        known = {d.id for d in deps}
        jid = self.journal.deposition_id
        if jid is not None and jid not in known:
            # just created: Zenodo's search index may not show it yet
            try:
                dep = self.client.get_deposition(jid)
            except RemoteError as exc:
                if getattr(exc, "status", None) in (404, 410):
                    self.say(f"The draft {jid} of an earlier run no longer exists; starting afresh.")
                    self.journal.clear()
                else:
                    raise
            else:
                if dep.marker(RELEASE_PREFIX) == self.plan.release_marker or not dep.is_published:
                    deps.append(dep)
        return deps

    def _fresh(self, deps: list[Deposition]) -> list[Deposition]:
        """The depositions read again one by one: the list comes from a search index that may lag behind
        (a draft published or deleted a moment ago)."""
        out = []
        for dep in deps:
            try:
                out.append(self.client.get_deposition(dep.id))
            except RemoteError as exc:
                if getattr(exc, "status", None) not in (404, 410):
                    raise
                if dep.id == self.journal.deposition_id:
                    self.journal.clear()
        return out

    def _local_hashes(self) -> tuple[str, str]:
        if self.md5 is None or self.sha256 is None:
            sink = (
                self.progress(self.plan.image_size, f"Hashing {self.plan.image_key}")
                if self.progress
                else None
            )
            try:
                self.md5, self.sha256 = jr.file_hashes(
                    self.plan.image_path, progress=sink, root=self.cache_root
                )
            finally:
                _close(sink)
        return self.md5, self.sha256

    def _published_image_record(self, dep: Deposition) -> ImageRecord | None:
        """The image metadata file of a published record, downloaded to a temporary folder."""
        entry = self.client.get_record(dep.record_ref).file(IMAGE_RECORD_KEY)
        if entry is None or entry.url is None:
            return None
        with tempfile.TemporaryDirectory(prefix="ossr-images-") as tmp:
            dest = Path(tmp) / IMAGE_RECORD_KEY
            self.client.download_file(entry.url, dest, size=entry.size, md5=entry.md5)
            return ImageRecord.from_bytes(dest.read_bytes())

    def _same_image(self, record: ImageRecord | None) -> bool:
        if record is None:
            return False
        info = self.plan.image_info
        if info.image_id and record.image_id and info.image_id == record.image_id:
            return True
        _md5, sha = self._local_hashes()
        return record.sha256 == sha

    def run(self) -> PublishResult:
        for _round in range(MAX_ROUNDS):
            outcome = self._run_once()
            if isinstance(outcome, PublishResult):
                return outcome
            winner_id = outcome.winner.id
            self.winner_ids.add(winner_id)
            self.resumed = False
            if not outcome.winner.is_published:
                pd.await_winner(self.client, winner_id, say=self.say)
            # the next lookup finds the winner's record (already published) or, if it is gone, starts again
        raise RemoteError(
            "other runs kept creating depositions of this release; this run stepped aside each time",
            "Re-run later, when the other runs are done: a re-run reports the published record.",
        )

    def _settle(self, dep: Deposition) -> _SteppedAside | None:
        """The re-check against another machine's run of this release (after creating the draft, and right
        before publishing): `_SteppedAside`, after deleting this run's draft, when the other run wins."""
        own_id = dep.id
        rivalry = pd.recheck(
            self.client,
            self.plan.release_marker,
            own_id,
            ignore_ids=self.known_published,
            extra_ids=self.winner_ids,
        )
        if rivalry.winner is None:
            return None
        winner = rivalry.winner
        state = "published" if winner.is_published else "a draft"
        self.say(
            f"Another run made deposition {winner.id} ({state}) for this same release; "
            f"this run's deposition {own_id} steps aside so that the release gets a single record."
        )
        if pd.withdraw(self.client, own_id):
            self.say(f"Deleted this run's draft {own_id}.")
        self.journal.clear()
        return _SteppedAside(winner)

    def _run_once(self) -> PublishResult | _SteppedAside:
        plan = self.plan
        self.previous, self.matched_by = None, None
        deps = self._list()
        mine = self._fresh([d for d in deps if d.marker(RELEASE_PREFIX) == plan.release_marker])
        published = sorted((d for d in mine if d.is_published), key=lambda d: d.id, reverse=True)
        drafts = sorted((d for d in mine if not d.is_published), key=lambda d: d.id)
        self.known_published = {d.id for d in published}

        for dep in published:
            record = self._published_image_record(dep)
            if self._same_image(record):
                self.say(f"This release ({plan.repository} @ {plan.commit[:12]}) is already published.")
                return self._result_from_record(dep, already=True, image=record)
            if not self.new_version_of:
                self._local_hashes()
                raise InvalidInputError(
                    f"{plan.repository} @ {plan.commit} is already published as record {dep.record_id} "
                    f"(DOI {dep.doi}) with a different image (sha256 {record.sha256 if record else '?'}, "
                    f"this one {self.sha256})",
                    "Publish the image that is archived (ossr-images fetch), or pass --new-version-of "
                    f"{dep.doi or dep.record_id} to archive this rebuilt image as a new version.",
                )

        if drafts:
            dep = drafts[0]
            self.resumed = True
            self.say(f"Continuing the draft {dep.id} of an earlier run.")
            if len(drafts) > 1:
                self.say(f"Note: other drafts carry this release too: {[d.id for d in drafts[1:]]}.")
        else:
            dep = self._new_deposition(deps)
            if isinstance(dep, _SteppedAside):
                return dep
        return self._complete(dep)

    # -- create -----------------------------------------------------------------------------------------

    def _ask(self) -> None:
        if self.confirmed or self.confirm is None:
            return
        if not self.confirm(self.plan.summary(getattr(self.target, "api_url", None))):
            raise InvalidInputError(
                "publishing was cancelled at the confirmation prompt; nothing was written",
                "Run the command again and answer yes, or pass --yes; try --dry-run or --sandbox first.",
            )
        self.confirmed = True

    def _find_previous(self, deps: list[Deposition]) -> Deposition | None:
        """The deposition of which this release becomes a new version, or None for a new record."""
        if self.new_version_of:
            from ossr_images.zenodo.doi import parse_record_ref

            ref = parse_record_ref(self.new_version_of)
            rec = self.client.get_record(ref.record_id)  # follows a concept id to the latest version
            if IMAGE_KEYWORD not in rec.keywords and rec.file(IMAGE_RECORD_KEY) is None:
                raise InvalidInputError(
                    f"record {rec.id} ({self.new_version_of}) is not an ossr-images image record "
                    f"(no {IMAGE_RECORD_KEY} and no keyword {IMAGE_KEYWORD})",
                    "Give the DOI of an earlier image record; never the source code's own record.",
                )
            self.matched_by = f"--new-version-of {self.new_version_of}"
            rec_id = int(rec.id)
            dep = next((d for d in deps if rec_id in (d.id, d.record_id)), None)
            return dep or self.client.get_deposition(rec_id)
        source_dois = _source_record_dois(self.plan.codemeta)
        candidates = [
            d
            for d in deps
            if d.is_published
            and IMAGE_KEYWORD in d.keywords
            and (self.plan.repo_marker in d.keywords or self._related_repo_matches(d))
            and (d.doi or "").lower() not in source_dois
            and (d.conceptdoi or "").lower() not in source_dois
        ]
        if not candidates:
            return None
        newest = max(candidates, key=lambda d: d.id)
        self.matched_by = (
            f"the newest of your published records with the keyword {IMAGE_KEYWORD} "
            f"and the repository {self.plan.repository}"
        )
        return newest

    def _related_repo_matches(self, dep: Deposition) -> bool:
        for rel in dep.related:
            ident = rel.identifier
            for sep in ("/-/tree/", "/tree/", "/commit/"):
                if sep in ident:
                    ident = ident.split(sep, 1)[0]
                    break
            if ident.startswith("http") and _same_repo(ident, self.plan.repository):
                return True
        return False

    def _new_deposition(self, deps: list[Deposition]) -> Deposition | _SteppedAside:
        previous = self._find_previous(deps)
        meta = self.plan.zenodo_metadata
        if previous is None:
            self._ask()
            self.say("Creating a new deposition.")
            dep = self.client.create_deposition(metadata=meta)
            self.journal.save(deposition_id=dep.id)
            return self._settle(dep) or dep
        self.previous = previous
        self.say(f"Making a new version of record {previous.record_ref}: {self.matched_by}.")
        dep = self._pending_version_draft(previous, deps)
        self._ask()
        if dep is None:
            dep = self.client.new_version(previous.id)
        self.journal.save(deposition_id=dep.id)
        # put our marker in at once, so that a crash from here on finds this draft again
        dep = self.client.update_deposition(dep.id, meta)
        return self._settle(dep) or dep

    def _pending_version_draft(self, previous: Deposition, deps: list[Deposition]) -> Deposition | None:
        """A draft of the next version that already exists for this concept (an earlier run died right after
        creating it): adopted when it carries this release's marker or one copied from a published version."""
        concept = previous.conceptrecid
        published_markers = {d.marker(RELEASE_PREFIX) for d in deps if d.is_published}
        for d in deps:
            if d.is_published or not concept or d.conceptrecid != concept:
                continue
            marker = d.marker(RELEASE_PREFIX)
            if marker == self.plan.release_marker or (marker is not None and marker in published_markers):
                self.resumed = True
                self.say(f"Continuing the new-version draft {d.id} of an earlier run.")
                return d
            raise RemoteError(
                f"record {previous.record_ref} already has a draft of a new version "
                f"(deposition {d.id}) for another release",
                f"Publish or discard that draft first: {d.html_url or d.id}.",
            )
        return None

    # -- files, metadata, publish -------------------------------------------------------------------------

    def _complete(self, dep: Deposition) -> PublishResult | _SteppedAside:
        plan = self.plan
        dep_id = dep.id
        self.journal.save(deposition_id=dep_id)
        self._ask()
        bucket = dep.bucket_url
        if not bucket:
            dep = self.client.get_deposition(dep_id)
            bucket = dep.bucket_url
        if not bucket:
            raise RemoteError(
                f"the deposition {dep_id} has no file bucket link",
                "Run the command again; report it if it stays.",
            )
        remote = {f.key: f for f in self.client.list_files(dep_id)}
        wanted = {plan.image_key, CODEMETA_KEY, IMAGE_RECORD_KEY}
        for key, entry in remote.items():
            if key not in wanted:
                self.say(f"Removing {key} (carried over or stale).")
                self.client.delete_file(dep_id, entry.id)

        img = self._upload_image(bucket, remote.get(plan.image_key))
        cm = self._upload_bytes(bucket, CODEMETA_KEY, plan.codemeta_bytes, remote.get(CODEMETA_KEY))
        md5, sha = self._local_hashes()
        record = plan.image_record(sha256=sha, md5=md5)
        rec = self._upload_bytes(
            bucket, IMAGE_RECORD_KEY, dump_image_record(record), remote.get(IMAGE_RECORD_KEY)
        )
        files = [img, cm, rec]
        self._verify_files(dep_id, files)

        self.say("Setting the metadata.")
        self.client.update_deposition(dep_id, plan.zenodo_metadata)
        aside = self._settle(dep)  # the last look for another machine's run of this release before publishing
        if aside is not None:
            return aside
        if self.draft:
            dep = self.client.get_deposition(dep_id)
            self.say(
                "Left as a draft (--draft): review it on Zenodo, then publish it there or run without --draft."
            )
            return self._result(
                state="draft",
                dep=dep,
                doi=dep.prereserved_doi,
                conceptdoi=dep.conceptdoi,
                record_id=str(dep.record_ref),
                record_url=dep.html_url,
                files=files,
                record=record,
            )
        self.say("Publishing.")
        published = self._publish(dep_id)
        result = self._result_from_record(published, files=files, record=record)
        self.journal.clear()
        return result

    def _upload_image(self, bucket: str, existing: RemoteFile | None) -> PublishedFile:
        plan = self.plan
        size = plan.image_size
        if existing is not None and existing.size == size:
            md5, sha = self._local_hashes()
            if existing.md5 == md5:
                self.say(f"{plan.image_key} is already uploaded (md5 verified); not sent again.")
                return PublishedFile(plan.image_key, size, md5, sha)
        self.say(f"Uploading {plan.image_key} ({size} bytes).")
        sink = self.progress(size, f"Uploading {plan.image_key}") if self.progress else None
        try:
            with open(plan.image_path, "rb") as fh:
                res = self.client.upload_file(bucket, plan.image_key, fh, size, progress=sink)
        finally:
            _close(sink)
        self.md5, self.sha256 = res.md5, res.sha256
        jr.remember_hashes(plan.image_path, res.md5, res.sha256, self.cache_root)
        return PublishedFile(plan.image_key, int(res.size), res.md5, res.sha256)

    def _upload_bytes(self, bucket: str, key: str, data: bytes, existing: RemoteFile | None) -> PublishedFile:
        local = _local_file(key, data)
        if existing is not None and existing.md5 == local.md5 and existing.size == local.size:
            return local
        import io

        res = self.client.upload_file(bucket, key, io.BytesIO(data), len(data))
        if res.md5 != local.md5:  # the client compares Zenodo's checksum with the bytes it sent
            raise IntegrityError(f"{key}: sent md5 {res.md5} but the local bytes have {local.md5}")
        return local

    def _verify_files(self, dep_id: int, files: list[PublishedFile]) -> None:
        """Every file in the draft, as Zenodo lists it, has the size and md5 we computed; nothing else is there."""
        remote = {f.key: f for f in self.client.list_files(dep_id)}
        expected = {f.key: f for f in files}
        for key, f in expected.items():
            entry = remote.get(key)
            if entry is None:
                raise IntegrityError(
                    f"{key} is missing from deposition {dep_id} after its upload",
                    "Nothing was published. Run the command again to upload it again.",
                )
            if entry.md5 != f.md5 or (entry.size is not None and entry.size != f.size):
                raise IntegrityError(
                    f"{key} in deposition {dep_id} has md5 {entry.md5} and size {entry.size}, "
                    f"but the local file has md5 {f.md5} and size {f.size}",
                    "Nothing was published. Run the command again: the file is uploaded again.",
                )
        extra = sorted(set(remote) - set(expected))
        if extra:
            raise IntegrityError(
                f"deposition {dep_id} holds unexpected files: {', '.join(extra)}",
                "Nothing was published. Run the command again (extra files are removed), or remove them.",
            )

    def _publish(self, dep_id: int) -> Deposition:
        try:
            return self.client.publish(dep_id)
        except (RemoteError, OSError) as exc:
            # the publish may have gone through although its response was lost (504, reset): look
            try:
                dep = self.client.get_deposition(dep_id)
            except OssrError:
                raise exc from None
            if dep.is_published:
                self.say("The publish went through although its response was lost.")
                return dep
            raise

    # -- read back ----------------------------------------------------------------------------------------

    def _read_record(self, dep: Deposition) -> Record:
        record_id = dep.record_ref
        last: Exception | None = None
        for attempt in range(READBACK_TRIES):
            try:
                return self.client.get_record(record_id)
            except RemoteError as exc:
                if getattr(exc, "status", None) != 404:
                    raise
                last = exc
                time.sleep(0.5 * (attempt + 1))
        assert last is not None
        raise last

    def _result_from_record(
        self,
        dep: Deposition,
        *,
        already: bool = False,
        files: list[PublishedFile] | None = None,
        record: dict[str, Any] | None = None,
        image: ImageRecord | None = None,
    ) -> PublishResult:
        rec = self._read_record(dep)
        problems = readback_problems(rec, self.plan, files, image=image)
        if problems:
            raise IntegrityError(
                f"the published record {rec.id} does not match what was uploaded: {'; '.join(problems)}",
                "Do not cite this record yet; check it on Zenodo and report the problem (a published record "
                "cannot be deleted by ossr-images).",
            )
        image_key = image.file_name if image is not None else self.plan.image_key
        image_sha = image.sha256 if image is not None else self.sha256
        checked = published_files(rec, files, image_key=image_key, image_sha256=image_sha)
        return self._result(
            state="published",
            dep=dep,
            doi=rec.doi or dep.doi,
            conceptdoi=rec.conceptdoi or dep.conceptdoi,
            record_id=rec.id or str(dep.record_id),
            record_url=rec.html_url or self.target.record_html_url(rec.id or dep.record_id),
            files=checked,
            record=record or {},
            already=already,
        )

    def _result(
        self,
        *,
        state: str,
        dep: Deposition,
        doi: str | None,
        conceptdoi: str | None,
        record_id: str | None,
        record_url: str | None,
        files: list[PublishedFile],
        record: dict[str, Any],
        already: bool = False,
    ) -> PublishResult:
        return PublishResult(
            state=state,
            repository=self.plan.repository,
            commit=self.plan.commit,
            doi=doi,
            conceptdoi=conceptdoi,
            record_id=record_id,
            record_url=record_url,
            deposition_id=dep.id,
            files=files,
            already_published=already,
            resumed=self.resumed,
            new_version_of=str(self.previous.record_ref) if self.previous else None,
            matched_by=self.matched_by,
            zenodo_metadata=self.plan.zenodo_metadata,
            image_record=record,
            warnings=self.plan.warnings,
        )


def readback_problems(
    rec: Record, plan: PublishPlan, files: list[PublishedFile] | None, *, image: ImageRecord | None = None
) -> list[str]:
    """What is wrong with a published record, read back: its files and metadata must be what this run uploaded
    and set (`files`), or, for a release found already published, what its image metadata file (`image`)
    says. No network; an empty list when all is well."""
    image_key = image.file_name if image is not None else plan.image_key
    entries = {f.key: f for f in rec.files}
    problems: list[str] = []
    if plan.release_marker not in rec.keywords:
        problems.append(f"keyword {plan.release_marker} missing")
    want_version = plan.zenodo_metadata.get("version")
    if files is not None and want_version and rec.version not in (None, want_version):
        problems.append(f"version is {rec.version!r}, expected {want_version!r}")
    tree = _norm_url(plan.source.tree_url) if hasattr(plan.source, "tree_url") else None
    if tree and tree not in [_norm_url(r.identifier) for r in rec.related]:
        problems.append(f"the related identifier {plan.source.tree_url} (isDerivedFrom) is missing")
    if image is not None and (image.repository, image.commit) != (plan.repository, plan.commit):
        problems.append(
            f"its {IMAGE_RECORD_KEY} names {image.repository} @ {image.commit}, "
            f"not {plan.repository} @ {plan.commit}"
        )
    for key in (image_key, CODEMETA_KEY, IMAGE_RECORD_KEY):
        if key not in entries:
            problems.append(f"file {key} missing")
    if files is not None:
        for f in files:
            entry = entries.get(f.key)
            if entry is not None and entry.md5 != f.md5:
                problems.append(f"{f.key} has md5 {entry.md5}, uploaded {f.md5}")
        extra = sorted(set(entries) - {f.key for f in files})
        if extra:
            problems.append(f"unexpected files {extra}")
    return problems


def published_files(
    rec: Record, files: list[PublishedFile] | None, *, image_key: str, image_sha256: str | None
) -> list[PublishedFile]:
    """The record's files as the result reports them (the sha256 where this run knows it), image first."""
    known = {f.key: f for f in files or []}
    out: list[PublishedFile] = []
    for entry in rec.files:
        sha = known[entry.key].sha256 if entry.key in known else None
        if entry.key == image_key and sha is None:
            sha = image_sha256
        out.append(PublishedFile(entry.key, entry.size or 0, entry.md5, sha))
    order = {image_key: 0, CODEMETA_KEY: 1, IMAGE_RECORD_KEY: 2}
    out.sort(key=lambda f: (order.get(f.key, 3), f.key))
    return out


def _norm_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _source_record_dois(codemeta: Any) -> set[str]:
    """DOIs the CodeMeta file names for the source code itself (never to be taken as the image record)."""
    out: set[str] = set()
    for value in (getattr(codemeta, "identifier", None), getattr(codemeta, "url", None)):
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if not v:
                continue
            text = str(v).lower()
            for prefix in ("https://doi.org/", "http://doi.org/", "doi:", "https://dx.doi.org/"):
                text = text.removeprefix(prefix)
            out.add(text)
    return out


def result_summary(result: PublishResult) -> str:
    """Human lines for a result (the CLI prints them)."""
    if result.state == "dry-run":
        lines = [
            "Dry run: nothing was sent.",
            "Zenodo metadata:",
            json.dumps(result.zenodo_metadata, indent=2),
            f"Image metadata file ({IMAGE_RECORD_KEY}):",
            json.dumps(result.image_record, indent=2),
            "Files:",
        ]
        lines += [f"  {f.key}  {f.size} bytes  md5 {f.md5}  sha256 {f.sha256}" for f in result.files]
        lines.append(f"Source: {result.repository} @ {result.commit}")
        return "\n".join(lines)
    head = {
        "published": "Already published (nothing changed):" if result.already_published else "Published:",
        "draft": "Draft ready (not published):",
    }.get(result.state, result.state)
    lines = [
        head,
        f"  DOI:         {result.doi}",
        f"  Concept DOI: {result.conceptdoi}",
        f"  Record:      {result.record_url}",
    ]
    return "\n".join(lines)
