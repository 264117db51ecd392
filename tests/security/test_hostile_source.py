"""`fetch --source DIR` clones the repository a record names: a hostile record must not make git run
commands (ext:: transport, option injection, ssh ProxyCommand) or write outside DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from ossr_images.errors import OssrError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "template",
    [
        "ext::sh -c touch% {marker}",
        "--upload-pack=touch {marker}",
        "-u touch {marker}",
        "ssh://-oProxyCommand=touch%20{marker}/x",
        "fd::17",
        "https://example.invalid/x;touch {marker}",
        "$(touch {marker})",
    ],
)
def test_hostile_repository_url_runs_nothing(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ossr_images.workflows.fetch_load import clone_source

    marker = tmp_path / "pwned"
    monkeypatch.setenv("GIT_SSH_COMMAND", "false")  # never reach a network
    dest = tmp_path / "src"
    with pytest.raises(OssrError) as info:
        clone_source(template.format(marker=marker), COMMIT, dest, lambda _m: None)
    assert info.value.hint
    assert not marker.exists(), f"git ran a command from the repository URL {template!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["src"])


@pytest.mark.parametrize("commit", ["--help", "HEAD~1; touch x", "../../etc", "", "g" * 40])
def test_hostile_commit_is_refused(commit: str, tmp_path: Path) -> None:
    from ossr_images.workflows.fetch_load import clone_source

    with pytest.raises(OssrError):
        clone_source("https://example.invalid/repo", commit, tmp_path / "src", lambda _m: None)
    assert not (tmp_path / "src").exists() or not any((tmp_path / "src").iterdir())
