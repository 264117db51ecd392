"""Labels from CodeMeta + source link, their check, and the label handling of builds (no engine)."""

from __future__ import annotations

import pytest

from ossr_images.errors import InvalidInputError
from ossr_images.images.apptainer import definition_labels, definition_with_labels
from ossr_images.images.build import default_tag
from ossr_images.images.build_common import dockerfile_with_labels, merge_labels
from ossr_images.images.dockerfile import dockerfile_labels
from ossr_images.metadata.codemeta import parse_codemeta
from ossr_images.metadata.labels import check_labels, oci_labels
from ossr_images.metadata.source import SourceLink

REPO = "https://github.com/escape2020/hello-p4"
COMMIT = "172dd1c23274c55bb711d5d1bf8364298a468a42"
CODEMETA = {
    "@context": "https://w3id.org/codemeta/3.0",
    "@type": "SoftwareSourceCode",
    "name": "hello-p4",
    "description": "A tiny\n test image",
    "version": "v1.0.0",
    "license": "https://spdx.org/licenses/MIT",
    "codeRepository": REPO,
    "readme": "https://github.com/escape2020/hello-p4#readme",
    "author": [{"@type": "Person", "givenName": "Jane", "familyName": "Doe", "email": "jane@example.org"}],
}


@pytest.fixture
def codemeta():
    import json

    report = parse_codemeta(json.dumps(CODEMETA))
    assert report.codemeta is not None
    return report.codemeta


@pytest.fixture
def source() -> SourceLink:
    return SourceLink(repository=REPO, commit=COMMIT, dirty=False, ref="v1.0.0", origin="git")


def test_oci_labels(codemeta, source) -> None:
    labels = oci_labels(codemeta, source, "2026-01-02T03:04:05Z")
    assert labels == {
        "org.opencontainers.image.source": REPO,
        "org.opencontainers.image.revision": COMMIT,
        "org.opencontainers.image.version": "v1.0.0",
        "org.opencontainers.image.licenses": "MIT",
        "org.opencontainers.image.title": "hello-p4",
        "org.opencontainers.image.description": "A tiny test image",
        "org.opencontainers.image.authors": "Jane Doe <jane@example.org>",
        "org.opencontainers.image.url": REPO,
        "org.opencontainers.image.documentation": "https://github.com/escape2020/hello-p4#readme",
        "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
    }
    assert check_labels(labels, codemeta, source) == []


