"""The source link against real git repositories: both object formats, dirty trees, missing commits,
mismatched remotes, CI variables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.helpers.project import CI_VARIABLES, git

from ossr_images.errors import InvalidInputError
from ossr_images.metadata.source import (
    SourceLink,
    inspect_source,
    normalize_repo_url,
    object_format,
    resolve_source,
    same_repository,
    source_tree_url,
)

REPO_URL = "https://github.com/example/hello"


# ---------------------------------------------------------------- real git repositories in tmp dirs
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.org",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class Repo:
    """A git repository with a codemeta.json, built with the real git."""

    def __init__(self, path: Path, object_format: str = "sha1", remote: str | None = None) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", f"--object-format={object_format}", "-b", "main")
        if remote:
            git(path, "remote", "add", "origin", remote)

    def commit(self, files: dict[str, str] | None = None, message: str = "commit") -> str:
        for name, text in (files or {"README.md": "hello\n"}).items():
            (self.path / name).write_text(text)
            git(self.path, "add", name)
        git(self.path, "commit", "-q", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def write_codemeta(self, doc: dict) -> Path:
        path = self.path / "codemeta.json"
        path.write_text(json.dumps(doc, indent=2))
        return path


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key in CI_VARIABLES:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def make_repo(git_env, tmp_path: Path):
    """make_repo(name, object_format="sha1", remote=None) -> Repo."""

    def factory(name: str = "repo", object_format: str = "sha1", remote: str | None = None) -> Repo:
        return Repo(tmp_path / name, object_format, remote)

    return factory


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:org/repo.git", "https://github.com/org/repo"),
        ("ssh://git@github.com/org/repo.git", "https://github.com/org/repo"),
        ("ssh://git@gitlab.example.org:2222/g/p.git", "https://gitlab.example.org/g/p"),
        ("git+https://git.km3net.de/km3py/km3pipe.git", "https://git.km3net.de/km3py/km3pipe"),
        ("https://github.com/org/repo/", "https://github.com/org/repo"),
        ("https://gitlab-ci-token:SECRET@gitlab.com/g/p.git", "https://gitlab.com/g/p"),
        ("http://127.0.0.1:8080/g/p", "http://127.0.0.1:8080/g/p"),
        ("/srv/git/repo", "/srv/git/repo"),
    ],
)
def test_normalize_repo_url(url, expected):
    assert normalize_repo_url(url) == expected


def test_same_repository():
    assert same_repository("git@github.com:Org/Repo.git", "https://github.com/org/repo")
    assert same_repository("http://github.com/org/repo", "https://github.com/org/repo/")
    assert not same_repository("https://github.com/org/repo", "https://github.com/org/other")
    assert not same_repository("https://github.com/org/repo", "https://gitlab.com/org/repo")
    assert not same_repository(None, "https://github.com/org/repo")


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("https://github.com/ORG/REPO", "https://github.com/ORG/REPO/tree/C"),
        ("git@github.com:ORG/REPO.git", "https://github.com/ORG/REPO/tree/C"),
        ("https://gitlab.com/G/P", "https://gitlab.com/G/P/-/tree/C"),
        ("https://gitlab.in2p3.fr/escape2020/wp3/tpl", "https://gitlab.in2p3.fr/escape2020/wp3/tpl/-/tree/C"),
        ("https://git.km3net.de/km3py/km3pipe.git", "https://git.km3net.de/km3py/km3pipe/-/tree/C"),
        ("https://codeberg.org/o/r", "https://codeberg.org/o/r/tree/C"),
    ],
)
def test_source_tree_url(repo, expected):
    assert source_tree_url(repo, "C") == expected


def test_source_tree_url_extra_gitlab_host(monkeypatch):
    monkeypatch.setenv("OSSR_IMAGES_GITLAB_HOSTS", "code.example.org, other.example.org")
    assert source_tree_url("https://code.example.org/a/b", "C") == "https://code.example.org/a/b/-/tree/C"


@pytest.mark.parametrize(("fmt", "length"), [("sha1", 40), ("sha256", 64)])
def test_checkout_head_both_object_formats(make_repo, fmt, length):
    repo = make_repo(object_format=fmt, remote="git@github.com:example/hello.git")
    head = repo.commit()
    codemeta = repo.write_codemeta({})  # untracked files do not make the tree dirty
    assert object_format(repo.path) == fmt
    report = inspect_source(REPO_URL, codemeta_path=codemeta)
    assert report.problems == []
    assert report.source == SourceLink(REPO_URL, head, False, "main", "git")
    assert len(report.source.commit) == length
    assert report.checkout == repo.path.resolve()


@pytest.mark.parametrize("fmt", ["sha1", "sha256"])
def test_short_and_tag_commits_are_expanded(make_repo, fmt):
    repo = make_repo(object_format=fmt, remote=REPO_URL)
    first = repo.commit()
    repo.git("tag", "v1.0.0")
    repo.commit({"b.txt": "b"})
    source = resolve_source(REPO_URL, repo_dir=repo.path, commit=first[:8])
    assert source.commit == first and source.ref == "v1.0.0" and source.origin == "option"
    assert source.dirty is None  # not the checked-out commit: the work tree says nothing about it
    assert resolve_source(REPO_URL, repo_dir=repo.path, commit="v1.0.0").commit == first


def test_missing_commit_is_an_error(make_repo):
    repo = make_repo(remote=REPO_URL)
    repo.commit()
    missing = "0123456789abcdef0123456789abcdef01234567"
    report = inspect_source(REPO_URL, repo_dir=repo.path, commit=missing)
    assert report.source is None
    [problem] = report.problems
    assert (
        problem.path == "/source/commit" and missing in problem.message and str(repo.path) in problem.message
    )
    with pytest.raises(InvalidInputError) as info:
        resolve_source(REPO_URL, repo_dir=repo.path, commit=missing)
    assert missing in info.value.message and info.value.details


def test_tree_object_is_not_a_commit(make_repo):
    repo = make_repo(remote=REPO_URL)
    repo.commit()
    tree = repo.git("rev-parse", "HEAD^{tree}")
    report = inspect_source(REPO_URL, repo_dir=repo.path, commit=tree)
    assert [p.path for p in report.problems] == ["/source/commit"]


def test_dirty_tree(make_repo):
    repo = make_repo(remote=REPO_URL)
    head = repo.commit()
    (repo.path / "README.md").write_text("changed\n")
    report = inspect_source(REPO_URL, repo_dir=repo.path)
    assert [(p.path, p.severity) for p in report.problems] == [("/source/dirty", "error")]
    assert "--allow-dirty" in report.problems[0].hint
    report = inspect_source(REPO_URL, repo_dir=repo.path, allow_dirty=True)
    assert [(p.path, p.severity) for p in report.problems] == [("/source/dirty", "warning")]
    assert report.source.dirty is True and report.source.commit == head
    # --commit naming HEAD checks the work tree too
    report = inspect_source(REPO_URL, repo_dir=repo.path, commit=head)
    assert [p.path for p in report.errors] == ["/source/dirty"]


def test_mismatched_remote_names_both(make_repo):
    repo = make_repo(remote="git@github.com:someone/else.git")
    repo.commit()
    report = inspect_source(REPO_URL, repo_dir=repo.path)
    [problem] = report.problems
    assert problem.path == "/codeRepository" and problem.severity == "error"
    assert REPO_URL in problem.message and "https://github.com/someone/else" in problem.message


def test_any_remote_may_match(make_repo):
    repo = make_repo(remote="https://github.com/fork/hello.git")
    repo.git("remote", "add", "upstream", "git@github.com:example/hello.git")
    repo.commit()
    assert inspect_source(REPO_URL, repo_dir=repo.path).problems == []


def test_no_web_remote_is_a_warning_and_repository_from_remote(make_repo):
    repo = make_repo()
    repo.commit()
    report = inspect_source(REPO_URL, repo_dir=repo.path)
    assert [(p.path, p.severity) for p in report.problems] == [("/codeRepository", "warning")]
    other = make_repo("other", remote="git@github.com:example/hello.git")
    other.commit()
    assert resolve_source(None, repo_dir=other.path).repository == REPO_URL


def test_no_commits_yet(make_repo):
    repo = make_repo(remote=REPO_URL)
    report = inspect_source(REPO_URL, repo_dir=repo.path)
    assert [p.path for p in report.errors] == ["/source/commit"]


def test_repo_dir_not_a_checkout(tmp_path, git_env):
    report = inspect_source(REPO_URL, repo_dir=tmp_path)
    assert [p.path for p in report.errors] == ["/source/repository"]


def test_commit_option_without_checkout(tmp_path, git_env):
    full = "a" * 40
    source = resolve_source(REPO_URL, codemeta_path=tmp_path / "codemeta.json", commit=full.upper())
    assert source == SourceLink(REPO_URL, full, None, None, "option")
    assert resolve_source(REPO_URL, commit="b" * 64).commit == "b" * 64
    short = inspect_source(REPO_URL, commit="abcdef12")
    assert [p.path for p in short.errors] == ["/source/commit"] and "abbreviated" in short.errors[0].message
    bad = inspect_source(REPO_URL, commit="--output=/tmp/x")
    assert [p.path for p in bad.errors] == ["/source/commit"]


def test_nothing_to_go_on(tmp_path, git_env):
    report = inspect_source(REPO_URL, codemeta_path=tmp_path / "codemeta.json")
    assert [p.path for p in report.errors] == ["/source/commit"]
    assert "--commit" in report.errors[0].hint


def test_github_actions_variables(tmp_path, git_env):
    sha = "c" * 40
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "example/hello",
        "GITHUB_SHA": sha,
        "GITHUB_REF_NAME": "v1.0.0",
    }
    source = resolve_source(REPO_URL, codemeta_path=tmp_path / "codemeta.json", env=env)
    assert source == SourceLink(REPO_URL, sha, None, "v1.0.0", "github-actions")
    report = inspect_source("https://github.com/example/other", env=env)
    [problem] = report.problems
    assert (
        problem.path == "/codeRepository"
        and "example/other" in problem.message
        and "example/hello" in problem.message
    )


def test_gitlab_ci_variables(git_env):
    sha = "d" * 64
    env = {
        "CI_PROJECT_URL": "https://gitlab.in2p3.fr/escape2020/hello",
        "CI_COMMIT_SHA": sha,
        "CI_COMMIT_TAG": "v2",
    }
    source = resolve_source(None, env=env)
    assert source == SourceLink("https://gitlab.in2p3.fr/escape2020/hello", sha, None, "v2", "gitlab-ci")


def test_checkout_wins_over_ci_and_warns_on_disagreement(make_repo):
    repo = make_repo(remote=REPO_URL)
    head = repo.commit()
    env = {"GITHUB_REPOSITORY": "example/hello", "GITHUB_SHA": "e" * 40}
    report = inspect_source(REPO_URL, repo_dir=repo.path, env=env)
    assert report.source.commit == head and report.source.origin == "git"
    assert [(p.path, p.severity) for p in report.problems] == [("/source/commit", "warning")]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown (CI runs as root)"
)
def test_checkout_owned_by_another_user_is_explained(make_repo):
    repo = make_repo(remote=REPO_URL)
    repo.commit()
    for path in [repo.path, *repo.path.rglob("*")]:
        os.lchown(path, 65534, 65534)
    report = inspect_source(REPO_URL, codemeta_path=repo.path / "codemeta.json")
    [problem] = report.problems
    assert problem.path == "/source/repository" and "owned by another user" in problem.message
    assert "safe.directory" in problem.hint
