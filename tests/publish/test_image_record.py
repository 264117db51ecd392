"""Unit tests of the image metadata file: build, schema validation, agreement checks, the pydantic view."""

from __future__ import annotations

import copy
import json

import pytest

from ossr_images.errors import InvalidInputError
from ossr_images.metadata.image_record import (
    IMAGE_KEYWORD,
    IMAGE_RECORD_KEY,
    ImageRecord,
    build_image_record,
    dump_image_record,
    image_record_schema,
    load_and_run_commands,
    validate_image_record,
)

REPO = "https://github.com/escape2020/hello"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHA = "ab" * 32
IMAGE_ID = "sha256:" + "cd" * 32


def _doc(**over):
    kwargs = dict(
        repository=REPO,
        commit=COMMIT,
        version="1.2.0",
        file_name="hello-1.2.0.tar.zst",
        size=123456,
        sha256=SHA,
        md5="0" * 32,
        image_format="docker-archive",
        compression="zstd",
        image_id=IMAGE_ID,
        manifest_digest="sha256:" + "ef" * 32,
        labels={
            "org.opencontainers.image.source": REPO,
            "org.opencontainers.image.revision": COMMIT,
            "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
        },
        repo_tags=["hello:1.2.0"],
        license=["MIT"],
    )
    kwargs.update(over)
    return build_image_record(**kwargs)


def test_constants_are_the_contract():
    assert IMAGE_RECORD_KEY == "ossr-image-metadata.json"
    assert IMAGE_KEYWORD == "ossr-images:container-image"


def test_built_document_is_valid_jsonld_shape():
    doc = _doc()
    assert validate_image_record(doc) == []
    assert doc["@context"][0] == "https://w3id.org/codemeta/3.0"
    assert doc["@type"] == "SoftwareApplication"
    assert doc["hasSourceCode"]["@id"] == f"{REPO}/tree/{COMMIT}"
    assert doc["hasSourceCode"]["commit"] == COMMIT
    assert doc["dateCreated"] == "2026-01-02T03:04:05Z"  # taken from the created label
    assert doc["loadCommand"] == "zstd -dc hello-1.2.0.tar.zst | docker load"
    assert doc["runCommand"] == "docker run --rm hello:1.2.0"
    # every ossr-images key used in the document is declared in the local context
    local = doc["@context"][1]
    for key in list(doc) + list(doc["containerImage"]) + list(doc["hasSourceCode"]):
        if key.startswith("@") or key in ("name", "description", "license", "softwareVersion"):
            continue
        if key in ("codeRepository", "hasSourceCode", "dateCreated", "operatingSystem", "version"):
            continue  # CodeMeta terms
        assert key in local, key


def test_round_trip_through_bytes_gives_the_view():
    record = ImageRecord.from_bytes(dump_image_record(_doc()))
    assert record.repository == REPO
    assert record.commit == COMMIT
    assert record.version == "1.2.0"
    assert record.file_name == "hello-1.2.0.tar.zst"
    assert record.size == 123456
    assert record.sha256 == SHA
    assert record.image_id == IMAGE_ID
    assert record.format == "docker-archive"
    assert record.compression == "zstd"
    assert record.labels["org.opencontainers.image.revision"] == COMMIT
    assert "docker load" in record.load_instructions


def test_sha256_and_md5_prefixes_are_normalised():
    doc = _doc(sha256="sha256:" + SHA.upper(), md5="md5:" + "A" * 32)
    assert doc["containerImage"]["sha256"] == SHA
    assert doc["containerImage"]["md5"] == "a" * 32
    assert validate_image_record(doc) == []


@pytest.mark.parametrize(
    "mutate, pointer",
    [
        (lambda d: d["hasSourceCode"].update(commit="abc123"), "/hasSourceCode/commit"),
        (lambda d: d["containerImage"].update(sha256="xyz"), "/containerImage/sha256"),
        (lambda d: d["containerImage"].update(contentSize=-1), "/containerImage/contentSize"),
        (lambda d: d["containerImage"].update(imageFormat="qcow2"), "/containerImage/imageFormat"),
        (lambda d: d["containerImage"].update(fileName="../etc/passwd"), "/containerImage/fileName"),
        (lambda d: d["containerImage"]["labels"].update(x=1), "/containerImage/labels/x"),
        (lambda d: d.pop("codeRepository"), ""),
        (lambda d: d.update(codeRepository="not a url"), "/codeRepository"),
    ],
)
def test_schema_problems_name_the_json_pointer(mutate, pointer):
    doc = copy.deepcopy(_doc())
    mutate(doc)
    problems = validate_image_record(doc)
    assert problems, "expected a problem"
    assert pointer in [p.path for p in problems]
    assert all(p.severity == "error" and p.hint for p in problems)


