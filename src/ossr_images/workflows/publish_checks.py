"""Read-back checks of a published record: pure functions from the record (as Zenodo shows it) and the plan
to a list of problems, and to the files the result reports. No network."""

from __future__ import annotations

from ossr_images.metadata.image_record import IMAGE_RECORD_KEY, ImageRecord
from ossr_images.workflows.publish_plan import CODEMETA_KEY, PublishedFile, PublishPlan
from ossr_images.zenodo.models import Record


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
