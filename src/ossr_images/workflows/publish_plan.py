"""The local half of `publish`: the checks that run before anything remote, and the data objects the remote
steps work from (`PublishPlan`) and report with (`PublishedFile`, `PublishResult`). No network."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ossr_images.errors import InvalidInputError, Problem
from ossr_images.metadata.image_record import (
    IMAGE_KEYWORD,
    IMAGE_RECORD_KEY,
    dump_image_record,
    image_record_from,
)
from ossr_images.workflows import journal as jr
from ossr_images.zenodo.models import Review

CODEMETA_KEY = "codemeta.json"
QUOTA_BYTES = 50_000_000_000  # Zenodo's default per-record quota (decimal GB)
MAX_FILES = 100  # Zenodo's per-record file count limit
RECORD_FILE_ALLOWANCE = 1_000_000  # bytes kept free for the image metadata file
RELEASE_PREFIX = "ossr-images:release:"
REPO_PREFIX = "ossr-images:repo:"


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

    state: str  # "published" | "draft" | "submitted" (to a community, native API) | "dry-run"
    repository: str
    commit: str
    doi: str | None = None
    conceptdoi: str | None = None
    record_id: str | None = None
    record_url: str | None = None
    deposition_id: int | str | None = None
    api: str | None = None  # "legacy" | "rdm": the API spoken (None for a dry run, which sends nothing)
    review: Review | None = None  # the community review request (native API)
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
            "api": self.api,
            "review": None
            if self.review is None
            else {
                "id": self.review.id,
                "status": self.review.status,
                "url": self.review.url,
                "community": self.review.community,
            },
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
    repo_norm = normalize_repo(source.repository)
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


def normalize_repo(url: str) -> str:
    from ossr_images.metadata.source import normalize_repo_url

    return normalize_repo_url(url).rstrip("/").lower()


def same_repo(a: str, b: str) -> bool:
    """True when two repository URLs name the same repository."""
    return normalize_repo(a) == normalize_repo(b)


def local_file(key: str, data: bytes) -> PublishedFile:
    """A file held in memory, described as the record will list it."""
    return PublishedFile(key, len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())  # noqa: S324


def close_sink(sink: Any) -> None:
    """Close a progress sink, when it has a close()."""
    close = getattr(sink, "close", None)
    if callable(close):
        close()


# -------------------------------------------------------------------------------------------- dry run


def dry_run(
    plan: PublishPlan,
    progress: Callable[[int | None, str], Callable[[int], None]] | None,
    say: Callable[[str], None],
    cache_root: Path | None,
) -> PublishResult:
    """--dry-run: hash the image locally and report the files and metadata a publish would send."""
    say(f"Dry run: hashing {plan.image_key} locally; nothing is sent.")
    sink = progress(plan.image_size, f"Hashing {plan.image_key}") if progress else None
    try:
        md5, sha = jr.file_hashes(plan.image_path, progress=sink, root=cache_root)
    finally:
        close_sink(sink)
    record = plan.image_record(sha256=sha, md5=md5)
    record_bytes = dump_image_record(record)
    files = [
        PublishedFile(plan.image_key, plan.image_size, md5, sha),
        local_file(CODEMETA_KEY, plan.codemeta_bytes),
        local_file(IMAGE_RECORD_KEY, record_bytes),
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


def ask_once(confirm: Callable[[str], bool] | None, summary: Callable[[], str]) -> Callable[[], None]:
    """`ask()`: calls `confirm(summary())` the first time only; a False answer stops the run."""
    answered: list[bool] = []

    def ask() -> None:
        if answered or confirm is None:
            return
        if not confirm(summary()):
            raise InvalidInputError(
                "publishing was cancelled at the confirmation prompt; nothing was written",
                "Run the command again and answer yes, or pass --yes; try --dry-run or --sandbox first.",
            )
        answered.append(True)

    return ask