def test_label_disagreement_is_reported_with_both_values():
    other = "fedcba9876543210fedcba9876543210fedcba98"
    doc = _doc(labels={"org.opencontainers.image.source": REPO, "org.opencontainers.image.revision": other})
    problems = validate_image_record(doc)
    assert len(problems) == 1
    assert other in problems[0].message and COMMIT in problems[0].message
    assert problems[0].path == "/containerImage/labels/org.opencontainers.image.revision"


def test_repository_disagreement_is_reported():
    doc = _doc(labels={"org.opencontainers.image.source": "https://github.com/other/repo"})
    problems = validate_image_record(doc)
    assert [p.path for p in problems] == ["/containerImage/labels/org.opencontainers.image.source"]
    assert "other/repo" in problems[0].message


def test_non_object_is_a_problem_not_an_exception():
    assert validate_image_record([1, 2]) != []
    assert validate_image_record(None) != []


def test_from_document_refuses_invalid():
    doc = _doc()
    doc["containerImage"]["sha256"] = "nope"
    with pytest.raises(InvalidInputError) as info:
        ImageRecord.from_document(doc)
    assert "sha256" in info.value.message
    assert info.value.details


def test_from_bytes_refuses_garbage():
    with pytest.raises(InvalidInputError):
        ImageRecord.from_bytes(b"\xff\xfe not json")


def test_sif_and_oci_instructions():
    load, run = load_and_run_commands("app.sif", "sif", "none", None)
    assert run == "apptainer run app.sif"
    load, run = load_and_run_commands("img.oci.tar", "oci-archive", "none", "hello:1")
    assert load == "skopeo copy oci-archive:img.oci.tar docker-daemon:hello:1"
    load, _ = load_and_run_commands("my image.tar.gz", "docker-archive", "gzip", IMAGE_ID)
    assert load == "docker load -i 'my image.tar.gz'"


def test_sif_record_guesses_engine_from_labels():
    doc = _doc(
        file_name="app.sif",
        image_format="sif",
        compression="none",
        image_id=None,
        manifest_digest=None,
        labels={"org.label-schema.usage.apptainer.version": "1.4.5"},
    )
    assert validate_image_record(doc) == []
    assert (doc["engine"], doc["engineVersion"]) == ("apptainer", "1.4.5")


def test_schema_is_a_valid_draft_2020_12_schema():
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(image_record_schema())
    assert json.dumps(image_record_schema())  # serialisable, shipped in the package


def test_licence_ids_become_spdx_urls():
    assert _doc(license=["MIT"])["license"] == ["https://spdx.org/licenses/MIT"]
    assert _doc(license="Apache-2.0 AND MIT")["license"] == [
        "https://spdx.org/licenses/Apache-2.0",
        "https://spdx.org/licenses/MIT",
    ]


def test_document_expands_as_json_ld_without_losing_a_key():
    """Expanded with the CodeMeta 3.0 context (a local copy, no network), every key of the document maps
    to an IRI: nothing is dropped, and the image fields land in the ossr-images vocabulary."""
    jsonld = pytest.importorskip("pyld.jsonld", reason="pyld (test extra) is not installed")
    from pathlib import Path

    context = json.loads((Path(__file__).parent / "data" / "codemeta-3.0-context.jsonld").read_text())

    def loader(url, options=None):
        assert url.rstrip("/") == "https://w3id.org/codemeta/3.0", url
        return {"contextUrl": None, "documentUrl": url, "document": context}

    doc = _doc()
    expanded = jsonld.expand(doc, {"documentLoader": loader})
    assert len(expanded) == 1
    node = expanded[0]

    def props(obj: dict) -> int:  # non-null, non-keyword keys (JSON-LD drops nulls by design)
        return sum(1 for k, v in obj.items() if not k.startswith("@") and v is not None and v != [])

    def expanded_props(node: dict) -> int:
        return sum(1 for k in node if not k.startswith("@"))

    assert expanded_props(node) == props(doc)
    vocab = "https://w3id.org/ossr-images/terms#"
    image = node[vocab + "containerImage"][0]
    assert expanded_props(image) == props(doc["containerImage"])
    assert image[vocab + "sha256"][0]["@value"] == SHA
    assert image[vocab + "labels"][0]["@type"] == "@json"
    source = node["https://codemeta.github.io/terms/hasSourceCode"][0]
    assert expanded_props(source) == props(doc["hasSourceCode"])
    assert source["@id"] == f"{REPO}/tree/{COMMIT}"
    assert source[vocab + "commit"][0]["@value"] == COMMIT
    assert node["http://schema.org/license"][0]["@id"] == "https://spdx.org/licenses/MIT"
