"""The installed `ossr-images` console script (the entry point of pyproject.toml, beside the test's Python),
run as a real process: what a user or a CI job runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def console_script() -> str:
    """The path of the `ossr-images` script installed with the package under test."""
    beside = Path(sys.executable).parent / "ossr-images"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ossr-images")
    assert found, "the ossr-images console script is not installed (pip install -e .)"
    return found


@dataclass
class Ran:
    """A finished run: exit status, stdout, stderr."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as exactly one JSON document (json.loads refuses anything before or after it)."""
        return json.loads(self.stdout)

    def explain(self) -> str:
        return f"args={self.args}\nexit={self.returncode}\nstdout={self.stdout[-3000:]}\nstderr={self.stderr[-3000:]}"


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without any Zenodo token or URL of the machine, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ZENODO_TOKEN", "ZENODO_SANDBOX_TOKEN", "OSSR_IMAGES_TOKEN", "OSSR_IMAGES_ZENODO_URL")
    }
    env.update(extra or {})
    return env


def run_console(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> Ran:
    """Run `ossr-images ARGS...` to its end."""
    argv = [console_script(), *args]
    done = subprocess.run(
        argv, env=clean_env(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Ran(argv, done.returncode, done.stdout, done.stderr)


def start_console(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    """Start `ossr-images ARGS...` (stdout and stderr piped, text)."""
    return subprocess.Popen(
        [console_script(), *args],
        env=clean_env(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
