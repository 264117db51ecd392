"""The image metadata file (`ossr-image-metadata.json`) that every record ossr-images publishes carries.

It is CodeMeta-style JSON-LD: a `SoftwareApplication` (the container image) whose `hasSourceCode` names the
exact source tree (repository + full commit) it was built from, plus a small ossr-images vocabulary for the
image fields (file name, size, sha256, image ID, digest, format, compression, labels, engine, how to load and
run). The JSON Schema in `schemas/image-metadata.schema.json` is the source of truth for its shape.
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ossr_images.errors import InvalidInputError, Problem

IMAGE_RECORD_KEY = "ossr-image-metadata.json"
"""The key (file name) of the image metadata file in every record ossr-images publishes."""

IMAGE_KEYWORD = "ossr-images:container-image"
"""A keyword publish adds to every image record; search and the re-run logic look for it."""

SCHEMA_RESOURCE = "image-metadata.schema.json"
SCHEMA_ID = "https://w3id.org/ossr-images/schema/image-metadata/1.1"
RECORD_VERSION = "1.1"  # 1.1 adds the optional `build` section; 1.0 files are still read
CODEMETA_CONTEXT = "https://w3id.org/codemeta/3.0"
OSSR_VOCAB = "https://w3id.org/ossr-images/terms#"

# the ossr-images vocabulary, declared in the document's own @context so that JSON-LD processors
# expand every key to an IRI (nothing is silently dropped)
_OSSR_TERMS = (
    "metadataVersion",
    "containerImage",
    "commit",
    "fileName",
    "sha256",
    "md5",
    "imageId",
    "manifestDigest",
    "imageFormat",
    "compression",
    "repoTags",
    "architecture",
    "engine",
    "engineVersion",
    "loadCommand",
    "runCommand",
    "generator",
)
IMAGE_RECORD_CONTEXT: list[Any] = [
    CODEMETA_CONTEXT,
    {
        "ossr": OSSR_VOCAB,
        **{term: f"ossr:{term}" for term in _OSSR_TERMS},
        "contentSize": {"@id": "ossr:contentSize"},
        "labels": {"@id": "ossr:labels", "@type": "@json"},
        "build": {"@id": "ossr:build", "@type": "@json"},
    },
]

FORMATS = ("docker-archive", "oci-archive", "sif")
COMPRESSIONS = ("none", "gzip", "zstd")

LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_REVISION = "org.opencontainers.image.revision"
LABEL_VERSION = "org.opencontainers.image.version"
LABEL_CREATED = "org.opencontainers.image.created"


def build_image_record(
    *,
    repository: str,
    commit: str,
    version: str | None,
    file_name: str,
    size: int,
    sha256: str,
    image_format: str,
    compression: str = "none",
    md5: str | None = None,
    image_id: str | None = None,
    manifest_digest: str | None = None,
    labels: Mapping[str, str] | None = None,
    repo_tags: list[str] | None = None,
    architecture: str | None = None,
    os: str | None = None,
    engine: str | None = None,
    engine_version: str | None = None,
    build_date: str | None = None,
    name: str | None = None,
    description: str | None = None,
    license: list[str] | str | None = None,
    source_tree_url: str | None = None,
    generator: str | None = None,
    build: Any = None,
) -> dict[str, Any]:
    """Build the image metadata document (a JSON-serialisable dict) for one image file.

    `repository` and `commit` name the source (normalised URL, full commit id); `source_tree_url` is the
    browsable tree at that commit (computed with `source.source_tree_url` when not given). `build_date`
    defaults to the image's `org.opencontainers.image.created` label; `engine` is guessed from the format
    and labels when not given. Load and run instructions are derived from format, compression and tags.
    `build` (a `build_record.BuildRecord`) becomes the `build` section: how the image was built.
    """
    labels = dict(labels or {})
    if source_tree_url is None:
        source_tree_url = _tree_url(repository, commit)
    if build_date is None:
        build_date = labels.get(LABEL_CREATED) or labels.get("org.label-schema.build-date")
    if engine is None and build is not None:
        engine, engine_version = build.builder, engine_version or build.builder_version
    if engine is None:
        engine, guessed_version = _guess_engine(image_format, labels)
        engine_version = engine_version or guessed_version
    ref = _image_ref(repo_tags, image_id)
    load_command, run_command = load_and_run_commands(file_name, image_format, compression, ref)
    if generator is None:
        from ossr_images import __version__

        generator = f"ossr-images {__version__}"
    title = name or _name_from(repository)
    image: dict[str, Any] = {
        "@type": "ossr:ContainerImage",
        "fileName": file_name,
        "contentSize": int(size),
        "sha256": sha256.lower().removeprefix("sha256:"),
        "md5": md5.lower().removeprefix("md5:") if md5 else None,
        "imageFormat": image_format,
        "compression": compression,
        "imageId": image_id,
        "manifestDigest": manifest_digest,
        "repoTags": list(repo_tags or []),
        "architecture": architecture,
        "operatingSystem": os,
        "labels": labels,
    }
    doc: dict[str, Any] = {
        "@context": copy.deepcopy(IMAGE_RECORD_CONTEXT),
        "@type": "SoftwareApplication",
        "metadataVersion": RECORD_VERSION,
        "name": f"{title} {version} container image" if version else f"{title} container image",
        "description": description
        or f"Container image of {repository} at commit {commit}, archived with ossr-images.",
        "softwareVersion": version,
        "codeRepository": repository,
        "hasSourceCode": {
            "@type": "SoftwareSourceCode",
            "@id": source_tree_url,
            "codeRepository": repository,
            "commit": commit,
            "version": version,
        },
        "license": _licenses(license),
        "dateCreated": build_date,
        "engine": engine,
        "engineVersion": engine_version,
        "loadCommand": load_command,
        "runCommand": run_command,
        "containerImage": image,
        "generator": generator,
    }
    if build is not None:
        doc["build"] = build.to_json()
    return doc


def image_record_from(
    info: Any,
    *,
    source: Any,
    codemeta: Any = None,
    file_name: str | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    engine: str | None = None,
    engine_version: str | None = None,
    build: Any = None,
) -> dict[str, Any]:
    """Convenience: build the document from an `images.inspect.ImageInfo`, a `source.SourceLink` and an
    optional `codemeta.CodeMeta` (duck-typed so this module stays free of heavier imports). Without an
    `engine`, an archive whose config names the Docker version that built it gives docker and that version.
    `build`: a `build_record.BuildRecord`; one written for another image (a stale sidecar) is refused."""
    from pathlib import Path

    if build is not None:
        from ossr_images.metadata.build_record import check_image

        check_image(build, getattr(info, "image_id", None), str(file_name or getattr(info, "path", "")))

    labels = dict(getattr(info, "labels", None) or {})
    version = getattr(codemeta, "version", None) if codemeta is not None else None
    version = version or labels.get(LABEL_VERSION)
    digest = sha256 or getattr(info, "sha256", None)
    if not digest:
        raise InvalidInputError(
            "the image's sha256 is not known yet, so its metadata file cannot be written",
            "Compute the sha256 (e.g. while uploading) before building the image metadata file.",
        )
    licenses = list(getattr(codemeta, "licenses", None) or []) if codemeta is not None else []
    docker_version = getattr(info, "docker_version", None)
    if engine is None and build is not None:
        engine, engine_version = build.builder, engine_version or build.builder_version
    if engine is None and docker_version:
        engine, engine_version = "docker", engine_version or docker_version
    return build_image_record(
        repository=source.repository,
        commit=source.commit,
        version=version,
        file_name=file_name or Path(info.path).name,
        size=size if size is not None else info.size,
        sha256=digest,
        md5=md5,
        image_format=info.format,
        compression=info.compression,
        image_id=getattr(info, "image_id", None),
        manifest_digest=getattr(info, "manifest_digest", None),
        labels=labels,
        repo_tags=list(getattr(info, "repo_tags", None) or []),
        architecture=getattr(info, "architecture", None),
        os=getattr(info, "os", None),
        engine=engine,
        engine_version=engine_version,
        build_date=labels.get(LABEL_CREATED) or _str_or_none(getattr(info, "created", None)),
        name=getattr(codemeta, "name", None) if codemeta is not None else None,
        license=licenses or labels.get("org.opencontainers.image.licenses"),
        build=build,
    )


def load_and_run_commands(
    file_name: str, image_format: str, compression: str, ref: str | None
) -> tuple[str, str]:
    """Shell commands that load the image file into an engine and run it (for people reading the record)."""
    f = shlex.quote(file_name)
    ref = ref or "IMAGE"
    if image_format == "sif":
        return (f"# no loading needed: apptainer runs {file_name} directly", f"apptainer run {f}")
    if image_format == "oci-archive":
        tag = ref if ":" in ref and not ref.startswith("sha256:") else "IMAGE:TAG"
        if compression == "none":
            load = f"skopeo copy oci-archive:{f} docker-daemon:{tag}"
        else:
            tool = "zstd -dc" if compression == "zstd" else "gzip -dc"
            load = f"{tool} {f} > image.oci.tar && skopeo copy oci-archive:image.oci.tar docker-daemon:{tag}"
        return load, f"docker run --rm {shlex.quote(tag)}"
    if compression == "zstd":
        load = f"zstd -dc {f} | docker load"
    else:  # docker load reads plain and gzip-compressed archives itself
        load = f"docker load -i {f}"
    return load, f"docker run --rm {shlex.quote(ref)}"


@lru_cache(maxsize=1)
def image_record_schema() -> dict[str, Any]:
    """The JSON Schema of the image metadata file (shipped in the package)."""
    text = (resources.files("ossr_images") / "schemas" / SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def validate_image_record(doc: Any) -> list[Problem]:
    """Check a document against the JSON Schema and for internal agreement (repository and commit must be
    the same in `codeRepository`, `hasSourceCode` and the image's OCI labels). Never raises for bad content."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(image_record_schema())
    problems: list[Problem] = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        pointer = _pointer(err.absolute_path)
        problems.append(
            Problem(
                path=pointer,
                severity="error",
                message=f"{IMAGE_RECORD_KEY}{pointer or ' (document)'}: {_short(err.message)}",
                hint="Write the image metadata file with ossr-images (build_image_record) or fix this field "
                "to match schemas/image-metadata.schema.json.",
                source=IMAGE_RECORD_KEY,
            )
        )
    if problems or not isinstance(doc, dict):
        return problems
    return _agreement_problems(doc)


def _agreement_problems(doc: dict[str, Any]) -> list[Problem]:
    P = Problem
    out: list[Problem] = []
    repo = doc["codeRepository"]
    src = doc["hasSourceCode"]
    commit = src["commit"]
    if not _same_repo(repo, src["codeRepository"]):
        out.append(
            P(
                "/hasSourceCode/codeRepository",
                "error",
                f"the source repository {src['codeRepository']!r} differs from codeRepository {repo!r}",
                "Both must name the repository the image was built from.",
                IMAGE_RECORD_KEY,
            )
        )
    labels = doc["containerImage"].get("labels") or {}
    label_repo = labels.get(LABEL_SOURCE)
    if label_repo and not _same_repo(label_repo, repo):
        out.append(
            P(
                f"/containerImage/labels/{_escape(LABEL_SOURCE)}",
                "error",
                f"the image label {LABEL_SOURCE}={label_repo!r} differs from codeRepository {repo!r}",
                "Rebuild the image with the right source label, or publish from the right repository.",
                IMAGE_RECORD_KEY,
            )
        )
    label_rev = labels.get(LABEL_REVISION)
    if label_rev and label_rev.lower() != commit.lower():
        out.append(
            P(
                f"/containerImage/labels/{_escape(LABEL_REVISION)}",
                "error",
                f"the image label {LABEL_REVISION}={label_rev!r} differs from the source commit {commit!r}",
                "Rebuild the image from that commit, or publish with the commit the image was built from.",
                IMAGE_RECORD_KEY,
            )
        )
    return out


class ImageRecord(BaseModel):
    """A read-only, flat view of a (valid) image metadata document: what fetch and search need."""

    model_config = ConfigDict(frozen=True)

    repository: str
    commit: str
    version: str | None = None
    source_tree_url: str | None = None
    name: str | None = None
    file_name: str
    size: int
    sha256: str
    md5: str | None = None
    image_id: str | None = None
    manifest_digest: str | None = None
    format: str
    compression: str
    labels: dict[str, str] = Field(default_factory=dict)
    repo_tags: list[str] = Field(default_factory=list)
    engine: str | None = None
    engine_version: str | None = None
    build_date: str | None = None
    load_command: str | None = None
    run_command: str | None = None
    build: dict[str, Any] | None = None  # the `build` section (metadataVersion 1.1+), see build_record
    document: dict[str, Any] = Field(default_factory=dict, repr=False)

    @classmethod
    def from_document(cls, doc: Any) -> ImageRecord:
        """Validate `doc` (parsed JSON) and return the view; raises `InvalidInputError` listing problems."""
        problems = [p for p in validate_image_record(doc) if p.severity == "error"]
        if problems:
            listing = "; ".join(p.message for p in problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise InvalidInputError(
                f"the image metadata file is not valid: {listing}{more}",
                "The record was not written by a compatible ossr-images, or it was altered; "
                "check schemas/image-metadata.schema.json.",
                details=[p.to_dict() for p in problems],
            )
        img = doc["containerImage"]
        src = doc["hasSourceCode"]
        return cls(
            repository=doc["codeRepository"],
            commit=src["commit"],
            version=doc.get("softwareVersion"),
            source_tree_url=src.get("@id"),
            name=doc.get("name"),
            file_name=img["fileName"],
            size=img["contentSize"],
            sha256=img["sha256"],
            md5=img.get("md5"),
            image_id=img.get("imageId"),
            manifest_digest=img.get("manifestDigest"),
            format=img["imageFormat"],
            compression=img["compression"],
            labels=dict(img.get("labels") or {}),
            repo_tags=list(img.get("repoTags") or []),
            engine=doc.get("engine"),
            engine_version=doc.get("engineVersion"),
            build_date=doc.get("dateCreated"),
            load_command=doc.get("loadCommand"),
            run_command=doc.get("runCommand"),
            build=doc.get("build"),
            document=doc,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ImageRecord:
        """Parse and validate the bytes of an `ossr-image-metadata.json` file."""
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise InvalidInputError(
                f"{IMAGE_RECORD_KEY} is not valid JSON: {exc}",
                "The file is damaged or is not an ossr-images image metadata file.",
            ) from None
        return cls.from_document(doc)

    @property
    def build_record(self) -> Any:
        """The `build` section as a `build_record.BuildRecord`, or None for a record without one."""
        if self.build is None:
            return None
        from ossr_images.metadata.build_record import BuildRecord

        return BuildRecord.from_json(self.build, where=f"{IMAGE_RECORD_KEY}#/build")

    @property
    def load_instructions(self) -> str:
        """Both commands, one per line."""
        return "\n".join(c for c in (self.load_command, self.run_command) if c)


def dump_image_record(doc: Mapping[str, Any]) -> bytes:
    """The canonical bytes written to Zenodo: pretty JSON, UTF-8, trailing newline."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# -- helpers ---------------------------------------------------------------------------------------------


def _tree_url(repository: str, commit: str) -> str:
    try:
        from ossr_images.metadata.source import source_tree_url

        return source_tree_url(repository, commit)
    except ImportError:  # the source module is written in parallel; keep a fallback
        from urllib.parse import urlparse

        base = repository.rstrip("/").removesuffix(".git")
        if "gitlab" in (urlparse(base).hostname or ""):
            return f"{base}/-/tree/{commit}"
        return f"{base}/tree/{commit}"


def _same_repo(a: str, b: str) -> bool:
    try:
        from ossr_images.metadata.source import same_repository

        return bool(same_repository(a, b))
    except ImportError:
        return _norm(a) == _norm(b)


def _norm(url: str) -> str:
    url = url.strip().rstrip("/").removesuffix(".git").lower()
    for prefix in ("https://", "http://", "git+https://", "ssh://git@", "git@"):
        url = url.removeprefix(prefix)
    return url.replace(":", "/", 1) if "/" not in url.split(":", 1)[0] else url


def _guess_engine(image_format: str, labels: Mapping[str, str]) -> tuple[str | None, str | None]:
    for key, value in labels.items():
        if key.startswith("org.label-schema.usage.apptainer.version"):
            return "apptainer", value
        if key.startswith("org.label-schema.usage.singularity.version"):
            return "singularity", value
    if image_format == "sif":
        return "apptainer", None
    return None, None


def _image_ref(repo_tags: list[str] | None, image_id: str | None) -> str | None:
    if repo_tags:
        return repo_tags[0]
    return image_id


def _name_from(repository: str) -> str:
    return repository.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1] or "image"


def _licenses(value: list[str] | str | None) -> list[str] | None:
    """Licences as URLs (CodeMeta's `license` is URL-valued): a bare SPDX id becomes its spdx.org URL."""
    if not value:
        return None
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        for part in str(item).replace("(", " ").replace(")", " ").split():
            if part.upper() in ("AND", "OR", "WITH"):
                continue
            url = part if "://" in part else f"https://spdx.org/licenses/{part}"
            if url not in out:
                out.append(url)
    return out or None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _pointer(path: Any) -> str:
    return "".join(f"/{_escape(str(p))}" for p in path)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


__all__ = [
    "IMAGE_RECORD_KEY",
    "IMAGE_KEYWORD",
    "IMAGE_RECORD_CONTEXT",
    "ImageRecord",
    "build_image_record",
    "image_record_from",
    "validate_image_record",
    "load_and_run_commands",
    "image_record_schema",
    "dump_image_record",
]
