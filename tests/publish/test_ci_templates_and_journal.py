"""The CI templates use only options that exist; the local journal, hash cache and lock behave."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import click
import pytest

from ossr_images.errors import InvalidInputError
from ossr_images.workflows import journal as jr

CI_DIR = Path(__file__).resolve().parents[2] / "examples" / "ci"


def _options_of(command: click.Command) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}


def _command_lines(text: str) -> list[str]:
    """The `ossr-images ...` commands of a template, continuation lines joined."""
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    text = text.replace("\\\n", " ")
    return [
        m.group(0)
        for m in re.finditer(
            r"ossr-images (?:validate|inspect|build|export|publish|fetch|search)\b[^\n|>]*", text
        )
    ]


@pytest.mark.parametrize("name", ["github-actions-publish.yml", "gitlab-ci-publish.yml"])
def test_ci_template_uses_real_options(name):
    from ossr_images.cli import main

    text = (CI_DIR / name).read_text()
    assert "ZENODO_TOKEN" in text
    lines = _command_lines(text)
    assert any(" publish " in f" {line} " for line in lines)
    ctx = click.Context(main)
    for line in lines:
        words = shlex.split(line.replace("${{", "X").replace("}}", "X"), posix=True)
        name_ = words[1]
        command = main.get_command(ctx, name_)
        if name_ == "build":
            command = command.get_command(ctx, words[2])
        assert command is not None, line
        for word in words:
            if word.startswith("--"):
                assert word.split("=", 1)[0] in _options_of(command), f"{word} in: {line}"


def test_publish_templates_take_the_source_from_ci_variables():
    gh = (CI_DIR / "github-actions-publish.yml").read_text()
    gl = (CI_DIR / "gitlab-ci-publish.yml").read_text()
    assert "tags:" in gh and "secrets.ZENODO_TOKEN" in gh and "fetch-depth: 0" in gh
    assert "CI_COMMIT_TAG" in gl and "$ZENODO_TOKEN" not in gl.replace("ZENODO_TOKEN CI/CD", "")


def test_hash_cache_follows_file_changes(tmp_path: Path):
    f = tmp_path / "img.tar"
    f.write_bytes(b"abc")
    md5, sha = jr.file_hashes(f, root=tmp_path / "c")
    assert (md5, sha) == ("900150983cd24fb0d6963f7d28e17f72", jr.hashlib.sha256(b"abc").hexdigest())
    assert jr.cached_hashes(f, tmp_path / "c") == (md5, sha)
    f.write_bytes(b"abd")
    os.utime(f, ns=(1, 1))
    assert jr.cached_hashes(f, tmp_path / "c") is None
    assert jr.file_hashes(f, root=tmp_path / "c")[0] != md5


def test_journal_is_per_release_and_server(tmp_path: Path):
    a = jr.Journal("ossr-images:release:aaa", "http://127.0.0.1:1/api", tmp_path)
    b = jr.Journal("ossr-images:release:aaa", "https://zenodo.org/api", tmp_path)
    a.save(deposition_id=42)
    assert a.deposition_id == 42 and b.deposition_id is None
    a.clear()
    assert a.deposition_id is None
    a.path.parent.mkdir(parents=True, exist_ok=True)
    a.path.write_text("{garbage")
    assert a.load() == {}


def test_default_cache_dir_is_outside_the_work_tree(monkeypatch, tmp_path: Path):
    monkeypatch.delenv(jr.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jr.cache_dir() == tmp_path / "xdg" / "ossr-images"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert jr.cache_dir() == Path.home() / ".cache" / "ossr-images"


def test_lock_names_the_holder(tmp_path: Path):
    with jr.release_lock("r", "http://x/api", what="repo@abc", root=tmp_path):
        with pytest.raises(InvalidInputError) as info:
            with jr.release_lock("r", "http://x/api", what="repo@abc", root=tmp_path):
                pass
        assert f"process {os.getpid()}" in info.value.message
        # another release is not blocked
        with jr.release_lock("other", "http://x/api", what="repo@def", root=tmp_path):
            pass
    with jr.release_lock("r", "http://x/api", what="repo@abc", root=tmp_path):
        pass