def test_oci_labels_normalises_the_repository_and_dates(codemeta) -> None:
    from datetime import datetime, timezone

    src = SourceLink(repository="git@github.com:escape2020/hello-p4.git", commit=COMMIT)
    labels = oci_labels(None, src, datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert labels["org.opencontainers.image.source"] == REPO
    assert labels["org.opencontainers.image.created"] == "2026-01-02T03:04:05Z"
    assert "org.opencontainers.image.version" not in labels


def test_check_labels_reports_both_values(codemeta, source) -> None:
    labels = oci_labels(codemeta, source, "2026-01-01T00:00:00Z")
    labels["org.opencontainers.image.source"] = "https://github.com/someone/else"
    labels["org.opencontainers.image.revision"] = "f" * 40
    labels["org.opencontainers.image.version"] = "2.0"
    problems = {p.path: p for p in check_labels(labels, codemeta, source)}
    src = problems["/labels/org.opencontainers.image.source"]
    assert src.severity == "error" and "someone/else" in src.message and REPO in src.message
    rev = problems["/labels/org.opencontainers.image.revision"]
    assert rev.severity == "error" and "f" * 40 in rev.message and COMMIT in rev.message
    ver = problems["/labels/org.opencontainers.image.version"]
    assert ver.severity == "warning" and "2.0" in ver.message and "v1.0.0" in ver.message


def test_check_labels_tolerances(codemeta, source) -> None:
    labels = {
        "org.label-schema.vcs-url": "git@github.com:escape2020/hello-p4.git",  # legacy key, ssh form
        "org.label-schema.vcs-ref": COMMIT[:12],  # abbreviated
        "org.opencontainers.image.version": "1.0.0",  # without the leading v
    }
    problems = check_labels(labels, codemeta, source)
    assert [(p.path, p.severity) for p in problems] == [("/labels/org.label-schema.vcs-ref", "warning")]
    missing = check_labels({}, codemeta, source)
    assert {p.severity for p in missing} == {"warning"} and len(missing) == 3
    tag_only = check_labels({"org.opencontainers.image.revision": "v1.0.0"}, None, source)
    assert [p.severity for p in tag_only if "revision" in p.path] == ["warning"]


def test_dockerfile_labels_parsing() -> None:
    text = r"""# escape=\
FROM alpine AS build
LABEL stage=build org.opencontainers.image.title="from build"
FROM build AS final
# a comment
LABEL org.opencontainers.image.description="two \
      lines" \
      # comment inside
      other='single quoted'
LABEL legacy value with spaces
FROM scratch AS unrelated
LABEL ignored=yes
FROM final
LABEL "quoted.key"="v"
"""
    assert dockerfile_labels(text) == {
        "stage": "build",
        "org.opencontainers.image.title": "from build",
        "org.opencontainers.image.description": "two lines",
        "other": "single quoted",
        "legacy": "value with spaces",
        "quoted.key": "v",
    }
    with pytest.raises(InvalidInputError, match="line 2"):
        dockerfile_labels('FROM x\nLABEL a="unclosed\n')


def test_merge_labels(codemeta, source) -> None:
    ours = oci_labels(codemeta, source, "2026-01-01T00:00:00Z")
    theirs = {"org.opencontainers.image.title": "Mine", "org.opencontainers.image.source": REPO + ".git"}
    passed = merge_labels(ours, theirs, source, "Dockerfile")
    assert "org.opencontainers.image.title" not in passed  # the Dockerfile's own is kept
    assert "org.opencontainers.image.source" not in passed  # consistent: kept as written
    assert passed["org.opencontainers.image.revision"] == COMMIT
    # a build variable is overridden by the real value
    passed = merge_labels(ours, {"org.opencontainers.image.revision": "$GIT_SHA"}, source, "Dockerfile")
    assert passed["org.opencontainers.image.revision"] == COMMIT
    with pytest.raises(InvalidInputError) as err:
        merge_labels(ours, {"org.opencontainers.image.revision": "0" * 40}, source, "Dockerfile")
    assert "0" * 40 in err.value.message and COMMIT in err.value.message
    with pytest.raises(InvalidInputError, match="other/repo"):
        merge_labels(ours, {"org.label-schema.vcs-url": "https://github.com/other/repo"}, source, "x.def")


def test_dockerfile_with_labels_round_trips_through_the_parser() -> None:
    labels = {"a.b": 'x "quoted" $HOME \\ back', "c": "multi\nline"}
    text = dockerfile_with_labels("FROM scratch\nLABEL keep=me", labels)
    assert dockerfile_labels(text) == {"keep": "me", "a.b": 'x "quoted" $HOME \\ back', "c": "multi line"}


def test_definition_labels() -> None:
    text = "Bootstrap: docker-archive\nFrom: x.tar\n\n%labels\n    mine yes\n\n%runscript\n    echo hi\n"
    out = definition_with_labels(text, {"mine": "no", "org.opencontainers.image.source": REPO})
    assert definition_labels(out) == {"mine": "yes", "org.opencontainers.image.source": REPO}
    assert "%runscript\n    echo hi" in out
    fresh = definition_with_labels("Bootstrap: scratch\n", {"k": "v  with\nspaces"})
    assert definition_labels(fresh) == {"k": "v with spaces"}


def test_default_tag(codemeta) -> None:
    assert default_tag(codemeta) == "hello-p4:v1.0.0"
    assert default_tag(None) == "ossr-images-build:latest"


def test_find_apptainer_or_singularity(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from ossr_images.errors import EngineUnavailableError
    from ossr_images.images.apptainer import apptainer_version, find_apptainer, require_apptainer

    monkeypatch.delenv("OSSR_IMAGES_APPTAINER", raising=False)
    bins = {}
    for name in ("apptainer", "singularity"):
        folder = tmp_path / name
        folder.mkdir()
        script = folder / name
        script.write_text(f"#!/bin/sh\necho '{name} version 9.9'\n")
        script.chmod(0o755)
        bins[name] = folder
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert find_apptainer() is None
    with pytest.raises(EngineUnavailableError, match="neither apptainer nor singularity"):
        require_apptainer()
    monkeypatch.setenv("PATH", str(bins["singularity"]))  # SingularityCE only
    assert find_apptainer() == str(bins["singularity"] / "singularity")
    monkeypatch.setenv("PATH", os.pathsep.join([str(bins["singularity"]), str(bins["apptainer"])]))
    assert find_apptainer() == str(bins["apptainer"] / "apptainer")  # apptainer preferred
    assert apptainer_version() == "apptainer version 9.9"
    monkeypatch.setenv("OSSR_IMAGES_APPTAINER", str(bins["singularity"] / "singularity"))
    assert find_apptainer() == str(bins["singularity"] / "singularity")
