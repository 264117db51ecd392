"""The build section without an engine: the typed record, the schema (1.1 with `build`, 1.0 files still
read), build arguments (values only when recorded), the sidecar, FROM parsing and pinning, spython."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ossr_images.errors import IntegrityError, InvalidInputError
from ossr_images.images.base_images import from_lines, pin_dockerfile
from ossr_images.metadata.build_record import (
    BaseImage,
    BuildArg,
    BuildRecord,
    check_image,
    describe_external_build,
    parse_build_args,
    read_sidecar,
    repo_relative,
    sidecar_path,
    write_sidecar,
)
from ossr_images.metadata.image_record import (
    RECORD_VERSION,
    ImageRecord,
    build_image_record,
    dump_image_record,
    validate_image_record,
)

REPO = "https://github.com/escape2020/hello"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
IMAGE_ID = "sha256:" + "cd" * 32

RECORD = BuildRecord(
    builder="buildah",
    builder_version="1.28.2",
    recipe="docker/Dockerfile",
    context="docker",
    target="runtime",
    platform="linux/amd64",
    build_args=(BuildArg("VERSION", "1.2"), BuildArg("TOKEN")),
    base_images=(BaseImage("registry.example/base:1", DIGEST, IMAGE_ID),),
    source_date_epoch=1770091506,
    builder_options=("--timestamp=1770091506",),
    added_labels={"org.opencontainers.image.revision": COMMIT},
)


def _doc(**over):
    kwargs = dict(
        repository=REPO,
        commit=COMMIT,
        version="1.0.0",
        file_name="hello.tar.zst",
        size=10,
        sha256="ef" * 32,
        image_format="docker-archive",
        compression="zstd",
        image_id=IMAGE_ID,
    )
    kwargs.update(over)
    return build_image_record(**kwargs)


def test_record_round_trips_through_json_and_the_image_metadata_file():
    assert BuildRecord.from_json(json.loads(json.dumps(RECORD.to_json()))) == RECORD
    doc = _doc(build=RECORD)
    assert doc["metadataVersion"] == RECORD_VERSION == "1.1"
    assert validate_image_record(doc) == []
    assert doc["engine"] == "buildah" and doc["engineVersion"] == "1.28.2"
    view = ImageRecord.from_bytes(dump_image_record(doc))
    assert view.build_record == RECORD
    assert view.build_record.recorded_args == {"VERSION": "1.2"}
    assert view.build_record.unrecorded_args == ["TOKEN"]
    assert doc["build"]["buildArgs"] == [{"name": "VERSION", "value": "1.2"}, {"name": "TOKEN"}]


def test_version_1_0_files_without_build_still_read():
    doc = copy.deepcopy(_doc())
    doc["metadataVersion"] = "1.0"
    doc["@context"][1].pop("build")
    assert "build" not in doc
    assert validate_image_record(doc) == []
    view = ImageRecord.from_document(doc)
    assert view.build is None and view.build_record is None


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda b: b.pop("recipe"), "/build"),
        (lambda b: b.update(recipe="../outside/Dockerfile"), "/build/recipe"),
        (lambda b: b.update(recipe="/abs/Dockerfile"), "/build/recipe"),
        (lambda b: b.update(builder="kaniko"), "/build/builder"),
        (lambda b: b["baseImages"][0].update(digest="sha256:short"), "/build/baseImages/0/digest"),
        (lambda b: b["buildArgs"].append({"name": "X", "value": 3}), "/build/buildArgs/2/value"),
        (lambda b: b.update(secret="x"), "/build"),
    ],
)
def test_schema_refuses_a_bad_build_section(mutate, pointer):
    doc = _doc(build=RECORD)
    mutate(doc["build"])
    problems = validate_image_record(doc)
    assert problems and problems[0].path == pointer, [p.path for p in problems]


def test_build_section_expands_as_json_ld():
    jsonld = pytest.importorskip("pyld.jsonld", reason="pyld (test extra) is not installed")
    data = Path(__file__).resolve().parent.parent / "publish" / "data" / "codemeta-3.0-context.jsonld"
    context = json.loads(data.read_text())

    def loader(url, options=None):
        return {"contextUrl": None, "documentUrl": url, "document": context}

    node = jsonld.expand(_doc(build=RECORD), {"documentLoader": loader})[0]
    build = node["https://w3id.org/ossr-images/terms#build"][0]
    assert build["@type"] == "@json" and build["@value"]["recipe"] == "docker/Dockerfile"


def test_build_arg_values_only_when_recorded():
    values, args = parse_build_args(
        ["VERSION=1.2", "TOKEN=s3cret", "FROM_ENV"], ["VERSION"], env={"FROM_ENV": "e"}
    )
    assert values == {"VERSION": "1.2", "TOKEN": "s3cret", "FROM_ENV": "e"}
    assert args == (BuildArg("VERSION", "1.2"), BuildArg("TOKEN"), BuildArg("FROM_ENV"))
    text = json.dumps(_doc(build=BuildRecord("docker", "20.10", "Dockerfile", build_args=args)))
    assert "s3cret" not in text and '"e"' not in text and "1.2" in text
    with pytest.raises(InvalidInputError, match="--record-build-arg OTHER"):
        parse_build_args(["A=1"], ["OTHER"], env={})
    with pytest.raises(InvalidInputError, match="no environment variable MISSING"):
        parse_build_args(["MISSING"], [], env={})
    with pytest.raises(InvalidInputError, match="not a build argument name"):
        parse_build_args(["=1"], [], env={})


def test_paths_are_relative_to_the_repository(tmp_path: Path):
    (tmp_path / "repo" / "docker").mkdir(parents=True)
    (tmp_path / "repo" / "docker" / "Dockerfile").write_text("FROM scratch\n")
    root = tmp_path / "repo"
    assert repo_relative(root / "docker" / "Dockerfile", root) == "docker/Dockerfile"
    assert repo_relative(root, root) == "."
    (tmp_path / "elsewhere").write_text("FROM scratch\n")
    with pytest.raises(InvalidInputError, match="outside the repository"):
        repo_relative(tmp_path / "elsewhere", root)
    record = describe_external_build(
        recipe="docker/Dockerfile",
        context=None,
        repo_root=root,
        platform="linux/arm64",
        build_args=["V=1", "NAME_ONLY"],
    )
    assert (record.recipe, record.context, record.builder) == ("docker/Dockerfile", "docker", "docker")
    assert record.build_args == (BuildArg("V", "1"), BuildArg("NAME_ONLY"))
    with pytest.raises(InvalidInputError, match="--recipe nope: no such file"):
        describe_external_build(recipe="nope", context=None, repo_root=root)


def test_sidecar_belongs_to_its_image(tmp_path: Path):
    image = tmp_path / "hello.tar.zst"
    image.write_bytes(b"x" * 100)
    assert read_sidecar(image) is None
    path = write_sidecar(image, RECORD, image_id=IMAGE_ID, size=100)
    assert path == sidecar_path(image) == tmp_path / "hello.tar.zst.build.json"
    record = read_sidecar(image)
    assert record == RECORD and record.image_id == IMAGE_ID
    check_image(record, IMAGE_ID, "hello.tar.zst")
    with pytest.raises(IntegrityError, match="names image"):
        check_image(record, "sha256:" + "00" * 32, "hello.tar.zst")
    image.write_bytes(b"y" * 99)  # replaced after the build
    with pytest.raises(IntegrityError, match="99 bytes"):
        read_sidecar(image)
    path.write_text("{not json")
    with pytest.raises(InvalidInputError, match="cannot read the build record"):
        read_sidecar(image)


def test_from_lines_expand_args_skip_scratch_and_stages_and_pin():
    text = (
        "ARG BASE=reg.example:5000/base:1\n"
        "FROM ${BASE} AS build\n"
        "RUN make\n"
        "FROM scratch\n"
        "COPY --from=build /out /out\n"
        "FROM build AS again\n"
        "FROM --platform=linux/amd64 busybox:1.36 as tools\n"
    )
    lines = from_lines(text)
    assert [(f.ref, f.stage, f.is_image) for f in lines] == [
        ("reg.example:5000/base:1", "build", True),
        ("scratch", None, False),
        ("build", "again", False),
        ("busybox:1.36", "tools", True),
    ]
    assert from_lines(text, {"BASE": "other:2"})[0].ref == "other:2"
    pinned = pin_dockerfile(
        text,
        {"reg.example:5000/base:1": f"reg.example:5000/base@{DIGEST}", "busybox:1.36": f"busybox@{DIGEST}"},
    )
    assert f"FROM reg.example:5000/base@{DIGEST} AS build\n" in pinned
    assert f"FROM --platform=linux/amd64 busybox@{DIGEST} as tools\n" in pinned
    assert "FROM scratch\n" in pinned and "FROM build AS again\n" in pinned
    base = BaseImage("reg.example:5000/base:1", DIGEST)
    assert base.repository == "reg.example:5000/base" and base.pinned == f"reg.example:5000/base@{DIGEST}"


def test_spython_converts_a_dockerfile(tmp_path: Path):
    from ossr_images.images.spython_convert import (
        converted_path,
        dockerfile_to_definition,
        is_dockerfile,
        write_converted,
    )

    text = 'FROM scratch\nCOPY busybox /bin/busybox\nLABEL a="b c"\nCMD ["/bin/busybox", "echo", "hi"]\n'
    assert is_dockerfile(Path("Dockerfile"), text) and is_dockerfile(Path("x.txt"), text)
    assert not is_dockerfile(Path("hello.def"), "Bootstrap: scratch\n")
    definition = dockerfile_to_definition(text, recipe="Dockerfile", labels={"a": "b c"})
    assert definition.splitlines()[0].startswith("# Converted from Dockerfile by ossr-images with spython")
    assert "Bootstrap: scratch" in definition and "From: scratch" not in definition
    assert "busybox /bin/busybox" in definition  # %files
    assert "    a b c" in definition  # the label as Apptainer reads it
    assert "/bin/bash" not in definition  # a scratch image has no bash
    out = tmp_path / "hello.sif"
    path = converted_path(out)
    assert path == tmp_path / "hello.converted.def"
    write_converted(path, definition)
    write_converted(path, definition)  # ours: rewritten
    path.write_text("Bootstrap: scratch\n# the user's own\n")
    with pytest.raises(InvalidInputError, match="not written by ossr-images"):
        write_converted(path, definition)


def test_recipe_base_images_of_a_build_made_elsewhere(tmp_path: Path):
    from ossr_images.images.base_images import recipe_base_images

    recipe = tmp_path / "Dockerfile"
    recipe.write_text(f"FROM python:3.12 AS b\nFROM reg.example/x@{DIGEST}\nCOPY --from=b /a /a\nFROM b\n")
    assert recipe_base_images(recipe) == (
        BaseImage("python:3.12"),
        BaseImage(f"reg.example/x@{DIGEST}", DIGEST),
    )
    assert recipe_base_images(tmp_path / "hello.def") == () == recipe_base_images(tmp_path / "absent")
