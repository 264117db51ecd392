"""What one `publish` run is asked to do: the command line's choices as one frozen object (built by the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PublishOptions:
    """The options of a publish run. `codemeta` defaults to codemeta.json in `repo_dir` (or the current
    folder); `env` replaces os.environ for the CI variables that may give the source link; `build` (a
    `metadata.build_record.BuildRecord`) becomes the image metadata file's `build` section; `cache_root` is
    the folder of the journal, the hash cache and the release lock (default: the user's cache folder)."""

    codemeta: str | Path | None = None
    repo_dir: str | Path | None = None
    commit: str | None = None
    allow_dirty: bool = False
    communities: tuple[str, ...] = ("escape2020",)
    new_version_of: str | None = None
    draft: bool = False
    dry_run: bool = False
    cache_root: Path | None = None
    env: Mapping[str, str] | None = None
    build: Any = None  # metadata.build_record.BuildRecord
